/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A VMM links the installed static archive and has globals of its own with
 * the names of the library's internals (QEMU defines iov_size and friends).
 * This program defines them: it links only if the archive keeps its
 * internals to itself, and the device still works through it.
 */
#include <stdio.h>
#include <string.h>

#include <viommu/viommu.h>

size_t iov_size(const struct iovec *iov, unsigned int cnt);
size_t iov_memset(const struct iovec *iov, unsigned int cnt, size_t offset,
                  int fillc, size_t bytes);
size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t offset,
                  void *buf, size_t bytes);
size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t offset,
                    const void *buf, size_t bytes);
void vlog(const char *fmt, ...);

static int vmm_calls;

size_t iov_size(const struct iovec *iov, unsigned int cnt)
{
    vmm_calls++;
    return cnt > 0 ? iov->iov_len : 0;
}

size_t iov_memset(const struct iovec *iov, unsigned int cnt, size_t offset,
                  int fillc, size_t bytes)
{
    (void)iov, (void)cnt, (void)offset, (void)fillc;
    vmm_calls++;
    return bytes;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t offset,
                  void *buf, size_t bytes)
{
    (void)iov, (void)cnt, (void)offset, (void)buf;
    vmm_calls++;
    return bytes;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t offset,
                    const void *buf, size_t bytes)
{
    (void)iov, (void)cnt, (void)offset, (void)buf;
    vmm_calls++;
    return bytes;
}

void vlog(const char *fmt, ...)
{
    (void)fmt;
    vmm_calls++;
}

int main(void)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 8};
    /* ATTACH domain 1, endpoint 8, as little-endian bytes. */
    uint8_t req[20] = {1, 0, 0, 0, 1, 0, 0, 0, 8};
    uint8_t tail[4] = {0xff, 0xff, 0xff, 0xff};
    struct iovec r = {req, sizeof(req)}, w = {tail, sizeof(tail)};
    uint32_t used = 0, domain = 0;

    struct viommu *v = viommu_new(&cfg);
    if (v == NULL || viommu_endpoint_add(v, &ep) != 0 ||
        viommu_handle_request(v, &r, 1, &w, 1, &used) != 0 || used != 4 ||
        tail[0] != 0 || viommu_endpoint_domain(v, 8, &domain, NULL) != 0 ||
        domain != 1) {
        fprintf(stderr, "the device does not work through the archive\n");
        return 1;
    }
    viommu_free(v);
    if (vmm_calls != 0) {
        fprintf(stderr, "the library called the program's iov_* or vlog\n");
        return 1;
    }
    printf("static link with the VMM's own iov_* and vlog: OK\n");
    return 0;
}
