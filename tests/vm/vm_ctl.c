/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a QEMU guest (tests/vm/run.py --with the static daemon and
 * viommuctl) and drives viommuctl on the guest's real sysfs, beside a real
 * viommu-vhost-user: assign and release an edu while this program holds
 * its VFIO group as a VMM would, a group shared with a device bound to a
 * host driver (pcnet32), and igb VFs. Prints TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "guest.h"
#include "tap.h"

#define CTL_SOCKET "/run/viommu.ctl"
#define STATE_FILE "/run/viommuctl.json"

static char output[16384]; /* what the last viommuctl printed */

/* Starts viommuctl with its common options and `args` (NULL-terminated),
 * its output going to a pipe; returns its pid and the pipe in *out. */
static pid_t start(int *out, const char *const *args)
{
    const char *argv[16] = {"/viommuctl", "--control-socket=" CTL_SOCKET,
                            "--state-file=" STATE_FILE};
    int n = 3, p[2];

    while (*args != NULL && n < 15) {
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    if (pipe(p) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Waits for it, collects its output; its exit status, or -1. */
static int finish(pid_t pid, int out)
{
    size_t len = 0;
    ssize_t n;
    int status;

    while ((n = read(out, output + len, sizeof(output) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    output[len] = '\0';
    close(out);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return -1;
    }
    printf("# viommuctl exit %d: %.300s\n", WEXITSTATUS(status), output);
    return WEXITSTATUS(status);
}

static int ctl(const char *const *args)
{
    int out;
    pid_t pid = start(&out, args);

    return pid < 0 ? -1 : finish(pid, out);
}

#define CTL(...) ctl((const char *const[]){__VA_ARGS__, NULL})

static void expect_exit(int got, int want, const char *what)
{
    if (got != want) {
        tap_fail("%s: exit %d, expected %d: %.200s", what, got, want, output);
    }
}

/* The driver bound to a device, "" for none. */
static const char *driver_of(const char *bdf)
{
    static char name[64];
    char path[PATH_MAX], target[PATH_MAX];

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(target, '/');
    snprintf(name, sizeof(name), "%s", base != NULL ? base + 1 : "");
    return name;
}

static void expect_driver(const char *bdf, const char *want)
{
    const char *got = driver_of(bdf);

    if (strcmp(got, want) != 0) {
        tap_fail("%s bound to \"%s\", expected \"%s\"", bdf, got, want);
    }
}

/* Whether the daemon has endpoint ep declared (query-endpoints). */
static bool daemon_has(uint32_t ep)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = CTL_SOCKET};
    char buf[8192], want[32];
    size_t len = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool found = false;

    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        tap_fail("control socket: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    const char *q = "{\"execute\": \"query-endpoints\"}\n";
    if (write(fd, q, strlen(q)) < 0) {
        tap_fail("control socket: %s", strerror(errno));
    }
    /* The greeting, then the reply: two lines. */
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl != NULL && strchr(nl + 1, '\n') != NULL) {
            break;
        }
    }
    buf[len] = '\0';
    close(fd);
    snprintf(want, sizeof(want), "{\"id\":%u,", ep);
    found = strstr(buf, want) != NULL;
    return found;
}

/* Holds the device's VFIO group open, as a VMM does. */
static int hold_group(const char *bdf)
{
    char path[64];

    snprintf(path, sizeof(path), "/dev/vfio/%u", group_of(bdf));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        tap_fail("%s: %s", path, strerror(errno));
    }
    return fd;
}

static char alone[16], pair[2][16], pcnet[16], pf[16];

static char alone_ep[32]; /* --endpoint=its requester ID */

static void test_assign(void)
{
    snprintf(alone_ep, sizeof(alone_ep), "--endpoint=%#x", rid_of(alone));
    expect_exit(CTL("assign", alone_ep, alone), 0, "assign");
    expect_driver(alone, "vfio-pci");
    if (tap_why[0] == '\0' && !daemon_has(rid_of(alone))) {
        tap_fail("the daemon has no endpoint %#x", rid_of(alone));
    }
    tap_report("assign: the device goes to vfio-pci and is declared");
}

/* Seed 004: the host driver comes back only after the VMM let go. */
static void test_release_waits_for_the_vmm(void)
{
    int held = hold_group(alone), out;
    pid_t pid = start(&out, (const char *const[]){"release", "--timeout=30",
                                                  alone, NULL});
    struct timespec pause = {1, 500000000};
    int status;

    nanosleep(&pause, NULL);
    if (waitpid(pid, &status, WNOHANG) != 0) {
        tap_fail("release did not wait for the VMM's group fd");
    }
    expect_driver(alone, "vfio-pci");
    if (tap_why[0] == '\0' && daemon_has(rid_of(alone))) {
        tap_fail("the endpoint was not removed first");
    }
    close(held);
    expect_exit(finish(pid, out), 0, "release");
    expect_driver(alone, "");
    tap_report("release waits for the endpoint's removal and the group fd");
}

static void test_release_timeout_names_holder(void)
{
    char pid[16];

    expect_exit(CTL("assign", alone_ep, alone), 0, "assign");
    int held = hold_group(alone);
    expect_exit(CTL("release", "--timeout=2", alone), 5, "release");
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (tap_why[0] == '\0' && strstr(output, pid) == NULL) {
        tap_fail("the timeout does not name process %s", pid);
    }
    expect_driver(alone, "vfio-pci");
    close(held);
    expect_exit(CTL("release", alone), 0, "release");
    expect_driver(alone, "");
    tap_report("release timeout: nothing rebound, the holder named");
}

/* Holds only a VFIO device fd of the device, as a VMM that closed its
 * group and container fds after VFIO_GROUP_GET_DEVICE_FD does: /proc shows
 * an anon_inode:[vfio-device] that names no device. Returns it, or -1. */
static int hold_device_fd(const char *bdf)
{
    int group = hold_group(bdf), container = open("/dev/vfio/vfio", O_RDWR);
    int dev = -1;

    if (group >= 0 && container >= 0 &&
        ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0 &&
        ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0) {
        dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    }
    if (dev < 0) {
        tap_fail("a device fd of %s: %s", bdf, strerror(errno));
    }
    if (container >= 0) {
        close(container);
    }
    if (group >= 0) {
        close(group);
    }
    return dev;
}

/* A device fd alone keeps the device: release waits for it too (it used
 * to see no holder, unbind, and hang in vfio-pci until the fd closed). */
static void test_release_waits_for_device_fd(void)
{
    expect_exit(CTL("assign", alone_ep, alone), 0, "assign");
    int held = hold_device_fd(alone);
    expect_exit(CTL("release", "--timeout=2", alone), 5, "release");
    if (tap_why[0] == '\0' && strstr(output, "device fd") == NULL) {
        tap_fail("the timeout does not say a device fd holds it");
    }
    expect_driver(alone, "vfio-pci");
    if (held >= 0) {
        close(held);
    }
    expect_exit(CTL("release", alone), 0, "release");
    expect_driver(alone, "");
    tap_report("release waits for a VMM's device fd, not only its group fd");
}

static void test_group_with_host_driver(void)
{
    expect_driver(pcnet, "pcnet32");
    expect_exit(CTL("assign", pair[0]), 1, "assign one alone");
    if (tap_why[0] == '\0' && strstr(output, pcnet) == NULL) {
        tap_fail("the refusal does not name %s", pcnet);
    }
    expect_driver(pair[0], "");
    expect_exit(CTL("assign", "--group", pair[0]), 0, "assign --group");
    expect_driver(pair[0], "vfio-pci");
    expect_driver(pair[1], ""); /* driverless: not in the way */
    expect_driver(pcnet, "vfio-pci");
    expect_exit(CTL("release", pair[0]), 1, "release one of the group");
    expect_driver(pair[0], "vfio-pci");
    expect_exit(CTL("release", "--group", pair[0]), 0, "release --group");
    expect_driver(pair[0], "");
    expect_driver(pair[1], "");
    expect_driver(pcnet, "pcnet32");
    tap_report("a group with a host driver: refused alone, whole group in order");
}

static void test_sriov(void)
{
    char path[PATH_MAX], target[PATH_MAX];

    expect_exit(CTL("sriov", "--numvfs=2", pf), 0, "sriov --numvfs=2");
    for (int i = 0; i < 2 && tap_why[0] == '\0'; i++) {
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn%d", pf,
                 i);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        const char *vf = strrchr(target, '/');
        if (vf == NULL) {
            tap_fail("no VF %d", i);
        } else {
            expect_driver(vf + 1, ""); /* autoprobe was off */
        }
    }
    expect_exit(CTL("sriov", "--msix=4", pf), 1, "sriov --msix");
    if (tap_why[0] == '\0' && strstr(output, "MSI-X") == NULL) {
        tap_fail("the MSI-X refusal does not say what is missing");
    }
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", pf);
    if (sysfs_read_ul(path) != 2) {
        tap_fail("the refused MSI-X change changed the VFs");
    }
    expect_exit(CTL("sriov", "--numvfs=0", pf), 0, "sriov --numvfs=0");
    tap_report("sriov: VFs without drivers; igb's MSI-X refused clearly");
}

int main(void)
{
    char edus[3][16], found[1][16];

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..6\n");
    /* The edu start without a driver: the init bound them to vfio-pci. */
    int n = find_pci(0x1234, 0x11e8, edus, 3), paired = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
                 edus[i]);
        sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", edus[i]);
        sysfs_write(path, "\n");
        bool shared = false;
        for (int k = 0; k < n; k++) {
            shared |= k != i && group_of(edus[k]) == group_of(edus[i]);
        }
        memcpy(shared && paired < 2 ? pair[paired++] : alone, edus[i], 16);
    }
    if (n != 3 || paired != 2 || find_pci(0x1022, 0x2000, found, 1) != 1) {
        printf("Bail out! expected 3 edu (2 in a group) and a pcnet\n");
        return 1;
    }
    memcpy(pcnet, found[0], 16);
    if (find_pci(0x8086, 0x10c9, found, 1) != 1) {
        printf("Bail out! no igb PF\n");
        return 1;
    }
    memcpy(pf, found[0], 16);

    mkdir("/run", 0755);
    pid_t daemon = fork();
    if (daemon == 0) {
        execl("/viommu-vhost-user", "viommu-vhost-user",
              "--socket-path=/run/viommu.sock", "--control-socket=" CTL_SOCKET,
              (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 100 && stat(CTL_SOCKET, &st) != 0; i++) {
        usleep(50000);
    }
    if (stat(CTL_SOCKET, &st) != 0) {
        printf("Bail out! the daemon's control socket never appeared\n");
        return 1;
    }

    test_assign();
    test_release_waits_for_the_vmm();
    test_release_timeout_names_holder();
    test_release_waits_for_device_fd();
    test_group_with_host_driver();
    test_sriov();

    kill(daemon, SIGTERM);
    waitpid(daemon, NULL, 0);
    printf("# %u of %u failed\n", tap_failed, tap_run);
    return tap_failed == 0 ? 0 : 1;
}
