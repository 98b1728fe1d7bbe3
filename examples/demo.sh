#!/usr/bin/env bash
# `make demo`: boots a real Debian kernel (6.12) in QEMU and runs examples/network under OpenWrt's
# real ubusd and netifd with xfrmd as the `xfrm` protocol handler (examples/demo-guest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${XFRMD_DEMO_KERNEL:-6.12}
test/kernel/setup.sh "$kernel"
exec test/kernel/guest.sh --kernel "$kernel" -- examples/demo-guest.sh
