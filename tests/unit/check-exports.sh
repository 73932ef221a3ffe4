#!/bin/sh
# check-exports.sh LIBVIOMMU.so LIBVIOMMU.a libviommu.map
# Nothing but the API leaves the library: the shared library and the static
# archive define exactly the viommu_* symbols that the version script lists
# by name, and nothing else.
set -u
so=$1 archive=$2 map=$3
status=0

listed=$(sed -n 's/^ *\(viommu_[a-z0-9_]*\);$/\1/p' "$map" | sort)
if [ -z "$listed" ]; then
    echo "no symbol listed in $map"
    exit 1
fi
# Defined global symbols; the version nodes are absolute symbols named
# after the nodes (VIOMMU_0.2), not code.
dynamic=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' |
    sed 's/@.*//' | sort)
static=$(nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort)

for kind in dynamic static; do
    eval "got=\$$kind"
    extra=$(printf '%s\n' "$got" | grep -v -x -F "$listed")
    missing=$(printf '%s\n' "$listed" | grep -v -x -F "$got")
    if [ -n "$extra" ]; then
        echo "$kind library exports symbols that are not the API:"
        printf '  %s\n' $extra
        status=1
    fi
    if [ -n "$missing" ]; then
        echo "$kind library lacks symbols the map lists:"
        printf '  %s\n' $missing
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "$(printf '%s\n' "$listed" | wc -l) symbols, all viommu_*, in both libraries"
exit "$status"
