/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoint lifecycle scenarios, each a story told by a Linux guest (the
 * model in testing/linux.c) and a VMM with host IOMMU contexts. After
 * every step world_check() proves that each host context holds exactly the
 * union of the mappings of its endpoints' domains and that the guest's view
 * is the device's.
 */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define G 0x1000ull
#define PF 0x0100u /* 01:00.0 */
#define TOP_PAGE 0xfffff000ull

/*
 * a. The SR-IOV sequence from the field. The PF's driver uses DMA; a VF is
 * enabled, its driver maps a ring, and the VF is disabled. The PF's VFIO
 * user then opens a domain three times: the guest hands out the VF's freed
 * domain ID again each time, and every MAP must succeed.
 */
static void sriov_then_vfio(enum lnx_release release)
{
    struct world *w = world_new(release);
    struct hostsim *pf_host = &w->hosts[0], *vf_host = &w->hosts[1];
    struct viommu_sriov sriov = {.size = sizeof(struct viommu_sriov),
                                 .pf = PF,
                                 .vf_offset = 0x80,
                                 .vf_stride = 2,
                                 .num_vfs = 1};
    struct viommu_stats st = {.size = sizeof(st)};
    uint32_t vf;

    assert_int_equal(viommu_sriov_vf_id(&sriov, 0, &vf), 0);
    assert_int_equal(vf, 0x0180);

    /* Boot: the PF appears and its driver maps a buffer. */
    assert_int_equal(world_add(w, PF, pf_host, NULL), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, PF));
    int pf_dma = lnx_endpoint(&w->guest, PF)->default_domain;
    assert_int_equal(lnx_domain_id(&w->guest, pf_dma), 0);
    STEP(w, OK, lnx_map(&w->guest, pf_dma, 0x100000, G, 0x10000, RW));

    /* VF enable: the VMM declares it, the guest probes it and gives it a
     * DMA domain, the VF driver maps its ring at the top of its space. */
    assert_int_equal(world_add_vfs(w, &sriov, vf_host), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, vf));
    int vf_dma = lnx_endpoint(&w->guest, vf)->default_domain;
    uint32_t vf_domain_id = lnx_domain_id(&w->guest, vf_dma);
    assert_int_equal(vf_domain_id, 1);
    STEP(w, OK, lnx_map(&w->guest, vf_dma, TOP_PAGE, G, 0x20000, RW));
    assert_int_equal(vf_host->nr_maps, 1);

    /* VF disable: the guest releases the VF (old kernels send no DETACH)
     * and frees its domain; the VMM removes the VF. */
    assert_int_equal(lnx_endpoint_release(&w->guest, vf), OK);
    assert_int_equal(world_remove_vfs(w, &sriov), 1);
    assert_int_equal(w->nr_removed, 1);
    assert_int_equal(w->removed[0], vf);
    assert_int_equal(w->removed_err[0], 0);
    assert_int_equal(vf_host->nr_maps, 0);
    assert_false(hostsim_attached(vf_host, vf, NULL));
    assert_int_equal(world_domain_mappings(w, vf_domain_id), -1);

    /* The PF's VFIO user, three times. */
    for (int round = 0; round < 3; round++) {
        int dom;
        STEP(w, OK, lnx_vfio_open(&w->guest, PF, &dom));
        assert_int_equal(lnx_domain_id(&w->guest, dom), vf_domain_id);
        STEP(w, OK, lnx_map(&w->guest, dom, TOP_PAGE, G, 0x30000, RW));
        STEP(w, OK, lnx_map(&w->guest, dom, 0x200000, 16 * G, 0x40000, RW));
        /* The PF's context now holds the VFIO domain only. */
        assert_int_equal(pf_host->nr_maps, 2);
        assert_int_equal(world_domain_mappings(w, vf_domain_id), 2);
        STEP(w, OK, lnx_vfio_close(&w->guest, PF, dom));
        assert_int_equal(pf_host->nr_maps, 1);
        assert_int_equal(world_domain_mappings(w, vf_domain_id), -1);
    }
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_int_equal(st.endpoints, 1);
    assert_int_equal(st.domains, 1);
    assert_int_equal(st.mappings, 1);
    assert_int_equal(st.host_errors, 0);
    world_free(w);
}

