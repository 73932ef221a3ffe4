/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake Linux host for the tests of viommuctl: a sysfs tree as the kernel
 * lays it out (PCI devices and their drivers, IOMMU groups with reserved
 * regions, SR-IOV PFs and VFs), a /dev with VFIO group files, and a
 * "kernel" thread that reacts to what is written where the kernel reacts:
 * a driver's unbind, drivers_probe (driver_override first, autoprobe for
 * VFs, a group created at binding under virtio-iommu), sriov_numvfs (VFs
 * with their groups, MSI-X capability and files), sriov_vf_msix_count (the
 * VF's MSI-X table size). It reacts after the write (inotify), so the
 * program under test must wait for effects, as it must on a real host for
 * drivers that probe asynchronously.
 *
 * Faults: a file can refuse writes from the start or after its first
 * write (read-only, and immutable when run as root), and devices can
 * misbehave as the flags below say.
 */
#ifndef VIOMMU_TESTING_FAKESYS_H
#define VIOMMU_TESTING_FAKESYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_MAX_DEVICES 400
#define FS_MAX_WATCHES 1024
#define FS_MAX_LOCKED 32

/* Ways a device misbehaves. */
enum {
    FS_UNBIND_STUCK = 1 << 0,     /* its driver ignores unbind */
    FS_GROUP_ON_BIND = 1 << 1,    /* joins its group when bound (VIOT) */
    FS_VFIO_NO_GROUP = 1 << 2,    /* vfio-pci binds it without a group */
    FS_SRIOV_BROKEN = 1 << 3,     /* PF: sriov_numvfs creates nothing */
    FS_VF_AUTOPROBE = 1 << 4,     /* PF: its VFs get a driver regardless */
    FS_VF_NO_MSIX_FILE = 1 << 5,  /* PF: VFs without sriov_vf_msix_count */
    FS_VF_MSIX_IGNORED = 1 << 6,  /* PF: counts written change nothing */
    FS_VF_MSIX_READONLY = 1 << 7, /* PF: writing a count fails */
};

struct fs_device {
    char bdf[16];
    char native[32]; /* what drivers_probe binds without an override */
    int64_t group;   /* -1: none */
    unsigned flags;
    bool gone;
    /* SR-IOV, for a PF: */
    unsigned nr_vfs;
    char vf_driver[32];
    int pf; /* the PF of a VF; -1 */
};

struct fs_watch {
    int wd;
    int kind;
    int dev; /* device index, or -1 */
    char path[256];
    bool lock_after_write; /* becomes read-only once written */
};

struct fakesys {
    char root[64];  /* everything is under it */
    char sys[96];   /* ROOT/sys: --sysfs-root */
    char dev[96];   /* ROOT/dev: --dev-root */
    char state[96]; /* ROOT/state.json: --state-file */
    pthread_mutex_t lock;
    struct fs_device d[FS_MAX_DEVICES];
    unsigned nr;
    struct fs_watch w[FS_MAX_WATCHES];
    unsigned nr_watches;
    char locked[FS_MAX_LOCKED][256];
    unsigned nr_locked;
    int inotify, stop_fd;
    pthread_t kernel;
    unsigned settled; /* fs_settle() marks the kernel has seen */
};

/* A tree with the PCI bus, no device yet, and the kernel running. */
void fs_init(struct fakesys *f);
/* Stops the kernel and removes the tree. */
void fs_fini(struct fakesys *f);

/* A loaded driver (bus/pci/drivers/NAME); unloading one that a device
 * uses unbinds it first. */
void fs_load(struct fakesys *f, const char *driver);
void fs_unload(struct fakesys *f, const char *driver);

/* A PCI device of class `class`, in IOMMU group `group` (-1: none), bound
 * to `native` when that is loaded. Returns its index. */
int fs_add(struct fakesys *f, const char *bdf, uint32_t class,
           const char *native, int64_t group, unsigned flags);
/* A device of another bus (platform) in group `group`, with a driver. */
void fs_add_platform(struct fakesys *f, const char *name, int64_t group);
/* Makes device i an SR-IOV PF: VFs at offset 0x80, stride 2, bound to
 * vf_driver when they probe; total_msix < 0: no sriov_vf_total_msix. */
void fs_sriov(struct fakesys *f, int i, unsigned total_vfs,
              const char *vf_driver, int total_msix);
/* The group's reserved_regions file. */
void fs_regions(struct fakesys *f, int64_t group, const char *text);

/* Observations, from the tree as a tool reads it. */
const char *fs_driver(struct fakesys *f, const char *bdf); /* "" none */
const char *fs_attr(struct fakesys *f, const char *bdf, const char *attr);
int64_t fs_group(struct fakesys *f, const char *bdf);
unsigned fs_msix(struct fakesys *f, const char *bdf); /* table size */
bool fs_exists(struct fakesys *f, const char *path_in_root);
/* Waits until the kernel has reacted to every write so far. */
void fs_settle(struct fakesys *f);

/* Faults: path is relative to ROOT/sys. */
void fs_readonly(struct fakesys *f, const char *path);
void fs_readonly_after_write(struct fakesys *f, const char *path);
/* A file replaced by one holding `text` (a corrupt attribute). */
void fs_write(struct fakesys *f, const char *path, const char *text);

/* A process holding ROOT/dev/vfio/GROUP open, as a VMM does, for up to ms
 * milliseconds (it exits then); its pid. */
pid_t fs_hold(struct fakesys *f, int64_t group, int ms);
void fs_release_holder(pid_t pid);

#endif
