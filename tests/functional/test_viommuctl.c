/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommuctl against a fake host (testing/fakesys.c: a sysfs tree and a
 * kernel thread that binds, unbinds and creates VFs as writes ask), the
 * real daemon over its control socket, and a QMP peer playing QEMU
 * (testing/qmp.c). Every command runs with --json; its result object and
 * exit status are checked, then the host as a tool would read it (drivers,
 * driver_override, VFs, MSI-X table sizes), the state file and the
 * daemon's endpoints (PROBE through the rings, as the guest sees them).
 * Every refusal and every rollback branch is driven here; the same
 * commands on a real kernel's sysfs are the vm suite's.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "fakesys.h"
#include "frontend.h"
#include "qmp.h"

/* Exit statuses, as the manual page lists them. */
enum { DONE, REFUSED, USAGE, ROLLED_BACK, INCOMPLETE, TIMEOUT, UNREACHABLE };

#define PF "0000:01:00.0"
#define NIC "0000:02:00.0"   /* alone in group 2 */
#define PAIR0 "0000:03:00.0" /* group 3, with PAIR1 and a bridge */
#define PAIR1 "0000:03:00.1"
#define BRIDGE "0000:00:1c.0"
#define LATE "0000:04:00.0" /* joins group 4 when bound, beside LATE1 */
#define LATE1 "0000:04:00.1"
#define SOLO "0000:05:00.0" /* joins group 5, alone, when bound */
#define VF0 "0000:01:10.0"
#define VF1 "0000:01:10.2"
#define VF2 "0000:01:10.4"

static struct fakesys fs;
static struct fe the_fe;
static struct fe_control admin;
static char ctl_path[160], ctl_arg[200];
static int pf_index, pair0_index;
/* How spawn() runs the tool: in text mode, stderr goes with stdout. */
static bool text_mode, without_daemon;

/* The host: drivers loaded, the devices above bound to their drivers, an
 * SR-IOV PF (4 VFs, 64 MSI-X vectors for them), group 2 with a reserved
 * region, an MSI window and a direct-relaxable region. */
static void host(unsigned pf_flags, int total_msix)
{
    static const char *const drivers[] = {"igb",      "igbvf",    "e1000e",
                                          "vfio-pci", "pci-stub", "pcieport"};

    fs_init(&fs);
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        fs_load(&fs, drivers[i]);
    }
    pf_index = fs_add(&fs, PF, 0x020000, "igb", 1, pf_flags);
    fs_sriov(&fs, pf_index, 4, "igbvf", total_msix);
    fs_add(&fs, NIC, 0x020000, "e1000e", 2, 0);
    fs_regions(&fs, 2,
               "0x0000000010000000 0x000000001fffffff reserved\n"
               "0x00000000000a0000 0x00000000000bffff direct-relaxable\n"
               "0x00000000fee00000 0x00000000feefffff msi\n");
    pair0_index = fs_add(&fs, PAIR0, 0x020000, "e1000e", 3, 0);
    fs_add(&fs, PAIR1, 0x020000, "e1000e", 3, 0);
    fs_add(&fs, BRIDGE, 0x060400, "pcieport", 3, 0);
    fs_add(&fs, LATE, 0x020000, "", 4, FS_GROUP_ON_BIND);
    fs_add(&fs, LATE1, 0x020000, "e1000e", 4, 0);
    fs_add(&fs, SOLO, 0x020000, "", 5, FS_GROUP_ON_BIND);
}

/* The daemon, its endpoints 0x00-0xff declared as a range, and a client
 * of its control socket that the test asks. */
static void start_daemon(void)
{
    const char *args[] = {"--endpoint=0x0-0xff", ctl_arg, NULL};
    struct stat st;

    snprintf(ctl_path, sizeof(ctl_path), "%s/ctl", fs.root);
    snprintf(ctl_arg, sizeof(ctl_arg), "--control-socket=%s", ctl_path);
    fe_start(&the_fe, args);
    fe_setup(&the_fe);
    for (int tries = 0; tries < 200 && stat(ctl_path, &st) != 0; tries++) {
        usleep(10000);
    }
    assert_non_null(fe_control_open(&admin, ctl_path));
}

static int setup(void **state)
{
    (void)state;
    host(0, 64);
    start_daemon();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    text_mode = without_daemon = false;
    if (the_fe.pid > 0) {
        close(admin.fd);
        assert_int_equal(fe_stop(&the_fe), 0);
    }
    fs_fini(&fs);
    return 0;
}

/* ---- running the tool ---- */

#define MAX_LINES 16

struct run {
    int status;
    struct json_object *out; /* the result: the last line */
    struct json_object *lines[MAX_LINES];
    size_t nr_lines;
};

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->nr_lines; i++) {
        json_object_put(r->lines[i]);
    }
    memset(r, 0, sizeof(*r));
}

/* Starts viommuctl with the fake host's roots, the daemon's socket,
 * --json and a 2 s timeout (later options override them), then the words
 * of args; its stdout is *out_fd. */
