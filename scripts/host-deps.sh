#!/usr/bin/env bash
# Installs what the host-side build and tests need, idempotently: Debian packages
# (only those missing) and node_modules (npm ci when the lockfile changed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the host tests use (the shim tests run under busybox ash). busybox-static,
# not busybox: the two conflict in Debian and the guest harness (test/kernel/) needs the static one.
# chromium: the LuCI page's browser test (test/luci/) drives it with puppeteer-core, which never
# downloads a browser of its own.
pkgs=(iproute2 busybox-static chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "host-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.xfrmd-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "host-deps: npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
