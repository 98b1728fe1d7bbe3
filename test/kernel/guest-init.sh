#!/bin/sh
# Stage 2 of the guest (PID 1 after switch_root; run by the host's /bin/sh from the shared checkout).
# Loads the XFRM/ESP/veth/dummy modules, installs a fast modprobe helper, runs /xfrmd-run/cmd
# (written by guest.sh) with stdout/stderr on the virtio-serial ports xfrmd.stdout/xfrmd.stderr,
# leaves the exit status in /xfrmd-run/rc and powers off.
repo=$1
run=/xfrmd-run
bb=/bin/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

finish() {
  sync
  $bb poweroff -f
  exec $bb sleep 1000
}
fail() {
  echo "xfrmd-guest: $*" > /dev/console
  echo "xfrmd-guest: $*" >> $run/guest-error
  finish
}

mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
hostname xfrmd-guest 2>/dev/null || $bb hostname xfrmd-guest

# busybox's static modprobe as the kernel's usermode helper: ESP SAs trigger many request_module()
# calls for crypto algorithms, and it is several times faster than anything dynamically linked here.
mkdir -p /run/xfrmd
ln -sf $bb /run/xfrmd/modprobe
echo /run/xfrmd/modprobe > /proc/sys/kernel/modprobe
$bb modprobe dummy numdummies=0 || fail "modprobe dummy failed"
for m in xfrm_interface esp4 esp6 xfrm_user veth; do
  $bb modprobe $m || fail "modprobe $m failed"
done
$bb ip link set lo up 2>/dev/null || ip link set lo up

out= err=
for p in /sys/class/virtio-ports/*; do
  case $(cat $p/name 2>/dev/null) in
    xfrmd.stdout) out=/dev/${p##*/} ;;
    xfrmd.stderr) err=/dev/${p##*/} ;;
  esac
done
[ -n "$out" ] && [ -n "$err" ] || fail "virtio-serial ports not found"

# Relay through pipes so the command sees ordinary pipes (not a character device) on 1 and 2.
mkdir -p /run/xfrmd/io
mkfifo /run/xfrmd/io/out /run/xfrmd/io/err
$bb cat /run/xfrmd/io/out > $out &
p1=$!
$bb cat /run/xfrmd/io/err > $err &
p2=$!
cd "$repo" || fail "cd $repo failed"
: > $run/started
/bin/bash $run/cmd < /dev/null > /run/xfrmd/io/out 2> /run/xfrmd/io/err
rc=$?
# A background process left holding stdout/stderr must not keep the guest up.
( $bb sleep 5; kill $p1 $p2 2>/dev/null ) &
wait $p1 $p2
echo $rc > $run/rc.tmp && mv $run/rc.tmp $run/rc
finish
