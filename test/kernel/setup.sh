#!/usr/bin/env bash
# Prepare the real-kernel guest: host tools (QEMU, busybox-static, cpio) and, per kernel flavour,
# a cache with the ELF vmlinux, the module tree (uncompressed, with modules.dep from Debian's kmod)
# and a tiny initramfs. Kernel packages are fetched with `apt-get download` and unpacked with
# `dpkg -x`; nothing kernel-related is installed on the host.
#
#   test/kernel/setup.sh [--quiet] [6.1] [6.12]     (default: both)
#
# Idempotent: a flavour whose cache is complete costs nothing. Cache layout (XFRMD_KERNEL_CACHE,
# default <repo>/.cache/kernels):
#   <flavour> -> <uname -r>              symlink, e.g. 6.1 -> 6.1.0-56-amd64
#   <uname -r>/vmlinux                   ELF kernel, booted directly (PVH)
#   <uname -r>/initrd.cpio               busybox + virtio/9p/overlay modules + /init
#   <uname -r>/lib/modules/<uname -r>/   modules, modules.dep, modules.alias …
#   <uname -r>/.complete                 written last
# XFRMD_KERNEL_REFRESH=1 re-resolves the package version (a newer Debian kernel is fetched).
# Then setup-ike.sh: libreswan and netdevsim for the IKE and offload tests.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XFRMD_KERNEL_CACHE:-$repo/.cache/kernels}
quiet=0
flavours=()
for a in "$@"; do
  case $a in
    --quiet|-q) quiet=1 ;;
    6.1|6.12) flavours+=("$a") ;;
    *) echo "setup.sh: unknown argument '$a' (flavours: 6.1 6.12)" >&2; exit 2 ;;
  esac