static void test_a_sriov_old_kernel_release(void **state)
{
    (void)state;
    sriov_then_vfio(LNX_RELEASE_NO_DETACH);
}

static void test_a_sriov_new_kernel_release(void **state)
{
    (void)state;
    sriov_then_vfio(LNX_RELEASE_DETACH);
}

/* What scenario a prevents: had the VMM not removed the VF, the old
 * kernel's reused domain ID names the VF's stale domain. Its mapping is
 * replayed into the PF's context and the VFIO user's MAP fails (INVAL,
 * -EINVAL in the guest). */
static void test_a_without_removal_the_stale_domain_bites(void **state)
{
    struct world *w = world_new(LNX_RELEASE_NO_DETACH);
    struct hostsim *pf_host = &w->hosts[0];
    int dom;

    (void)state;
    assert_int_equal(world_add(w, PF, pf_host, NULL), 0);
    assert_int_equal(world_add(w, 0x180, &w->hosts[1], NULL), 0);
    assert_int_equal(lnx_endpoint_appear(&w->guest, PF), OK);
    assert_int_equal(lnx_endpoint_appear(&w->guest, 0x180), OK);
    int vf_dma = lnx_endpoint(&w->guest, 0x180)->default_domain;
    assert_int_equal(lnx_map(&w->guest, vf_dma, TOP_PAGE, G, 0x20000, RW), OK);
    assert_int_equal(lnx_endpoint_release(&w->guest, 0x180), OK);

    assert_int_equal(lnx_vfio_open(&w->guest, PF, &dom), OK);
    assert_int_equal(pf_host->nr_maps, 1); /* the VF's ring, replayed */
    assert_int_equal(pf_host->maps[0].gpa, 0x20000);
    assert_int_equal(lnx_map(&w->guest, dom, TOP_PAGE, G, 0x30000, RW),
                     VIRTIO_IOMMU_S_INVAL);
    world_free(w);
}

/*
 * b. An endpoint hot-added behind a host IOMMU with 39 address bits. Its
 * PROBE, sent before its first ATTACH, reports everything above 2^39 - 1 as
 * reserved, and the MSI window; a MAP there is refused.
 */
static void test_b_hotplug_39_bit_host(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h = &w->hosts[2];
    const uint32_t ep = 0x0200;
    const uint64_t top = (1ULL << 39) - 1;
    struct viommu_resv_region resv[8];
    uint8_t props[512];

    (void)state;
    hostsim_set_address_bits(h, 39);
    assert_int_equal(world_add(w, ep, h, NULL), 0);

    /* What the guest learns before its first ATTACH. */
    assert_int_equal(world_endpoint_domain(w, ep), -1);
    assert_int_equal(vdrv_probe(VDRV_LOCAL(w->v), ep, props, sizeof(props)),
                     OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), resv, 8), 2);
    assert_int_equal(resv[0].type, VIOMMU_RESV_MSI);
    assert_int_equal(resv[0].start, VIOMMU_MSI_X86_START);
    assert_int_equal(resv[0].end, VIOMMU_MSI_X86_END);
    assert_int_equal(resv[1].type, VIOMMU_RESV_RESERVED);
    assert_int_equal(resv[1].start, top + 1);
    assert_int_equal(resv[1].end, UINT64_MAX);

    STEP(w, OK, lnx_endpoint_appear(&w->guest, ep));
    const struct lnx_endpoint *gep = lnx_endpoint(&w->guest, ep);
    assert_int_equal(gep->nr_resv, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gep->resv[i].start, resv[i].start);
        assert_int_equal(gep->resv[i].end, resv[i].end);
        assert_int_equal(gep->resv[i].type, resv[i].type);
    }

    int dom = gep->default_domain;
    STEP(w, VIRTIO_IOMMU_S_RANGE,
         lnx_map(&w->guest, dom, top + 1, G, 0x10000, RW));
    STEP(w, VIRTIO_IOMMU_S_RANGE,
         lnx_map(&w->guest, dom, top + 1 - G, 2 * G, 0x10000, RW));
    STEP(w, VIRTIO_IOMMU_S_RANGE,
         lnx_map(&w->guest, dom, VIOMMU_MSI_X86_START, G, 0x10000, RW));
    STEP(w, OK, lnx_map(&w->guest, dom, top + 1 - G, G, 0x10000, RW));
    assert_int_equal(h->nr_maps, 1);
    assert_int_equal(h->maps[0].iova, top + 1 - G);
    world_free(w);
}

