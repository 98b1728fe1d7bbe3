#!/usr/bin/env bash
# Runs inside the guest (see demo.sh): OpenWrt's real ubusd and netifd (built from
# shared/openwrt-stack into .cache/openwrt-stack) with xfrmd's shim as the `xfrm` protocol handler
# and the bundled daemon, exactly what a router runs, on examples/network.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
stack=$repo/.cache/openwrt-stack
[ -x "$stack/sbin/netifd" ] || { echo "demo: $stack missing (scripts/host-deps.sh builds it)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
run=$(mktemp -d)
sock=$run/ubus.sock
mkdir -p "$run/lib/netifd/proto" "$run/config" "$run/bin" "$run/state"
cp "$stack/lib/netifd/netifd-proto.sh" "$stack/lib/netifd/utils.sh" "$run/lib/netifd/"
cp files/lib/netifd/proto/xfrm.sh "$run/lib/netifd/proto/"
mkdir -p /usr/local/share/libubox && cp "$stack/share/libubox/jshn.sh" /usr/local/share/libubox/
printf '#!/bin/sh\nexec %s/bin/ubus -s %s "$@"\n' "$stack" "$sock" > "$run/bin/ubus"
chmod +x "$run/bin/ubus"
export PATH=$run/bin:$stack/bin:$PATH NETIFD_MAIN_DIR=$run/lib/netifd
xfrmd() { node dist/xfrmd.cjs "$@"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# One line per interface from netifd's own view (what `ifstatus` shows).
ifaces() {
  ubus call network.interface dump | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      if (!s.trim()) return; // netifd not (yet) on the bus: ubus said why
      for (const i of JSON.parse(s).interface) {
        const errs = (i.errors ?? []).map((e) => `${e.code}${e.data?.length ? `: ${e.data.join(" ")}` : ""}`).join("; ");
        console.log(`${i.interface.padEnd(8)} ${i.proto.padEnd(7)} ${i.up ? "up  " : "down"} ${(i.l3_device ?? "-").padEnd(8)} ${errs}`);
      }
    });'
}
ours() { # every xfrm device, and the rules and routes carrying xfrmd's protocol tag (88)
  ip -o link show type xfrm | awk '{print "link " $2}'
  ip rule show | grep -w 'proto 88' || true
  ip -6 rule show | grep -w 'proto 88' || true
  ip -4 route show table all proto 88
  ip -6 route show table all proto 88
}
up_all() { for i in rw0 site0 branch1 branch2; do ubus call "network.interface.$i" up; done; }
wait_for() { # what, then a shell condition
  local what=$1; shift
  for _ in $(seq 1 240); do eval "$@" && return 0; sleep 0.5; done
  echo "demo: timed out waiting for $what" >&2; ifaces >&2; return 1
}
all_up() { [ "$(ifaces | awk '$2 == "xfrm" && $3 == "up"' | wc -l)" -eq 4 ]; }

step "kernel $(uname -r); the WAN device wan0 (a dummy NIC standing in for it)"
ip link set lo up
ip link add wan0 type dummy

step "the plan of examples/network, as iproute2 commands (xfrmd apply --dry-run)"
xfrmd apply --dry-run examples/network

step "ubusd, the xfrmd daemon (procd starts it before the network), netifd with xfrm.sh"
"$stack/sbin/ubusd" -s "$sock" & pids+=($!)
sleep 0.5
xfrmd run -s "$sock" --state-dir "$run/state" > "$run/xfrmd.log" 2>&1 & pids+=($!)
wait_for "the daemon on the bus" 'ubus -t 1 list xfrmd >/dev/null 2>&1'
cp examples/network "$run/config/network"
unshare -m sh -c "mount --bind /bin/busybox /bin/sh && exec $stack/sbin/netifd -s $sock -p $run/lib/netifd -c $run/config -h /bin/true -r $run/resolv.conf" > "$run/netifd.log" 2>&1 & pids+=($!)
wait_for "netifd on the bus" 'ubus -t 1 list network.interface >/dev/null 2>&1'
wait_for "every tunnel up" all_up
ifaces

step "ip -d link show type xfrm"
ip -d link show type xfrm
step "addresses"
ip -br address show type xfrm
step "rules and routes installed by xfrmd (proto 88): none lost to netifd taking the devices"
ours
step "ubus call xfrmd status '{\"interface\":\"rw0\"}' (read from the kernel)"
ubus call xfrmd status '{"interface":"rw0"}'

step "the WAN goes down: netifd takes rw0 (tunlink wan) down with it, xfrmd removes all of rw0's"
ubus call network.interface.wan down
wait_for "rw0 gone" '! ip link show rw0 >/dev/null 2>&1 && ! ours | grep -qw rw0'
ifaces
step "the WAN comes back: rw0 comes back on it"
ubus call network.interface.wan up
wait_for "every tunnel up again" all_up
ip -d link show rw0 | grep -o 'rw0@[a-z0-9]*'

step "bad input (if_id 0, a /33 route): refused with a stable code in ifstatus, nothing applied"
cat >> "$run/config/network" <<'EOF'

config interface 'bad0'
	option proto 'xfrm'
	option ifid '0'
	list route '10.1.0.0/33'
EOF
ubus call network reload
wait_for "bad0 refused" 'ifaces | grep -q "^bad0 .*INVALID"'
ifaces | grep '^bad0'
ip link show bad0 2>/dev/null && { echo "demo: bad0 exists" >&2; exit 1; } || echo "no device bad0"

step "ifdown of every tunnel"
for i in rw0 site0 branch1 branch2; do ubus call "network.interface.$i" down; done
wait_for "nothing of ours left" '[ -z "$(ours)" ]'

step "what is left"
ours
echo "xfrm devices, rules and routes left: $(ours | wc -l)"
[ -z "$(ours)" ]
