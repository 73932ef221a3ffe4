"""vm_nested.py DAEMON VIOMMUCTL EDU-BDF

Runs inside the vm suite's guest (run.py --share-host), with the host's
Python and QEMU 10.2 reached over 9p, and prints TAP. The guest has real
VFIO: its edu (EDU-BDF) is bound to vfio-pci. DAEMON, the daemon built
with the real VFIO backend, serves that edu over vfio-user and is the
virtio-iommu of a QEMU 10.2 started here (a nested guest). Booting a Linux
in a nested TCG guest takes minutes, so the nested QEMU runs with
`-accel qtest` and this program plays its guest through the qtest socket:
it enumerates PCI, drives the virtio-iommu (features, a request queue,
ATTACH, MAP, UNMAP) and programs edu's DMA. What it proves, with QEMU's
real vfio-user client between the nested guest and the daemon: the device
is realized (config space and its MSI capability, BAR0), edu's ID register
reads through it, a DMA lands exactly in the nested guest's page that the
guest mapped and nowhere once unmapped, and device_del ends with QEMU's
DEVICE_DELETED and the daemon's ENDPOINT_REMOVED; VIOMMUCTL assigned the
edu before, and its release, started while the nested QEMU still had the
edu, waits and gives the edu back (no driver) only after that.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

HOST = "/host"
# The cache of the host (run.py exports it to the guest).
QEMU = HOST + os.environ.get("VIOMMU_CACHE", "/var/cache/viommu") + \
    "/qemu/bin/qemu-system-x86_64"
LIBS = HOST + "/lib/x86_64-linux-gnu:" + HOST + "/usr/lib/x86_64-linux-gnu"
LOADER = HOST + "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
RUN = "/tmp/nested"
ENDPOINT = 0x0100  # 01:00.0 behind the root port
VIRTIO_BAR = 0xc1000000
EDU_BAR = 0xc0000000
# Nested guest RAM used here.
QUEUE = 0x100000  # the request queue: desc, avail, used
REQ = 0x110000  # request buffers
SRC, DST = 0x200000, 0x300000  # edu's DMA from and to
PAGE = 4096

failed = 0
case = 0


def report(ok, name, why=""):
    global failed, case
    case += 1
    failed += not ok
    print("%s %d - %s%s" % ("ok" if ok else "not ok", case, name,
                            "" if ok else " # " + why), flush=True)


class Lines:
    """A line protocol on a UNIX socket."""

    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b""

    def line(self, timeout=60):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("peer hung up")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")


class Qtest(Lines):
    def cmd(self, text):
        self.send(text)
        while True:
            answer = self.line()
            if answer is None:
                raise OSError("qtest: no answer to " + text)
            if not answer.startswith("IRQ"):
                break
        if not answer.startswith("OK"):
            raise OSError("qtest: %s: %s" % (text, answer))
        return answer[3:]

    def cfg_addr(self, bdf, reg):
        bus, dev, fn = bdf
        self.cmd("outl 0xcf8 0x%x" % (0x80000000 | bus << 16 | dev << 11 |
                                      fn << 8 | (reg & 0xfc)))
        return 0xcfc + (reg & 3)

    def cfg_read(self, bdf, reg, size=4):
        port = self.cfg_addr(bdf, reg)
        op = {1: "inb", 2: "inw", 4: "inl"}[size]
        return int(self.cmd("%s 0x%x" % (op, port)), 16)

    def cfg_write(self, bdf, reg, value, size=4):
        port = self.cfg_addr(bdf, reg)
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self.cmd("%s 0x%x 0x%x" % (op, port, value))

    def rd(self, addr, size):
        op = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}[size]
        return int(self.cmd("%s 0x%x" % (op, addr)), 16)

    def wr(self, addr, value, size):
        op = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}[size]
        self.cmd("%s 0x%x 0x%x" % (op, addr, value))

    def mem(self, addr, size):
        return bytes.fromhex(self.cmd("read 0x%x 0x%x" % (addr, size))[2:])

    def put(self, addr, data):
        self.cmd("write 0x%x 0x%x 0x%s" % (addr, len(data), data.hex()))


def capabilities(q, bdf):
    """(offset, id) of each capability in the device's list."""
    caps, at = [], q.cfg_read(bdf, 0x34, 1) & 0xfc
    while at and len(caps) < 48:
        caps.append((at, q.cfg_read(bdf, at, 1)))
        at = q.cfg_read(bdf, at + 1, 1) & 0xfc
    return caps