/* A host whose smallest page is larger than the device's granule would
 * refuse the guest's 4 KiB MAPs: the endpoint is refused at once. */
static void test_b_host_page_sizes_without_granule(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h = &w->hosts[2];
    struct viommu_stats st = {.size = sizeof(st)};

    (void)state;
    hostsim_set_address_bits(h, 48);
    h->geometry.page_size_mask = 1ULL << 16; /* 64 KiB pages only */
    assert_int_equal(world_add(w, 0x200, h, NULL), -EINVAL);
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_int_equal(st.endpoints, 0);
    assert_int_equal(st.host_contexts, 0);

    h->geometry.page_size_mask = (1ULL << 12) | (1ULL << 16);
    assert_int_equal(world_add(w, 0x200, h, NULL), 0);
    /* Smaller host pages than the granule are fine. */
    h->geometry.page_size_mask = 1ULL << 11;
    assert_int_equal(world_add(w, 0x201, h, NULL), 0);
    world_free(w);
}

/* A text account of the device and every host, to compare before and
 * after a refused request. */
static void snapshot(struct world *w, char *buf, size_t len)
{
    struct viommu_stats st = {.size = sizeof(st)};
    size_t used;

    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    used = (size_t)snprintf(buf, len, "eps %u doms %u maps %llu;", st.endpoints,
                            st.domains, (unsigned long long)st.mappings);
    for (size_t i = 0; i < w->nr_bindings && used < len; i++) {
        used += (size_t)snprintf(
            buf + used, len - used, " %u:%ld", w->bindings[i].endpoint,
            world_endpoint_domain(w, w->bindings[i].endpoint));
    }
    for (int i = 0; i < WORLD_MAX_HOSTS && used < len; i++) {
        char one[1024];
        hostsim_dump(&w->hosts[i], one, sizeof(one));
        used += (size_t)snprintf(buf + used, len - used, " | %s", one);
    }
}

/*
 * c. A second endpoint of the same host group, whose reserved region
 * overlaps the domain's existing mappings, is refused with UNSUPP wherever
 * it tries to go, and nothing changes.
 */
