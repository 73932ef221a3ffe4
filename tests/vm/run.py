#!/usr/bin/env python3
"""run.py [--with=FILE]... [--module=NAME]... BACKEND PROGRAM [ARG...]

Boots a Linux guest under QEMU (TCG) with an emulated Intel IOMMU in front
of real emulated PCI devices (three `edu`, two of them behind a
pcie-pci-bridge with a `pcnet`, so that the three share an IOMMU group, and
an igb PF for SR-IOV), runs PROGRAM BACKEND ARG... in it as root, and relays the TAP it
prints.

BACKEND type1: Debian's bookworm-backports 6.12 kernel, unpacked by
scripts/deps.sh into $VIOMMU_CACHE/vm (default /var/cache/viommu); its
VFIO and igb modules go into the initramfs. BACKEND iommufd: the kernel
scripts/build-iommufd-kernel.sh builds into $VIOMMU_CACHE/iommufd-kernel,
everything built in; without it the test is skipped, saying so.

--with=FILE puts FILE (a static program PROGRAM starts, say) into the
guest's / under its own name. --module=NAME loads a module of the type1
kernel besides the VFIO and igb ones (pcnet32 binds the pcnet device
that shares an IOMMU group with two of the edu).
"""
import glob
import lzma
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("VIOMMU_CACHE", "/var/cache/viommu")
TIMEOUT_S = 500
# Modules the type1 guest loads, with their dependencies resolved here.
MODULES = ["vfio_iommu_type1", "vfio-pci", "igb"]
QEMU_DEVICES = [
    "-device", "intel-iommu,intremap=on,caching-mode=on,aw-bits=39",
    "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
    "-device", "edu,bus=rp1,dma_mask=0xffffffffffffffff",
    "-device", "pcie-root-port,id=rp2,chassis=2,slot=2",
    "-device", "igb,bus=rp2",
    "-device", "pcie-root-port,id=rp3,chassis=3,slot=3",
    "-device", "pcie-pci-bridge,bus=rp3,id=br0",
    "-device", "edu,bus=br0,addr=1,dma_mask=0xffffffffffffffff",
    "-device", "edu,bus=br0,addr=2,dma_mask=0xffffffffffffffff",
    "-device", "pcnet,bus=br0,addr=3",
]
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r mod params; do
    insmod "/lib/modules/$mod.ko" $params || echo "# insmod $mod failed"
done < /modules.order
# The edu devices go to vfio-pci, as a management tool would do.
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]
    then
        echo vfio-pci > "$d/driver_override"
        echo "${d##*/}" > /sys/bus/pci/drivers_probe
    fi
done
/program @ARGS@
echo "# program exited with status $?"
poweroff -f
"""


def skip(reason):
    print("1..0 # SKIP " + reason)
    print("run.py: skipped: " + reason, file=sys.stderr)
    sys.exit(0)  # the TAP plan says skip; meson's exit code 77 is an error


def bail(reason):
    print("Bail out! " + reason)
    sys.exit(1)


def module_files(moddir):
    files = {}
    for path in glob.glob(moddir + "/kernel/**/*.ko.xz", recursive=True):
        name = os.path.basename(path)[:-len(".ko.xz")]
        files[name.replace("-", "_")] = path
    return files


def depends(data):
    m = re.search(rb"depends=([^\0]*)\0", data)
    return [d for d in m.group(1).decode().split(",") if d] if m else []


def add_modules(root, moddir):
    """Unpacks MODULES and what they depend on into root/lib/modules, and
    writes the order to load them in."""
    files = module_files(moddir)
    order, seen = [], set()

    def visit(name):
        key = name.replace("-", "_")
        if key in seen:
            return
        seen.add(key)
        if key not in files:
            bail("module %s not in %s" % (name, moddir))
        data = lzma.decompress(open(files[key], "rb").read())
        for dep in depends(data):
            visit(dep)
        with open(os.path.join(root, "lib/modules", key + ".ko"), "wb") as f:
            f.write(data)
        order.append(key)

    os.makedirs(os.path.join(root, "lib/modules"))
    for m in MODULES:
        visit(m)
    with open(os.path.join(root, "modules.order"), "w") as f:
        for m in order:
            f.write(m + "\n")


def initramfs(program, args, moddir, out, extra=()):
    with tempfile.TemporaryDirectory() as root:
        for d in ("bin", "proc", "sys", "dev"):
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
        shutil.copy(program, os.path.join(root, "program"))
        for path in extra:
            shutil.copy(path, os.path.join(root, os.path.basename(path)))
        init = os.path.join(root, "init")
        with open(init, "w") as f:
            f.write(INIT.replace("@ARGS@", " ".join(args)))
        os.chmod(init, 0o755)
        if moddir:
            add_modules(root, moddir)
        else:
            open(os.path.join(root, "modules.order"), "w").close()
        files = subprocess.run(["find", "."], cwd=root, check=True,
                               capture_output=True).stdout
        with open(out, "wb") as f:
            subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                           input=files, stdout=f, check=True)


def kernel(backend):
    if backend == "iommufd":
        bz = os.path.join(CACHE, "iommufd-kernel/bzImage")
        if not os.path.exists(bz):
            skip("no kernel with CONFIG_IOMMUFD at %s: build it with "
                 "scripts/build-iommufd-kernel.sh (tens of minutes)" % bz)
        return bz, None
    found = sorted(glob.glob(os.path.join(CACHE, "vm/root/boot/vmlinuz-*")))
    if not found:
        bail("no guest kernel in %s/vm: run scripts/deps.sh" % CACHE)
    release = os.path.basename(found[-1])[len("vmlinuz-"):]
    return found[-1], os.path.join(CACHE, "vm/root/lib/modules", release)


def main():
    argv = sys.argv[1:]
    extra = []
    while argv and argv[0].startswith(("--with=", "--module=")):
        opt, _, value = argv.pop(0).partition("=")
        (extra if opt == "--with" else MODULES).append(value)
    if len(argv) < 2 or argv[0] not in ("type1", "iommufd"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    backend, program, args = argv[0], argv[1], argv[0:1] + argv[2:]
    if shutil.which("qemu-system-x86_64") is None:
        bail("qemu-system-x86_64 missing: run scripts/deps.sh")
    vmlinuz, moddir = kernel(backend)
    with tempfile.TemporaryDirectory() as tmp:
        initrd = os.path.join(tmp, "initrd.cpio")
        initramfs(program, args, moddir, initrd, extra)
        cmd = ["qemu-system-x86_64", "-machine", "q35,kernel-irqchip=split",
               "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1G",
               "-smp", "2", "-nodefaults", "-display", "none",
               "-serial", "stdio", "-no-reboot", "-kernel", vmlinuz,
               "-initrd", initrd, "-append",
               "console=ttyS0 loglevel=3 panic=-1 intel_iommu=on"]
        qemu = subprocess.Popen(cmd + QEMU_DEVICES, stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT_S
        tap = re.compile(r"^(ok |not ok |1\.\.\d+|Bail out!|#)")
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                qemu.kill()
                bail("the guest did not finish within %d s" % TIMEOUT_S)
            ready, _, _ = select.select([qemu.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(qemu.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                print(line if tap.match(line) else "# " + line, flush=True)
        qemu.wait()


if __name__ == "__main__":
    main()
