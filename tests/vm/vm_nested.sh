#!/bin/sh
# The vm suite guest's side of vm-nested (run.py --share-host): runs
# vm_nested.py, whose path on the host is $2, with the host's Python over
# 9p, for the daemon $3 and viommuctl $4 (put in the guest's / by --with)
# and the edu $5.
mkdir -p /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host; then
    echo "Bail out! the host's / is not shared over 9p"
    exit 1
fi
libs=/host/lib/x86_64-linux-gnu:/host/usr/lib/x86_64-linux-gnu
exec env PYTHONHOME=/host/usr \
    /host/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path "$libs" \
    /host/usr/bin/python3 "/host$2" "/$3" "/$4" "$5"