class Virtio:
    """Just enough of a virtio-pci modern driver for virtio-iommu's
    request queue, through qtest."""

    def __init__(self, q, bdf):
        self.q = q
        self.cfg = {}
        for at, cap in capabilities(q, bdf):
            if cap != 0x09:
                continue
            kind = q.cfg_read(bdf, at + 3, 1)
            bar = q.cfg_read(bdf, at + 4, 1)
            offset = q.cfg_read(bdf, at + 8)
            self.cfg.setdefault(kind, (bar, offset, at))
        bar = self.cfg[1][0]
        q.cfg_write(bdf, 0x10 + 4 * bar, VIRTIO_BAR & 0xffffffff)
        q.cfg_write(bdf, 0x14 + 4 * bar, VIRTIO_BAR >> 32)
        q.cfg_write(bdf, 0x04, 0x6, 2)  # memory, bus master
        self.common = VIRTIO_BAR + self.cfg[1][1]
        self.notify = VIRTIO_BAR + self.cfg[2][1]
        self.notify_mult = q.cfg_read(bdf, self.cfg[2][2] + 16)
        self.last_used = 0
        self.avail_idx = 0

    def start(self):
        q, c = self.q, self.common
        q.wr(c + 0x14, 0, 1)  # reset
        q.wr(c + 0x14, 1 | 2, 1)  # ACKNOWLEDGE, DRIVER
        features = 0
        for sel in (0, 1):
            q.wr(c + 0x00, sel, 4)
            features |= q.rd(c + 0x04, 4) << (32 * sel)
        # VERSION_1, MAP_UNMAP, INPUT_RANGE, DOMAIN_RANGE: what is offered.
        want = features & ((1 << 32) | (1 << 2) | (1 << 0) | (1 << 1))
        for sel in (0, 1):
            q.wr(c + 0x08, sel, 4)
            q.wr(c + 0x0c, (want >> (32 * sel)) & 0xffffffff, 4)
        q.wr(c + 0x14, 1 | 2 | 8, 1)  # FEATURES_OK
        if not q.rd(c + 0x14, 1) & 8:
            raise OSError("FEATURES_OK refused")
        q.wr(c + 0x16, 0, 2)  # queue_select 0
        self.size = 16
        q.wr(c + 0x18, self.size, 2)
        self.desc, self.avail, self.used = QUEUE, QUEUE + 0x1000, QUEUE + 0x2000
        q.cmd("memset 0x%x 0x3000 0" % QUEUE)
        for off, addr in ((0x20, self.desc), (0x28, self.avail),
                          (0x30, self.used)):
            q.wr(c + off, addr, 8)
        self.notify_addr = self.notify + q.rd(c + 0x1e, 2) * self.notify_mult
        q.wr(c + 0x1c, 1, 2)  # queue_enable
        q.wr(c + 0x14, 1 | 2 | 8 | 4, 1)  # DRIVER_OK: QEMU starts vhost

    def request(self, body, resp_len=4):
        """Sends one request; returns the bytes the device wrote back."""
        q = self.q
        out = REQ
        q.put(REQ, body)
        q.cmd("memset 0x%x 0x%x 0xff" % (REQ + 0x800, resp_len))
        q.put(self.desc, struct.pack("<QIHH", REQ, len(body), 1, 1) +
              struct.pack("<QIHH", REQ + 0x800, resp_len, 2, 0))
        slot = self.avail_idx % self.size
        q.wr(self.avail + 4 + 2 * slot, 0, 2)
        self.avail_idx = (self.avail_idx + 1) & 0xffff
        q.wr(self.avail + 2, self.avail_idx, 2)
        q.wr(self.notify_addr, 0, 2)
        deadline = time.monotonic() + 10
        while q.rd(self.used + 2, 2) == self.last_used:
            if time.monotonic() > deadline:
                raise OSError("no answer from the virtio-iommu")
        self.last_used = (self.last_used + 1) & 0xffff
        return q.mem(out + 0x800, resp_len)


def attach(v, domain, endpoint):
    return v.request(struct.pack("<BxxxIIIxxxx", 1, domain, endpoint, 0))[0]


def map_(v, domain, iova, size, gpa):
    return v.request(struct.pack("<BxxxIQQQI", 3, domain, iova,
                                 iova + size - 1, gpa, 3))[0]


