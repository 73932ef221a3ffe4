/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon as a vfio-user server, against the test kit's client playing
 * QEMU's vfio-user-pci. The daemon here is main.c linked with the device
 * model of testing/vfio_model.c instead of VFIO: the protocol, the DMA
 * path (the model's DMA engine reaches guest RAM only through what the
 * device core gave its IOMMU), the lifecycle and hostile clients run in CI
 * and under the sanitizers. The kit's vhost-user frontend plays the
 * guest's virtio-iommu driver over the rings, in the same guest RAM (a
 * memfd) that the client gives the server with DMA_MAP.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/vfio.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "frontend.h"
#include "vfio_user_client.h"

#define OK VIRTIO_IOMMU_S_OK
#define EP 0x20
#define EP2 0x28
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define EDU_BUF 0x40000u
#define BAR0 VFIO_PCI_BAR0_REGION_INDEX
#define BAR2_INDEX VFIO_PCI_BAR2_REGION_INDEX

static struct fe the_fe;
static struct vdrv_transport transport;
static struct vdrv drv;
static char dev_path[160], dev_arg[200], ctl_path[160], ctl_arg[200];

/* The daemon with one device (endpoint EP) and a control socket, and
 * `range` (an --endpoint option, or NULL), and the guest's driver set up
 * over vhost-user. */
static void start(const char *range)
{
    const char *args[] = {dev_arg, ctl_arg, range, NULL};
    char dir[] = "/tmp/viommu-vfu-XXXXXX";

    assert_non_null(mkdtemp(dir));
    snprintf(dev_path, sizeof(dev_path), "%s/edu", dir);
    snprintf(dev_arg, sizeof(dev_arg), "--vfio-user=%s,0000:00:04.0,%#x",
             dev_path, EP);
    snprintf(ctl_path, sizeof(ctl_path), "%s/ctl", dir);
    snprintf(ctl_arg, sizeof(ctl_arg), "--control-socket=%s", ctl_path);
    fe_start(&the_fe, args);
    fe_setup(&the_fe);
    fe_transport(&the_fe, &transport);
    drv = (struct vdrv){.transport = &transport};
}

static void stop(void)
{
    char dir[160];

    assert_int_equal(fe_stop(&the_fe), 0);
    snprintf(dir, sizeof(dir), "%s", dev_path);
    *strrchr(dir, '/') = '\0';
    unlink(dev_path);
    unlink(ctl_path);
    rmdir(dir);
}

/* A client through VERSION, with the guest's RAM (the frontend's memfd)
 * given by DMA_MAP at IOVA = guest-physical, as QEMU does. */
static void connect_client(struct vfuc *c, const char *path)
{
    assert_true(vfuc_connect(c, path));
    assert_int_equal(vfuc_version(c), 0);
    assert_int_equal(vfuc_dma_map(c, 0, FE_MEM_SIZE, the_fe.memfd, 0, 3), 0);
}

static void reg_write(struct vfuc *c, uint64_t off, uint64_t v)
{
    assert_int_equal(vfuc_region_write(c, BAR0, off, &v, 8), 0);
}

static uint64_t reg_read(struct vfuc *c, uint64_t off)
{
    uint64_t v = 0;

    assert_int_equal(vfuc_region_read(c, BAR0, off, &v, 8), 0);
    return v;
}

/* One transfer of the model's DMA engine, programmed through BAR0 as a
 * driver programs edu's; true when it did not fault. */
static bool edu_dma(struct vfuc *c, uint64_t src, uint64_t dst, uint64_t n,
                    bool to_ram, bool irq)
{
    reg_write(c, 0x80, src);
    reg_write(c, 0x88, dst);
    reg_write(c, 0x90, n);
    reg_write(c, 0x98, 1 | (to_ram ? 2 : 0) | (irq ? 4 : 0));
    return (reg_read(c, 0x20) & 0x100) == 0;
}

/* A control client's line, skipping the greeting. */
static const char *ctl(struct fe_control *fc, const char *cmd)
{
    return fe_control_command(fc, cmd);
}

