#!/usr/bin/env bash
# `make demo`: boots a real Debian kernel (6.12) in QEMU and shows xfrmd building the
# interfaces of examples/network with real XFRM devices, then taking them all away.
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${XFRMD_DEMO_KERNEL:-6.12}
test/kernel/setup.sh "$kernel"
exec test/kernel/guest.sh --kernel "$kernel" -- examples/demo-guest.sh
