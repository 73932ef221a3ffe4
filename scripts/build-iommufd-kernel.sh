#!/bin/sh
# Builds the guest kernel for the iommufd half of tests/vm: Debian's
# linux-source-6.12 with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV (no Debian
# kernel has them) and everything the tests use built in, so the guest loads
# no modules. The result is cached outside the tree, in
# ${VIOMMU_CACHE:-/var/cache/viommu}/iommufd-kernel/bzImage; a second run with
# the same source and configuration returns at once.
#
# Slow: tens of minutes on 2 cores. The vm suite runs the iommufd tests only
# when the kernel is there and says plainly when it is not.
set -eu
cd "$(dirname "$0")/.."

CACHE=${VIOMMU_CACHE:-/var/cache/viommu}
OUT=$CACHE/iommufd-kernel
SRC_TAR=/usr/src/linux-source-6.12.tar.xz

if [ ! -f "$SRC_TAR" ]; then
    echo "build-iommufd-kernel: $SRC_TAR missing: run scripts/deps.sh" >&2
    exit 1
fi

# The options on top of x86_64_defconfig + kvm_guest.config; y = built in.
OPTIONS="IOMMUFD VFIO VFIO_CONTAINER VFIO_IOMMU_TYPE1 VFIO_DEVICE_CDEV VFIO_PCI
    VFIO_PCI_CORE IOMMU_SUPPORT INTEL_IOMMU IRQ_REMAP VIRTIO_IOMMU ACPI_VIOT
    VIRTIO_PCI PCI_IOV PCIEPORTBUS HOTPLUG_PCI HOTPLUG_PCI_PCIE HOTPLUG_PCI_ACPI
    IGB IGBVF E1000E NETFS_SUPPORT NET_9P NET_9P_VIRTIO 9P_FS
    BLK_DEV_INITRD DEVTMPFS DEVTMPFS_MOUNT TMPFS"
# Large parts of defconfig that no test needs, off to keep the build short.
DISABLE="DRM SOUND USB_SUPPORT WLAN WIRELESS CFG80211 BT HID INPUT_MOUSE
    INPUT_JOYSTICK INPUT_TABLET INPUT_TOUCHSCREEN FB AGP NETFILTER IPV6
    DEBUG_INFO DEBUG_INFO_BTF HIBERNATION SUSPEND CPU_FREQ MICROCODE
    KVM XEN HYPERV EFI MACINTOSH_DRIVERS ATA SCSI MD NFS_FS"

stamp=$(printf '%s\n%s\n%s\n' "$(stat -c '%s %Y' "$SRC_TAR")" "$OPTIONS" "$DISABLE" |
    sha256sum | cut -c1-16)
if [ -f "$OUT/bzImage" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "build-iommufd-kernel: $OUT/bzImage is up to date"
    exit 0
fi

mkdir -p "$OUT"
work=$OUT/src
if [ ! -d "$work/linux-source-6.12" ]; then
    rm -rf "$work"
    mkdir -p "$work"
    tar -C "$work" -xf "$SRC_TAR"
fi
cd "$work/linux-source-6.12"
make -s x86_64_defconfig
make -s kvm_guest.config
for o in $OPTIONS; do ./scripts/config --enable "$o"; done
for o in $DISABLE; do ./scripts/config --disable "$o"; done
make -s olddefconfig
for o in IOMMUFD VFIO_DEVICE_CDEV VFIO_PCI INTEL_IOMMU VIRTIO_IOMMU IGB NET_9P_VIRTIO; do
    if ! grep -q "^CONFIG_$o=y" .config; then
        echo "build-iommufd-kernel: CONFIG_$o did not stay built in" >&2
        exit 1
    fi
done
echo "build-iommufd-kernel: compiling linux-source-6.12 with iommufd:" \
    "about 20 minutes on 2 cores, once per machine"
# Progress every 500 compiled files; the errors as make prints them.
rm -f make.status
{
    rc=0
    make -j"$(nproc)" bzImage 2>&1 || rc=$?
    echo "$rc" >make.status
} | awk '
    /^  CC / { n++; if (n % 500 == 0) { printf "build-iommufd-kernel: %d files compiled\n", n; fflush() } next }
    /error|Error/ { print }'
if [ "$(cat make.status)" != 0 ]; then
    echo "build-iommufd-kernel: compile failed: see make in $work/linux-source-6.12" >&2
    exit 1
fi
cp arch/x86/boot/bzImage "$OUT/bzImage"
cp .config "$OUT/config"
echo "$stamp" >"$OUT/stamp"
echo "build-iommufd-kernel: built $OUT/bzImage"