static pid_t spawn(int *out_fd, const char *args)
{
    char words[2048], *argv[64];
    int argc = 0, p[2];
    static char sys[128], dev[128], state[128];

    snprintf(sys, sizeof(sys), "--sysfs-root=%s", fs.sys);
    snprintf(dev, sizeof(dev), "--dev-root=%s", fs.dev);
    snprintf(state, sizeof(state), "--state-file=%s", fs.state);
    argv[argc++] = getenv("VIOMMUCTL");
    if (!text_mode) {
        argv[argc++] = "--json";
    }
    argv[argc++] = sys;
    argv[argc++] = dev;
    argv[argc++] = state;
    argv[argc++] = "--timeout=2";
    if (the_fe.pid > 0 && !without_daemon) {
        argv[argc++] = ctl_arg;
    }
    snprintf(words, sizeof(words), "%s", args);
    for (char *w = strtok(words, " "); w != NULL && argc < 63;
         w = strtok(NULL, " ")) {
        argv[argc++] = w;
    }
    argv[argc] = NULL;
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        if (text_mode) {
            dup2(p[1], 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

/* Reads what the tool prints until it exits: one JSON object a line. */
static void collect(struct run *r, pid_t pid, int fd)
{
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t n;
    int status;

    memset(r, 0, sizeof(*r));
    while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    r->status = WEXITSTATUS(status);
    for (char *line = strtok(buf, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        struct json_object *o = json_tokener_parse(line);
        if (o == NULL || r->nr_lines == MAX_LINES) {
            fail_msg("not one JSON object a line: %s", line);
        }
        r->lines[r->nr_lines++] = o;
    }
    assert_true(r->nr_lines > 0);
    r->out = r->lines[r->nr_lines - 1];
    /* The kernel has seen every write the tool made. */
    fs_settle(&fs);
}

/* Runs the tool; the exit status must be `want`. */
static void ctl(struct run *r, int want, const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    int fd;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    pid_t pid = spawn(&fd, args);
    collect(r, pid, fd);
    if (r->status != want) {
        fail_msg("viommuctl %s: exit %d, not %d: %s", args, r->status, want,
                 json_object_to_json_string(r->out));
    }
}

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    }
    return v;
}

static const char *str(struct json_object *o, const char *key)
{
    return json_object_get_string(get(o, key));
}

static int64_t num(struct json_object *o, const char *key)
{
    return json_object_get_int64(get(o, key));
}

/* The result's message contains `text`; the result is `result`. */
static void says(const struct run *r, const char *result, const char *text)
{
    assert_string_equal(str(r->out, "result"), result);
    if (strstr(str(r->out, "message"), text) == NULL) {
        fail_msg("\"%s\" not in %s", text, str(r->out, "message"));
    }
}

/* Whether one of the result's steps contains text. */
static bool did(const struct run *r, const char *text)
{
    struct json_object *steps = get(r->out, "steps");

    for (size_t i = 0; i < json_object_array_length(steps); i++) {
        if (strstr(json_object_get_string(json_object_array_get_idx(steps, i)),
                   text) != NULL) {
            return true;
        }
    }
    return false;
}

#define DELETED(id)                                                            \
    "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, "         \
    "\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"" id "\", "       \
    "\"path\": \"/machine/peripheral/" id "\"}}\r\n"

static pid_t start_watch(int *fd, struct qmp_peer *q, const char *args)
{
    char path[160], line[512];

    snprintf(path, sizeof(path), "%s/qmp", fs.root);
    qmp_listen(q, path);
    snprintf(line, sizeof(line), "watch --qmp=%s %s", path, args);
    return spawn(fd, line);
}

/* ---- the host and the daemon as they are ---- */

/* The state file's entry of bdf, or NULL. */
static struct json_object *entry(const char *bdf)
{
    static struct json_object *root;
    struct json_object *list;

    json_object_put(root);
    root = json_object_from_file(fs.state);
    if (root == NULL || !json_object_object_get_ex(root, "devices", &list)) {
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *e = json_object_array_get_idx(list, i);
        if (strcmp(str(e, "bdf"), bdf) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The driver_override as the tool reads it ("" when unset). */
static const char * override(const char *bdf)
{
    const char *o = fs_attr(&fs, bdf, "driver_override");

    return strcmp(o, "(null)") == 0 ? "" : o;
}

/* The device as it was before the tool: its driver, no override, no
 * entry. */
static void untouched(const char *bdf, const char *driver)
{
    assert_string_equal(fs_driver(&fs, bdf), driver);
    assert_string_equal(override(bdf), "");
    assert_null(entry(bdf));
}

static bool declared(uint32_t id)
{
    char cmd[160], want[32];

    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"query-endpoints\", \"arguments\": {\"from\": %u, "
             "\"limit\": 1}}",
             id);
    snprintf(want, sizeof(want), "[{\"id\":%u,", id);
    const char *reply = fe_control_command(&admin, cmd);
    assert_non_null(reply);
    return strstr(reply, want) != NULL;
}

/* The reserved regions the guest's PROBE of ep reports. */
static int probed(uint32_t ep, struct viommu_resv_region *r, int max)
{
    struct virtio_iommu_req_probe probe = vdrv_probe_req(ep);
    uint8_t props[512 + 4];

    assert_int_equal(
        fe_request(&the_fe, &probe, sizeof(probe), props, sizeof(props), false),
        sizeof(props));
    assert_int_equal(props[512], VIRTIO_IOMMU_S_OK);
    return vdrv_parse_resv(props, 512, r, max);
}

/* ---- the command line ---- */

/* Everything fd gives until its end, as a string; its length. */
static ssize_t read_all(int fd, char *out, size_t len)
{
    size_t used = 0;
    ssize_t n;

    while ((n = read(fd, out + used, len - 1 - used)) > 0) {
        used += (size_t)n;
    }
    out[used] = '\0';
    close(fd);
    return (ssize_t)used;
}

/* Runs the tool with args; its exit status, its stdout into out. */
static int exit_of(const char *args, char *out, size_t len)
{
    int fd, status;
    pid_t pid = spawn(&fd, args);

    read_all(fd, out, len);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_command_line(void **state)
{
    static const char *const bad[] = {
        "",
        "frobnicate",
        "assign",
        "assign 0000:02:00.0 extra",
        "assign 02:00",
        "assign 0000:02:00.0 --numvfs=2",
        "sriov 0000:01:00.0 --msix=0",
        "sriov 0000:01:00.0 --msix=4,,4",
        "release 0000:02:00.0 --qmp=/x",
        "groups --group",
        "assign 0000:02:00.0 --endpoint=zz",
        "watch --device=nic",
        "groups --timeout=0",
        "groups --control-socket=",
        "groups --frobnicate",
        "sriov 0000:01:00.0 --numvfs=x",
    };
    static char out[16384];
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int status = exit_of(bad[i], out, sizeof(out));
        if (status != USAGE) {
            fail_msg("viommuctl %s: exit %d", bad[i], status);
        }
    }
    /* A QEMU id of 64 characters, one too many. */
    char line[128];
    snprintf(line, sizeof(line), "assign %s --endpoint=1 --qemu-id=%064d", NIC,
             0);
    assert_int_equal(exit_of(line, out, sizeof(out)), USAGE);
    assert_int_equal(exit_of("--help", out, sizeof(out)), DONE);
    assert_non_null(strstr(out, "Exit status"));
    assert_int_equal(exit_of("--version", out, sizeof(out)), DONE);
    /* Checked by the command, and said in JSON. */
    ctl(&r, USAGE, "sriov %s", PF);
    run_free(&r);
    ctl(&r, USAGE, "watch");
    says(&r, "usage", "--qmp");
    run_free(&r);
    ctl(&r, USAGE, "assign %s --qemu-id=x", NIC);
    run_free(&r);
}

/* Commands that talk to the daemon need its socket; a state file that is
 * not viommuctl's stops every command before it changes anything. */
static void test_missing_and_corrupt(void **state)
{
    struct run r;

    (void)state;
    without_daemon = true;
    ctl(&r, USAGE, "assign %s --endpoint=0x300", NIC);
    says(&r, "usage", "--control-socket");
    run_free(&r);
    ctl(&r, USAGE, "watch --qmp=%s/qmp", fs.root);
    says(&r, "usage", "--control-socket");
    run_free(&r);
    without_daemon = false;
    ctl(&r, DONE, "assign %s --endpoint=0x300", NIC);
    run_free(&r);
    without_daemon = true;
    ctl(&r, USAGE, "release %s", NIC);
    says(&r, "usage", "endpoint 0x0300 of a daemon");
    run_free(&r);
    without_daemon = false;
    ctl(&r, DONE, "release %s", NIC);
    run_free(&r);

    FILE *state_file = fopen(fs.state, "w");
    assert_non_null(state_file);
    fputs("{\"devices\": [{\"bdf\": \"nonsense\"}]}\n", state_file);
    fclose(state_file);
    ctl(&r, REFUSED, "groups");
    says(&r, "refused", "entry 0 is not valid");
    run_free(&r);
    fs_write(&fs, "../state.json", "garbage");
    ctl(&r, REFUSED, "groups");
    says(&r, "refused", "not viommuctl's");
    run_free(&r);
    ctl(&r, REFUSED, "assign %s", NIC);
    run_free(&r);
    ctl(&r, REFUSED, "release %s", NIC);
    run_free(&r);
    ctl(&r, REFUSED, "sriov %s --numvfs=1", PF);
    run_free(&r);
    untouched(SOLO, "");
    assert_string_equal(fs_driver(&fs, NIC), "e1000e");

    /* A host without IOMMU groups; a device that is not there. */
    ctl(&r, REFUSED, "groups --sysfs-root=%s", fs.dev);
    says(&r, "refused", "is an IOMMU on");
    run_free(&r);
    ctl(&r, REFUSED, "sriov 0000:09:00.0 --numvfs=1");
    says(&r, "refused", "no PCI device");
    run_free(&r);
}

/* The text a person reads: steps on stdout as they happen, the end on
 * stdout, a failure on stderr with what was put back. */
static void test_text_output(void **state)
{
    static char out[16384];

    (void)state;
    text_mode = true;
    assert_int_equal(
        exit_of("assign " NIC " --endpoint=0x300", out, sizeof(out)), DONE);
    assert_non_null(strstr(out, "  " NIC ": driver_override vfio-pci, "
                                "unbound from e1000e, bound to vfio-pci\n"));
    assert_non_null(strstr(out, "endpoint 0x0300 of the daemon"));
    assert_int_equal(exit_of("groups", out, sizeof(out)), DONE);
    assert_non_null(strstr(out, "group 2: viable for VFIO\n"));
    assert_non_null(strstr(out, "assigned as endpoint 0x0300 (declared; "
                                "had e1000e)"));
    assert_non_null(strstr(out,
                           "group 3: NOT viable for VFIO, in the way: " PAIR0
                           " (e1000e), " PAIR1 " (e1000e)\n"));
    assert_non_null(strstr(out, "  " BRIDGE "   pcieport"));
    assert_int_equal(exit_of("assign " PAIR0, out, sizeof(out)), REFUSED);
    assert_non_null(strstr(out, "viommuctl assign: group 3 is not viable"));
    assert_int_equal(exit_of("release " NIC, out, sizeof(out)), DONE);
    assert_non_null(strstr(out, NIC " given back to e1000e\n"));
    assert_int_equal(
        exit_of("sriov " PF " --numvfs=2 --msix=4", out, sizeof(out)), DONE);
    assert_non_null(strstr(out, "  VF 1: " VF1 ", no driver, 4 MSI-X "
                                "vectors\n"));
    struct qmp_peer q;
    int fd;
    pid_t pid = start_watch(&fd, &q, "--device=nic0=0x20");
    assert_true(qmp_accept(&q, 5000, NULL, NULL));
    qmp_send(&q, DELETED("nic0"), 0);
    qmp_close(&q);
    ssize_t n = read_all(fd, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_non_null(strstr(out, "following QEMU's events on "));
    assert_non_null(strstr(out, "DEVICE_DELETED nic0 (/machine/peripheral/"
                                "nic0): endpoint 0x0020 removed\n"));

    fs_add(&fs, "0000:07:00.1", 0x020000, "e1000e", -1, 0);
    assert_int_equal(
        exit_of("assign 0000:07:00.1 --timeout=0.2", out, sizeof(out)),
        ROLLED_BACK);
    assert_non_null(strstr(out, "  put back: 0000:07:00.1 back to e1000e\n"));
    assert_non_null(strstr(out, "(everything changed is put back)"));
}

/* ---- groups ---- */

static struct json_object *group(struct json_object *out, int64_t g)
{
    struct json_object *list = get(out, "groups");

    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *o = json_object_array_get_idx(list, i);
        if (num(o, "group") == g) {
            return o;
        }
    }
    return NULL;
}

static void test_groups(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, DONE, "groups");
    struct json_object *g3 = group(r.out, 3);
    assert_non_null(g3);
    assert_false(json_object_get_boolean(get(g3, "viable")));
    /* The bridge is no obstacle; the two functions are. */
    struct json_object *way = get(g3, "in-the-way");
    assert_int_equal(json_object_array_length(way), 2);
    assert_string_equal(str(json_object_array_get_idx(way, 0), "device"),
                        PAIR0);
    assert_int_equal(json_object_array_length(get(g3, "devices")), 3);
    /* Group 4 has only the device already in it; 5 does not exist yet. */
    assert_int_equal(json_object_array_length(get(group(r.out, 4), "devices")),
                     1);
    assert_null(group(r.out, 5));
    run_free(&r);

    ctl(&r, DONE, "assign %s --endpoint=0x300 --qemu-id=hostdev0", NIC);
    run_free(&r);
    pid_t holder = fs_hold(&fs, 2, 10000);
    ctl(&r, DONE, "groups");
    struct json_object *g2 = group(r.out, 2);
    assert_true(json_object_get_boolean(get(g2, "viable")));
    assert_non_null(json_object_get_string(get(g2, "vfio-file")));
    struct json_object *holders = get(g2, "holders");
    assert_int_equal(json_object_array_length(holders), 1);
    assert_string_equal(str(json_object_array_get_idx(holders, 0), "comm"),
                        "fake-vmm");
    struct json_object *nic = json_object_array_get_idx(get(g2, "devices"), 0);
    assert_string_equal(str(nic, "driver"), "vfio-pci");
    struct json_object *a = get(nic, "assigned");
    assert_int_equal(num(a, "endpoint"), 0x300);
    assert_true(json_object_get_boolean(get(a, "declared")));
    assert_null(get(a, "domain"));
    run_free(&r);
    /* The guest attaches it: its domain is shown. */
    struct virtio_iommu_req_attach attach = vdrv_attach_req(7, 0x300, 0);
    assert_int_equal(fe_status(&the_fe, &attach, sizeof(attach)),
                     VIRTIO_IOMMU_S_OK);
    ctl(&r, DONE, "groups");
    g2 = group(r.out, 2);
    nic = json_object_array_get_idx(get(g2, "devices"), 0);
    a = get(nic, "assigned");
    assert_int_equal(num(a, "domain"), 7);
    assert_string_equal(str(a, "host-driver"), "e1000e");
    assert_string_equal(str(a, "qemu-id"), "hostdev0");
    run_free(&r);
    fs_release_holder(holder);

    /* A device taken with its group, no endpoint of its own. */
    ctl(&r, DONE, "assign %s --group", PAIR0);
    run_free(&r);
    ctl(&r, DONE, "groups");
    struct json_object *pair1 =
        json_object_array_get_idx(get(group(r.out, 3), "devices"), 2);
    assert_string_equal(str(pair1, "device"), PAIR1);
    assert_null(get(get(pair1, "assigned"), "endpoint"));
    run_free(&r);

    /* No daemon to ask: said, with the rest of the answer. */
    ctl(&r, UNREACHABLE, "groups --control-socket=%s/none", fs.root);
    nic = json_object_array_get_idx(get(group(r.out, 2), "devices"), 0);
    assert_null(get(get(nic, "assigned"), "declared"));
    run_free(&r);
}

/* ---- assign and release ---- */

static void test_assign_and_release(void **state)
{
    struct viommu_resv_region reg[8];
    struct run r;

    (void)state;
    ctl(&r, DONE, "assign %s --endpoint=0x300 --qemu-id=hostdev0", NIC);
    assert_string_equal(str(r.out, "host-driver"), "e1000e");
    assert_int_equal(num(r.out, "group"), 2);
    assert_int_equal(num(r.out, "endpoint"), 0x300);
    /* Reserved regions from sysfs, and a word on what sysfs lacks. */
    struct json_object *geo = get(r.out, "geometry");
    assert_int_equal(json_object_array_length(get(geo, "reserved")), 2);
    assert_non_null(strstr(str(geo, "iova-ranges"), "not in sysfs"));
    run_free(&r);
    assert_string_equal(fs_driver(&fs, NIC), "vfio-pci");
    assert_string_equal(override(NIC), "vfio-pci");
    assert_true(fs_exists(&fs, "dev/vfio/2"));
    struct json_object *e = entry(NIC);
    assert_string_equal(str(e, "driver"), "e1000e");
    assert_null(get(e, "override"));
    assert_int_equal(num(e, "endpoint"), 0x300);
    assert_int_equal(num(e, "group"), 2);

    /* The guest's first PROBE sees the host's holes: the reserved region
     * (not the direct-relaxable one, which VFIO maps through) and the MSI
     * window. */
    assert_true(declared(0x300));
    assert_int_equal(probed(0x300, reg, 8), 2);
    assert_int_equal(reg[0].start, 0x10000000);
    assert_int_equal(reg[0].end, 0x1fffffff);
    assert_int_equal(reg[0].type, VIOMMU_RESV_RESERVED);
    assert_int_equal(reg[1].start, 0xfee00000);
    assert_int_equal(reg[1].type, VIOMMU_RESV_MSI);

    /* Assigned once is enough. */
    ctl(&r, REFUSED, "assign %s --endpoint=0x301", NIC);
    says(&r, "refused", "assigned already");
    run_free(&r);

    ctl(&r, DONE, "release %s", NIC);
    assert_true(did(&r, "ENDPOINT_REMOVED"));
    says(&r, "done", "e1000e");
    run_free(&r);
    assert_false(declared(0x300));
    untouched(NIC, "e1000e");
    assert_false(fs_exists(&fs, "dev/vfio/2"));
}

static void test_assign_refusals(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, REFUSED, "assign 0000:09:00.0");
    says(&r, "refused", "no PCI device");
    run_free(&r);

    /* A group with other devices on their drivers: named, nothing done. */
    ctl(&r, REFUSED, "assign %s --endpoint=0x300", PAIR0);
    says(&r, "refused", PAIR1 " (e1000e)");
    assert_null(strstr(str(r.out, "message"), BRIDGE));
    run_free(&r);
    untouched(PAIR0, "e1000e");
    untouched(PAIR1, "e1000e");
    assert_false(declared(0x300));

    /* An endpoint the guest uses. */
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 0x20, 0);
    assert_int_equal(fe_status(&the_fe, &attach, sizeof(attach)),
                     VIRTIO_IOMMU_S_OK);
    ctl(&r, REFUSED, "assign %s --endpoint=00:04.0", NIC);
    says(&r, "refused", "domain 1");
    run_free(&r);
    untouched(NIC, "e1000e");

    /* No daemon: nothing changed. */
    ctl(&r, UNREACHABLE, "assign %s --endpoint=0x300 --control-socket=%s/none",
        NIC, fs.root);
    run_free(&r);
    untouched(NIC, "e1000e");

    /* A device of another bus in the group: not even with --group. */
    fs_add_platform(&fs, "fake-dma", 2);
    ctl(&r, REFUSED, "assign %s --group", NIC);
    says(&r, "refused", "fake-dma (not a PCI device)");
    run_free(&r);
    untouched(NIC, "e1000e");
}

static void test_assign_group(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, DONE, "assign %s --group --endpoint=0x300", PAIR0);
    assert_int_equal(json_object_array_length(get(r.out, "in-the-way")), 1);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, PAIR0), "vfio-pci");
    assert_string_equal(fs_driver(&fs, PAIR1), "vfio-pci");
    assert_string_equal(fs_driver(&fs, BRIDGE), "pcieport");
    assert_null(get(entry(PAIR1), "endpoint"));

    /* The other function joins as an endpoint of its own. */
    ctl(&r, DONE, "assign %s --endpoint=0x301", PAIR1);
    run_free(&r);
    assert_true(declared(0x301));
    ctl(&r, DONE, "assign %s", PAIR1); /* nothing to do */
    run_free(&r);

    /* The group goes back whole or not at all. */
    ctl(&r, REFUSED, "release %s", PAIR0);
    says(&r, "refused", PAIR1);
    run_free(&r);
    assert_true(declared(0x300));
    assert_string_equal(fs_driver(&fs, PAIR0), "vfio-pci");
    ctl(&r, DONE, "release %s --group", PAIR0);
    run_free(&r);
    untouched(PAIR0, "e1000e");
    untouched(PAIR1, "e1000e");
    assert_false(declared(0x300));
    assert_false(declared(0x301));
}

