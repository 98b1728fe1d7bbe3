#!/usr/bin/env bash
# What the IKE and offload guest tests need beyond the kernels (test/kernel/setup.sh calls this):
#  - libreswan, which conflicts with the strongSwan packages scripts/host-deps.sh installs: fetched
#    with `apt-get download`, unpacked with `dpkg -x` into .cache/libreswan/root (never installed),
#    with the libraries pluto lacks on this host and an empty NSS database (.cache/libreswan/nss)
#    made with the unpacked certutil. The guest tests link it into the guest's throw-away root.
#  - netdevsim (a simulated NIC with ESP offload) built per guest kernel into
#    .cache/netdevsim/<uname -r>/netdevsim.ko by shared/netdevsim/build.sh; only for the kernels
#    the offload tests run on (6.12).
#
#   test/kernel/setup-ike.sh [--quiet] [6.1] [6.12]     (default: both)
# Idempotent: ~0.01 s when everything is there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
kcache=${XFRMD_KERNEL_CACHE:-$repo/.cache/kernels}
quiet=0
[ "${1:-}" = --quiet ] && { quiet=1; shift; }
flavours=("$@"); [ $# -gt 0 ] || flavours=(6.1 6.12)
log() { [ "$quiet" = 1 ] || echo "setup-ike: $*" >&2; }
die() { echo "setup-ike: error: $*" >&2; exit 1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- libreswan --------------------------------------------------------------------------------
lsw=$repo/.cache/libreswan
libreswan() {
  local ver
  ver=$(apt-cache show libreswan 2>/dev/null | awk '/^Version:/{print $2; exit}') || true
  if [ -z "$ver" ]; then apt-get update -qq >&2; ver=$(apt-cache show libreswan | awk '/^Version:/{print $2; exit}'); fi
  [ -n "$ver" ] || die "no libreswan package in the apt sources"
  if [ "$(cat "$lsw/.complete" 2>/dev/null)" = "$ver" ]; then log "libreswan $ver: cached"; return 0; fi
  local t0=$SECONDS work; work=$(mktemp -d "${TMPDIR:-/tmp}/xfrmd-libreswan.XXXXXX")
  # libreswan itself, certutil (libnss3-tools) and the libraries it depends on that this host lacks
  # (on bookworm: libldns3, libevent-pthreads-2.1-7)
  local pkgs=(libreswan libnss3-tools) p
  for p in $(apt-cache depends --no-recommends --no-suggests libreswan libnss3-tools | awk '/^ *Depends: lib/{print $2}' | sort -u); do
    [ "$p" = libnss3-tools ] || installed "$p" || pkgs+=("$p")
  done
  log "libreswan $ver: fetching ${pkgs[*]}"
  (cd "$work" && apt-get -q -o APT::Sandbox::User=root download "${pkgs[@]}" >&2) || die "apt-get download ${pkgs[*]} failed"
  for p in "$work"/*.deb; do dpkg -x "$p" "$work/root"; done
  # everything pluto's tools load must resolve from the host plus the unpacked libraries
  local libs=$work/root/usr/lib/x86_64-linux-gnu missing
  missing=$(for b in usr/libexec/ipsec/pluto usr/libexec/ipsec/whack usr/libexec/ipsec/addconn usr/bin/certutil; do
    LD_LIBRARY_PATH=$libs ldd "$work/root/$b" | awk -v b="$b" '/not found/{print b": "$1}'
  done)
  [ -z "$missing" ] || die "libraries missing for the unpacked libreswan: $missing"
  mkdir -p "$work/nss"
  LD_LIBRARY_PATH=$libs "$work/root/usr/bin/certutil" -N -d "sql:$work/nss" --empty-password || die "certutil could not create the NSS database"
  rm -rf "$lsw"; mkdir -p "$lsw"
  mv "$work/root" "$work/nss" "$lsw/"
  LD_LIBRARY_PATH=$lsw/root/usr/lib/x86_64-linux-gnu "$lsw/root/usr/libexec/ipsec/pluto" --version | head -1 >&2
  echo "$ver" > "$lsw/.complete"
  rm -rf "$work"
  log "libreswan $ver: ready in $((SECONDS - t0)) s"
}

# --- netdevsim ----------------------------------------------------------------------------------
# The offload tests run on this kernel only (netdevsim links two ports across namespaces since 6.10).
netdevsim_kernels=(6.12)
netdevsim() { # <flavour>
  local kver
  kver=$(readlink "$kcache/$1" 2>/dev/null) || die "kernel $1 not prepared (test/kernel/setup.sh $1)"
  local out=$repo/.cache/netdevsim/$kver
  if [ -f "$out/netdevsim.ko" ]; then log "netdevsim for $kver: cached"; return 0; fi
  source "$repo/scripts/shared-dir.sh"
  local build; build=$(shared_file netdevsim/build.sh) || die "no shared/netdevsim/build.sh beside this checkout (set XFRMD_SHARED_DIR)"
  local t0=$SECONDS
  log "netdevsim for $kver: building ($build)"
  bash "$build" "$kver" "$out" >/dev/null || die "netdevsim build for $kver failed"
  log "netdevsim for $kver: ready in $((SECONDS - t0)) s"
}

libreswan
for f in "${flavours[@]}"; do
  case $f in 6.1|6.12) ;; *) die "unknown kernel '$f' (6.1, 6.12)" ;; esac
  for n in "${netdevsim_kernels[@]}"; do [ "$f" = "$n" ] && netdevsim "$f"; done
done
exit 0
