#!/bin/sh
# Builds QEMU 10.2 (or newer), unmodified, from Debian's source package: the
# QEMU that has `vhost-user-test-device-pci` and `vfio-user-pci`, which the vm
# suite drives the daemon with (Debian 12 stops at QEMU 10.0). The newest
# 10.2.x that sid's source suite carries is fetched through a sources file
# made from the machine's own Debian URI and removed again afterwards, built
# for x86_64-softmmu with TCG and vhost-user, and cached outside the tree in
# ${VIOMMU_CACHE:-/var/cache/viommu}/qemu/bin/qemu-system-x86_64. A second
# run returns at once. Slow: about 15 minutes on 2 cores, once per machine.
#
# The one workaround, in the build and not in QEMU's code: Debian's `+ds`
# tarball drops the edk2 firmware images that pc-bios/meson.build unpacks
# unconditionally, so empty stand-ins are put where it looks for them (x86
# TCG guests boot SeaBIOS; the firmware is Debian's, through --firmwarepath).
set -eu
cd "$(dirname "$0")/.."
. ./scripts/debian-uri.sh

CACHE=${VIOMMU_CACHE:-/var/cache/viommu}
OUT=$CACHE/qemu
BIN=$OUT/bin/qemu-system-x86_64
SOURCES=/etc/apt/sources.list.d/viommu-qemu-src.sources
FIRMWARE=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu

say() { echo "build-qemu: $*"; }

# A sources file an interrupted run left behind.
rm -f "$SOURCES"

if [ -x "$BIN" ] && "$BIN" -device help 2>/dev/null | grep -q '"vfio-user-pci"'; then
    say "$BIN is there ($("$BIN" --version | head -n 1))"
    exit 0
fi

# The newest qemu source version of sid: 10.2.x preferred, else anything newer.
pick_version() {
    apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ { print $2 }' |
        sort -V -r | awk -F'[:+~-]' '
            { up = ($0 ~ /:/) ? $2 : $1; split(up, v, ".") }
            v[1] == 10 && v[2] == 2 && !exact { exact = $0 }
            (v[1] > 10 || (v[1] == 10 && v[2] >= 2)) && !newer { newer = $0 }
            END { print exact ? exact : newer }'
}

work=$OUT/src
mkdir -p "$work"
if [ ! -f "$work/unpacked" ]; then
    uri=$(debian_uri)
    [ -n "$uri" ] || { say "no Debian archive URI in /etc/apt/sources*" >&2; exit 1; }
    printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" >"$SOURCES"
    trap 'rm -f "$SOURCES"; apt-get update -qq >/dev/null 2>&1 || true' EXIT
    trap 'exit 1' INT TERM HUP
    say "fetching the list of sid's source packages"
    apt-get update -qq
    version=$(pick_version)
    if [ -z "$version" ]; then
        say "no QEMU 10.2 or newer source package in sid: cannot build it" >&2
        exit 1
    fi
    say "fetching Debian's source of qemu $version"
    rm -rf "$work" && mkdir -p "$work"
    chmod 755 "$work" # apt's own user may read it
    (cd "$work" && apt-get source -q --download-only "qemu=$version" >/dev/null &&
        dpkg-source --no-check --skip-patches -x ./*.dsc >/dev/null)
    rm -f "$SOURCES"
    trap - EXIT INT TERM HUP
    apt-get update -qq >/dev/null 2>&1 || true
    touch "$work/unpacked"
fi
src=$(ls -d "$work"/qemu-*/ | head -n 1)
cd "$src"

# Empty stand-ins for the edk2 images the +ds tarball lacks.
for f in $(sed -n "s/.*'\(edk2-[^']*\.fd\)'.*/\1/p" pc-bios/meson.build); do
    [ -f "pc-bios/$f.bz2" ] || : | bzip2 >"pc-bios/$f.bz2"
done

say "configuring $(basename "$src") (x86_64-softmmu, TCG, vhost-user)"
mkdir -p build
cd build
../configure --python=/usr/bin/python3 --target-list=x86_64-softmmu \
    --firmwarepath="$FIRMWARE" --disable-docs --disable-werror --disable-kvm \
    --disable-xen --disable-gtk --disable-sdl --disable-vnc --disable-spice \
    --disable-opengl --disable-user --disable-tools --disable-guest-agent \
    --disable-capstone --disable-curses --disable-download \
    --disable-install-blobs --enable-vhost-user --enable-slirp >configure.log 2>&1 ||
    { tail -n 20 configure.log >&2; say "configure failed ($src/build/configure.log)" >&2; exit 1; }

say "compiling qemu-system-x86_64: about 15 minutes on 2 cores, once per machine"
total=$(ninja -n qemu-system-x86_64 2>/dev/null | grep -c '^\[' || true)
{
    rc=0
    ninja -j"$(nproc)" qemu-system-x86_64 2>&1 || rc=$?
    echo "$rc" >ninja.status
} | awk -v total="$total" '
    /^\[[0-9]+\/[0-9]+\]/ { n++; if (n % 500 == 0) { printf "build-qemu: %d of %d steps\n", n, total; fflush() } next }
    /error|Error/ { print }'
if [ "$(cat ninja.status)" != 0 ]; then
    say "compile failed: see ninja -C $src/build qemu-system-x86_64" >&2
    exit 1
fi
mkdir -p "$OUT/bin"
cp qemu-system-x86_64 "$BIN.new"
mv "$BIN.new" "$BIN"
say "built $BIN ($("$BIN" --version | head -n 1))"