def unmap(v, domain, iova, size):
    return v.request(struct.pack("<BxxxIQQxxxx", 4, domain, iova,
                                 iova + size - 1))[0]


def edu_dma(q, iova, to_ram):
    q.wr(EDU_BAR + 0x80, 0x40000 if to_ram else iova, 8)
    q.wr(EDU_BAR + 0x88, iova if to_ram else 0x40000, 8)
    q.wr(EDU_BAR + 0x90, PAGE, 8)
    q.wr(EDU_BAR + 0x98, 3 if to_ram else 1, 8)
    deadline = time.monotonic() + 20
    while q.rd(EDU_BAR + 0x98, 8) & 1:
        if time.monotonic() > deadline:
            raise OSError("edu's transfer did not end")
        time.sleep(0.01)


def main():
    daemon, viommuctl, edu = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.access(QEMU, os.X_OK):
        print("Bail out! no QEMU 10.2 at %s: build it with "
              "scripts/build-qemu.sh" % QEMU[len(HOST):])
        return 1
    print("1..7", flush=True)
    os.makedirs(RUN, exist_ok=True)
    path = lambda name: os.path.join(RUN, name)
    ctl_cmd = [viommuctl, "--state-file=" + path("viommuctl.json")]
    # As the host had it before: the edu without a driver (the guest's
    # init bound it to vfio-pci).
    with open("/sys/bus/pci/drivers/vfio-pci/unbind", "w") as f:
        f.write(edu)
    with open("/sys/bus/pci/devices/%s/driver_override" % edu, "w") as f:
        f.write("\n")
    assign = subprocess.run(ctl_cmd + ["assign", edu], capture_output=True,
                            text=True)
    report(assign.returncode == 0 and driver(edu) == "vfio-pci",
           "viommuctl assign: the edu goes to vfio-pci",
           "exit %d: %s" % (assign.returncode, assign.stdout.strip()))
    procs = [subprocess.Popen(
        [daemon, "--socket-path=" + path("vu.sock"),
         "--control-socket=" + path("ctl"),
         "--vfio-user=%s,%s,0x%x" % (path("edu.sock"), edu, ENDPOINT)])]
    while not all(os.path.exists(path(n)) for n in ("vu.sock", "ctl",
                                                     "edu.sock")):
        time.sleep(0.1)
    procs.append(subprocess.Popen(
        [LOADER, "--library-path", LIBS, QEMU,
         "-L", HOST + "/usr/share/qemu", "-L", HOST + "/usr/share/seabios",
         "-M", "q35", "-accel", "qtest", "-m", "256M", "-nodefaults",
         "-display", "none",
         "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
         "-machine", "memory-backend=mem",
         "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
         "-chardev", "socket,id=vu,path=" + path("vu.sock"),
         "-device", "vhost-user-test-device-pci,chardev=vu,virtio-id=23,"
                    "num_vqs=2,config_size=40,addr=03.0",
         "-device", "pcie-root-port,id=rp1,chassis=1,addr=04.0",
         "-device", json.dumps({"driver": "vfio-user-pci", "id": "edu",
                                "bus": "rp1", "socket": {
                                    "path": path("edu.sock"),
                                    "type": "unix"}}),
         "-qtest", "unix:%s,server=on,wait=off" % path("qtest.sock"),
         "-qmp", "unix:%s,server=on,wait=off" % path("qmp.sock")]))
    try:
        run(edu, path, ctl_cmd)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 1 if failed else 0


def driver(bdf):
    link = "/sys/bus/pci/devices/%s/driver" % bdf
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else ""


