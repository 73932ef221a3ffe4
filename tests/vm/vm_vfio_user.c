/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a QEMU guest (tests/vm/run.py) and plays QEMU around the
 * daemon: the daemon (/viommu-vhost-user, linked static) owns the edu
 * alone in its IOMMU group through real VFIO and serves it over
 * vfio-user; this program is its vfio-user client (testing/
 * vfio_user_client.c) and its vhost-user frontend, whose guest driver
 * maps IOVAs of the edu's endpoint. Guest RAM is the frontend's memfd,
 * given to the daemon both ways, as QEMU gives it. Every check is a byte
 * pattern that edu's DMA, programmed through REGION_WRITE to its BAR0,
 * reached or did not reach.
 *
 *   vm-vfio-user type1|iommufd
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "tap.h"
#include "frontend.h"
#include "vfio_user_client.h"

#define PAGE 4096ull
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define EDU_BUF 0x40000ull
#define BAR0 VFIO_PCI_BAR0_REGION_INDEX
#define CFG VFIO_PCI_CONFIG_REGION_INDEX
#define DEV_SOCK "/tmp/edu.sock"
#define CTL_SOCK "/tmp/ctl.sock"
/* The mapping the guest driver makes: 64 KiB at IOVA, onto guest RAM. */
#define IOVA 0x10000000ull
#define GPA 0x80000ull

static struct fe fe;
static struct vdrv_transport transport;
static struct vdrv drv;
static struct fe_control ctl;
static uint32_t ep;

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    }
}

static bool is_pattern(const uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != (uint8_t)(seed * 31 + i * 7 + (i >> 8))) {
            return false;
        }
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static uint8_t *ram(uint64_t gpa)
{
    return fe_ptr(&fe, gpa);
}

/* The edu alone in its group (the two behind the bridge share one). */
static bool find_edu(char bdf[16])
{
    struct dirent **list;
    char found[3][16], groups[3][64];
    int n = scandir("/sys/bus/pci/devices", &list, NULL, alphasort), k = 0;

    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], buf[32] = "";
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
                 list[i]->d_name);
        FILE *f = fopen(path, "re");
        if (f != NULL) {
            if (fgets(buf, sizeof(buf), f) == NULL) {
                buf[0] = '\0';
            }
            fclose(f);
        }
        if (strncmp(buf, "0x11e8", 6) == 0 && k < 3) {
            snprintf(found[k], 16, "%.15s", list[i]->d_name);
            snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
                     found[k]);
            ssize_t len = readlink(path, groups[k], sizeof(groups[k]) - 1);
            groups[k][len > 0 ? len : 0] = '\0';
            k++;
        }
        free(list[i]);
    }
    free(list);
    for (int i = 0; i < k; i++) {
        bool shared = false;
        for (int j = 0; j < k; j++) {
            shared |= j != i && strcmp(groups[i], groups[j]) == 0;
        }
        if (!shared) {
            memcpy(bdf, found[i], 16);
            return true;
        }
    }
    return false;
}

/* --- edu through vfio-user ----------------------------------------------- */

static bool reg_write(struct vfuc *c, uint64_t off, uint64_t v)
{
    int err = vfuc_region_write(c, BAR0, off, &v, 8);
    if (err != 0) {
        tap_fail("REGION_WRITE BAR0+%#" PRIx64 ": %s", off, strerror(-err));
    }
    return err == 0;
}

static bool reg_read(struct vfuc *c, uint64_t off, uint64_t *v)
{
    int err = vfuc_region_read(c, BAR0, off, v, 8);
    if (err != 0) {
        tap_fail("REGION_READ BAR0+%#" PRIx64 ": %s", off, strerror(-err));
    }
    return err == 0;
}

/* Starts a page's transfer: to_ram, the device's buffer to `iova`; else
 * from `iova` into the buffer. */
