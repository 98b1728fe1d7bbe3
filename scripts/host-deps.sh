#!/usr/bin/env bash
# Installs what the host-side build and tests need, idempotently: Debian packages
# (only those missing), node_modules (npm ci when the lockfile changed) and OpenWrt's
# real ubusd/ubus (.cache/openwrt-stack, built once from shared/openwrt-stack).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the host tests use (the shim tests run under busybox ash). busybox-static,
# not busybox: the two conflict in Debian and the guest harness (test/kernel/) needs the static one.
# chromium: the LuCI page's browser test (test/luci/) drives it with puppeteer-core, which never
# downloads a browser of its own.
pkgs=(iproute2 busybox-static chromium)
# test/dist: the addon from the release tarball for the routers' architectures (cross
# compilers and their C libraries), x86-64 musl, and the host build.
pkgs+=(gcc make gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  gcc-mipsel-linux-gnu libc6-dev-mipsel-cross musl-tools)
# test/kernel/ike-*.ktest.ts: strongSwan's charon and swanctl (the guest shares this root). libreswan
# conflicts with them: test/kernel/setup-ike.sh unpacks it into .cache/libreswan instead.
pkgs+=(strongswan-charon strongswan-swanctl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "host-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # strongswan-starter (a dependency of strongswan-charon) would start charon on this host: the
  # tests run their own in namespaces. Without a policy of the machine's own, services stay down.
  policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    policy=/usr/sbin/policy-rc.d
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ -z $policy ]] || { rm -f "$policy"; trap - EXIT; }
fi

stamp=node_modules/.xfrmd-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "host-deps: npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

# OpenWrt's real ubusd, netifd and ubus CLI for the tests that run the product under them (the
# guest's netifd tests, test/dist), built from shared/openwrt-stack (~1 min, then cached by its own
# stamp), found by scripts/shared-dir.sh.
stack=.cache/openwrt-stack
source scripts/shared-dir.sh
if build=$(shared_file openwrt-stack/build.sh); then
  [[ -x $stack/sbin/netifd ]] || echo "host-deps: building OpenWrt's ubusd/netifd into $stack ($build)"
  bash "$build" "$PWD/$stack" >/dev/null
elif [[ ! -x $stack/sbin/netifd || ! -x $stack/sbin/ubusd || ! -x $stack/bin/ubus ]]; then
  echo "host-deps: no shared/openwrt-stack/build.sh beside this checkout (set XFRMD_SHARED_DIR): the tests under OpenWrt's ubusd and netifd need it" >&2
  exit 1
fi
