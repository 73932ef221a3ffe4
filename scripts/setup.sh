#!/bin/sh
# Installs what viommu needs (scripts/deps.sh), builds it and runs the
# demonstration: a guest driver playing requests against the device core.
set -eu
cd "$(dirname "$0")/.."

./scripts/deps.sh
[ -d build ] || meson setup build
meson compile -C build
./build/tools/viommu-demo
