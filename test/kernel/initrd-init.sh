#!/bin/busybox sh
# /init of the guest's initramfs (setup.sh fills in @MODULES@). Mounts the host's / read-only over
# virtio-9p under a tmpfs overlay, the checkout and the run directory read-write, the kernel's module
# tree on /lib/modules/<uname -r>, then switch_roots into test/kernel/guest-init.sh of the checkout.
# Kernel command line: xfrmd.repo=<checkout> xfrmd.mod=<module tree> (absolute host paths).
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
bb=/bin/busybox
fail() {
  echo "xfrmd-initrd: $*" > /dev/console
  $bb poweroff -f
}
for m in @MODULES@; do
  $bb insmod /mod/$m || fail "insmod $m failed"
done
repo= mod=
for a in $($bb cat /proc/cmdline); do
  case $a in
    xfrmd.repo=*) repo=${a#xfrmd.repo=} ;;
    xfrmd.mod=*) mod=${a#xfrmd.mod=} ;;
  esac
done
[ -n "$repo" ] && [ -n "$mod" ] || fail "xfrmd.repo/xfrmd.mod missing on the command line"
o9=trans=virtio,version=9p2000.L,msize=262144
$bb mount -t 9p -o $o9,ro,cache=loose hostroot /lower || fail "mount hostroot failed"
$bb mount -t tmpfs -o mode=755 upper /upper || fail "tmpfs failed"
$bb mkdir -p /upper/u /upper/w
$bb mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot || fail "overlay failed"
r=/newroot
$bb mount -t tmpfs -o mode=1777 tmp $r/tmp
$bb mount -t tmpfs -o mode=755 run $r/run
$bb mkdir -p $r$repo $r/xfrmd-run
$bb mount -t 9p -o $o9 repo $r$repo || fail "mount repo failed"
$bb mount -t 9p -o $o9 run $r/xfrmd-run || fail "mount run dir failed"
ver=$($bb uname -r)
$bb mkdir -p $r/lib/modules/$ver
$bb mount -o bind $r$mod $r/lib/modules/$ver || fail "bind modules failed"
$bb mount --move /proc $r/proc
$bb mount --move /sys $r/sys
$bb mount --move /dev $r/dev
exec $bb switch_root $r /bin/sh $repo/test/kernel/guest-init.sh "$repo"
