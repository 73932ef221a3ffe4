#!/bin/sh
# Installs what viommu needs (scripts/deps.sh), builds it and runs the
# demonstration: viommu-vhost-user started, and a VMM and a Linux guest
# taking it through the SR-IOV sequence over the real vhost-user protocol.
set -eu
cd "$(dirname "$0")/.."

./scripts/deps.sh
[ -d build ] || meson setup build
meson compile -C build
./build/examples/viommu-daemon-demo