static void test_c_group_member_overlapping_mappings(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h = &w->hosts[3];
    const uint32_t a = 0x0300, b = 0x0301;
    struct viommu_resv_region b_resv =
        VIOMMU_RESV_REGION(0x8000000, 0x8ffffff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config group7 = {
        .size = sizeof(group7), .flags = VIOMMU_EP_GROUP, .group = 7};
    char before[8192], after[8192];

    (void)state;
    assert_int_equal(world_add(w, a, h, &group7), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, a));
    int dom = lnx_endpoint(&w->guest, a)->default_domain;
    STEP(w, OK, lnx_map(&w->guest, dom, 0x8000000, 4 * G, 0x10000, RW));
    STEP(w, OK, lnx_map(&w->guest, dom, 0x1000000, G, 0x20000, RW));

    struct viommu_endpoint_config b_cfg = group7;
    b_cfg.resv = &b_resv;
    b_cfg.nr_resv = 1;
    assert_int_equal(world_add(w, b, h, &b_cfg), 0);

    /* Both members PROBE the union of the group's regions. */
    struct viommu_resv_region resv[4];
    uint8_t props[512];
    assert_int_equal(vdrv_probe(VDRV_LOCAL(w->v), a, props, sizeof(props)), OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), resv, 4), 2);
    assert_int_equal(resv[0].start, b_resv.start);
    assert_int_equal(resv[0].end, b_resv.end);
    assert_int_equal(resv[1].type, VIOMMU_RESV_MSI);

    /* The guest puts b into a's group, hence a's domain: refused. */
    snapshot(w, before, sizeof(before));
    STEP(w, VIRTIO_IOMMU_S_UNSUPP, lnx_endpoint_appear_in(&w->guest, b, dom));
    snapshot(w, after, sizeof(after));
    assert_string_equal(before, after);

    /* Anywhere else would split the group: refused too. */
    int other;
    STEP(w, VIRTIO_IOMMU_S_UNSUPP, lnx_vfio_open(&w->guest, b, &other));
    snapshot(w, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(world_endpoint_domain(w, b), -1);
    assert_int_equal(h->nr_maps, 2);

    /* Once the overlapping mapping is gone, b may join a's domain. */
    STEP(w, OK, lnx_unmap(&w->guest, dom, 0x8000000, 4 * G));
    STEP(w, OK, lnx_attach(&w->guest, dom, b));
    assert_true(hostsim_attached(h, b, NULL));
    assert_int_equal(h->nr_maps, 1);
    world_free(w);
}

/* Members of one host group must share its host context and MSI region. */
static void test_c_group_members_must_agree(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct viommu_endpoint_config group7 = {
        .size = sizeof(group7), .flags = VIOMMU_EP_GROUP, .group = 7};
    struct viommu_resv_region msi =
        VIOMMU_RESV_REGION(0x8000000, 0x80fffff, VIOMMU_RESV_MSI);

    (void)state;
    assert_int_equal(world_add(w, 1, &w->hosts[0], &group7), 0);
    assert_int_equal(world_add(w, 2, &w->hosts[1], &group7), -EINVAL);
    assert_int_equal(world_add(w, 2, NULL, &group7), -EINVAL);
    struct viommu_endpoint_config other_msi = group7;
    other_msi.resv = &msi;
    other_msi.nr_resv = 1;
    assert_int_equal(world_add(w, 2, &w->hosts[0], &other_msi), -EINVAL);
    /* An alias groups endpoints as a group does. */
    struct viommu_endpoint_config alias = {
        .size = sizeof(alias), .flags = VIOMMU_EP_ALIAS, .alias = 0x500};
    assert_int_equal(world_add(w, 0x508, &w->hosts[2], &alias), 0);
    assert_int_equal(world_add(w, 0x510, &w->hosts[3], &alias), -EINVAL);
    assert_int_equal(world_add(w, 0x510, &w->hosts[2], &alias), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, 0x508));
    STEP(w, VIRTIO_IOMMU_S_UNSUPP, lnx_endpoint_appear(&w->guest, 0x510));
    world_free(w);
}

/*
 * d. An endpoint joining a populated domain has all the domain's mappings
 * in its host context before its ATTACH returns OK, although the guest
 * replays nothing to it; leaving takes them out. Endpoints sharing a
 * context are mapped once.
 */
