#!/usr/bin/env python3
"""run.py [--with=FILE]... [--module=NAME]... [--share-host] BACKEND PROGRAM
          [ARG...]
   run.py [--daemon=FILE] --path=DIR... qemu|qemu-vfio-user PROGRAM [ARG...]
   run.py --path=DIR... bench-guest PROGRAM [PAIRS]

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

--share-host gives the guest this machine's / read-only over 9p (tag
`host`), with the modules to mount it: programs of the host (Python, QEMU
10.2) run in the guest through the host's dynamic loader.

BACKEND qemu: no intel-iommu. docs/daemon.md's QEMU 10.2 command line (its
code block marked `<!-- vm: vhost-user -->`) runs exactly as written, with
bash, in a scratch folder where `bzImage` and `initrd.img` are Debian's
6.12 guest kernel and the initramfs around PROGRAM: viommu-viot writes the
VIOT, viommu-vhost-user is the guest's virtio-iommu, and QEMU 10.2 (built
by scripts/build-qemu.sh) runs the guest. --path=DIR puts DIR first on the
command line's PATH (where the project's programs are). Guest RAM is on
hugetlbfs at /dev/hugepages as the line says; run.py reserves the pages
and mounts it for the run, and where the machine cannot reserve them it
puts the file on tmpfs (/dev/shm) instead, saying so. A line "@@query"
from PROGRAM is answered on the guest's console with the daemon's domains
and mappings, read from its control socket.

BACKEND qemu-vfio-user: the same with docs/daemon.md's vfio-user command line
(`<!-- vm: vfio-user -->`): the daemon also serves a device over
vfio-user to QEMU's vfio-user-pci. --daemon=FILE runs FILE as
viommu-vhost-user (the daemon built with the project's device model).

bench-guest: the same guest, booted with the daemon and then with QEMU's
built-in virtio-iommu-pci in its place, three alternating rounds; PROGRAM
runs PAIRS (default 20,000) VFIO map+unmap pairs of 4 KiB in each, and a
table of the medians is printed.
"""
import glob
import json
import lzma
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("VIOMMU_CACHE", "/var/cache/viommu")
TIMEOUT_S = 500
# Modules the type1 guest loads, with their dependencies resolved here, and
# their parameters.
MODULES = ["vfio_iommu_type1", "vfio-pci", "igb"]
# The qemu guest's: virtio-iommu does no interrupt remapping on x86, which
# VFIO accepts only when told to.
QEMU_MODULES = ["virtio_iommu", "vfio_iommu_type1 allow_unsafe_interrupts=1",
                "vfio-pci"]
QEMU_102 = os.path.join(CACHE, "qemu/bin/qemu-system-x86_64")
# The guide whose marked code blocks run.py runs word for word.
GUIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "../../docs/daemon.md")
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
export VIOMMU_CACHE=@CACHE@
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


def add_modules(root, moddir, modules):
    """Unpacks modules ("NAME [PARAMS]") and what they depend on into
    root/lib/modules, and writes the order to load them in."""
    files = module_files(moddir)
    order, seen = [], set()
    params = dict((m.split(" ", 1) + [""])[:2] for m in modules)

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
    for m in params:
        visit(m)
    with open(os.path.join(root, "modules.order"), "w") as f:
        for m in order:
            p = [v for k, v in params.items() if k.replace("-", "_") == m]
            f.write(m + (" " + p[0] if p and p[0] else "") + "\n")


def initramfs(program, args, moddir, out, extra=(), modules=MODULES):
    with tempfile.TemporaryDirectory() as root:
        for d in ("bin", "proc", "sys", "dev"):
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
        shutil.copy(program, os.path.join(root, "program"))
        for path in extra:
            shutil.copy(path, os.path.join(root, os.path.basename(path)))
        init = os.path.join(root, "init")
        with open(init, "w") as f:
            f.write(INIT.replace("@ARGS@", " ".join(args)).replace(
                "@CACHE@", CACHE))
        os.chmod(init, 0o755)
        if moddir:
            add_modules(root, moddir, modules)
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