/* Under virtio-iommu a device joins its group when a driver binds it:
 * viability is known only then, and a group that is not viable then is
 * put back. */
static void test_group_at_binding(void **state)
{
    struct run r;

    (void)state;
    assert_int_equal(fs_group(&fs, LATE), -1);
    ctl(&r, ROLLED_BACK, "assign %s --endpoint=0x300", LATE);
    says(&r, "rolled-back", LATE1 " (e1000e)");
    run_free(&r);
    untouched(LATE, "");
    assert_string_equal(fs_driver(&fs, LATE1), "e1000e");

    ctl(&r, DONE, "assign %s --group --endpoint=0x300", LATE);
    assert_int_equal(num(r.out, "group"), 4);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, LATE1), "vfio-pci");
    ctl(&r, DONE, "release %s --group", LATE);
    run_free(&r);
    untouched(LATE, "");
    untouched(LATE1, "e1000e");

    ctl(&r, DONE, "assign %s --endpoint=0x301", SOLO);
    assert_int_equal(num(r.out, "group"), 5);
    run_free(&r);
    assert_int_equal(num(entry(SOLO), "group"), 5);
}

static void test_assign_rollbacks(void **state)
{
    struct run r;

    (void)state;
    /* vfio-pci not loaded: said before anything changes. */
    fs_unload(&fs, "vfio-pci");
    ctl(&r, REFUSED, "assign %s --endpoint=0x300", NIC);
    says(&r, "refused", "modprobe vfio-pci");
    run_free(&r);
    untouched(NIC, "e1000e");
    fs_load(&fs, "vfio-pci");

    /* No IOMMU group: vfio-pci does not take the device. */
    fs_add(&fs, "0000:07:00.1", 0x020000, "e1000e", -1, 0);
    ctl(&r, ROLLED_BACK, "assign 0000:07:00.1 --endpoint=0x300 --timeout=0.3");
    says(&r, "rolled-back", "vfio-pci did not take it");
    says(&r, "rolled-back", "no IOMMU group");
    assert_true(did(&r, "put back: 0000:07:00.1 back to e1000e"));
    run_free(&r);
    untouched("0000:07:00.1", "e1000e");
    assert_false(declared(0x300));

    /* In place of a range's endpoint: refused by the daemon (the group's
     * regions, with those of a member declared before, are more than a
     * PROBE holds), and the range's endpoint comes back. */
    fs_regions(&fs, 2,
               "0x0000000010000000 0x0000000010000fff reserved\n"
               "0x0000000010002000 0x0000000010002fff reserved\n"
               "0x0000000010004000 0x0000000010004fff reserved\n"
               "0x0000000010006000 0x0000000010006fff reserved\n"
               "0x0000000010008000 0x0000000010008fff reserved\n"
               "0x000000001000a000 0x000000001000afff reserved\n");
    char add[2048];
    int len = snprintf(add, sizeof(add),
                       "{\"execute\": \"endpoint-add\", \"arguments\": "
                       "{\"id\": 1024, \"group\": 2, \"reserved\": [");
    for (int i = 0; i < 16; i++) {
        len += snprintf(add + len, sizeof(add) - (size_t)len,
                        "%s{\"start\": %d, \"end\": %d}", i ? ", " : "",
                        0x20000000 + i * 0x2000, 0x20000fff + i * 0x2000);
    }
    snprintf(add + len, sizeof(add) - (size_t)len, "]}}");
    assert_non_null(strstr(fe_control_command(&admin, add), "return"));
    ctl(&r, ROLLED_BACK, "assign %s --endpoint=0x10", NIC);
    assert_true(did(&r, "put back: endpoint 0x10 declared as its range"));
    run_free(&r);
    untouched(NIC, "e1000e");
    assert_true(declared(0x10));

    /* The daemon refuses the endpoint: its 1024 ranges are taken (the
     * command line's, 0x400's, and these). */
    for (int id = 0x1000; id < 0x1000 + 1022; id++) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": %d}}",
                 id);
        assert_non_null(strstr(fe_control_command(&admin, cmd), "return"));
    }
    ctl(&r, ROLLED_BACK, "assign %s --endpoint=0x300", NIC);
    says(&r, "rolled-back", "1024");
    run_free(&r);
    untouched(NIC, "e1000e");

    /* Reserved regions that cannot be read, once the device is bound. */
    fs_write(&fs, "kernel/iommu_groups/2/reserved_regions", "garbage\n");
    ctl(&r, ROLLED_BACK, "assign %s --endpoint=0x300", NIC);
    says(&r, "rolled-back", "cannot parse");
    run_free(&r);
    untouched(NIC, "e1000e");

    /* The first change fails: nothing to put back. */
    fs_readonly(&fs, "bus/pci/devices/" PAIR0 "/driver_override");
    ctl(&r, ROLLED_BACK, "assign %s --group", PAIR0);
    run_free(&r);
    untouched(PAIR0, "e1000e");
    untouched(PAIR1, "e1000e");

    /* The state file cannot be written: before any device changes. */
    char path[256];
    snprintf(path, sizeof(path), "%s.new", fs.state);
    assert_int_equal(mkdir(path, 0755), 0);
    ctl(&r, ROLLED_BACK, "assign %s", SOLO);
    says(&r, "rolled-back", "state file");
    run_free(&r);
    untouched(SOLO, "");
    rmdir(path);
}