static void test_d_join_populated_domain(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h1 = &w->hosts[4], *h2 = &w->hosts[5];
    const uint32_t e1 = 0x400, e2 = 0x408, e3 = 0x410;

    (void)state;
    assert_int_equal(world_add(w, e1, h1, NULL), 0);
    assert_int_equal(world_add(w, e2, h2, NULL), 0);
    assert_int_equal(world_add(w, e3, h1, NULL), 0); /* shares h1 */
    STEP(w, OK, lnx_endpoint_appear(&w->guest, e1));
    int d1 = lnx_endpoint(&w->guest, e1)->default_domain;
    for (uint64_t i = 0; i < 5; i++) {
        STEP(w, OK,
             lnx_map(&w->guest, d1, 0x100000 + i * 0x10000, G, i * G, RW));
    }
    assert_int_equal(h1->nr_maps, 5);

    STEP(w, OK, lnx_endpoint_appear(&w->guest, e2));
    int d2 = lnx_endpoint(&w->guest, e2)->default_domain;
    assert_int_equal(h2->nr_maps, 0);

    /* e2 joins d1: one ATTACH on the queue, five mappings on its host. */
    unsigned sent = w->guest.requests;
    STEP(w, OK, lnx_attach(&w->guest, d1, e2));
    assert_int_equal(w->guest.requests - sent, 1);
    assert_int_equal(h2->nr_maps, 5);

    /* e3 shares h1, which already holds d1: nothing is mapped twice. */
    unsigned h1_maps = h1->map_calls;
    STEP(w, OK, lnx_endpoint_appear_in(&w->guest, e3, d1));
    assert_int_equal(h1->map_calls, h1_maps);
    assert_true(hostsim_attached(h1, e3, NULL));

    /* A new mapping reaches each context once. */
    unsigned h2_maps = h2->map_calls;
    STEP(w, OK, lnx_map(&w->guest, d1, 0x900000, G, 0x90000, RW));
    assert_int_equal(h1->map_calls, h1_maps + 1);
    assert_int_equal(h2->map_calls, h2_maps + 1);

    /* e2 moves back to its own (empty) domain, then joins and detaches. */
    STEP(w, OK, lnx_attach(&w->guest, d2, e2));
    assert_int_equal(h2->nr_maps, 0);
    STEP(w, OK, lnx_attach(&w->guest, d1, e2));
    assert_int_equal(h2->nr_maps, 6);
    STEP(w, OK, lnx_endpoint_release(&w->guest, e2));
    assert_int_equal(h2->nr_maps, 0);
    assert_false(hostsim_attached(h2, e2, NULL));
    assert_int_equal(world_remove(w, e2), 0);

    /* h1 keeps d1 while e3 is in it; the last one out empties it. */
    STEP(w, OK, lnx_endpoint_release(&w->guest, e1));
    assert_int_equal(world_remove(w, e1), 0);
    assert_int_equal(h1->nr_maps, 6);
    STEP(w, OK, lnx_endpoint_release(&w->guest, e3));
    assert_int_equal(world_remove(w, e3), 0);
    assert_int_equal(h1->nr_maps, 0);
    assert_int_equal(h1->nr_attached, 0);
    world_free(w);
}

/* Identity default domains: ATTACH with BYPASS; the host is told. */
static void test_d_identity_domain_on_host(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h = &w->hosts[6];
    bool identity = false;

    (void)state;
    w->guest.def = LNX_DEFAULT_IDENTITY;
    assert_int_equal(world_add(w, 0x600, h, NULL), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, 0x600));
    assert_true(hostsim_attached(h, 0x600, &identity));
    assert_true(identity);
    int dom;
    STEP(w, OK, lnx_vfio_open(&w->guest, 0x600, &dom));
    assert_true(hostsim_attached(h, 0x600, &identity));
    assert_false(identity);
    STEP(w, OK, lnx_vfio_close(&w->guest, 0x600, dom));
    world_free(w);
}