def relay(proc, on_line=None, echo=True):
    """Relays the guest's console as TAP until it ends (other lines as
    comments); on_line(line) sees every line first. The run ends when proc
    exits, even if a child it left (the daemon) still holds the console
    pipe. Kills the run and bails out past TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    tap = re.compile(r"^(ok |not ok |1\.\.\d+|Bail out!|#)")
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            bail("the guest did not finish within %d s" % TIMEOUT_S)
        exited = proc.poll() is not None
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
        if not ready:
            if exited:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            if on_line:
                on_line(line)
            if echo:
                print(line if tap.match(line) else "# " + line, flush=True)
    proc.wait()


def guide_block(name):
    """The commands of docs/daemon.md's code block marked <!-- vm: NAME -->."""
    with open(GUIDE, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- vm: %s -->\n\n((?:    .*\n|\n)+)" % re.escape(name),
                  text)
    if not m:
        bail("docs/daemon.md has no code block marked <!-- vm: %s -->" % name)
    return "".join(line[4:] + "\n" for line in m.group(1).splitlines())


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class HugePages:
    """hugetlbfs at /dev/hugepages with mb MiB of free huge pages, as the
    guide's command line needs, for the length of a run; ok is False where
    the machine cannot reserve them."""

    def __init__(self, mb):
        self.mounted = False
        self.old = None
        free = meminfo("HugePages_Free") - meminfo("HugePages_Rsvd")
        short = mb * 1024 // max(meminfo("Hugepagesize"), 1) - free
        try:
            if short > 0:
                with open("/proc/sys/vm/nr_hugepages") as f:
                    old = int(f.read())
                with open("/proc/sys/vm/nr_hugepages", "w") as f:
                    f.write(str(old + short))
                self.old = old
            self.ok = (meminfo("HugePages_Free") - meminfo("HugePages_Rsvd")
                       >= free + max(short, 0))
            if self.ok and not os.path.ismount("/dev/hugepages"):
                os.makedirs("/dev/hugepages", exist_ok=True)
                self.ok = subprocess.run(["mount", "-t", "hugetlbfs",
                                          "hugetlbfs", "/dev/hugepages"]
                                         ).returncode == 0
                self.mounted = self.ok
        except OSError:
            self.ok = False

    def release(self):
        """Only once nothing maps the pages any more."""
        if self.mounted and subprocess.run(["umount", "/dev/hugepages"]
                                           ).returncode != 0:
            print("# /dev/hugepages stays mounted: still in use",
                  flush=True)
        if self.old is not None:
            try:
                with open("/proc/sys/vm/nr_hugepages", "w") as f:
                    f.write(str(self.old))
            except OSError:
                pass


class Control:
    """A client of the daemon's JSON control socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.file = self.sock.makefile("r", encoding="utf-8")
        self.file.readline()  # the greeting

    def run(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.sock.sendall((json.dumps(msg) + "\n").encode())
        while True:
            answer = json.loads(self.file.readline())
            if "return" in answer:
                return answer["return"]
            if "error" in answer:
                raise RuntimeError("%s: %s" % (command, answer["error"]))

    def state(self):
        """The daemon's domains and their mappings, as lines for vm-qemu."""
        lines, start = [], 0
        while True:
            page = self.run("query-domains", **{"from": start})
            for d in page:
                lines.append("@@domain %d %s" % (
                    d["id"], " ".join(str(e) for e in d["endpoints"])))
                iova = 0
                while True:
                    m = self.run("query-mappings", domain=d["id"],
                                 **{"from": iova})
                    for x in m["mappings"]:
                        lines.append("@@map %d %x %x %x" % (
                            d["id"], x["iova"], x["last"], x["gpa"]))
                    if len(m["mappings"]) < 256:
                        break
                    iova = m["mappings"][-1]["last"] + 1
            if len(page) < 256:
                break
            start = page[-1]["id"] + 1
        return lines + ["@@end"]

    def close(self):
        self.sock.close()


