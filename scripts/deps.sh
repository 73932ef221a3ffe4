#!/bin/sh
# Installs every Debian package that the build and all test suites need.
# Idempotent: when everything is installed it returns at once, offline.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/debian-uri.sh

# The iommufd and newer VFIO uapi headers need linux-libc-dev >= 6.2, which
# bookworm has only in bookworm-backports.
BACKPORTS_FILE=/etc/apt/sources.list.d/viommu-bookworm-backports.sources
PACKAGES="gcc clang libclang-rt-14-dev ninja-build pkgconf
    libcmocka-dev libglib2.0-dev libjson-c-dev linux-libc-dev
    busybox-static cpio xz-utils python3
    dpkg-dev python3-venv bzip2 zlib1g-dev libpixman-1-dev libslirp-dev
    libfdt-dev device-tree-compiler seabios ipxe-qemu"
# From bookworm-backports: QEMU 10.0 for the vm suite (bookworm's 7.2 lacks
# what it needs), the 6.12 uapi headers, the kernel source that
# scripts/build-iommufd-kernel.sh builds, and the meson that QEMU 10.2 needs
# with its test runner (scripts/build-qemu.sh; bookworm's are too old).
BACKPORTS_PACKAGES="qemu-system-x86 linux-libc-dev linux-source-6.12
    bc bison flex libelf-dev libssl-dev meson python3-pycotap"
# The vm suite's guest kernel: bookworm-backports' 6.12, unpacked (never
# installed) into the cache outside the tree.
CACHE=${VIOMMU_CACHE:-/var/cache/viommu}
GUEST_KERNEL_DIR=$CACHE/vm

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have_everything() {
    for p in $PACKAGES $BACKPORTS_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q 'install ok installed' || return 1
    done
    # bookworm's own meson is too old for QEMU 10.2: the backports one.
    [ -f /usr/include/linux/iommufd.h ] &&
        dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson)" ge 1.5
}

if ! have_everything; then
    if [ ! -f "$BACKPORTS_FILE" ]; then
        uri=$(debian_uri)
        if [ -z "$uri" ]; then
            echo "setup: no Debian archive URI found in /etc/apt/sources*" >&2
            exit 1
        fi
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uri" | as_root tee "$BACKPORTS_FILE" >/dev/null
    fi
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -q -y \
        --no-install-recommends $PACKAGES
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -q -y \
        --no-install-recommends -t bookworm-backports $BACKPORTS_PACKAGES
fi

if ! ls "$GUEST_KERNEL_DIR"/root/boot/vmlinuz-* >/dev/null 2>&1; then
    # The kernel package that bookworm-backports' linux-image-amd64 names.
    pkg=$(apt-cache depends -t bookworm-backports linux-image-amd64 |
        awk '/Depends: linux-image-6/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        echo "setup: no 6.x kernel in bookworm-backports" >&2
        exit 1
    fi
    as_root mkdir -p "$GUEST_KERNEL_DIR"
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt downloads as its own user
    (cd "$tmp" && apt-get download -t bookworm-backports "$pkg" >/dev/null)
    as_root rm -rf "$GUEST_KERNEL_DIR/root"
    as_root dpkg-deb -x "$tmp"/*.deb "$GUEST_KERNEL_DIR/root"
    rm -rf "$tmp"
fi