/* A reset detaches everything, host contexts included. */
static void test_reset_releases_host_contexts(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct hostsim *h = &w->hosts[0];

    (void)state;
    assert_int_equal(world_add(w, 0x700, h, NULL), 0);
    STEP(w, OK, lnx_endpoint_appear(&w->guest, 0x700));
    int dom = lnx_endpoint(&w->guest, 0x700)->default_domain;
    STEP(w, OK, lnx_map(&w->guest, dom, 0x100000, G, 0, RW));
    assert_int_equal(viommu_reset(w->v, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(h->nr_maps, 0);
    assert_int_equal(h->nr_attached, 0);
    w->guest_view_checked = false; /* the guest driver is gone */
    world_check(w);
    world_free(w);
}

/* VF IDs follow the SR-IOV routing ID rules; VFs come and go together. */
static void test_sriov_ids_and_all_or_nothing(void **state)
{
    struct world *w = world_new(LNX_RELEASE_DETACH);
    struct viommu_sriov s = {.size = sizeof(struct viommu_sriov),
                             .pf = 0x10100,
                             .vf_offset = 0x10,
                             .vf_stride = 4,
                             .num_vfs = 3};
    uint32_t id;
    struct viommu_stats st = {.size = sizeof(st)};

    (void)state;
    assert_int_equal(viommu_sriov_vf_id(&s, 2, &id), 0);
    assert_int_equal(id, 0x10100 + 0x10 + 8);
    assert_int_equal(viommu_sriov_vf_id(&s, 3, &id), -EINVAL);
    struct viommu_sriov wide = {.size = sizeof(struct viommu_sriov),
                                .pf = 0xff00,
                                .vf_offset = 0xf0,
                                .vf_stride = 8,
                                .num_vfs = 3};
    assert_int_equal(viommu_sriov_vf_id(&wide, 1, &id), 0);
    assert_int_equal(viommu_sriov_vf_id(&wide, 2, &id), -ERANGE);

    /* The third VF's ID is taken: none is declared. */
    assert_int_equal(world_add(w, 0x10100 + 0x10 + 8, NULL, NULL), 0);
    assert_int_equal(world_add_vfs(w, &s, &w->hosts[0]), -EEXIST);
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_int_equal(st.endpoints, 1);
    assert_int_equal(st.host_contexts, 0);
    assert_int_equal(world_remove(w, 0x10100 + 0x10 + 8), 0);
    /* A template from a newer embedder: larger, with a zero tail. */
    struct {
        struct viommu_endpoint_config cfg;
        uint64_t newer_field;
    } newer = {{.size = sizeof(newer),
                .host_ops = &hostsim_ops,
                .host_ctx = &w->hosts[0]},
               0};
    assert_int_equal(viommu_sriov_add_vfs(w->v, &s, &newer.cfg), 0);
    for (uint16_t vf = 0; vf < s.num_vfs; vf++) {
        assert_int_equal(viommu_sriov_vf_id(&s, vf, &id), 0);
        w->bindings[w->nr_bindings++] =
            (struct hostsim_binding){id, &w->hosts[0]};
    }
    world_check(w);
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_int_equal(st.endpoints, 3);
    assert_int_equal(st.host_contexts, 1);
    /* A wider stride names IDs out of range: nothing is removed. */
    struct viommu_sriov bad = s;
    bad.vf_stride = 0x8000;
    assert_int_equal(viommu_sriov_remove_vfs(w->v, &bad), -ERANGE);
    assert_int_equal(world_remove_vfs(w, &s), 3);
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_int_equal(st.endpoints, 0);
    assert_int_equal(st.host_contexts, 0);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_sriov_old_kernel_release),
        cmocka_unit_test(test_a_sriov_new_kernel_release),
        cmocka_unit_test(test_a_without_removal_the_stale_domain_bites),
        cmocka_unit_test(test_b_hotplug_39_bit_host),
        cmocka_unit_test(test_b_host_page_sizes_without_granule),
        cmocka_unit_test(test_c_group_member_overlapping_mappings),
        cmocka_unit_test(test_c_group_members_must_agree),
        cmocka_unit_test(test_d_join_populated_domain),
        cmocka_unit_test(test_d_identity_domain_on_host),
        cmocka_unit_test(test_reset_releases_host_contexts),
        cmocka_unit_test(test_sriov_ids_and_all_or_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