static void test_assign_rollback_fails(void **state)
{
    struct run r;

    (void)state;
    fs_add(&fs, "0000:06:00.0", 0x020000, "e1000e", 6, FS_UNBIND_STUCK);
    fs_add(&fs, "0000:07:00.0", 0x020000, "e1000e", -1, FS_VFIO_NO_GROUP);

    /* A driver that does not let go. */
    ctl(&r, ROLLED_BACK, "assign 0000:06:00.0 --timeout=0.3");
    says(&r, "rolled-back", "still bound to e1000e");
    run_free(&r);
    untouched("0000:06:00.0", "e1000e");

    /* ...and a driver_override that cannot be put back: said. */
    fs_readonly_after_write(&fs,
                            "bus/pci/devices/0000:06:00.0/driver_override");
    ctl(&r, INCOMPLETE, "assign 0000:06:00.0 --timeout=0.3");
    assert_string_equal(str(r.out, "result"), "incomplete");
    assert_int_equal(json_object_array_length(get(r.out, "not-put-back")), 1);
    assert_true(did(&r, "NOT put back: 0000:06:00.0 back to e1000e"));
    run_free(&r);
    assert_string_equal(override("0000:06:00.0"), "vfio-pci");

    /* A member of the group that cannot be taken: the others go back. */
    fs_add(&fs, "0000:06:00.1", 0x020000, "e1000e", 6, 0);
    ctl(&r, ROLLED_BACK, "assign 0000:06:00.1 --group --timeout=0.3");
    says(&r, "rolled-back", "taking 0000:06:00.0 of group 6");
    run_free(&r);
    untouched("0000:06:00.1", "e1000e");

    /* vfio-pci without an IOMMU group (no IOMMU translates the device). */
    ctl(&r, ROLLED_BACK, "assign 0000:07:00.0");
    says(&r, "rolled-back", "no IOMMU group");
    run_free(&r);
    untouched("0000:07:00.0", "e1000e");
}

