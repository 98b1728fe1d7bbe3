#!/usr/bin/env bash
# Run one command inside a throw-away QEMU guest booting a Debian kernel (6.1 or 6.12) that has XFRM
# interfaces and ESP. The guest sees the host's / read-only (tmpfs overlay on top), this checkout
# read-write at the same path, and starts in the caller's working directory.
#
#   test/kernel/guest.sh [--kernel 6.1|6.12] [--timeout SEC] [--mem MB] [--console] [--verbose] -- <command…>
#
# stdout/stderr of the command stream live to ours; our exit status is the command's.
#   124  the command did not finish within --timeout (default 1200 s, XFRMD_GUEST_TIMEOUT)
#   125  the guest failed (did not boot after retries, crashed, or died without an exit status)
# A guest that dies or hangs before the command starts (seen rarely under TCG) is retried
# (XFRMD_GUEST_RETRIES, default 2; boot limit XFRMD_GUEST_BOOT_TIMEOUT, default 120 s).
# --console streams the kernel console to stderr; otherwise its tail is shown when the guest fails.
# XFRMD_GUEST_STATS=<file> receives kernel, release, rc, attempts, boot and total seconds.
# Environment passed into the guest: CI, NO_COLOR, FORCE_COLOR, DEBUG, NODE_OPTIONS, VITEST_*, XFRMD_*;
# the command also gets XFRMD_GUEST_KERNEL (6.1|6.12) and XFRMD_GUEST_KERNEL_RELEASE (uname -r).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XFRMD_KERNEL_CACHE:-$repo/.cache/kernels}
kernel=${XFRMD_KERNEL:-6.1}
timeout=${XFRMD_GUEST_TIMEOUT:-1200}
boot_timeout=${XFRMD_GUEST_BOOT_TIMEOUT:-120}
retries=${XFRMD_GUEST_RETRIES:-2}
mem=${XFRMD_GUEST_MEM:-2048}
console=0
verbose=${XFRMD_GUEST_VERBOSE:-0}

usage() { sed -n '2,/^set /{/^set /!p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=${2:-}; shift 2 ;;
    --kernel=*) kernel=${1#*=}; shift ;;
    --timeout) timeout=${2:-}; shift 2 ;;
    --mem) mem=${2:-}; shift 2 ;;
    --console) console=1; shift ;;
    --verbose|-v) verbose=1; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
case $kernel in 6.1|6.12) ;; *) echo "guest.sh: --kernel must be 6.1 or 6.12" >&2; exit 2 ;; esac
case $repo$PWD in *[[:space:]]*) echo "guest.sh: paths with spaces are not supported" >&2; exit 2 ;; esac

