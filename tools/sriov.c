/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sriov: VFs created and removed through the PF's sriov_numvfs, and their
 * MSI-X vector counts set the only way the kernel allows while an OS may
 * run: through each VF's sriov_vf_msix_count, which the PF's driver
 * implements (its sriov_vf_total_msix is the budget), while the VF has no
 * driver. So new VFs are created with sriov_drivers_autoprobe off: no
 * driver takes one before its count is set.
 */
#include "sriov.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "holders.h"
#include "hostview.h"
#include "state.h"
#include "tool.h"
#include "undo.h"
#include "vf.h"

static uint32_t count_of(const struct sriov_args *a, unsigned vf)
{
    return a->msix[a->nr_msix == 1 ? 0 : vf];
}

/* Writes value to the PF's attribute, with the undo writing `old`. */
static int change(struct tool *t, const char *bdf, const char *attr,
                  const char *value, const char *old)
{
    struct undo u = {.kind = UNDO_WRITE};

    dev_path(t, u.path, sizeof(u.path), bdf, attr);
    snprintf(u.value, sizeof(u.value), "%s", old);
    if (!reserve_undo(t)) {
        return -ENOMEM;
    }
    int err = attr_write(t, u.path, value);
    if (err == 0) {
        push_undo(t, &u);
        step(t, "%s: %s %s (was %s)", bdf, attr, value, old);
    }
    return err;
}

/* Waits until the PF shows exactly `nr` VFs (virtfn links). */
static int wait_vfs(struct tool *t, const char *pf, unsigned nr)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    char vf[HOSTSYS_PCI_NAME_LEN];
    unsigned have = 0;

    for (;;) {
        for (have = 0; vf_name(t, pf, have, vf) == 0 && dev_exists(t, vf);) {
            have++;
        }
        if (have == nr || now_ms() >= deadline) {
            break;
        }
        sleep_ms(10);
    }
    if (have != nr) {
        return set_why(t, -ETIMEDOUT, "%s shows %u VFs, not %u", pf, have, nr);
    }
    return 0;
}

/* Why a VF's MSI-X count cannot be changed now; NULL when it can. */
static const char *busy(struct tool *t, const char *vf, char *why, size_t len)
{
    char driver[DRIVER_NAME_MAX];
    const struct entry *e = state_find(t, vf);

    if (e != NULL) {
        snprintf(why, len,
                 "VF %s is assigned%s: release it first (after the VMM "
                 "unplugged it), then set its count",
                 vf, e->endpoint >= 0 ? " to a VM" : "");
        return why;
    }
    dev_driver(t, vf, driver, sizeof(driver));
    if (driver[0] != '\0') {
        snprintf(why, len,
                 "VF %s has a driver (%s), which sized its interrupts when it "
                 "bound: the count is set before any driver binds. Unbind it "
                 "first, or remove and create the VFs again with viommuctl "
                 "sriov (which keeps drivers off new VFs)",
                 vf, driver);
        return why;
    }
    return NULL;
}

/* Sets a VF's count; the undo writes `old` back (0: the device's
 * default). Waits for the VF's MSI-X table to show it. */
static int set_count(struct tool *t, const char *vf, uint32_t count,
                     unsigned old)
{
    char value[16], before[16];
    int64_t deadline = now_ms() + t->timeout_ms;
    unsigned now = 0;

    snprintf(value, sizeof(value), "%u", count);
    snprintf(before, sizeof(before), "%u", old);
    int err = change(t, vf, "sriov_vf_msix_count", value, before);
    while (err == 0 && (err = msix_table_size(t, vf, &now)) == 0 &&
           now != count) {
        if (now_ms() >= deadline) {
            return set_why(t, -EIO,
                           "%s: MSI-X table size %u after writing %u to "
                           "sriov_vf_msix_count",
                           vf, now, count);
        }
        sleep_ms(10);
    }
    return err;
}

/* The VFs as they are now, into the result. */
static void list_vfs(struct tool *t, const char *pf, unsigned nr)
{
    struct json_object *list = json_object_new_array();

    for (unsigned i = 0; i < nr; i++) {
        char vf[HOSTSYS_PCI_NAME_LEN], driver[DRIVER_NAME_MAX];
        unsigned size;
        if (vf_name(t, pf, i, vf) != 0) {
            continue;
        }
        dev_driver(t, vf, driver, sizeof(driver));
        bool msix = msix_table_size(t, vf, &size) == 0;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "device", json_object_new_string(vf));
        json_object_object_add(o, "driver", string_or_null(driver));
        json_object_object_add(o, "msix",
                               msix ? json_object_new_int(size) : NULL);
        json_object_array_add(list, o);
        if (!t->json) {
            printf("  VF %u: %s, %s", i, vf, driver[0] ? driver : "no driver");
            if (msix) {
                printf(", %u MSI-X vectors", size);
            }
            printf("\n");
        }
    }
    json_object_object_add(t->out, "vfs", list);
}