/* A slot of a declared range: the assigned device's endpoint replaces the
 * range's, and the range's comes back on release. */
static void test_range_endpoint_replaced(void **state)
{
    struct viommu_resv_region reg[8];
    struct run r;

    (void)state;
    assert_int_equal(probed(0x10, reg, 8), 1); /* the MSI window only */
    ctl(&r, DONE, "assign %s --endpoint=00:02.0", NIC);
    assert_true(did(&r, "range's endpoint removed"));
    run_free(&r);
    assert_int_equal(probed(0x10, reg, 8), 2);
    assert_true(json_object_get_boolean(get(entry(NIC), "from-range")));

    ctl(&r, DONE, "release %s", NIC);
    assert_true(did(&r, "declared range's again"));
    run_free(&r);
    assert_true(declared(0x10));
    assert_int_equal(probed(0x10, reg, 8), 1);
}

/* Release waits for the VMM to close the group; a timeout rebinds
 * nothing and names who holds it. */
static void test_release_waits(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, DONE, "assign %s --endpoint=0x300", NIC);
    run_free(&r);
    pid_t holder = fs_hold(&fs, 2, 60000);
    ctl(&r, TIMEOUT, "release %s --timeout=0.5", NIC);
    says(&r, "timeout", "(fake-vmm) holds");
    assert_int_equal(json_object_array_length(get(r.out, "holders")), 1);
    run_free(&r);
    fs_release_holder(holder);
    assert_string_equal(fs_driver(&fs, NIC), "vfio-pci");
    assert_false(declared(0x300)); /* the daemon had let go */
    assert_null(get(entry(NIC), "endpoint"));

    /* A VMM that closes within the timeout: waited for. */
    holder = fs_hold(&fs, 2, 300);
    ctl(&r, DONE, "release %s --timeout=5", NIC);
    run_free(&r);
    fs_release_holder(holder);
    untouched(NIC, "e1000e");
}

static void test_release_refusals(void **state)
{
    struct run r;

    (void)state;
    /* On vfio-pci before: taken as it is, and left so. */
    fs_write(&fs, "bus/pci/devices/" SOLO "/driver_override", "vfio-pci\n");
    fs_write(&fs, "bus/pci/drivers_probe", SOLO "\n");
    fs_settle(&fs);
    ctl(&r, DONE, "assign %s --endpoint=0x301", SOLO);
    assert_true(did(&r, "on vfio-pci already"));
    run_free(&r);
    ctl(&r, DONE, "release %s", SOLO);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, SOLO), "vfio-pci");
    assert_string_equal(override(SOLO), "vfio-pci");
    assert_null(entry(SOLO));

    ctl(&r, REFUSED, "release %s", NIC);
    says(&r, "refused", "not assigned");
    run_free(&r);

    ctl(&r, DONE, "assign %s --endpoint=0x300", NIC);
    run_free(&r);
    ctl(&r, UNREACHABLE, "release %s --control-socket=%s/none", NIC, fs.root);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, NIC), "vfio-pci");
    assert_int_equal(num(entry(NIC), "endpoint"), 0x300);

    /* Removed meanwhile (watch, or the VMM): fine. */
    fe_control_command(&admin, "{\"execute\": \"endpoint-remove\", "
                               "\"arguments\": {\"id\": 768}}");
    ctl(&r, DONE, "release %s", NIC);
    assert_true(did(&r, "removed already"));
    run_free(&r);
    untouched(NIC, "e1000e");
}

