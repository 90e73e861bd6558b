#!/usr/lib/ksight-busybox/sh
# /init of the kernel-matrix guest (scripts/kernel-matrix builds the
# initramfs): mount what the agent uses, load the modules the tests need, run
# `ksight probes` and the integration tests, dump the kernel log, power off.
# Every line the host parses starts with KM:.
export PATH=/usr/sbin:/usr/bin:/usr/lib/ksight-busybox
export HOME=/root LANG=C.UTF-8 KSIGHT_REQUIRE_BPF=1
. /etc/ksight-matrix.env

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# Pure cgroup v2, as on a systemd node, with the controllers the tests use.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +memory +io +pids" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
ln -sf /proc/self/fd /dev/fd
ip link set lo up
echo "KM:RELEASE $(uname -r)"

while read -r m; do
  insmod "/modules/$m" || echo "KM:MODULE-FAILED $m"
done </modules/order

# /tmp on ext4 over a loop device, so the tests' direct writes are block I/O
# the biolatency probe sees (the initramfs itself has no block device). What
# the initramfs holds under /tmp (the build, when the checkout is there, as
# in CI) moves onto the disk first, or the mount would hide it.
mkdir -p /mnt/disk
mb=$(( $(du -sm /tmp | cut -f1) + 160 ))
dd if=/dev/zero of=/run/disk.img bs=1M count="$mb" 2>/dev/null
if losetup /dev/loop0 /run/disk.img 2>/dev/null || { mknod /dev/loop0 b 7 0 && losetup /dev/loop0 /run/disk.img; }; then
  if mke2fs -q /dev/loop0 && mount -t ext4 /dev/loop0 /mnt/disk; then
    cp -a /tmp/. /mnt/disk/ && rm -rf /tmp/* && mount -o bind /mnt/disk /tmp ||
      echo "KM:NO-DISK moving /tmp failed"
  else
    echo "KM:NO-DISK mount failed"
  fi
else
  echo "KM:NO-DISK losetup failed"
fi
chmod 1777 /tmp

"$BUILD_DIR/ksight" probes 2>&1 | sed 's/^/KM:PROBE /'

filter=$(sed -n 's/.*ksight\.filter=\([^ ]*\).*/\1/p' /proc/cmdline)
cd /tmp
"$BUILD_DIR/tests/ksight_integration_tests" --gtest_filter="$filter" --gtest_color=no 2>&1
echo "KM:GTEST-EXIT $?"

dmesg | sed 's/^/KM:DMESG /'
echo "KM:END"
sync
poweroff -f