/* Refuses to remove VFs of which one is assigned or held. */
static int check_removable(struct tool *t, const char *pf, unsigned nr)
{
    char text[1024];

    for (unsigned i = 0; i < nr; i++) {
        struct member vf;
        if (vf_name(t, pf, i, vf.name) != 0) {
            continue;
        }
        const struct entry *e = state_find(t, vf.name);
        if (e != NULL) {
            char ep[48] = "";
            if (e->endpoint >= 0) {
                snprintf(ep, sizeof(ep), " (endpoint 0x%04" PRIx64 ")",
                         e->endpoint);
            }
            return finish(t, EXIT_REFUSED,
                          "VF %s is assigned%s: have the VMM unplug it, "
                          "release it (viommuctl release %s), then remove "
                          "the VFs",
                          vf.name, ep, vf.name);
        }
        struct json_object *held =
            vfio_holders(t, dev_group(t, vf.name), &vf, 1);
        holders_text(held, text, sizeof(text));
        size_t n = json_object_array_length(held);
        json_object_put(held);
        if (n > 0) {
            return finish(t, EXIT_REFUSED,
                          "VF %s is in use through VFIO (%s): have the VMM "
                          "let go of it first",
                          vf.name, text);
        }
    }
    return -1;
}

int cmd_sriov(struct tool *t, const struct sriov_args *a)
{
    const char *pf = a->pf;
    uint64_t total, now, autoprobe, budget = 0;
    char driver[DRIVER_NAME_MAX], value[16], why[512];
    int ret;

    if (a->numvfs < 0 && a->nr_msix == 0) {
        return finish(t, EXIT_USAGE, "give --numvfs, --msix, or both");
    }
    if (!dev_exists(t, pf)) {
        return finish(t, EXIT_REFUSED, "no PCI device %s under %s/bus/pci", pf,
                      t->sysfs);
    }
    if (!dev_has(t, pf, "sriov_totalvfs")) {
        return finish(t, EXIT_REFUSED,
                      "%s is no SR-IOV physical function (it has no "
                      "sriov_totalvfs)",
                      pf);
    }
    if (state_lock(t) != 0) {
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    if (dev_read_uint(t, pf, "sriov_totalvfs", &total) != 0 ||
        dev_read_uint(t, pf, "sriov_numvfs", &now) != 0 ||
        dev_read_uint(t, pf, "sriov_drivers_autoprobe", &autoprobe) != 0) {
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    /* TotalVFs is a 16-bit field of the SR-IOV capability: larger
     * numbers are not a PF's, and every loop below is bounded by them. */
    if (total > 0xffff || now > total) {
        return finish(t, EXIT_REFUSED,
                      "%s says sriov_totalvfs %" PRIu64 " and sriov_numvfs "
                      "%" PRIu64 ": not an SR-IOV PF's numbers",
                      pf, total, now);
    }
    dev_driver(t, pf, driver, sizeof(driver));
    unsigned want = a->numvfs >= 0 ? (unsigned)a->numvfs : (unsigned)now;
    json_object_object_add(t->out, "pf", json_object_new_string(pf));
    json_object_object_add(t->out, "total-vfs", json_object_new_int64(total));
    json_object_object_add(t->out, "vfs-before", json_object_new_int64(now));

    if (want > total) {
        return finish(t, EXIT_REFUSED, "%s has at most %" PRIu64 " VFs", pf,
                      total);
    }
    if (now != 0 && want != 0 && want != now) {
        return finish(t, EXIT_REFUSED,
                      "%s has %" PRIu64 " VFs, and the kernel changes the "
                      "number only from 0: remove them first (--numvfs 0), "
                      "then create %u",
                      pf, now, want);
    }
    if (want > 0 && driver[0] == '\0') {
        return finish(t, EXIT_REFUSED,
                      "%s has no driver: VFs are created by the PF's driver "
                      "(its sriov_configure)",
                      pf);
    }
    if (a->nr_msix > 0) {
        if (want == 0) {
            return finish(t, EXIT_USAGE, "--msix needs VFs");
        }
        if (a->nr_msix > 1 && a->nr_msix != want) {
            return finish(t, EXIT_USAGE,
                          "--msix gives %u counts for %u VFs: give one for "
                          "all, or one per VF",
                          a->nr_msix, want);
        }
        if (!dev_has(t, pf, "sriov_vf_total_msix")) {
            return finish(t, EXIT_REFUSED,
                          "this kernel cannot set a VF's MSI-X vector count "
                          "(%s has no sriov_vf_total_msix: Linux 5.13 and "
                          "later have it); nothing changed",
                          pf);
        }
        if (dev_read_uint(t, pf, "sriov_vf_total_msix", &budget) != 0) {
            return finish(t, EXIT_REFUSED, "%s", t->why);
        }
        if (budget == 0) {
            return finish(t, EXIT_REFUSED,
                          "the driver of %s (%s) cannot set its VFs' MSI-X "
                          "vector counts (its sriov_vf_total_msix is 0): the "
                          "VFs keep the device's table size. Nothing "
                          "changed; create them without --msix",
                          pf, driver[0] ? driver : "none");
        }
        uint64_t sum = 0;
        for (unsigned i = 0; i < want; i++) {
            sum += count_of(a, i);
        }
        if (sum > budget) {
            return finish(t, EXIT_REFUSED,
                          "%" PRIu64 " MSI-X vectors asked for %u VFs, and "
                          "%s has %" PRIu64 " for all its VFs "
                          "(sriov_vf_total_msix)",
                          sum, want, pf, budget);
        }
        json_object_object_add(t->out, "msix-budget",
                               json_object_new_int64(budget));
    }

    if (want == now && a->nr_msix == 0) {
        list_vfs(t, pf, (unsigned)now);
        return finish(t, EXIT_DONE, "%s has %u VFs already", pf, want);
    }
    if (want == 0) {
        if ((ret = check_removable(t, pf, (unsigned)now)) >= 0) {
            return ret;
        }
        /* Nothing to undo: a failed write removes no VF. */
        if (dev_write(t, pf, "sriov_numvfs", "0") != 0) {
            return finish(t, EXIT_REFUSED, "%s", t->why);
        }
        step(t, "%s: sriov_numvfs 0 (was %" PRIu64 ")", pf, now);
        if (wait_vfs(t, pf, 0) != 0) {
            return finish(t, EXIT_TIMEOUT, "%s", t->why);
        }
        return finish(t, EXIT_DONE, "%s has no VFs now", pf);
    }
    if (want == now) {
        /* New counts for the VFs there are: each without a driver. Each
         * table size is read where it is needed (a PF may have thousands
         * of VFs). */
        for (unsigned i = 0; i < want; i++) {
            char vf[HOSTSYS_PCI_NAME_LEN];
            unsigned old;
            if (vf_name(t, pf, i, vf) != 0) {
                return finish(t, EXIT_REFUSED, "%s: no virtfn%u", pf, i);
            }
            if (busy(t, vf, why, sizeof(why)) != NULL) {
                return finish(t, EXIT_REFUSED, "%s", why);
            }
            if (!dev_has(t, vf, "sriov_vf_msix_count") ||
                msix_table_size(t, vf, &old) != 0) {
                return finish(t, EXIT_REFUSED,
                              "VF %s has no sriov_vf_msix_count or no MSI-X "
                              "capability",
                              vf);
            }
        }
        for (unsigned i = 0; i < want; i++) {
            char vf[HOSTSYS_PCI_NAME_LEN];
            unsigned old;
            if (vf_name(t, pf, i, vf) != 0 ||
                msix_table_size(t, vf, &old) != 0 ||
                set_count(t, vf, count_of(a, i), old) != 0) {
                return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
            }
        }
        commit_changes(t);
        list_vfs(t, pf, want);
        return finish(t, EXIT_DONE, "MSI-X vector counts of %s's %u VFs set",
                      pf, want);
    }

    /* New VFs: autoprobe off first, so that no driver takes one. */
    if (autoprobe != 0 &&
        change(t, pf, "sriov_drivers_autoprobe", "0", "1") != 0) {
        return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
    }
    snprintf(value, sizeof(value), "%u", want);
    if (change(t, pf, "sriov_numvfs", value, "0") != 0 ||
        wait_vfs(t, pf, want) != 0) {
        return finish(t, EXIT_ROLLED_BACK, "creating VFs: %s", t->why);
    }
    for (unsigned i = 0; i < want; i++) {
        char vf[HOSTSYS_PCI_NAME_LEN];
        if (vf_name(t, pf, i, vf) != 0) {
            return finish(t, EXIT_ROLLED_BACK, "%s: no virtfn%u", pf, i);
        }
        dev_driver(t, vf, driver, sizeof(driver));
        if (driver[0] != '\0') {
            return finish(t, EXIT_ROLLED_BACK,
                          "VF %s has a driver (%s) although "
                          "sriov_drivers_autoprobe is 0: something bound it "
                          "(a driver_override?)",
                          vf, driver);
        }
        if (a->nr_msix > 0 &&
            (!dev_has(t, vf, "sriov_vf_msix_count")
                 ? set_why(t, -ENOENT, "VF %s has no sriov_vf_msix_count", vf)
                 : set_count(t, vf, count_of(a, i), 0)) != 0) {
            return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
        }
    }
    /* Autoprobe back as it was: it acts when a VF is created or probed,
     * and these VFs have their counts now. */
    if (autoprobe != 0 &&
        change(t, pf, "sriov_drivers_autoprobe", "1", "0") != 0) {
        return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
    }
    commit_changes(t);
    list_vfs(t, pf, want);
    return finish(t, EXIT_DONE,
                  "%s has %u VFs, without drivers: assign them (viommuctl "
                  "assign), or bind host drivers (drivers_probe)",
                  pf, want);
}