static void test_release_rollback(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, DONE, "assign %s --group", PAIR0);
    run_free(&r);
    /* The host driver is gone: said before anything changes. */
    fs_unload(&fs, "e1000e");
    ctl(&r, REFUSED, "release %s --group", PAIR0);
    says(&r, "refused", "e1000e, is not loaded");
    run_free(&r);
    fs_load(&fs, "e1000e");

    /* vfio-pci keeps the device given back second (PAIR1 was taken, and
     * goes back, first): PAIR1 goes back on vfio-pci, the group stays
     * assigned. */
    pthread_mutex_lock(&fs.lock);
    fs.d[pair0_index].flags |= FS_UNBIND_STUCK;
    pthread_mutex_unlock(&fs.lock);
    ctl(&r, ROLLED_BACK, "release %s --group --timeout=0.3", PAIR0);
    says(&r, "rolled-back", "still bound to vfio-pci");
    assert_true(did(&r, PAIR1 ": back to e1000e"));
    assert_true(did(&r, "put back: " PAIR1 " back on vfio-pci"));
    run_free(&r);
    assert_string_equal(fs_driver(&fs, PAIR0), "vfio-pci");
    assert_string_equal(fs_driver(&fs, PAIR1), "vfio-pci");
    assert_non_null(entry(PAIR0));
    assert_non_null(entry(PAIR1));
    pthread_mutex_lock(&fs.lock);
    fs.d[pair0_index].flags &= ~(unsigned)FS_UNBIND_STUCK;
    pthread_mutex_unlock(&fs.lock);
    ctl(&r, DONE, "release %s --group", PAIR0);
    run_free(&r);
    untouched(PAIR0, "e1000e");
    untouched(PAIR1, "e1000e");
}

/* ---- SR-IOV ---- */

/* Another PF, at BB:00.0 (VFs at BB:10.0, BB:10.2), misbehaving so. */
static void misbehaving_pf(const char *bdf, unsigned flags)
{
    fs_sriov(&fs, fs_add(&fs, bdf, 0x020000, "igb", 30, flags), 2, "igbvf", 64);
}

static void test_sriov(void **state)
{
    const char *vfs[] = {VF0, VF1, VF2};
    struct run r;

    (void)state;
    /* The kernel binds new VFs when autoprobe is on at their creation:
     * driverless VFs prove it was off first. */
    ctl(&r, DONE, "sriov %s --numvfs=3 --msix=8", PF);
    assert_int_equal(num(r.out, "msix-budget"), 64);
    assert_int_equal(json_object_array_length(get(r.out, "vfs")), 3);
    assert_true(did(&r, "sriov_drivers_autoprobe 0 (was 1)"));
    run_free(&r);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(fs_driver(&fs, vfs[i]), "");
        assert_int_equal(fs_msix(&fs, vfs[i]), 8);
    }
    assert_string_equal(fs_attr(&fs, PF, "sriov_drivers_autoprobe"), "1");

    /* New counts for VFs without drivers; nothing asked, nothing done. */
    ctl(&r, DONE, "sriov %s --msix=4,8,16", PF);
    run_free(&r);
    assert_int_equal(fs_msix(&fs, VF0), 4);
    assert_int_equal(fs_msix(&fs, VF1), 8);
    assert_int_equal(fs_msix(&fs, VF2), 16);
    ctl(&r, DONE, "sriov %s --numvfs=3", PF);
    says(&r, "done", "already");
    run_free(&r);

    ctl(&r, DONE, "sriov %s --numvfs=0", PF);
    run_free(&r);
    assert_false(fs_exists(&fs, "sys/bus/pci/devices/" VF0));
    assert_string_equal(fs_attr(&fs, PF, "sriov_numvfs"), "0");

    /* The order the tool keeps, broken by hand: VFs get a driver at once,
     * and their counts can no longer be set. */
    fs_write(&fs, "bus/pci/devices/" PF "/sriov_numvfs", "2\n");
    fs_settle(&fs);
    assert_string_equal(fs_driver(&fs, VF0), "igbvf");
    ctl(&r, REFUSED, "sriov %s --msix=4", PF);
    says(&r, "refused", VF0 " has a driver (igbvf)");
    run_free(&r);
    assert_int_equal(fs_msix(&fs, VF0), 3);
}

/* VFs given to a VM stay: their counts and their existence. */
static void test_sriov_assigned(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, DONE, "sriov %s --numvfs=3", PF);
    run_free(&r);
    ctl(&r, DONE, "assign %s --endpoint=0x300", VF1);
    run_free(&r);
    assert_int_equal(num(entry(VF1), "group"), fs_group(&fs, VF1));
    ctl(&r, REFUSED, "sriov %s --msix=4", PF);
    says(&r, "refused", VF1 " is assigned to a VM");
    run_free(&r);
    ctl(&r, REFUSED, "sriov %s --numvfs=0", PF);
    says(&r, "refused", "release " VF1);
    run_free(&r);
    assert_true(fs_exists(&fs, "sys/bus/pci/devices/" VF1));
    ctl(&r, DONE, "release %s", VF1);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, VF1), "");

    /* One a VMM holds through VFIO, bound by hand. */
    fs_write(&fs, "bus/pci/devices/" VF2 "/driver_override", "vfio-pci\n");
    fs_write(&fs, "bus/pci/drivers_probe", VF2 "\n");
    fs_settle(&fs);
    assert_string_equal(fs_driver(&fs, VF2), "vfio-pci");
    pid_t holder = fs_hold(&fs, fs_group(&fs, VF2), 60000);
    ctl(&r, REFUSED, "sriov %s --numvfs=0", PF);
    says(&r, "refused", "(fake-vmm) holds");
    run_free(&r);
    fs_release_holder(holder);
    ctl(&r, DONE, "sriov %s --numvfs=0", PF);
    run_free(&r);
}

/* A PF with more VFs than any fixed table: 300 VFs get their counts, and
 * new counts later (the tool once kept each VF's old count in an array of
 * 256 on its stack). */
static void test_sriov_many_vfs(void **state)
{
    const char *const big = "0000:20:00.0";
    struct run r;

    (void)state;
    fs_sriov(&fs, fs_add(&fs, big, 0x020000, "igb", 9, 0), 300, "igbvf", 600);
    ctl(&r, DONE, "sriov %s --numvfs=300 --msix=2", big);
    assert_int_equal(json_object_array_length(get(r.out, "vfs")), 300);
    run_free(&r);
    ctl(&r, DONE, "sriov %s --msix=1", big);
    run_free(&r);
    assert_int_equal(fs_msix(&fs, "0000:20:10.0"), 1);
    assert_int_equal(fs_msix(&fs, "0000:22:1a.6"), 1); /* the 300th */
    ctl(&r, DONE, "sriov %s --numvfs=0", big);
    run_free(&r);
}

/* Numbers no SR-IOV capability can hold (TotalVFs is 16 bits) are
 * refused at once; the tool used to take them, and walk that many VFs. */
static void test_sriov_crafted_numbers_refused(void **state)
{
    char path[512];
    struct run r;

    (void)state;
    snprintf(path, sizeof(path), "%s/devices/pci0000:00/%s/sriov_totalvfs",
             fs.sys, PF);
    fs_write(&fs, path + strlen(fs.sys) + 1, "4000000000\n");
    ctl(&r, REFUSED, "sriov %s --numvfs=2", PF);
    says(&r, "refused", "not an SR-IOV PF's numbers");
    run_free(&r);
}

