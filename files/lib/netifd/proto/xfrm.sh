#!/bin/sh
# netifd protocol handler for `proto xfrm`, served by the xfrmd daemon.
# This shim only forwards: netifd runs it, it hands the interface name and the
# config (JSON from netifd) to xfrmd over ubus, and xfrmd reports back to netifd
# with notify_proto. The daemon answers as soon as the request is queued, so the
# normal path is this shell and one `ubus call`. Nothing from the config is ever
# evaluated by the shell.

# The option list netifd reads at start. Generated from src/config/schema.ts by
# `npm run build` (scripts/gen-files.ts); a test checks it matches.
XFRMD_DUMP='{"name":"xfrm","config":[["ifid",3],["tunlink",3],["parent_device",3],["mtu",3],["zone",3],["multicast",3],["offload",3],["external",3],["ipaddr",1],["ip6addr",1],["route",1],["route6",1],["ip4table",3],["ip6table",3],["full_tunnel",3],["rule_priority",3],["rule_style",3],["exempt_mark",3],["mark",1],["source",1]],"no-device":true,"no-proto-task":true,"available":true}'

# How long setup waits for the daemon to appear (procd may still be starting it).
XFRMD_WAIT="${XFRMD_WAIT:-5}"

if [ "$2" = "dump" ]; then
	printf '%s\n' "$XFRMD_DUMP"
	exit 0
fi

cmd="$2"
iface="$3"
config="$4"

case "$iface" in
	''|*[!A-Za-z0-9_]*)
		echo "xfrm: refusing interface name with unexpected characters" >&2
		exit 1
		;;
esac

case "$cmd" in
	setup)
		# netifd hands us the config as one JSON object; anything else is not from netifd.
		case "$config" in
			'{'*'}') ;;
			*) config='{}' ;;
		esac
		request="{\"interface\":\"$iface\",\"config\":$config}"
		# one argv element each, no word splitting, no eval
		ubus -t 10 call xfrmd setup "$request" >/dev/null 2>&1 && exit 0
		# not there (yet): procd may still be starting it
		ubus -t "$XFRMD_WAIT" wait_for xfrmd >/dev/null 2>&1 &&
			ubus -t 10 call xfrmd setup "$request" >/dev/null 2>&1 && exit 0
		. "${XFRMD_NETIFD_PROTO:-../netifd-proto.sh}"
		proto_notify_error "$iface" DAEMON_UNAVAILABLE "xfrmd is not running: /etc/init.d/xfrmd start"
		# no restart loop; xfrmd sets blocked interfaces up again when it starts
		proto_block_restart "$iface"
		proto_setup_failed "$iface"
		echo "xfrm: xfrmd is not running; $iface stays down until it starts" >&2
		exit 1
		;;
	teardown)
		# A teardown must not fail: if the daemon is gone it cleans up when it starts.
		ubus -t 10 call xfrmd teardown "{\"interface\":\"$iface\"}" >/dev/null 2>&1
		exit 0
		;;
	*)
		exit 0
		;;
esac