done
[ ${#flavours[@]} -gt 0 ] || flavours=(6.1 6.12)

log() { [ "$quiet" = 1 ] || echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Debian meta package per flavour (the stock bookworm kernel and the 6.12 one from bookworm-security).
meta_of() {
  case $1 in
    6.1) echo linux-image-amd64 ;;
    6.12) echo linux-image-6.12-amd64 ;;
  esac
}

# Modules the initramfs loads (with their dependencies) to mount the host over virtio-9p.
initrd_modules=(virtio_pci virtio_console 9pnet_virtio 9p overlay)

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

apt_get() { apt-get -q -o APT::Sandbox::User=root "$@"; }

# --- host tools -------------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
{ [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; } || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v file >/dev/null || need_pkgs+=(file)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  t0=$SECONDS
  if ! DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "${need_pkgs[@]}" >&2 \
      || die "could not install ${need_pkgs[*]}"
  fi
  log "installed ${need_pkgs[*]} in $((SECONDS - t0)) s"
fi
file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static (need busybox-static)"

mkdir -p "$cache"
# One setup at a time per cache (guest.sh calls us too).
exec 9> "$cache/.lock"
flock 9

# Download a package into a directory (apt-get download works in the current directory).
download() { # <dir> <pkg…>
  local dir=$1; shift
  (cd "$dir" && apt_get download "$@" >/dev/null 2>&1) && return 0
  apt_update_once
  (cd "$dir" && apt_get download "$@" >&2)
}

# --- depmod from Debian's kmod (not installed on the host) -----------------------------------------
depmod_bin() {
  if command -v depmod >/dev/null; then command -v depmod; return; fi
  if [ ! -x "$cache/kmod/depmod" ]; then
    log "fetching kmod (for depmod)"
    local t; t=$(mktemp -d "$cache/tmp.kmod.XXXXXX")
    local pkgs=(kmod)
    ldconfig -p 2>/dev/null | grep -q 'libkmod.so.2 ' || pkgs+=(libkmod2)
    download "$t" "${pkgs[@]}" || die "apt-get download kmod failed"
    for d in "$t"/*.deb; do dpkg -x "$d" "$t/root"; done
    rm -rf "$cache/kmod"; mkdir -p "$cache/kmod"
    cp -a "$t/root/." "$cache/kmod/root"
    local kmod; kmod=$(find "$cache/kmod/root" -path '*/bin/kmod' -type f | head -1)
    [ -n "$kmod" ] || die "no kmod binary in the kmod package"
    ln -sf "${kmod#"$cache/kmod/"}" "$cache/kmod/depmod"
    rm -rf "$t"
  fi
  echo "$cache/kmod/depmod"
}

run_depmod() { # <basedir> <version>
  local dm; dm=$(depmod_bin)
  LD_LIBRARY_PATH="$cache/kmod/root/lib/x86_64-linux-gnu:$cache/kmod/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$dm" -a -b "$1" "$2"
}

# --- vmlinux from the bzImage (extract-vmlinux style: find a compressed payload that yields an ELF)
extract_vmlinux() { # <vmlinuz> <out>
  local img=$1 out=$2 off magic dec
  for spec in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
    dec=${spec%%:*}; magic=${spec#*:}
    command -v "$dec" >/dev/null || continue
    for off in $(LC_ALL=C grep -aboP "$magic" "$img" | cut -d: -f1); do
      tail -c +$((off + 1)) "$img" | "$dec" -dc > "$out.tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
        mv "$out.tmp" "$out"; return 0
      fi
    done
  done
  rm -f "$out.tmp"
  return 1
}

# Ordered list of module files (dependencies first) for the given module names, from modules.dep.
module_closure() { # <moddir> <name…>
  local moddir=$1; shift
  awk -v want="$*" '
    function norm(s) { gsub(/-/, "_", s); return s }
    function base(p,  n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); return norm(n) }
    {
      f = $1; sub(/:$/, "", f); m = base(f); path[m] = f; deps[m] = ""
      for (i = 2; i <= NF; i++) deps[m] = deps[m] " " $i
    }
    function visit(m,  n, i, d) {
      if (m in seen) return; seen[m] = 1
      n = split(deps[m], d, " ")
      for (i = n; i >= 1; i--) visit(base(d[i]))
      print path[m]
    }
    END {
      n = split(want, w, " ")
      for (i = 1; i <= n; i++) { m = norm(w[i]); if (m in path) visit(m) }
    }' "$moddir/modules.dep"
}

# --- one kernel flavour ---------------------------------------------------------------------------
prepare() { # <flavour>
  local flavour=$1 meta pkg ver dir t0
  if [ -L "$cache/$flavour" ] && [ -f "$cache/$flavour/.complete" ] && [ "${XFRMD_KERNEL_REFRESH:-0}" != 1 ]; then
    log "$flavour: cached ($(readlink "$cache/$flavour"))"
    return 0
  fi
  t0=$SECONDS
  meta=$(meta_of "$flavour")
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }') || true
  if [ -z "$pkg" ]; then
    apt_update_once
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }') || true
  fi
  [ -n "$pkg" ] || die "$flavour: cannot resolve $meta (is bookworm-security in the apt sources?)"
  ver=${pkg#linux-image-}; ver=${ver%-unsigned}
  dir=$cache/$ver
  if [ -f "$dir/.complete" ]; then
    ln -sfn "$ver" "$cache/$flavour"
    log "$flavour: cached ($ver)"
    return 0
  fi
  log "$flavour: fetching $pkg"
  local work; work=$(mktemp -d "$cache/tmp.$ver.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  download "$work" "$pkg" || die "apt-get download $pkg failed"
  dpkg -x "$work"/*.deb "$work/root"
  rm -f "$work"/*.deb

  local src
  for src in "$work/root/lib/modules/$ver" "$work/root/usr/lib/modules/$ver"; do [ -d "$src" ] && break; done
  [ -d "$src" ] || die "$flavour: no modules for $ver in $pkg"
  local vmlinuz
  for vmlinuz in "$work/root/boot/vmlinuz-$ver" "$work/root/usr/lib/linux/vmlinuz-$ver"; do [ -f "$vmlinuz" ] && break; done
  [ -f "$vmlinuz" ] || die "$flavour: no vmlinuz in $pkg"

  mkdir -p "$work/out/lib/modules"
  mv "$src" "$work/out/lib/modules/$ver"
  local moddir=$work/out/lib/modules/$ver
  # Drop what a headless virtual guest never loads (keeps the cache small).
  local d
  for d in "$moddir"/kernel/drivers/* "$moddir"/kernel/fs/*; do
    case ${d#"$moddir"/kernel/} in
      drivers/net|drivers/virtio|drivers/char|drivers/crypto|fs/9p|fs/overlayfs|fs/netfs|fs/fscache|fs/nls) ;;
      *) rm -rf "$d" ;;
    esac
  done
  rm -rf "$moddir"/kernel/sound "$moddir"/kernel/drivers/net/{wireless,ethernet,usb,wan,can,ieee802154,wwan,hamradio,fddi,arcnet,plip,slip} \
         "$moddir"/kernel/net/{bluetooth,wireless,mac80211,mac802154,ieee802154,nfc,sunrpc,ceph,rds,ax25,netrom,rose,can,atm}
  # 6.12 ships xz/zstd-compressed modules: store them uncompressed (faster loading under TCG).
  find "$moddir" -name '*.ko.xz' -print0 | xargs -0 -r -n 64 -P 2 xz -d
  if find "$moddir" -name '*.ko.zst' | grep -q .; then
    command -v zstd >/dev/null || die "zstd-compressed modules; install zstd"
    find "$moddir" -name '*.ko.zst' -exec zstd -q -d --rm {} +
  fi
  run_depmod "$work/out" "$ver" || die "$flavour: depmod failed"
  [ -s "$moddir/modules.dep" ] && [ -s "$moddir/modules.alias" ] || die "$flavour: depmod wrote no modules.dep/modules.alias"

  log "$flavour: extracting vmlinux"
  extract_vmlinux "$vmlinuz" "$work/out/vmlinux" || die "$flavour: could not extract vmlinux from $vmlinuz"
  grep -q 'CONFIG_PVH=y' "$work/root/boot/config-$ver" 2>/dev/null \
    || log "$flavour: warning: CONFIG_PVH not confirmed in config-$ver"
  cp "$work/root/boot/config-$ver" "$work/out/config" 2>/dev/null || true

  log "$flavour: building initramfs"
  local ird=$work/initrd
  mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lower,upper,mod}
  cp /bin/busybox "$ird/bin/busybox"
  mknod -m 600 "$ird/dev/console" c 5 1
  local f i=0 loads="" list
  list=$(module_closure "$moddir" "${initrd_modules[@]}") && [ -n "$list" ] || die "$flavour: no initramfs modules resolved"
  while read -r f; do
    i=$((i + 1))
    local name; name=$(printf '%02d-%s' "$i" "$(basename "$f")")
    cp "$moddir/$f" "$ird/mod/$name"
    loads+="$name "
  done <<< "$list"
  sed -e "s|@MODULES@|$loads|" "$here/initrd-init.sh" > "$ird/init"
  chmod 755 "$ird/init"
  (cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$work/out/initrd.cpio"

  rm -rf "$dir"
  mv "$work/out" "$dir"
  touch "$dir/.complete"
  ln -sfn "$ver" "$cache/$flavour"
  rm -rf "$work"
  trap - EXIT
  log "$flavour: ready ($ver, $(du -sh "$dir" | cut -f1), $((SECONDS - t0)) s)"
}

for fl in "${flavours[@]}"; do prepare "$fl"; done
# libreswan (unpacked) and netdevsim (built per kernel) for the IKE and offload tests
"$here/setup-ike.sh" $([ "$quiet" = 1 ] && echo --quiet) "${flavours[@]}" || die "setup-ike.sh failed"
# Versions no flavour points at any more (after XFRMD_KERNEL_REFRESH) are removed.
for d in "$cache"/*/; do
  d=${d%/}; v=${d##*/}
  case $v in kmod|tmp.*|6.1|6.12) continue ;; esac
  keep=0
  for l in "$cache"/6.1 "$cache"/6.12; do [ "$(readlink "$l" 2>/dev/null)" = "$v" ] && keep=1; done
  [ "$keep" = 1 ] || { log "removing stale $v"; rm -rf "$d"; }
done
