#!/usr/bin/env bash
# Runs inside the guest (see demo.sh). Uses the built bundle, exactly what a router runs.
set -euo pipefail
cd "$(dirname "$0")/.."

xfrmd() { node dist/xfrmd.cjs "$@"; }
step() { printf '\n== %s\n' "$*"; }
state=$(mktemp -d)

step "kernel $(uname -r); the parent device wan0 (a dummy NIC standing in for the WAN)"
ip link add wan0 type dummy
ip address add 192.0.2.1/24 dev wan0
ip link set wan0 up

step "the plan: xfrmd apply --dry-run examples/network"
xfrmd apply --dry-run examples/network

step "xfrmd apply examples/network"
xfrmd apply --state-dir "$state" examples/network

step "ip -d link show type xfrm"
ip -d link show type xfrm
step "addresses"
ip -br address show type xfrm
ours() { # rules and routes carrying xfrmd's protocol tag (88)
  ip rule show | grep -w 'proto 88' || true
  ip -6 rule show | grep -w 'proto 88' || true
  ip -4 route show table all proto 88
  ip -6 route show table all proto 88
}
step "rules and routes tagged by xfrmd (proto 88)"
ours
step "xfrmd status"
xfrmd status --local --state-dir "$state"

step "applying the same file again changes nothing (idempotent)"
before=$(ip -o link show type xfrm | awk '{print $1 $2}')
xfrmd apply --state-dir "$state" examples/network
after=$(ip -o link show type xfrm | awk '{print $1 $2}')
[ "$before" = "$after" ] && echo "same devices, same ifindexes"

step "bad input is refused whole, nothing applied"
printf "config interface 'bad0'\n\toption proto 'xfrm'\n\toption ifid '0'\n\tlist ipaddr '10.1.1.1/33'\n" > "$state/bad"
xfrmd apply --state-dir "$state/bad-state" "$state/bad" || echo "(exit $?)"

step "xfrmd down"
xfrmd down --state-dir "$state"

step "what is left"
ip -d link show type xfrm
ours
left=$(( $(ip -o link show type xfrm | wc -l) + $(ours | wc -l) ))
echo "xfrm devices, rules and routes left: $left"
[ "$left" -eq 0 ]