say() { [ "$verbose" = 1 ] && echo "guest[$kernel]: $*" >&2; return 0; }
now() { echo "${EPOCHREALTIME/./}"; }          # microseconds
secs() { printf '%d.%01d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }

if [ ! -f "$cache/$kernel/.complete" ]; then
  "$here/setup.sh" "$kernel" || { echo "guest.sh: setup failed" >&2; exit 125; }
fi
kdir=$(cd "$cache/$kernel" && pwd -P)
kver=${kdir##*/}

qemu=$(command -v qemu-system-x86_64) || { echo "guest.sh: qemu-system-x86_64 missing (run test/kernel/setup.sh)" >&2; exit 125; }
# /dev/kvm may be a PVM-only KVM on which Debian kernels hang: use KVM only with kvm_intel/kvm_amd.
accel=(-accel tcg,thread=single -cpu max)
if { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } && [ -w /dev/kvm ] && [ "${XFRMD_GUEST_TCG:-0}" != 1 ]; then
  accel=(-accel kvm -cpu host)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xfrmd-guest.XXXXXX")
qpid= relays=()
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  for p in "${relays[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# The command, as a script the guest runs with bash.
{
  echo "cd $(printf '%q' "$PWD") || exit 125"
  while IFS='=' read -r name _; do
    case $name in
      CI|NO_COLOR|FORCE_COLOR|DEBUG|NODE_OPTIONS|VITEST_*|XFRMD_*) printf 'export %s=%q\n' "$name" "${!name}" ;;
    esac
  done < <(env)
  # The guest's stdout is a pipe: keep colours only when ours is a terminal.
  if [ -z "${NO_COLOR+x}${FORCE_COLOR+x}" ]; then
    if [ -t 1 ]; then echo "export FORCE_COLOR=1"; else echo "export NO_COLOR=1"; fi
  fi
  echo "export HOME=/root PATH=$(printf '%q' "$PATH") XFRMD_IN_GUEST=1 XFRMD_GUEST_KERNEL=$kernel XFRMD_GUEST_KERNEL_RELEASE=$kver"
  printf 'exec'; printf ' %q' "$@"; echo
} > "$tmp/cmd"

boot() { # one attempt; sets rc, started, boot_us, timed_out
  local share=$tmp/share
  rm -rf "$share" "$tmp"/*.in "$tmp"/*.out "$tmp/console.log"
  mkdir -p "$share"
  cp "$tmp/cmd" "$share/cmd"
  mkfifo "$tmp/out.in" "$tmp/out.out" "$tmp/err.in" "$tmp/err.out"
  cat "$tmp/out.out" & relays=($!)
  cat "$tmp/err.out" >&2 & relays+=($!)
  local serial=(-serial "file:$tmp/console.log")
  if [ "$console" = 1 ]; then
    mkfifo "$tmp/con.in" "$tmp/con.out"
    cat "$tmp/con.out" >&2 & relays+=($!)
    serial=(-chardev "pipe,id=con,path=$tmp/con" -serial chardev:con)
  fi
  local t0; t0=$(now)
  "$qemu" -nodefaults -no-user-config -display none -no-reboot -monitor none \
    -machine q35 "${accel[@]}" -smp 1 -m "$mem" \
    -kernel "$kdir/vmlinux" -initrd "$kdir/initrd.cpio" \
    -append "console=ttyS0 quiet panic=-1 ${XFRMD_GUEST_APPEND:-} xfrmd.repo=$repo xfrmd.mod=$kdir/lib/modules/$kver" \
    "${serial[@]}" \
    -fsdev "local,id=fs0,path=/,security_model=none,readonly=on,multidevs=remap" \
    -device virtio-9p-pci,fsdev=fs0,mount_tag=hostroot \
    -fsdev "local,id=fs1,path=$repo,security_model=none,multidevs=remap" \
    -device virtio-9p-pci,fsdev=fs1,mount_tag=repo \
    -fsdev "local,id=fs2,path=$share,security_model=none" \
    -device virtio-9p-pci,fsdev=fs2,mount_tag=run \
    -device virtio-serial-pci \
    -chardev "pipe,id=out,path=$tmp/out" -device virtserialport,chardev=out,name=xfrmd.stdout \
    -chardev "pipe,id=err,path=$tmp/err" -device virtserialport,chardev=err,name=xfrmd.stderr \
    < /dev/null 2> "$tmp/qemu.err" &
  qpid=$!
  started=0 timed_out=0 boot_us=0
  local elapsed
  while kill -0 "$qpid" 2>/dev/null; do
    elapsed=$(( ($(now) - t0) / 1000000 ))
    if [ "$started" = 0 ]; then
      if [ -e "$share/started" ]; then
        started=1; boot_us=$(( $(now) - t0 )); say "command started after $(secs $boot_us) s"
      elif [ "$elapsed" -ge "$boot_timeout" ]; then
        echo "guest[$kernel]: no start within ${boot_timeout} s" >&2; kill "$qpid"; break
      fi
    fi
    if [ "$elapsed" -ge "$timeout" ]; then
      echo "guest[$kernel]: timeout after ${timeout} s" >&2; timed_out=1; kill "$qpid"; break
    fi
    sleep 0.25
  done
  wait "$qpid"; local qrc=$?
  qpid=
  [ -e "$share/started" ] && started=1
  # Relays end when QEMU closes the pipes; don't wait forever if QEMU never opened them.
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "${relays[0]}" 2>/dev/null || kill -0 "${relays[1]}" 2>/dev/null || break
    sleep 0.2
  done
  for p in "${relays[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  relays=()
  total_us=$(( $(now) - t0 ))
  if [ -f "$share/rc" ]; then rc=$(cat "$share/rc")
  elif [ "$timed_out" = 1 ]; then rc=124
  else rc=125
  fi
  if [ -s "$tmp/qemu.err" ]; then sed 's/^/qemu: /' "$tmp/qemu.err" >&2; fi
  [ -s "$share/guest-error" ] && sed 's/^/guest: /' "$share/guest-error" >&2
  if [ ! -f "$share/rc" ] && [ "$console" = 0 ] && [ -s "$tmp/console.log" ]; then
    echo "guest[$kernel]: no exit status (qemu exit $qrc); console tail:" >&2
    tail -n 40 "$tmp/console.log" | sed 's/^/  | /' >&2
  fi
}

attempt=0
while :; do
  attempt=$((attempt + 1))
  say "booting $kver (attempt $attempt, ${accel[1]})"
  boot
  if [ "$started" = 1 ] || [ "$attempt" -gt "$retries" ]; then break; fi
  echo "guest[$kernel]: guest died before the command started; retrying ($attempt/$retries)" >&2
done
[ "$started" = 1 ] || echo "guest[$kernel]: the guest never started the command" >&2
say "exit $rc, boot $(secs $boot_us) s, total $(secs $total_us) s"
# XFRMD_GUEST_STATS=<file>: timings for run-tests.sh
if [ -n "${XFRMD_GUEST_STATS:-}" ]; then
  printf 'kernel=%s\nrelease=%s\nrc=%s\nattempts=%s\nboot=%s\ntotal=%s\n' \
    "$kernel" "$kver" "$rc" "$attempt" "$(secs $boot_us)" "$(secs $total_us)" > "$XFRMD_GUEST_STATS"
fi
exit "$rc"