/* A FIFO where an attribute should be (a host that is not what it seems):
 * refused at once, where reading it used to block the tool for ever. */
static void test_fifo_attribute_refused(void **state)
{
    char path[512];
    struct run r;

    (void)state;
    snprintf(path, sizeof(path), "%s/devices/pci0000:00/%s/sriov_totalvfs",
             fs.sys, PF);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    ctl(&r, REFUSED, "sriov %s --numvfs=1", PF);
    says(&r, "refused", "sriov_totalvfs");
    run_free(&r);
    assert_string_equal(fs_attr(&fs, PF, "sriov_numvfs"), "0");
}

static void test_sriov_refusals(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, REFUSED, "sriov %s --numvfs=1", NIC);
    says(&r, "refused", "no SR-IOV physical function");
    run_free(&r);
    ctl(&r, REFUSED, "sriov %s --numvfs=5", PF);
    says(&r, "refused", "at most 4");
    run_free(&r);
    ctl(&r, REFUSED, "sriov %s --numvfs=2 --msix=40", PF);
    says(&r, "refused", "80 MSI-X vectors");
    run_free(&r);
    ctl(&r, USAGE, "sriov %s --numvfs=2 --msix=4,4,4", PF);
    run_free(&r);
    ctl(&r, USAGE, "sriov %s --msix=4", PF);
    says(&r, "usage", "needs VFs");
    run_free(&r);
    assert_string_equal(fs_attr(&fs, PF, "sriov_numvfs"), "0");
    assert_string_equal(fs_attr(&fs, PF, "sriov_drivers_autoprobe"), "1");

    ctl(&r, DONE, "sriov %s --numvfs=2", PF);
    run_free(&r);
    ctl(&r, REFUSED, "sriov %s --numvfs=3", PF);
    says(&r, "refused", "only from 0");
    run_free(&r);
    ctl(&r, DONE, "sriov %s --numvfs=0", PF);
    run_free(&r);

    /* VFs whose count cannot be set: nothing is changed. */
    misbehaving_pf("0000:0a:00.0", FS_VF_NO_MSIX_FILE);
    ctl(&r, DONE, "sriov 0000:0a:00.0 --numvfs=2");
    run_free(&r);
    ctl(&r, REFUSED, "sriov 0000:0a:00.0 --msix=4");
    says(&r, "refused", "no sriov_vf_msix_count");
    run_free(&r);

    fs_write(&fs, "bus/pci/devices/" PF "/sriov_numvfs", "many\n");
    ctl(&r, REFUSED, "sriov %s --numvfs=1", PF);
    says(&r, "refused", "not a number");
    run_free(&r);
    fs_write(&fs, "bus/pci/devices/" PF "/sriov_numvfs", "0\n");

    fs_unload(&fs, "igb");
    ctl(&r, REFUSED, "sriov %s --numvfs=1", PF);
    says(&r, "refused", "has no driver");
    run_free(&r);
}

/* igb: its driver sets no VF's MSI-X count. A clear error, and nothing
 * changed; VFs without counts are fine. */
static void test_sriov_driver_without_msix(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, REFUSED, "sriov %s --numvfs=2 --msix=4", PF);
    says(&r, "refused", "driver of " PF " (igb) cannot set its VFs' MSI-X");
    run_free(&r);
    assert_string_equal(fs_attr(&fs, PF, "sriov_numvfs"), "0");
    assert_string_equal(fs_attr(&fs, PF, "sriov_drivers_autoprobe"), "1");
    ctl(&r, DONE, "sriov %s --numvfs=2", PF);
    run_free(&r);
    assert_string_equal(fs_driver(&fs, VF0), "");
}

static void test_sriov_old_kernel(void **state)
{
    struct run r;

    (void)state;
    ctl(&r, REFUSED, "sriov %s --numvfs=2 --msix=4", PF);
    says(&r, "refused", "Linux 5.13");
    run_free(&r);
    assert_string_equal(fs_attr(&fs, PF, "sriov_numvfs"), "0");
}

static void test_sriov_rollbacks(void **state)
{
    static const struct {
        const char *pf, *says;
        unsigned flags;
    } cases[] = {
        {"0000:08:00.0", "shows 0 VFs, not 2", FS_SRIOV_BROKEN},
        {"0000:09:00.0", "although sriov_drivers_autoprobe is 0",
         FS_VF_AUTOPROBE},
        {"0000:0a:00.0", "no sriov_vf_msix_count", FS_VF_NO_MSIX_FILE},
        {"0000:0b:00.0", "sriov_vf_msix_count", FS_VF_MSIX_READONLY},
        {"0000:0c:00.0", "table size 3 after writing 4", FS_VF_MSIX_IGNORED},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        misbehaving_pf(cases[i].pf, cases[i].flags);
        ctl(&r, ROLLED_BACK, "sriov %s --numvfs=2 --msix=4 --timeout=0.3",
            cases[i].pf);
        says(&r, "rolled-back", cases[i].says);
        assert_true(did(&r, "put back"));
        run_free(&r);
        assert_string_equal(fs_attr(&fs, cases[i].pf, "sriov_numvfs"), "0");
        assert_string_equal(
            fs_attr(&fs, cases[i].pf, "sriov_drivers_autoprobe"), "1");
    }

    /* Autoprobe cannot be turned off: nothing changed. */
    misbehaving_pf("0000:0e:00.0", 0);
    fs_readonly(&fs, "bus/pci/devices/0000:0e:00.0/sriov_drivers_autoprobe");
    ctl(&r, ROLLED_BACK, "sriov 0000:0e:00.0 --numvfs=2");
    run_free(&r);
    assert_string_equal(fs_attr(&fs, "0000:0e:00.0", "sriov_numvfs"), "0");

    /* Autoprobe cannot be turned back on: said, not hidden. */
    misbehaving_pf("0000:0d:00.0", 0);
    fs_readonly_after_write(
        &fs, "bus/pci/devices/0000:0d:00.0/sriov_drivers_autoprobe");
    ctl(&r, INCOMPLETE, "sriov 0000:0d:00.0 --numvfs=2 --msix=4");
    assert_true(did(&r, "NOT put back: "));
    run_free(&r);
    assert_string_equal(fs_attr(&fs, "0000:0d:00.0", "sriov_numvfs"), "0");

    /* New counts for VFs there: one fails, the others get theirs back. */
    ctl(&r, DONE, "sriov %s --numvfs=3 --msix=8", PF);
    run_free(&r);
    fs_readonly(&fs, "bus/pci/devices/" VF1 "/sriov_vf_msix_count");
    ctl(&r, ROLLED_BACK, "sriov %s --msix=4", PF);
    run_free(&r);
    assert_int_equal(fs_msix(&fs, VF0), 8);
    assert_int_equal(fs_msix(&fs, VF1), 8);
    assert_int_equal(fs_msix(&fs, VF2), 8);

    /* VFs that do not go: a timeout, said. */
    pthread_mutex_lock(&fs.lock);
    fs.d[pf_index].flags |= FS_SRIOV_BROKEN;
    pthread_mutex_unlock(&fs.lock);
    ctl(&r, TIMEOUT, "sriov %s --numvfs=0 --timeout=0.3", PF);
    says(&r, "timeout", "shows 3 VFs, not 0");
    run_free(&r);
}

