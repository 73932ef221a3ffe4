/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommu-daemon-demo: starts viommu-vhost-user and plays, through the real
 * vhost-user protocol and the control socket, a VMM and a Linux guest going
 * through the SR-IOV sequence from the field: a VF is enabled, used and
 * disabled (an old kernel sends no DETACH), then the PF's VFIO user reuses
 * the VF's domain ID three times. Every step is printed; the exit status is
 * 0 only if every answer is the expected one and nothing stale remains.
 *
 * Usage: viommu-daemon-demo [--old-kernel | --new-kernel]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_iommu.h>

#include "driver.h"
#include "frontend.h"
#include "linux.h"

#define OK VIRTIO_IOMMU_S_OK
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define PF 0x0100u /* 01:00.0 */
#define VF 0x0180u /* 01:10.0: VF offset 0x80 */
#define TOP_PAGE 0xfffff000ull

static int failures;

static void step(const char *what, uint8_t status, uint8_t expected)
{
    printf("  %-58s %s\n", what, vdrv_status_name(status));
    if (status != expected) {
        printf("  ^ expected %s\n", vdrv_status_name(expected));
        failures++;
    }
}

static void control(struct fe_control *c, const char *what, const char *cmd)
{
    const char *reply = fe_control_command(c, cmd);
    unsigned events = c->events;

    printf("  %-58s %s\n", what, reply != NULL ? reply : "(no reply)");
    if (reply == NULL || strstr(reply, "\"return\"") == NULL) {
        failures++;
    }
    if (events > 0) {
        printf("  %-58s %s\n", "  event", c->last_event);
        c->events = 0;
    }
}

int main(int argc, char **argv)
{
    enum lnx_release release = LNX_RELEASE_NO_DETACH;
    char dir[] = "/tmp/viommu-demo-XXXXXX", ctl_path[64], ctl_arg[96];
    struct vdrv_transport transport;
    struct fe_control ctl;
    struct fe f;
    struct lnx l;
    char what[128];
    int dom;

    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--old-kernel") != 0 &&
                     strcmp(argv[1], "--new-kernel") != 0)) {
        fprintf(stderr, "usage: %s [--old-kernel | --new-kernel]\n", argv[0]);
        return 2;
    }
    if (argc == 2 && strcmp(argv[1], "--new-kernel") == 0) {
        release = LNX_RELEASE_DETACH;
    }
    if (getenv("VIOMMU_VHOST_USER") == NULL) {
        setenv("VIOMMU_VHOST_USER", VIOMMU_VHOST_USER, 0);
    }
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(ctl_path, sizeof(ctl_path), "%s/ctl", dir);
    snprintf(ctl_arg, sizeof(ctl_arg), "--control-socket=%s", ctl_path);
    const char *args[] = {"--endpoint=0x0100", ctl_arg, NULL};

    printf("viommu-vhost-user started; the VMM connects over vhost-user "
           "(memfd guest RAM, split rings)\n");
    fe_start(&f, args);
    fe_setup(&f);
    fe_control_open(&ctl, ctl_path);
    fe_transport(&f, &transport);
    if (!lnx_init(&l, &(const struct vdrv){.transport = &transport}, release,
                  LNX_DEFAULT_DMA)) {
        printf("the guest driver refused the device\n");
        return 1;
    }
    printf("Linux guest (%s release) drives the device:\n",
           release == LNX_RELEASE_DETACH ? "v6.5+, DETACH on"
                                         : "pre-v6.5, no DETACH on");

    printf("boot: the PF appears\n");
    step("PROBE, then ATTACH to its DMA domain", lnx_endpoint_appear(&l, PF),
         OK);
    int pf_dma = lnx_endpoint(&l, PF)->default_domain;
    step("PF driver maps a buffer",
         lnx_map(&l, pf_dma, 0x100000, 0x1000, 0x10000, RW), OK);

    printf("VF enable\n");
    control(&ctl, "VMM declares the VF 01:10.0",
            "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 384}}");
    step("PROBE, then ATTACH the VF to a new DMA domain",
         lnx_endpoint_appear(&l, VF), OK);
    int vf_dma = lnx_endpoint(&l, VF)->default_domain;
    uint32_t vf_domain = lnx_domain_id(&l, vf_dma);
    snprintf(what, sizeof(what), "VF driver maps its ring at %#llx (domain %u)",
             TOP_PAGE, vf_domain);
    step(what, lnx_map(&l, vf_dma, TOP_PAGE, 0x1000, 0x20000, RW), OK);

    printf("VF disable\n");
    step(release == LNX_RELEASE_DETACH
             ? "guest releases the VF: DETACH"
             : "guest releases the VF: no DETACH, its domain ID is freed",
         lnx_endpoint_release(&l, VF), OK);
    control(&ctl, "VMM removes the VF (auto-detach, domain destroyed)",
            "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 384}}");

    for (int round = 1; round <= 3; round++) {
        printf("PF's VFIO user, round %d\n", round);
        step("open: new domain, PF moves there (ATTACH, no DETACH)",
             lnx_vfio_open(&l, PF, &dom), OK);
        snprintf(what, sizeof(what),
                 "domain ID %u (the VF's, reused); MAP %#llx",
                 dom >= 0 ? lnx_domain_id(&l, dom) : 0, TOP_PAGE);
        step(what,
             dom >= 0 ? lnx_map(&l, dom, TOP_PAGE, 0x1000, 0x30000, RW)
                      : VDRV_NO_REPLY,
             OK);
        step("close: UNMAP, PF back to its DMA domain",
             dom >= 0 ? lnx_vfio_close(&l, PF, dom) : VDRV_NO_REPLY, OK);
    }

    printf("what the device holds now\n");
    control(&ctl, "query-domains", "{\"execute\": \"query-domains\"}");
    const char *stats =
        fe_control_command(&ctl, "{\"execute\": \"query-stats\"}");
    printf("  %-58s %s\n", "query-stats", stats != NULL ? stats : "");
    if (stats == NULL || strstr(stats, "\"domains\":1,") == NULL ||
        strstr(stats, "\"mappings\":1,") == NULL) {
        printf("  ^ expected one domain with one mapping: the PF's\n");
        failures++;
    }

    close(ctl.fd);
    int status = fe_stop(&f);
    unlink(ctl_path);
    rmdir(dir);
    printf("daemon stopped (exit status %d)\n", status);
    if (status != 0) {
        failures++;
    }
    printf("%s\n",
           failures == 0 ? "every answer as expected" : "UNEXPECTED ANSWERS");
    return failures == 0 ? 0 : 1;
}
