#!/bin/sh
# localize-archive.sh IN.a OUT.a TMPDIR
# Links the objects of IN.a into one relocatable object, makes every hidden
# symbol local, and archives that object as OUT.a: the archive then exports
# the library's API and nothing else.
set -eu
in=$1 out=$2 tmp=$3
mkdir -p "$tmp"
ld -r --whole-archive "$in" -o "$tmp/libviommu.o"
objcopy --localize-hidden "$tmp/libviommu.o"
rm -f "$out"
ar rcs "$out" "$tmp/libviommu.o"