static bool edu_start(struct vfuc *c, uint64_t iova, bool to_ram, bool irq)
{
    return reg_write(c, 0x80, to_ram ? EDU_BUF : iova) &&
           reg_write(c, 0x88, to_ram ? iova : EDU_BUF) &&
           reg_write(c, 0x90, PAGE) &&
           reg_write(c, 0x98, 1 | (to_ram ? 2 : 0) | (irq ? 4 : 0));
}

static bool edu_dma(struct vfuc *c, uint64_t iova, bool to_ram)
{
    if (!edu_start(c, iova, to_ram, false)) {
        return false;
    }
    for (int i = 0; i < 5000; i++) {
        uint64_t cmd;
        if (!reg_read(c, 0x98, &cmd)) {
            return false;
        }
        if ((cmd & 1) == 0) {
            return true;
        }
        usleep(1000);
    }
    tap_fail("DMA never completed");
    return false;
}

/* The device's buffer gets pattern `seed` from guest RAM at `iova`. */
static bool edu_load(struct vfuc *c, uint64_t iova, uint64_t gpa, unsigned seed)
{
    pattern(ram(gpa), PAGE, seed);
    return edu_dma(c, iova, false);
}

/* A client through VERSION, with guest RAM given by DMA_MAP at IOVA =
 * guest-physical, and bus mastering on through config space (the VMM's
 * relay of the guest's config write). */
static bool client_on(struct vfuc *c, const char *path)
{
    if (!vfuc_connect(c, path)) {
        tap_fail("cannot connect to %s", path);
        return false;
    }
    int err = vfuc_version(c);
    if (err == 0) {
        err = vfuc_dma_map(c, 0, FE_MEM_SIZE, fe.memfd, 0, 3);
    }
    uint16_t cmd = 0;
    if (err == 0) {
        err = vfuc_region_read(c, CFG, 4, &cmd, 2);
    }
    cmd |= 1u << 2;
    if (err == 0) {
        err = vfuc_region_write(c, CFG, 4, &cmd, 2);
    }
    if (err != 0) {
        tap_fail("client set-up: %s", strerror(-err));
    }
    return err == 0;
}

static bool client(struct vfuc *c)
{
    return client_on(c, DEV_SOCK);
}

static bool status(uint8_t got, uint8_t want, const char *what)
{
    if (got != want) {
        tap_fail("%s: %s, expected %s", what, vdrv_status_name(got),
                 vdrv_status_name(want));
    }
    return got == want;
}

/* --- tests -----------------------------------------------------------------
 */

static struct vfuc c;

/* Every fd the server ever gave: kept open, and mapped where it can be,
 * for as long as this program runs, as a VMM that means harm would. */
static int kept[64];
static unsigned nr_kept;

static void keep(int fd, const struct vfio_region_info *ri)
{
    if (fd < 0) {
        return;
    }
    if (nr_kept < sizeof(kept) / sizeof(kept[0])) {
        kept[nr_kept++] = fd;
    }
    (void)mmap(NULL, ri->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
               (off_t)ri->offset);
}

