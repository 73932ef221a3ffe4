/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An embedder's view: only <viommu/viommu.h>, linked against the shared
 * library. The API works end to end and nothing but viommu_* is exported.
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <viommu/viommu.h>

static void test_attach_through_shared_library(void **state)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 8};
    /* ATTACH domain 1, endpoint 8, as little-endian bytes. */
    uint8_t req[20] = {1, 0, 0, 0, 1, 0, 0, 0, 8};
    uint8_t tail[4] = {0xff, 0xff, 0xff, 0xff};
    struct iovec in = {req, sizeof(req)}, out = {tail, sizeof(tail)};
    uint32_t used = 0, domain = 0;

    struct viommu *v = viommu_new(&cfg);
    assert_non_null(v);
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(viommu_handle_request(v, &in, 1, &out, 1, &used), 0);
    assert_int_equal(used, 4);
    assert_int_equal(tail[0], 0); /* VIRTIO_IOMMU_S_OK */
    assert_int_equal(viommu_endpoint_domain(v, 8, &domain, NULL), 0);
    assert_int_equal(domain, 1);
    viommu_free(v);
}

static void test_internals_are_hidden(void **state)
{
    void *self = dlopen(NULL, RTLD_NOW);

    assert_non_null(self);
    assert_non_null(dlsym(self, "viommu_new"));
    assert_null(dlsym(self, "mapstore_insert"));
    assert_null(dlsym(self, "wire_decode_request"));
    assert_null(dlsym(self, "req_attach"));
    dlclose(self);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attach_through_shared_library),
        cmocka_unit_test(test_internals_are_hidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