def run(edu, path, ctl_cmd):
    # QEMU listens on the qtest socket as a server: connect after it.
    q = Qtest(path("qtest.sock"))
    ctl = Lines(path("ctl"))
    ctl.line()
    # The root port: bus 1 behind it, a memory window for edu's BAR0.
    rp, dev = (0, 4, 0), (1, 0, 0)
    q.cfg_write(rp, 0x18, 0x010100)
    q.cfg_write(rp, 0x20, ((EDU_BAR + 0xfffff) >> 16 & 0xfff0) << 16 |
                EDU_BAR >> 16)
    q.cfg_write(rp, 0x04, 0x6, 2)
    ids = q.cfg_read(dev, 0)
    caps = [c for _, c in capabilities(q, dev)]
    q.cfg_write(dev, 0x10, 0xffffffff)
    size = (~(q.cfg_read(dev, 0x10) & 0xfffffff0) & 0xffffffff) + 1
    q.cfg_write(dev, 0x10, EDU_BAR)
    q.cfg_write(dev, 0x04, 0x6, 2)
    report(ids == 0x11e81234 and 0x05 in caps and size == 1 << 20,
           "the edu is realized through QEMU's vfio-user client: config "
           "space (IDs, its MSI capability) and a 1 MiB BAR0",
           "IDs 0x%08x, capabilities %s, BAR0 of 0x%x bytes" %
           (ids, caps, size))
    ident = q.rd(EDU_BAR, 4)
    report(ident == 0x010000ed, "edu's ID register reads through BAR0",
           "read 0x%08x" % ident)

    v = Virtio(q, (0, 3, 0))
    v.start()
    status = [attach(v, 1, ENDPOINT), map_(v, 1, SRC, PAGE, SRC),
              map_(v, 1, DST, PAGE, DST)]
    pattern = bytes((i * 7 + 3) & 0xff for i in range(PAGE))
    q.put(SRC, pattern)
    q.cmd("memset 0x%x 0x%x 0x11" % (DST, PAGE))
    q.cmd("memset 0x%x 0x%x 0x11" % (DST + PAGE, PAGE))
    edu_dma(q, SRC, False)
    edu_dma(q, DST, True)
    got, after = q.mem(DST, PAGE), q.mem(DST + PAGE, PAGE)
    report(status == [0, 0, 0] and got == pattern and after == b"\x11" * PAGE,
           "ATTACH and MAP through the daemon: edu's DMA lands exactly in "
           "the mapped page of the nested guest",
           "statuses %s, page %s, next page %s" % (
               status, "right" if got == pattern else "wrong",
               "untouched" if after == b"\x11" * PAGE else "written"))

    status = unmap(v, 1, DST, PAGE)
    q.cmd("memset 0x%x 0x%x 0x22" % (DST, PAGE))
    edu_dma(q, DST, True)
    report(status == 0 and q.mem(DST, PAGE) == b"\x22" * PAGE,
           "after UNMAP the DMA reaches nothing there",
           "UNMAP status %d" % status)

    # The management layer asks for the edu back while the VMM has it.
    release = subprocess.Popen(ctl_cmd + ["release", "--timeout=60", edu],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    waited = release.poll() is None and driver(edu) == "vfio-pci"

    # device_del: the slot's power goes off (this program is the guest's
    # pciehp), then QEMU removes the device.
    qmp = Lines(path("qmp.sock"))
    qmp.line()
    for cmd in ({"execute": "qmp_capabilities"},
                {"execute": "device_del", "arguments": {"id": "edu"}}):
        qmp.send(json.dumps(cmd))
        while "return" not in json.loads(qmp.line()):
            pass
    exp = [at for at, c in capabilities(q, rp) if c == 0x10][0]
    ctl_reg = q.cfg_read(rp, exp + 0x18, 2)
    # Power controller off; the power indicator is off already.
    q.cfg_write(rp, exp + 0x18, ctl_reg | 0x400, 2)
    deleted = removed = False
    deadline = time.monotonic() + 30
    while not (deleted and removed) and time.monotonic() < deadline:
        q.cmd("clock_step 100000000")
        msg = qmp.line(0.1)
        deleted = deleted or (msg is not None and json.loads(msg).get(
            "event") == "DEVICE_DELETED")
        msg = ctl.line(0.1)
        removed = removed or (msg is not None and json.loads(msg).get(
            "event") == "ENDPOINT_REMOVED")
    report(deleted and removed, "device_del: QEMU's DEVICE_DELETED and the "
           "daemon's ENDPOINT_REMOVED",
           "DEVICE_DELETED %s, ENDPOINT_REMOVED %s" % (deleted, removed))
    try:
        out = release.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        release.kill()
        out = "still running"
    report(waited and release.returncode == 0 and driver(edu) == "",
           "viommuctl release waited while the daemon served the edu, and "
           "gave it back (no driver) once it was removed",
           "waited %s, exit %s, driver %r: %s" % (
               waited, release.returncode, driver(edu), out.strip()))


if __name__ == "__main__":
    sys.exit(main())