/* The handshake, the device's description, region access (relayed and
 * never an fd), interrupts through the client's eventfd. */
static void test_protocol(void **state)
{
    struct vfuc c;
    struct vfio_device_info info;
    struct vfio_region_info ri;
    struct vfio_irq_info ii;
    int fd;

    (void)state;
    start(NULL);
    connect_client(&c, dev_path);
    assert_non_null(strstr(c.caps, "\"max_msg_fds\":8"));
    assert_non_null(strstr(c.caps, "\"max_dma_maps\":64"));
    assert_non_null(strstr(c.caps, "\"max_data_xfer_size\":1048576"));
    assert_null(strstr(c.caps, "migration"));

    assert_int_equal(vfuc_device_info(&c, &info), 0);
    assert_int_equal(info.argsz, 16);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_RESET);
    assert_int_equal(info.num_regions, VFIO_PCI_NUM_REGIONS);
    assert_int_equal(info.num_irqs, VFIO_PCI_NUM_IRQS);

    /* Config space: relayed, no fd. */
    assert_int_equal(
        vfuc_region_info(&c, VFIO_PCI_CONFIG_REGION_INDEX, &ri, &fd), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(ri.size, 256);
    assert_false(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
    uint32_t ids = 0;
    assert_int_equal(
        vfuc_region_read(&c, VFIO_PCI_CONFIG_REGION_INDEX, 0, &ids, 4), 0);
    assert_int_equal(ids, 0x11e81234);

    /* BAR0 traps (its registers start DMA): relayed. */
    assert_int_equal(vfuc_region_info(&c, BAR0, &ri, &fd), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(ri.size, 1 << 20);
    reg_write(&c, 0x04, 0x12345678);
    assert_int_equal(reg_read(&c, 0x04) & 0xffffffff, ~0x12345678u);

    /* BAR2, which the host lets be mmapped, is relayed too: no fd is ever
     * given, a client could keep the device open with it. */
    assert_int_equal(vfuc_region_info(&c, VFIO_PCI_BAR2_REGION_INDEX, &ri, &fd),
                     0);
    assert_false(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
    assert_int_equal(fd, -1);
    assert_int_equal(
        vfuc_region_write(&c, VFIO_PCI_BAR2_REGION_INDEX, 0, "direct", 6), 0);
    char got[6];
    assert_int_equal(
        vfuc_region_read(&c, VFIO_PCI_BAR2_REGION_INDEX, 0, got, 6), 0);
    assert_memory_equal(got, "direct", 6);

    /* An empty region, and accesses outside regions. */
    assert_int_equal(vfuc_region_read(&c, BAR0, (1 << 20) - 4, got, 8),
                     -EINVAL);
    assert_int_equal(vfuc_region_read(&c, 4, 0, got, 1), -EINVAL);
    assert_int_equal(vfuc_region_read(&c, 99, 0, got, 1), -EINVAL);
    assert_int_equal(vfuc_region_read(&c, BAR0, UINT64_MAX, got, 2), -EINVAL);

    /* Interrupts: the client's eventfd is the device's. */
    assert_int_equal(vfuc_irq_info(&c, VFIO_PCI_MSI_IRQ_INDEX, &ii), 0);
    assert_int_equal(ii.count, 1);
    assert_true(ii.flags & VFIO_IRQ_INFO_EVENTFD);
    assert_int_equal(vfuc_irq_info(&c, 77, &ii), -EINVAL);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_int_equal(
        vfuc_set_irq_eventfds(&c, VFIO_PCI_MSI_IRQ_INDEX, 0, &efd, 1), 0);
    edu_dma(&c, EDU_BUF, EDU_BUF, 0, true, true);
    assert_true(fe_signalled(efd, 1000));
    close(efd);

    /* Reset reaches the device. */
    assert_int_equal(vfuc_reset(&c), 0);
    assert_int_equal(reg_read(&c, 0x10), 1);
    assert_int_equal(reg_read(&c, 0x04), 0);

    /* DMA windows: exact unmaps, no overlap, unmap-all. */
    assert_int_equal(vfuc_dma_map(&c, 0, 4096, the_fe.memfd, 0, 3), -EEXIST);
    assert_int_equal(vfuc_dma_unmap(&c, 0, 4096, 0), -ENOENT);
    assert_int_equal(vfuc_dma_map(&c, 1ull << 32, 8192, -1, 0, 3), 0);
    assert_int_equal(
        vfuc_dma_map(&c, 1ull << 33, 4096, the_fe.memfd, FE_MEM_SIZE, 3),
        -EINVAL); /* past the end of the file */
    assert_int_equal(vfuc_dma_map(&c, 1ull << 33, 100, the_fe.memfd, 0, 3),
                     -EINVAL);
    assert_int_equal(vfuc_dma_unmap(&c, 1ull << 32, 8192, 0), 0);
    assert_int_equal(vfuc_dma_unmap(&c, 0, 0, 2), 0); /* all */
    assert_int_equal(vfuc_dma_unmap(&c, 0, FE_MEM_SIZE, 0), -ENOENT);
    assert_int_equal(vfuc_dma_unmap(&c, 0, 0, 1), -EINVAL);

    vfuc_close(&c);
    stop();
}

/* The guest's IOVA mapping of the endpoint's domain is what the device
 * reaches: its DMA lands exactly in the guest RAM behind it, faults once
 * unmapped, and reaches nothing once its client is gone. */
static void test_dma_path(void **state)
{
    struct vfuc c;
    const uint64_t iova = 0x10000000, gpa = 0x80000, gpa2 = 0x90000;
    uint8_t pattern[256];

    (void)state;
    start(NULL);
    connect_client(&c, dev_path);
    for (unsigned i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)(i * 7 + 3);
    }
    memcpy(fe_ptr(&the_fe, gpa), pattern, sizeof(pattern));

    /* Not attached: the device reaches nothing. */
    assert_false(edu_dma(&c, gpa, EDU_BUF, 64, false, false));

    assert_int_equal(vdrv_attach(&drv, 1, EP, 0), OK);
    assert_int_equal(vdrv_map(&drv, 1, iova, iova + 0xffff, gpa, RW), OK);
    /* RAM -> device from the IOVA, then device -> RAM further in. */
    assert_true(edu_dma(&c, iova, EDU_BUF, sizeof(pattern), false, false));
    assert_true(
        edu_dma(&c, EDU_BUF, iova + 0x8000, sizeof(pattern), true, false));
    assert_memory_equal(fe_ptr(&the_fe, gpa + 0x8000), pattern,
                        sizeof(pattern));
    /* Exactly there: the byte after is untouched. */
    assert_int_equal(
        *(uint8_t *)fe_ptr(&the_fe, gpa + 0x8000 + sizeof(pattern)), 0);
    /* Guest-physical RAM at an IOVA not mapped: fault, nothing written. */
    assert_false(edu_dma(&c, EDU_BUF, gpa2, 16, true, false));
    assert_int_equal(*(uint8_t *)fe_ptr(&the_fe, gpa2), 0);

    /* A guest-physical range that is not guest RAM maps nothing: the
     * device's DMA there faults and no byte of guest RAM changes. */
    assert_int_equal(vdrv_map(&drv, 1, 0x20000000, 0x20000fff, 1ull << 40, RW),
                     OK);
    static uint8_t before[FE_MEM_SIZE];
    memcpy(before, the_fe.mem, FE_MEM_SIZE);
    assert_false(edu_dma(&c, EDU_BUF, 0x20000000, 16, true, false));
    assert_memory_equal(the_fe.mem, before, FE_MEM_SIZE);
    assert_int_equal(vdrv_unmap(&drv, 1, 0x20000000, 0x20000fff), OK);

    assert_int_equal(vdrv_unmap(&drv, 1, iova, iova + 0xffff), OK);
    memset(fe_ptr(&the_fe, gpa + 0x8000), 0, sizeof(pattern));
    assert_false(edu_dma(&c, EDU_BUF, iova + 0x8000, 16, true, false));
    assert_int_equal(*(uint8_t *)fe_ptr(&the_fe, gpa + 0x8000), 0);

    /* Mapped again, then the client goes: the endpoint is removed, its
     * domain with it; the guest's next MAP finds no domain. */
    assert_int_equal(vdrv_map(&drv, 1, iova, iova + 0xffff, gpa, RW), OK);
    struct fe_control fc;
    fe_control_open(&fc, ctl_path);
    vfuc_close(&c);
    const char *r = fe_control_read(&fc);
    assert_non_null(r);
    assert_non_null(strstr(r, "ENDPOINT_REMOVED"));
    r = ctl(&fc, "{\"execute\": \"query-endpoints\"}");
    assert_string_equal(r, "{\"return\":[]}");
    assert_int_equal(vdrv_map(&drv, 1, iova, iova + 0xffff, gpa, RW),
                     VIRTIO_IOMMU_S_NOENT);
    close(fc.fd);

    /* A new client: the device is open and declared again, empty. */
    connect_client(&c, dev_path);
    assert_int_equal(reg_read(&c, 0x98), 0);
    assert_false(edu_dma(&c, iova, EDU_BUF, 16, false, false));
    assert_int_equal(vdrv_attach(&drv, 2, EP, 0), OK);
    assert_int_equal(vdrv_map(&drv, 2, iova, iova + 0xffff, gpa, RW), OK);
    assert_true(edu_dma(&c, iova, EDU_BUF, sizeof(pattern), false, false));

    /* A bypass domain: all guest RAM at IOVA = guest-physical, from the
     * DMA windows the client gave; nothing beyond it. */
    assert_int_equal(vdrv_attach(&drv, 4, EP, VIRTIO_IOMMU_ATTACH_F_BYPASS),
                     OK);
    memset(fe_ptr(&the_fe, gpa2), 0, sizeof(pattern));
    assert_true(edu_dma(&c, EDU_BUF, gpa2, sizeof(pattern), true, false));
    assert_memory_equal(fe_ptr(&the_fe, gpa2), pattern, sizeof(pattern));
    assert_false(edu_dma(&c, EDU_BUF, FE_MEM_SIZE, 16, true, false));
    vfuc_close(&c);
    stop();
}

/* Guest RAM comes from the vhost-user memory table and from the client's
 * DMA windows, each alone or both. */
static void test_ram_sources(void **state)
{
    struct vfuc c;
    const uint64_t high = 1ull << 30; /* a window only the client gives */

    (void)state;
    start(NULL);
    /* Only the memory table: a client that gives no window. */
    assert_true(vfuc_connect(&c, dev_path));
    assert_int_equal(vfuc_version(&c), 0);
    assert_int_equal(vdrv_attach(&drv, 1, EP, 0), OK);
    assert_int_equal(vdrv_map(&drv, 1, 0x1000, 0x1fff, 0x5000, RW), OK);
    /* Not RAM yet: mapped to nothing, the DMA there faults. */
    assert_int_equal(vdrv_map(&drv, 1, 0x2000, 0x2fff, high, RW), OK);
    assert_false(edu_dma(&c, EDU_BUF, 0x2000, 1, true, false));
    assert_int_equal(vdrv_unmap(&drv, 1, 0x2000, 0x2fff), OK);
    *(uint8_t *)fe_ptr(&the_fe, 0x5000) = 0x77;
    assert_true(edu_dma(&c, 0x1000, EDU_BUF, 1, false, false));
    assert_true(edu_dma(&c, EDU_BUF, 0x1001, 1, true, false));
    assert_int_equal(*(uint8_t *)fe_ptr(&the_fe, 0x5001), 0x77);

    /* Only a window: RAM at 1 GiB from another memfd. */
    int memfd = memfd_create("high-ram", MFD_CLOEXEC);
    assert_true(memfd >= 0);
    assert_int_equal(ftruncate(memfd, 1 << 20), 0);
    uint8_t *mem =
        mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(vfuc_dma_map(&c, high, 1 << 20, memfd, 0, 3), 0);
    assert_int_equal(vdrv_map(&drv, 1, 0x2000, 0x2fff, high + 0x3000, RW), OK);
    assert_true(edu_dma(&c, EDU_BUF, 0x2010, 1, true, false));
    assert_int_equal(mem[0x3010], 0x77);
    /* The window goes: what the guest maps there next reaches nothing. */
    assert_int_equal(vdrv_unmap(&drv, 1, 0x2000, 0x2fff), OK);
    assert_int_equal(vfuc_dma_unmap(&c, high, 1 << 20, 0), 0);
    assert_int_equal(vdrv_map(&drv, 1, 0x2000, 0x2fff, high + 0x3000, RW), OK);
    mem[0x3010] = 0;
    assert_false(edu_dma(&c, EDU_BUF, 0x2010, 1, true, false));
    assert_int_equal(mem[0x3010], 0);
    munmap(mem, 1 << 20);
    close(memfd);
    vfuc_close(&c);
    stop();
}

/* The removal event comes once the device's host state is released, from
 * a client leaving and from device-remove; device-add serves a device at
 * run time. */
static void test_lifecycle_and_control(void **state)
{
    struct vfuc c;
    struct fe_control fc;
    char cmd[512], path2[200];
    const char *r;

    (void)state;
    start(NULL);
    fe_control_open(&fc, ctl_path);
    connect_client(&c, dev_path);
    assert_int_equal(vdrv_attach(&drv, 1, EP, 0), OK);
    vfuc_close(&c);
    const char *ev = fe_control_read(&fc);
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"ENDPOINT_REMOVED\""));
    assert_non_null(strstr(ev, "\"id\":32"));
    assert_non_null(strstr(ev, "\"host-error\":0"));

    /* endpoint-remove of a served device's endpoint is refused (its
     * ENDPOINT_REMOVED must wait for the device to be closed): nothing
     * changes, the client's DMA still reaches the mapping. */
    connect_client(&c, dev_path);
    assert_int_equal(vdrv_attach(&drv, 1, EP, 0), OK);
    assert_int_equal(vdrv_map(&drv, 1, 0x1000, 0x1fff, 0x3000, RW), OK);
    unsigned seen = fc.events;
    r = ctl(&fc, "{\"execute\": \"endpoint-remove\", \"arguments\": "
                 "{\"id\": 32}}");
    assert_non_null(strstr(r, "device-remove releases it"));
    assert_int_equal(fc.events, seen);
    assert_true(edu_dma(&c, 0x1000, EDU_BUF, 1, false, false));
    vfuc_close(&c);
    ev = fe_control_read(&fc);
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"id\":32"));

    /* device-add and its errors. */
    snprintf(path2, sizeof(path2), "%s2", dev_path);
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s\", \"host\": \"0000:00:05.0\", \"endpoint\": %d}}",
             path2, EP2);
    r = ctl(&fc, cmd);
    assert_non_null(r);
    assert_string_equal(r, "{\"return\":{}}");
    r = ctl(&fc, cmd);
    assert_non_null(strstr(r, "in use"));
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s3\", \"host\": \"0000:ff:00.0\", \"endpoint\": 48}}",
             dev_path);
    r = ctl(&fc, cmd);
    assert_non_null(strstr(r, "DeviceNotFound"));
    /* A socket something listens on, or a path that is no socket, is
     * never replaced. */
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s\", \"host\": \"0000:00:06.0\", \"endpoint\": 56}}",
             ctl_path);
    r = ctl(&fc, cmd);
    assert_non_null(strstr(r, "in use"));
    char file[200];
    snprintf(file, sizeof(file), "%s.file", dev_path);
    FILE *keep = fopen(file, "w");
    assert_non_null(keep);
    fclose(keep);
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s\", \"host\": \"0000:00:06.0\", \"endpoint\": 56}}",
             file);
    r = ctl(&fc, cmd);
    assert_non_null(strstr(r, "in use"));
    assert_int_equal(access(file, F_OK), 0);
    unlink(file);
    r = ctl(&fc, "{\"execute\": \"device-add\", \"arguments\": "
                 "{\"socket\": 5}}");
    assert_non_null(strstr(r, "GenericError"));
    r = ctl(&fc, "{\"execute\": \"device-remove\", \"arguments\": "
                 "{\"endpoint\": 7}}");
    assert_non_null(strstr(r, "DeviceNotFound"));

    /* The added device works, with its own endpoint. */
    connect_client(&c, path2);
    assert_int_equal(vdrv_attach(&drv, 3, EP2, 0), OK);
    assert_int_equal(vdrv_map(&drv, 3, 0x1000, 0x1fff, 0x3000, RW), OK);
    *(uint8_t *)fe_ptr(&the_fe, 0x3000) = 0x5a;
    assert_true(edu_dma(&c, 0x1000, EDU_BUF, 1, false, false));
    assert_true(edu_dma(&c, EDU_BUF, 0x1001, 1, true, false));
    assert_int_equal(*(uint8_t *)fe_ptr(&the_fe, 0x3001), 0x5a);

    /* device-remove with the client connected: hung up, endpoint gone,
     * event before the reply. */
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-remove\", \"arguments\": "
             "{\"endpoint\": %d}}",
             EP2);
    unsigned before = fc.events;
    r = ctl(&fc, cmd);
    assert_string_equal(r, "{\"return\":{}}");
    assert_int_equal(fc.events, before + 1);
    assert_non_null(strstr(fc.last_event, "\"id\":40"));
    assert_true(vfuc_hung_up(&c, 2000));
    vfuc_close(&c);
    assert_int_equal(access(path2, F_OK), -1);
    assert_int_equal(vdrv_map(&drv, 3, 0x1000, 0x1fff, 0x3000, RW),
                     VIRTIO_IOMMU_S_NOENT);
    close(fc.fd);
    stop();
}