def cpu_ns(pid):
    """The CPU time a process has used, from its schedstat."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def daemon_pid(pgid):
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(os.path.dirname(stat) + "/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if int(fields[2]) == pgid and comm.startswith("viommu-vhost"):
            return int(os.path.basename(os.path.dirname(stat)))
    return None


def guest_ram_mapped(pgid, mem_dir, wait_s=5):
    """The daemon's mappings of guest RAM (files in mem_dir) still there
    wait_s after QEMU has gone: none once it has let go of the memory
    table and of every vfio-user DMA window (a hugetlbfs window unmapped
    off a huge-page boundary stays)."""
    pid = daemon_pid(pgid)
    deadline = time.monotonic() + wait_s
    while pid is not None:
        try:
            with open("/proc/%d/maps" % pid) as f:
                left = [x for x in f if " " + mem_dir + "/" in x]
        except OSError:
            return []
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)
    return []


def end_group(pgid):
    """Ends what the command line left running (the daemon), and waits
    until it has gone: it maps guest RAM until then."""
    for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def run_qemu(program, args, paths, on_line=None, builtin=False, echo=True,
             block="vhost-user", daemon=None):
    """Runs docs/daemon.md's QEMU 10.2 command line (its code block marked
    <!-- vm: BLOCK -->) with PROGRAM in the guest; on_line(line, run) may
    answer the guest through run.answer(text). daemon: a program to run
    as viommu-vhost-user."""
    if not os.access(QEMU_102, os.X_OK):
        bail("no QEMU 10.2 at %s: build it with scripts/build-qemu.sh" %
             QEMU_102)
    vmlinuz, moddir = kernel("type1")
    script = guide_block(block)
    size = re.search(r"memory-backend-file,[^ ]*size=(\d+)M", script)
    huge = HugePages(int(size.group(1)) if size else 0)
    mem_dir = "/dev/hugepages"
    if not huge.ok:
        print("# no huge pages here: guest RAM on tmpfs (/dev/shm) instead")
        script = script.replace("mem-path=/dev/hugepages", "mem-path=/dev/shm")
        mem_dir = "/dev/shm"
    if builtin:
        # QEMU's own virtio-iommu where the daemon's was, nothing else
        # changed (QEMU writes the VIOT itself).
        script = re.sub(r"-device vhost-user-test-device-pci,(\S*?)addr=",
                        "-device virtio-iommu-pci,addr=", script)
        script = re.sub(r"-(chardev socket,id=viommu|acpitable file=)\S+",
                        "", script)
    env = dict(os.environ, PATH=":".join(
        [os.path.abspath(p) for p in paths] + [os.path.dirname(QEMU_102),
                                               os.environ["PATH"]]))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if daemon:
                os.makedirs(os.path.join(tmp, "bin"))
                os.symlink(os.path.abspath(daemon),
                           os.path.join(tmp, "bin/viommu-vhost-user"))
                env["PATH"] = os.path.join(tmp, "bin") + ":" + env["PATH"]
            initramfs(program, args, moddir, os.path.join(tmp, "initrd.img"),
                      modules=QEMU_MODULES)
            os.symlink(vmlinuz, os.path.join(tmp, "bzImage"))
            proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp,
                                    env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE,
                                    start_new_session=True)
            proc.tmp = tmp
            proc.answer = lambda text: (proc.stdin.write(text.encode()),
                                        proc.stdin.flush())
            try:
                relay(proc, on_line and (lambda line: on_line(line, proc)),
                      echo)
                if not builtin:
                    left = guest_ram_mapped(proc.pid, mem_dir)
                    if left:
                        bail("QEMU has gone, and the daemon still maps its "
                             "guest RAM:\n" + "".join(left))
            finally:
                end_group(proc.pid)
            if proc.returncode != 0:
                bail("docs/daemon.md's command line failed (exit status %d)" %
                     proc.returncode)
    finally:
        huge.release()


class JsonLines:
    """JSON messages, one a line, read from a socket as they come."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.ready = []

    def read(self, timeout):
        """The next message, None after timeout seconds without one."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("the peer hung up")
            *lines, self.buf = (self.buf + chunk).split(b"\n")
            self.ready += [json.loads(x) for x in lines if x.strip()]
        return self.ready.pop(0)

    def send(self, msg):
        self.sock.sendall((json.dumps(msg) + "\n").encode())


def unplug(tmp, device):
    """device_del of DEVICE through QEMU's QMP socket. None when QEMU's
    DEVICE_DELETED and the daemon's ENDPOINT_REMOVED both came within 20 s
    (the order they came in is printed: QEMU 10.2 closes the vfio-user
    connection, then sends DEVICE_DELETED in the same call, so the two
    race); else what went wrong."""
    ctl = JsonLines(os.path.join(tmp, "viommu.ctl"))
    qmp = JsonLines(os.path.join(tmp, "qmp.sock"))
    try:
        ctl.read(10), qmp.read(10)  # the greetings
        events = []
        for cmd in ({"execute": "qmp_capabilities"},
                    {"execute": "device_del", "arguments": {"id": device}}):
            qmp.send(cmd)
            while True:
                answer = qmp.read(10) or {"error": {"desc": "no answer"}}
                if "error" in answer:
                    return "QEMU: %s" % answer["error"]["desc"]
                if "return" in answer:
                    break
                events.append(answer)
        order = []
        deadline = time.monotonic() + 20
        while len(order) < 2 and time.monotonic() < deadline:
            for peer in (qmp, ctl):
                msg = events.pop(0) if peer is qmp and events else \
                    peer.read(0.01)
                if msg is None:
                    continue
                if msg.get("event") == "DEVICE_DELETED" and \
                        msg["data"].get("device") == device:
                    order.append("DEVICE_DELETED")
                elif msg.get("event") == "ENDPOINT_REMOVED":
                    order.append("ENDPOINT_REMOVED")
        if len(order) < 2:
            return "only %s within 20 s" % (order or ["nothing"])[0]
        print("# came in this order (each looked at every 10 ms): %s" %
              ", then ".join(order), flush=True)
        return None
    finally:
        ctl.sock.close()
        qmp.sock.close()


def answer_queries(line, proc):
    """What vm-qemu asks the host (see its comment)."""
    if line.startswith("@@query"):
        ctl = Control(os.path.join(proc.tmp, "viommu.ctl"))
        proc.answer("".join(x + "\n" for x in ctl.state()))
        ctl.close()
    elif line.startswith("@@unplug "):
        why = unplug(proc.tmp, line.split()[1])
        proc.answer("@@unplugged\n" if why is None else
                    "@@unplug-failed %s\n" % why)


def bench_guest(program, pairs, paths, rounds=3):
    results = {"daemon": [], "built-in": []}
    cpu = []
    for r in range(rounds):
        for kind in ("daemon", "built-in"):
            seen = {}

            def on_line(line, proc):
                if line.startswith("@@bench-start"):
                    seen["pid"] = daemon_pid(proc.pid)
                    if seen["pid"]:
                        seen["cpu"] = cpu_ns(seen["pid"])
                elif line.startswith("@@bench-end"):
                    seen["us"] = float(line.split()[1])
                    if kind == "daemon" and seen.get("pid"):
                        cpu.append((cpu_ns(seen["pid"]) - seen["cpu"]) /
                                   1e3 / pairs)
                elif line.startswith("Bail out!"):
                    bail(line)
            run_qemu(program, ["qemu", "bench", str(pairs)], paths, on_line,
                     builtin=kind == "built-in", echo=False)
            if "us" not in seen:
                bail("the %s guest printed no result" % kind)
            results[kind].append(seen["us"])
            print("round %d, %s: %.2f us per pair" % (r + 1, kind, seen["us"]),
                  file=sys.stderr, flush=True)
    d = statistics.median(results["daemon"])
    b = statistics.median(results["built-in"])
    # Each round's two runs are back to back: the ratio is taken per round
    # (the machine's load changes between rounds more than within one).
    ratio = statistics.median(x / y for x, y in zip(results["daemon"],
                                                    results["built-in"]))
    print("| virtio-iommu | us per VFIO map+unmap pair of 4 KiB (median of "
          "%d rounds, %d pairs each) | ratio to built-in (median of the "
          "rounds') | daemon CPU per pair |" % (rounds, pairs))
    print("| --- | ---: | ---: | ---: |")
    print("| QEMU's built-in virtio-iommu-pci (baseline) | %.1f | 1.00x | - |"
          % b)
    print("| viommu-vhost-user | %.1f | %.2fx | %.1f us |" %
          (d, ratio, statistics.median(cpu) if cpu else float("nan")))


def main():
    # A timeout's SIGTERM still ends QEMU and the daemon (the finally
    # clauses run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    argv = sys.argv[1:]
    extra, paths, daemon, share = [], [], [], []
    while argv and argv[0].startswith(("--with=", "--module=", "--path=",
                                       "--daemon=", "--share-host")):
        if argv[0] == "--share-host":
            argv.pop(0)
            MODULES.extend(["9p", "9pnet_virtio"])
            share = ["-virtfs", "local,path=/,mount_tag=host,"
                     "security_model=none,readonly=on"]
            continue
        opt, _, value = argv.pop(0).partition("=")
        {"--with": extra, "--module": MODULES, "--path": paths,
         "--daemon": daemon}[opt].append(value)
    if len(argv) < 2 or argv[0] not in ("type1", "iommufd", "qemu",
                                        "qemu-vfio-user", "bench-guest"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    backend, program, args = argv[0], argv[1], argv[0:1] + argv[2:]
    if backend in ("qemu", "qemu-vfio-user"):
        run_qemu(program, args, paths, answer_queries,
                 block="vhost-user" if backend == "qemu" else "vfio-user",
                 daemon=daemon[0] if daemon else None)
        return
    if backend == "bench-guest":
        bench_guest(program, int(argv[2]) if len(argv) > 2 else 20000, paths)
        return
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
        qemu = subprocess.Popen(cmd + QEMU_DEVICES + share,
                                stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        relay(qemu)


if __name__ == "__main__":
    main()