/* ---- watch ---- */

static struct json_object *event_line(const struct run *r, size_t i)
{
    assert_true(i + 1 < r->nr_lines);
    assert_string_equal(str(r->lines[i], "event"), "DEVICE_DELETED");
    return r->lines[i];
}

static void test_watch(void **state)
{
    struct qmp_peer q;
    struct run r;
    int fd;

    (void)state;
    ctl(&r, DONE, "assign %s --endpoint=0x300 --qemu-id=hostdev0", NIC);
    run_free(&r);
    pid_t pid =
        start_watch(&fd, &q, "--device=nic0=00:04.0 --device=gone=0x999");
    assert_true(qmp_accept(&q, 5000, NULL, NULL));
    qmp_send(&q,
             "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
             "\"event\": \"RESUME\"}\r\n",
             0);
    /* Split across reads, down to a few bytes a piece. */
    qmp_send(&q, DELETED("nic0"), 7);
    qmp_send(&q, DELETED("hostdev0"), 40);
    qmp_send(&q, DELETED("gone"), 0);
    /* Two in one read: a VF object without an id, an unknown device. */
    qmp_send(&q,
             "{\"event\": \"DEVICE_DELETED\", \"data\": {\"path\": "
             "\"/machine/peripheral/pf0/vf0\"}, \"timestamp\": {\"seconds\": "
             "1, \"microseconds\": 2}}\r\n" DELETED("other"),
             0);
    qmp_close(&q); /* QEMU goes away */
    collect(&r, pid, fd);
    assert_int_equal(r.status, DONE);
    says(&r, "done", "QEMU closed");
    assert_int_equal(num(r.out, "events"), 5);
    assert_int_equal(r.nr_lines, 6);
    assert_string_equal(str(event_line(&r, 0), "action"), "removed");
    assert_int_equal(num(event_line(&r, 0), "endpoint"), 0x20);
    assert_string_equal(str(event_line(&r, 1), "action"), "removed");
    assert_string_equal(str(event_line(&r, 1), "host-device"), NIC);
    assert_string_equal(str(event_line(&r, 2), "action"), "removed-already");
    assert_string_equal(str(event_line(&r, 3), "action"), "ignored");
    assert_null(get(event_line(&r, 3), "device"));
    assert_string_equal(str(event_line(&r, 4), "action"), "ignored");
    run_free(&r);
    assert_false(declared(0x20));
    assert_false(declared(0x300));
    assert_null(get(entry(NIC), "endpoint"));

    /* The VMM's release finds the endpoint gone, and no one holding. */
    ctl(&r, DONE, "release %s", NIC);
    run_free(&r);
    untouched(NIC, "e1000e");
}

static void test_watch_failures(void **state)
{
    struct qmp_peer q;
    struct run r;
    char line[256];
    int fd;

    (void)state;
    ctl(&r, UNREACHABLE, "watch --qmp=%s/none", fs.root);
    run_free(&r);

    pid_t pid = start_watch(&fd, &q, "");
    assert_true(qmp_accept(&q, 5000, "{\"hello\": 1}\r\n", NULL));
    collect(&r, pid, fd);
    assert_int_equal(r.status, UNREACHABLE);
    says(&r, "unreachable", "no QMP greeting");
    run_free(&r);
    qmp_close(&q);

    pid = start_watch(&fd, &q, "");
    assert_true(qmp_accept(&q, 5000, NULL,
                           "{\"error\": {\"class\": \"GenericError\", "
                           "\"desc\": \"not now\"}}\r\n"));
    collect(&r, pid, fd);
    assert_int_equal(r.status, UNREACHABLE);
    says(&r, "unreachable", "not now");
    run_free(&r);
    qmp_close(&q);

    /* QEMU leaves before it answers; then one that speaks nonsense. */
    pid = start_watch(&fd, &q, "");
    assert_true(qmp_accept(&q, 5000, NULL, ""));
    qmp_close(&q);
    collect(&r, pid, fd);
    assert_int_equal(r.status, UNREACHABLE);
    says(&r, "unreachable", "no answer to qmp_capabilities (closed)");
    run_free(&r);
    pid = start_watch(&fd, &q, "");
    assert_true(qmp_accept(&q, 5000, NULL, NULL));
    qmp_send(&q, "{\"event\": nonsense}\r\n", 0);
    collect(&r, pid, fd);
    assert_int_equal(r.status, UNREACHABLE);
    run_free(&r);
    qmp_close(&q);

    /* A socket that is no viommu daemon's (QEMU's, by mistake). */
    snprintf(line, sizeof(line), "%s/qmp", fs.root);
    qmp_listen(&q, line);
    snprintf(line, sizeof(line),
             "assign %s --endpoint=0x300 --control-socket=%s/qmp", NIC,
             fs.root);
    pid = spawn(&fd, line);
    assert_true(qmp_accept(&q, 5000, NULL, NULL));
    collect(&r, pid, fd);
    assert_int_equal(r.status, UNREACHABLE);
    says(&r, "unreachable", "Protocol error");
    run_free(&r);
    qmp_close(&q);
    untouched(NIC, "e1000e");

    /* The daemon gone: the event's removal fails, watching goes on; a
     * signal ends it cleanly. */
    snprintf(line, sizeof(line), "--device=nic0=0x20 --control-socket=%s/none",
             fs.root);
    pid = start_watch(&fd, &q, line);
    assert_true(qmp_accept(&q, 5000, NULL, NULL));
    qmp_send(&q, DELETED("nic0"), 0);
    char c = 0;
    while (c != '\n' && read(fd, &c, 1) == 1) {
    }
    kill(pid, SIGTERM);
    collect(&r, pid, fd);
    assert_int_equal(r.status, DONE);
    says(&r, "done", "signal");
    run_free(&r);
    qmp_close(&q);
    assert_true(declared(0x20));
}

static int setup_with(int total_msix)
{
    host(0, total_msix);
    start_daemon();
    return 0;
}

static int setup_igb(void **state)
{
    (void)state;
    return setup_with(0); /* igb's driver sets no VF MSI-X count */
}

static int setup_old_kernel(void **state)
{
    (void)state;
    return setup_with(-1); /* no sriov_vf_total_msix */
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_command_line),
        TEST(test_missing_and_corrupt),
        TEST(test_text_output),
        TEST(test_groups),
        TEST(test_assign_and_release),
        TEST(test_assign_refusals),
        TEST(test_assign_group),
        TEST(test_group_at_binding),
        TEST(test_assign_rollbacks),
        TEST(test_assign_rollback_fails),
        TEST(test_range_endpoint_replaced),
        TEST(test_release_waits),
        TEST(test_release_refusals),
        TEST(test_release_rollback),
        TEST(test_sriov),
        TEST(test_sriov_assigned),
        TEST(test_sriov_refusals),
        TEST(test_sriov_many_vfs),
        TEST(test_fifo_attribute_refused),
        TEST(test_sriov_crafted_numbers_refused),
        cmocka_unit_test_setup_teardown(test_sriov_driver_without_msix,
                                        setup_igb, teardown),
        cmocka_unit_test_setup_teardown(test_sriov_old_kernel, setup_old_kernel,
                                        teardown),
        TEST(test_sriov_rollbacks),
        TEST(test_watch),
        TEST(test_watch_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