static void test_device_served(void)
{
    struct vfio_device_info info;
    struct vfio_region_info ri;
    uint32_t id = 0;
    int fd = -1;

    if (!client(&c)) {
        return;
    }
    int err = vfuc_device_info(&c, &info);
    if (err != 0 || !(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
        info.num_regions < VFIO_PCI_NUM_REGIONS) {
        tap_fail("DEVICE_GET_INFO: %d, flags %#x, %u regions", err, info.flags,
                 info.num_regions);
        return;
    }
    /* BAR0, mmappable on the host, is relayed without an fd: a device fd
     * kept by a client would keep the edu from going back to its driver
     * (test_release_and_add_again). */
    err = vfuc_region_info(&c, BAR0, &ri, &fd);
    keep(fd, &ri);
    if (err != 0 || (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || fd >= 0) {
        tap_fail("BAR0 must be relayed, without an fd: %d, flags %#x, fd %d",
                 err, ri.flags, fd);
    } else if (vfuc_region_read(&c, BAR0, 0, &id, 4) != 0 || id != 0x010000ed) {
        tap_fail("relayed identification %#x", id);
    }
}

static void test_dma_lands_exactly(void)
{
    if (!status(vdrv_attach(&drv, 1, ep, 0), VIRTIO_IOMMU_S_OK, "ATTACH") ||
        !status(vdrv_map(&drv, 1, IOVA, IOVA + 0xffff, GPA, RW),
                VIRTIO_IOMMU_S_OK, "MAP")) {
        return;
    }
    memset(ram(GPA), 0, 0x10000);
    if (!edu_load(&c, IOVA, GPA, 7)) {
        return;
    }
    memset(ram(GPA), 0, PAGE);
    if (!edu_dma(&c, IOVA + 0x8000, true)) {
        return;
    }
    if (!is_pattern(ram(GPA + 0x8000), PAGE, 7)) {
        tap_fail("the device's write did not land at the guest RAM behind its "
                 "IOVA");
    } else if (!all_zero(ram(GPA), 0x8000) ||
               !all_zero(ram(GPA + 0x9000), 0x7000)) {
        tap_fail("the device wrote outside the page it was given");
    }
}

static void test_not_ram_maps_nothing(void)
{
    static uint8_t before[FE_MEM_SIZE];

    if (!status(vdrv_map(&drv, 1, 0x20000000, 0x20000fff, 1ull << 36, RW),
                VIRTIO_IOMMU_S_OK, "MAP beyond guest RAM")) {
        return;
    }
    memcpy(before, ram(0), FE_MEM_SIZE);
    if (edu_dma(&c, 0x20000000, true) &&
        memcmp(before, ram(0), FE_MEM_SIZE) != 0) {
        tap_fail("a DMA through a mapping of no RAM changed guest RAM");
    }
    (void)status(vdrv_unmap(&drv, 1, 0x20000000, 0x20000fff), VIRTIO_IOMMU_S_OK,
                 "UNMAP");
}

static void test_unmap_faults(void)
{
    if (!status(vdrv_unmap(&drv, 1, IOVA, IOVA + 0xffff), VIRTIO_IOMMU_S_OK,
                "UNMAP")) {
        return;
    }
    memset(ram(GPA), 0, 0x10000);
    if (edu_dma(&c, IOVA + 0x8000, true) && !all_zero(ram(GPA), 0x10000)) {
        tap_fail("the device wrote through an IOVA the guest unmapped");
    }
}

static void test_interrupt(void)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int err = vfuc_set_irq_eventfds(&c, VFIO_PCI_MSI_IRQ_INDEX, 0, &efd, 1);

    if (err != 0) {
        tap_fail("SET_IRQS MSI eventfd: %s", strerror(-err));
    } else if (!edu_start(&c, IOVA, true, true) || !fe_signalled(efd, 3000)) {
        tap_fail("edu's interrupt did not reach the client's eventfd");
    }
    close(efd);
}

static void test_disconnect_stops_dma(void)
{
    if (!status(vdrv_map(&drv, 1, IOVA, IOVA + 0xffff, GPA, RW),
                VIRTIO_IOMMU_S_OK, "MAP") ||
        !edu_load(&c, IOVA + 0x1000, GPA + 0x1000, 9)) {
        return;
    }
    memset(ram(GPA), 0, 0x10000);
    /* A transfer to RAM takes 100 ms of the device's time: the client
     * goes before it ends. */
    if (!edu_start(&c, IOVA + 0x4000, true, false)) {
        return;
    }
    vfuc_close(&c);
    const char *ev = fe_control_read(&ctl);
    if (ev == NULL || strstr(ev, "ENDPOINT_REMOVED") == NULL) {
        tap_fail("no ENDPOINT_REMOVED after the client left: %s",
                 ev != NULL ? ev : "(nothing)");
        return;
    }
    usleep(500000);
    if (!all_zero(ram(GPA), 0x10000)) {
        tap_fail("the device wrote after its client left");
    }
    if (vdrv_map(&drv, 1, IOVA, IOVA + 0xffff, GPA, RW) !=
        VIRTIO_IOMMU_S_NOENT) {
        tap_fail("the endpoint's domain outlived the client");
    }
}

static void test_reconnect(void)
{
    if (!client(&c) ||
        !status(vdrv_attach(&drv, 2, ep, 0), VIRTIO_IOMMU_S_OK, "ATTACH") ||
        !status(vdrv_map(&drv, 2, IOVA, IOVA + 0xffff, GPA, RW),
                VIRTIO_IOMMU_S_OK, "MAP") ||
        !edu_load(&c, IOVA, GPA, 11)) {
        return;
    }
    memset(ram(GPA + 0x2000), 0, PAGE);
    if (edu_dma(&c, IOVA + 0x2000, true) &&
        !is_pattern(ram(GPA + 0x2000), PAGE, 11)) {
        tap_fail("a new client's device does not reach the guest's mapping");
    }
}

static void test_bypass_maps_ram(void)
{
    if (!status(vdrv_attach(&drv, 3, ep, VIRTIO_IOMMU_ATTACH_F_BYPASS),
                VIRTIO_IOMMU_S_OK, "ATTACH to a bypass domain")) {
        return;
    }
    /* The buffer still holds pattern 11: all guest RAM is at IOVA =
     * guest-physical, and only guest RAM. */
    memset(ram(GPA + 0x3000), 0, PAGE);
    if (edu_dma(&c, GPA + 0x3000, true) &&
        !is_pattern(ram(GPA + 0x3000), PAGE, 11)) {
        tap_fail("a bypass domain does not reach guest RAM at its address");
    }
    vfuc_close(&c);
    const char *ev = fe_control_read(&ctl);
    if (ev == NULL || strstr(ev, "ENDPOINT_REMOVED") == NULL) {
        tap_fail("no ENDPOINT_REMOVED after the second client left");
    }
}

static char bdf[16];

static bool sysfs_write(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok =
        fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Once ENDPOINT_REMOVED is out, the device can go back to a host driver
 * at once (viommuctl release): unbinding it from vfio-pci does not wait
 * for the daemon. Then bound again, removed and added on the control
 * socket, it is served anew. */
static void test_release_and_add_again(void)
{
    char cmd[256];
    const char *r;
    int st;

    /* In a child: a device still held makes the write wait, unkillably,
     * until it is released (here: when the daemon ends). */
    pid_t pid = fork();
    if (pid == 0) {
        _exit(sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", bdf) ? 0 : 1);
    }
    pid_t done = 0;
    for (int i = 0; i < 500 && pid > 0 && done == 0; i++) {
        done = waitpid(pid, &st, WNOHANG);
        if (done == 0) {
            usleep(10000);
        }
    }
    if (pid < 0 || done != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        tap_fail("unbinding %s from vfio-pci after ENDPOINT_REMOVED %s", bdf,
                 done == 0 ? "waits: the device is still held" : "failed");
        return;
    }
    if (!sysfs_write("/sys/bus/pci/drivers_probe", bdf)) {
        tap_fail("binding %s to vfio-pci again", bdf);
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-remove\", \"arguments\": "
             "{\"endpoint\": %u}}",
             ep);
    r = fe_control_command(&ctl, cmd);
    if (r == NULL || strcmp(r, "{\"return\":{}}") != 0) {
        tap_fail("device-remove: %s", r != NULL ? r : "(nothing)");
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"/tmp/edu2.sock\", \"host\": \"%s\", \"endpoint\": %u}}",
             bdf, ep);
    r = fe_control_command(&ctl, cmd);
    if (r == NULL || strcmp(r, "{\"return\":{}}") != 0) {
        tap_fail("device-add: %s", r != NULL ? r : "(nothing)");
        return;
    }
    if (!client_on(&c, "/tmp/edu2.sock") ||
        !status(vdrv_attach(&drv, 5, ep, 0), VIRTIO_IOMMU_S_OK, "ATTACH") ||
        !status(vdrv_map(&drv, 5, IOVA, IOVA + 0xffff, GPA, RW),
                VIRTIO_IOMMU_S_OK, "MAP") ||
        !edu_load(&c, IOVA, GPA, 13)) {
        return;
    }
    memset(ram(GPA + 0x5000), 0, PAGE);
    if (edu_dma(&c, IOVA + 0x5000, true) &&
        !is_pattern(ram(GPA + 0x5000), PAGE, 13)) {
        tap_fail("the device added again does not reach the guest's mapping");
    }
    vfuc_close(&c);
    r = fe_control_read(&ctl);
    if (r == NULL || strstr(r, "ENDPOINT_REMOVED") == NULL) {
        tap_fail("no ENDPOINT_REMOVED after the last client left");
    }
}

int main(int argc, char **argv)
{
    char dev_arg[128], ctl_arg[64];

    if (argc != 2 || (strcmp(argv[1], "type1") && strcmp(argv[1], "iommufd"))) {
        fprintf(stderr, "usage: vm-vfio-user type1|iommufd\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..9\n");
    mkdir("/tmp", 0755);
    if (!find_edu(bdf)) {
        printf("Bail out! no edu alone in its IOMMU group\n");
        return 1;
    }
    unsigned dom, bus, dev, fn;
    if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
        printf("Bail out! %s\n", bdf);
        return 1;
    }
    ep = bus << 8 | dev << 3 | fn;
    snprintf(dev_arg, sizeof(dev_arg), "--vfio-user=%s,%s,%#x", DEV_SOCK, bdf,
             ep);
    snprintf(ctl_arg, sizeof(ctl_arg), "--control-socket=%s", CTL_SOCK);
    const char *args[] = {dev_arg, ctl_arg,
                          strcmp(argv[1], "iommufd") == 0 ? "--iommufd" : NULL,
                          NULL};
    setenv("VIOMMU_VHOST_USER", "/viommu-vhost-user", 1);
    fe_start(&fe, args);
    fe_setup(&fe);
    fe_transport(&fe, &transport);
    drv = (struct vdrv){.transport = &transport};
    if (fe_control_open(&ctl, CTL_SOCK) == NULL) {
        printf("Bail out! no control socket\n");
        return 1;
    }

    test_device_served();
    tap_report("the daemon serves edu over vfio-user: BAR0 relayed, no fd "
               "given");
    test_dma_lands_exactly();
    tap_report("edu's DMA lands exactly in the guest RAM behind the guest's "
               "IOVA mapping");
    test_not_ram_maps_nothing();
    tap_report("a MAP of what is not guest RAM maps nothing: the device's DMA "
               "there changes no byte");
    test_unmap_faults();
    tap_report("after UNMAP the device's DMA reaches nothing");
    test_interrupt();
    tap_report("edu's interrupt reaches the client's eventfd through SET_IRQS");
    test_disconnect_stops_dma();
    tap_report("the client leaving removes the endpoint and stops the device's "
               "DMA");
    test_reconnect();
    tap_report("a new client gets the device again");
    test_bypass_maps_ram();
    tap_report("a bypass domain reaches guest RAM at its guest-physical "
               "address");
    test_release_and_add_again();
    tap_report("after ENDPOINT_REMOVED the device leaves vfio-pci at once; "
               "device-remove and device-add serve it anew");

    int st = fe_stop(&fe);
    if (st != 0) {
        printf("# the daemon exited with %d\n", st);
        tap_failed++;
    }
    printf("# %u of %u failed\n", tap_failed, tap_run);
    return tap_failed == 0 ? 0 : 1;
}
