/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommu-viot writes a VIOT table that a Linux guest accepts: it is read
 * back here the way drivers/acpi/viot.c reads it (checksum, node bounds,
 * output node of each PCI range is a virtio-pci IOMMU node, endpoint IDs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

/* Runs viommu-viot with args; returns its exit status. */
static int run(const char *args, const char *out)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "%s %s --output=%s 2>/dev/null",
             getenv("VIOMMU_VIOT"), args, out);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t slurp(const char *path, uint8_t *buf, size_t max)
{
    FILE *f = fopen(path, "rb");

    assert_non_null(f);
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

static void test_table_as_linux_reads_it(void **state)
{
    char path[] = "/tmp/viot-XXXXXX";
    uint8_t t[512];

    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(run("--iommu=00:03.0 --range=00:00.0-00:02.7 "
                         "--range=0001:05:00.0-0001:05:1f.7",
                         path),
                     0);
    size_t len = slurp(path, t, sizeof(t));
    unlink(path);

    assert_memory_equal(t, "VIOT", 4);
    assert_int_equal(get32(t + 4), len);
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        sum += t[i];
    }
    assert_int_equal(sum, 0);
    assert_int_equal(get16(t + 36), 3); /* node count */
    size_t off = get16(t + 38);
    assert_int_equal(off, 48);

    unsigned ranges = 0;
    for (unsigned n = 0; n < 3; n++) {
        assert_true(off + 4 <= len);
        uint16_t node_len = get16(t + off + 2);
        assert_true(node_len >= 4 && off + node_len <= len);
        const uint8_t *node = t + off;
        if (node[0] == 3) {
            assert_int_equal(node_len, 16);
            assert_int_equal(get16(node + 4), 0);          /* segment */
            assert_int_equal(get16(node + 6), 3 << 3 | 0); /* 00:03.0 */
        } else {
            assert_int_equal(node[0], 1);
            assert_int_equal(node_len, 24);
            const uint8_t *iommu = t + get16(node + 16);
            assert_int_equal(iommu[0], 3); /* output node */
            if (ranges++ == 0) {
                assert_int_equal(get32(node + 4), 0);
                assert_int_equal(get16(node + 12), 0x0000);
                assert_int_equal(get16(node + 14), 0x0017);
            } else {
                assert_int_equal(get32(node + 4), 0x10500);
                assert_int_equal(get16(node + 8), 1);
                assert_int_equal(get16(node + 10), 1);
                assert_int_equal(get16(node + 12), 0x0500);
                assert_int_equal(get16(node + 14), 0x05ff);
            }
        }
        off += node_len;
    }
    assert_int_equal(ranges, 2);
    assert_int_equal(off, len);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(run("--range=00:00.0-00:1f.7", "/dev/null"), 1);
    assert_int_equal(run("--iommu=00:03.0", "/dev/null"), 1);
    assert_int_equal(run("--iommu=00:20.0 --range=00:00.0", "/dev/null"), 1);
    assert_int_equal(
        run("--iommu=00:03.0 --range=00:05.0-00:01.0", "/dev/null"), 1);
    assert_int_equal(
        run("--iommu=00:03.0 --range=00:00.0-0001:00:01.0", "/dev/null"), 1);
    assert_int_equal(
        run("--iommu=00:03.0 --range=00:00.0", "/nonexistent/dir/viot"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_as_linux_reads_it),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