/* endpoint-replug of a served device's endpoint, while it has no client,
 * is refused although a declared range holds it (the endpoint was taken
 * out of its range for the device): the endpoint is declared when a
 * client comes, and a plain endpoint there refused every client. */
static void test_replug_of_served_endpoint_refused(void **state)
{
    struct vfuc c;
    struct fe_control fc;
    char cmd[512], path2[200];

    (void)state;
    start("--endpoint=0x28-0x2f");
    fe_control_open(&fc, ctl_path);
    const char *r = ctl(&fc, "{\"execute\": \"endpoint-remove\", "
                             "\"arguments\": {\"id\": 40}}");
    assert_string_equal(r, "{\"return\":{}}");
    snprintf(path2, sizeof(path2), "%s2", dev_path);
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s\", \"host\": \"0000:00:05.0\", \"endpoint\": %d}}",
             path2, EP2);
    r = ctl(&fc, cmd);
    assert_string_equal(r, "{\"return\":{}}");
    r = ctl(&fc, "{\"execute\": \"endpoint-replug\", \"arguments\": "
                 "{\"id\": 40}}");
    assert_non_null(strstr(r, "vfio-user device"));
    connect_client(&c, path2);
    assert_int_equal(vdrv_attach(&drv, 1, EP2, 0), OK);
    assert_int_equal(vdrv_map(&drv, 1, 0x1000, 0x1fff, 0x3000, RW), OK);
    assert_true(edu_dma(&c, 0x1000, EDU_BUF, 1, false, false));
    vfuc_close(&c);
    close(fc.fd);
    stop();
}

/* A message that cannot be framed or breaks the protocol ends only its
 * own connection; a wrong one gets an error reply; the next client is
 * served. */
static void test_hostile_clients(void **state)
{
    struct vfuc c, c2;
    uint8_t junk[64];
    int fds[12];

    (void)state;
    start(NULL);
    for (int i = 0; i < 12; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
    }

    /* A command before VERSION. */
    assert_true(vfuc_connect(&c, dev_path));
    struct vfio_device_info in = {.argsz = 16};
    assert_true(
        vfuc_send(&c, VFIO_USER_DEVICE_GET_INFO, 0, 0, &in, 16, NULL, 0));
    assert_true(vfuc_hung_up(&c, 2000));
    vfuc_close(&c);
    /* The fds of a daemon whose device no client holds (a request's round
     * trip: the client's departure is over). */
    assert_int_equal(vdrv_attach(&drv, 9, EP, 0), VIRTIO_IOMMU_S_NOENT);
    int base = fe_daemon_fds(&the_fe);

    /* A wrong major version: an error reply, then a hang-up. */
    assert_true(vfuc_connect(&c, dev_path));
    uint16_t v[2] = {1, 0};
    assert_int_equal(vfuc_call(&c, VFIO_USER_VERSION, v, 4, NULL, 0), -ENOTSUP);
    assert_true(vfuc_hung_up(&c, 2000));
    vfuc_close(&c);

    /* Garbage headers: a size below the header, a reply instead of a
     * command, random bytes. */
    const struct vfio_user_hdr bad[] = {
        {.id = 1, .cmd = VFIO_USER_VERSION, .size = 8},
        {.id = 1,
         .cmd = VFIO_USER_VERSION,
         .size = 20,
         .flags = VFIO_USER_TYPE_REPLY},
        {.id = 1, .cmd = VFIO_USER_VERSION, .size = 0xffffffff},
        {.id = 1, .cmd = VFIO_USER_VERSION, .size = 16 + 16 + (1 << 20) + 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(vfuc_connect(&c, dev_path));
        assert_true(vfuc_send_raw(&c, &bad[i], sizeof(bad[i]), NULL, 0));
        assert_true(vfuc_hung_up(&c, 2000));
        vfuc_close(&c);
    }
    assert_true(vfuc_connect(&c, dev_path));
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(0x9d * i + 0x41);
    }
    vfuc_send_raw(&c, junk, sizeof(junk), NULL, 0);
    assert_true(vfuc_hung_up(&c, 2000));
    vfuc_close(&c);

    /* Too many fds on one message. */
    assert_true(vfuc_connect(&c, dev_path));
    assert_int_equal(vfuc_version(&c), 0);
    struct vfio_irq_set set = {
        .argsz = sizeof(set),
        .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = VFIO_PCI_MSI_IRQ_INDEX,
        .count = 12,
    };
    assert_true(vfuc_send(&c, VFIO_USER_DEVICE_SET_IRQS, 0, 0, &set,
                          sizeof(set), fds, 12));
    assert_true(vfuc_hung_up(&c, 2000));
    vfuc_close(&c);

    /* Wrong fd counts and wrong shapes: error replies, session kept. */
    connect_client(&c, dev_path);
    set.count = 2;
    assert_int_equal(
        vfuc_call(&c, VFIO_USER_DEVICE_SET_IRQS, &set, sizeof(set), fds, 1),
        -EINVAL);
    set.count = 1;
    set.flags |= VFIO_IRQ_SET_DATA_BOOL;
    assert_int_equal(
        vfuc_call(&c, VFIO_USER_DEVICE_SET_IRQS, &set, sizeof(set), fds, 1),
        -EINVAL);
    assert_int_equal(
        vfuc_set_irq_eventfds(&c, VFIO_PCI_MSI_IRQ_INDEX, UINT32_MAX, fds, 1),
        -EINVAL);
    assert_int_equal(vfuc_call(&c, VFIO_USER_DEVICE_RESET, NULL, 0, fds, 2),
                     -EINVAL);
    struct {
        uint32_t argsz, flags;
        uint64_t offset, addr, size;
    } m = {sizeof(m), 3, 0, 1ull << 36, 4096};
    assert_int_equal(vfuc_call(&c, VFIO_USER_DMA_MAP, &m, sizeof(m), fds, 2),
                     -EINVAL);
    m.flags = 0x80;
    assert_int_equal(vfuc_call(&c, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0),
                     -EINVAL);
    assert_int_equal(vfuc_call(&c, VFIO_USER_DMA_MAP, &m, 8, NULL, 0), -EINVAL);
    assert_int_equal(vfuc_call(&c, 99, NULL, 0, NULL, 0), -ENOSYS);
    assert_int_equal(vfuc_call(&c, VFIO_USER_VERSION, v, 4, NULL, 0), -EINVAL);
    /* Region accesses over max_data_xfer_size. */
    static uint8_t big[(1 << 20) + 8];
    struct {
        uint64_t offset;
        uint32_t region, count;
    } rd = {0, BAR0, (1 << 20) + 1};
    assert_int_equal(
        vfuc_call(&c, VFIO_USER_REGION_READ, &rd, sizeof(rd), NULL, 0),
        -EINVAL);
    assert_int_equal(vfuc_region_read(&c, BAR0, 0, big, 1 << 20), 0);
    assert_int_equal(vfuc_region_write(&c, BAR2_INDEX, 0, big, 8192),
                     -EINVAL); /* BAR2 is 4 KiB */
    assert_int_equal(vfuc_region_write(&c, BAR0, 0, big, 1 << 20), 0);
    /* A REGION_WRITE whose count disagrees with its size. */
    struct {
        uint64_t offset;
        uint32_t region, count;
        uint64_t data;
    } w = {0, BAR0, 16, 0};
    assert_int_equal(
        vfuc_call(&c, VFIO_USER_REGION_WRITE, &w, sizeof(w), NULL, 0), -EINVAL);
    /* No reply asked: none sent, the next reply is the next command's. */
    assert_true(vfuc_send(&c, VFIO_USER_DEVICE_RESET, VFIO_USER_NO_REPLY, 0,
                          NULL, 0, NULL, 0));
    struct vfio_device_info info;
    assert_int_equal(vfuc_device_info(&c, &info), 0);

    /* A second client is refused; the first goes on. */
    assert_true(vfuc_connect(&c2, dev_path));
    assert_true(vfuc_hung_up(&c2, 2000));
    vfuc_close(&c2);
    assert_int_equal(vfuc_device_info(&c, &info), 0);

    /* A client that stops in the middle of a message holds only itself:
     * the guest's requests are served meanwhile. */
    struct vfio_user_hdr h = {
        .id = 9, .cmd = VFIO_USER_REGION_WRITE, .size = 16 + 24};
    assert_true(vfuc_send_raw(&c, &h, sizeof(h), NULL, 0));
    assert_true(vfuc_send_raw(&c, junk, 5, NULL, 0));
    assert_int_equal(vdrv_attach(&drv, 1, EP, 0), OK);
    /* ...and disconnects there: the next client is served. */
    vfuc_close(&c);
    connect_client(&c, dev_path);
    assert_int_equal(vfuc_device_info(&c, &info), 0);

    /* A client that never reads its replies: the daemon stops reading it
     * and serves the others. */
    for (int i = 0; i < 64; i++) {
        rd.count = 65536;
        if (!vfuc_send(&c, VFIO_USER_REGION_READ, 0, 0, &rd, sizeof(rd), NULL,
                       0)) {
            break;
        }
    }
    assert_int_equal(vdrv_attach(&drv, 5, EP, 0), OK);
    vfuc_close(&c);

    /* A client that hangs up with messages unread: the next one, there at
     * once, is served, not refused as a second client. */
    connect_client(&c, dev_path);
    struct vfio_device_info ask = {.argsz = 16};
    for (int i = 0; i < 200; i++) {
        assert_true(vfuc_send(&c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_NO_REPLY,
                              0, &ask, 16, NULL, 0));
    }
    vfuc_close(&c);
    connect_client(&c, dev_path);
    assert_int_equal(vfuc_device_info(&c, &info), 0);
    vfuc_close(&c);

    /* Every fd a client sent, and every client, is gone with it. */
    for (int i = 0; i < 200 && fe_daemon_fds(&the_fe) != base; i++) {
        usleep(10000);
    }
    assert_int_equal(fe_daemon_fds(&the_fe), base);
    for (int i = 0; i < 12; i++) {
        close(fds[i]);
    }
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol),
        cmocka_unit_test(test_dma_path),
        cmocka_unit_test(test_ram_sources),
        cmocka_unit_test(test_lifecycle_and_control),
        cmocka_unit_test(test_replug_of_served_endpoint_refused),
        cmocka_unit_test(test_hostile_clients),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
