/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libviommu: a virtio-iommu device (virtio device ID 23) for virtual machine
 * monitors.
 *
 * The library is the device core. It owns the guest-visible state (features,
 * config space, domains, endpoints, mappings, pending fault reports) and does
 * no I/O of its own: the embedder moves bytes between the guest's virtqueues
 * and the calls below, and serializes every call on one handle.
 *
 * The embedding contract
 *
 * - Errors. Functions return 0 or a negative errno for misuse of the API or a
 *   lack of host resources. Guest mistakes are never errors of the API: they
 *   become a virtio-iommu status in the reply written to the guest.
 * - NULL handle. Every function that takes a `struct viommu *` returns
 *   -EINVAL for NULL; the few that return a value instead of an errno
 *   (viommu_device_features, viommu_bypass, viommu_event_pending) return 0
 *   or false, and viommu_free(NULL) does nothing.
 * - Sizes. Every struct that crosses the API starts with `uint32_t size`,
 *   which the caller sets to sizeof() the struct as it knows it: inputs and
 *   ops tables are read up to that size (newer fields read as zero; an
 *   older library refuses with -EINVAL a larger struct whose unknown tail is
 *   not zero), and outputs are filled up to that size (a tail the library
 *   does not know is zeroed). A size smaller than the struct had in 0.2,
 *   or over 4096, is -EINVAL. The structs have no trailing padding, so
 *   each version has its own size.
 * - Copies. Nothing the caller passes is kept by pointer: configs, endpoint
 *   declarations with their regions and geometry, and ops tables are copied
 *   during the call. Only the opaque pointers (log_opaque, host_ctx, ...)
 *   are kept, as they are.
 * - Callbacks (log, endpoint_removed, invalidate, the host ops and the
 *   callbacks of the walks) run synchronously inside a library call. From a
 *   callback only the queries may be called: viommu_version,
 *   viommu_device_features, viommu_config_size, viommu_config_read,
 *   viommu_fault_size, viommu_event_pending, viommu_get_stats,
 *   viommu_endpoint_domain, viommu_domain_info, viommu_bypass and the
 *   walks. Any other call on the same handle returns -EBUSY and changes
 *   nothing (viommu_free does nothing).
 */
#ifndef VIOMMU_VIOMMU_H
#define VIOMMU_VIOMMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VIOMMU_BUILDING_LIB)
#define VIOMMU_API __attribute__((visibility("default")))
#else
#define VIOMMU_API
#endif
#define VIOMMU_MUST_CHECK __attribute__((warn_unused_result))

/* The version of this header. viommu_version() gives the library's. */
#define VIOMMU_VERSION_MAJOR 0
#define VIOMMU_VERSION_MINOR 3
#define VIOMMU_VERSION_PATCH 0
#define VIOMMU_VERSION_ENCODE(major, minor, patch)                             \
    (((major) << 16) | ((minor) << 8) | (patch))
#define VIOMMU_VERSION                                                         \
    VIOMMU_VERSION_ENCODE(VIOMMU_VERSION_MAJOR, VIOMMU_VERSION_MINOR,          \
                          VIOMMU_VERSION_PATCH)

/** The library's version, as VIOMMU_VERSION_ENCODE() makes it. */
VIOMMU_API uint32_t viommu_version(void);

/** Opaque device handle. */
struct viommu;

/** Log levels, most severe first. */
enum viommu_log_level {
    VIOMMU_LOG_ERR = 0,
    VIOMMU_LOG_WARN = 1,
    VIOMMU_LOG_INFO = 2,
    VIOMMU_LOG_DEBUG = 3,
};

/**
 * Where a log message comes from. Messages caused by what the guest sent are
 * rate limited by the library (at most 10 every 5 seconds) and carry
 * VIOMMU_LOG_SOURCE_GUEST so the embedder can route them to their own channel.
 */
enum viommu_log_source {
    VIOMMU_LOG_SOURCE_DEVICE = 0,
    VIOMMU_LOG_SOURCE_GUEST = 1,
};

/** Default x86 MSI doorbell window, reported as the RESV_MEM MSI region. */
#define VIOMMU_MSI_X86_START 0xfee00000ULL
#define VIOMMU_MSI_X86_END 0xfeefffffULL

/**
 * Device configuration given to viommu_new(). Zero-initialize it, set
 * `size = sizeof(struct viommu_config)`, then change the fields you need:
 * a zero field means "the default" as documented on each field. The size
 * field lets the struct grow without breaking older embedders.
 */
struct viommu_config {
    /** sizeof(struct viommu_config) as known to the caller. Required. */
    uint32_t size;
    /**
     * Page sizes the device supports (config page_size_mask); the lowest set
     * bit is the granule. Default: every power of two from 4 KiB.
     */
    uint64_t page_size_mask;
    /** IOVA range translated, inclusive (config input_range). Default: all
     *  64 bits. Used only when input_end is non-zero. */
    uint64_t input_start;
    uint64_t input_end;
    /** Domain IDs accepted, inclusive (config domain_range). Default: all 32
     *  bits. Used only when domain_end is non-zero. */
    uint32_t domain_start;
    uint32_t domain_end;
    /** Size of the PROBE properties buffer (config probe_size). Default 512.
     *  Must be a multiple of 8 between 24 and 65536. */
    uint32_t probe_size;
    /** Initial value of config `bypass`, also restored by a system reset. */
    bool boot_bypass;
    /** Do not offer VIRTIO_IOMMU_F_PROBE (the device then answers PROBE with
     *  nothing written, as R37 asks). */
    bool no_probe;
    /** Do not report an MSI region. By default every endpoint reports the
     *  MSI window below (the x86 one unless msi_end is non-zero). */
    bool no_msi_window;
    uint64_t msi_start;
    uint64_t msi_end;
    /** Caps on guest-controlled resources; exhausting one answers NOMEM.
     *  Defaults: 4096 domains, 1<<20 mappings per domain, 1<<22 in all. */
    uint32_t max_domains;
    uint32_t max_mappings_per_domain;
    uint32_t max_mappings;
    /** Capacity of the fault report queue (default 256); reports that find
     *  it full are dropped and counted. */
    uint32_t max_pending_faults;
    /**
     * Log sink, called synchronously. NULL: the library stays silent.
     * `max_log_level` filters (default VIOMMU_LOG_ERR, i.e. quiet).
     */
    void (*log)(void *opaque, enum viommu_log_level level,
                enum viommu_log_source source, const char *msg);
    void *log_opaque;
    enum viommu_log_level max_log_level;
    /**
     * Called when viommu_endpoint_remove() or viommu_sriov_remove_vfs() has
     * removed an endpoint and released everything its host context held for
     * it: the moment a management layer may hand the device back to its host
     * driver. `host_err` is 0, or the negative errno of a host operation that
     * failed while releasing (the host context may still hold state).
     * NULL: no notification.
     */
    void (*endpoint_removed)(void *opaque, uint32_t endpoint, int host_err);
    void *endpoint_removed_opaque;
    /**
     * Translations handed out earlier by viommu_translate() for endpoint
     * `endpoint` inside [start, last] may be wrong from now on: drop them
     * from every cache (an IOMMU notifier, a vhost IOTLB, a device's own
     * cache). Called once per endpoint concerned, after the device changed
     * and before the call that caused it returns (so before the guest sees
     * the request complete):
     *   UNMAP                  each endpoint of the domain, the range unmapped
     *   DETACH, ATTACH that changes the endpoint's domain, removal
     *                          that endpoint, [0, UINT64_MAX]
     *   `bypass` taking effect or ceasing to (config write, features,
     *   system reset)          each endpoint without a domain, everything
     *   device or system reset, viommu_restore()
     *                          every declared endpoint, everything
     *   a group's reserved regions growing (a member declared)
     *                          each member, everything
     * MAP only adds translations and calls nothing, nor does
     * viommu_free(). NULL: no notification.
     */
    void (*invalidate)(void *opaque, uint32_t endpoint, uint64_t start,
                       uint64_t last);
    void *invalidate_opaque;
};

/**
 * Create a device. Returns NULL with errno set: EINVAL for an inconsistent
 * config (unknown size, empty page_size_mask, inverted ranges, probe_size out
 * of bounds), ENOMEM when out of memory.
 */
VIOMMU_API struct viommu *viommu_new(const struct viommu_config *config);

/** Destroy a device and everything it holds, host contexts released as
 *  removal does (without endpoint_removed calls). NULL is accepted. */
VIOMMU_API void viommu_free(struct viommu *v);

/* ------------------------------------------------------------------------ */
/* Features and configuration space                                          */

/** VIRTIO_F_VERSION_1: this device is modern only. */
#define VIOMMU_F_VERSION_1 (1ULL << 32)

/**
 * Feature bits the device offers: VERSION_1, INPUT_RANGE, DOMAIN_RANGE,
 * MAP_UNMAP, PROBE (unless config.no_probe), MMIO and BYPASS_CONFIG. Never
 * the legacy BYPASS (R2, R3). Transport features (ring layout, event index,
 * indirect descriptors) are the transport's business and not included.
 */
VIOMMU_API uint64_t viommu_device_features(const struct viommu *v);

/**
 * Record the features the driver accepted (its write before FEATURES_OK).
 * Returns -EINVAL, changing nothing, when `features` has a bit the device
 * does not offer or lacks VERSION_1: the transport must then refuse
 * FEATURES_OK. Until the driver writes its features (after creation or a
 * reset), requests are served as if every offered feature was accepted.
 * Once the device has domains the features are fixed until a reset:
 * writing the same ones again is fine (vhost-user frontends do), other
 * ones return -EBUSY and change nothing.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_set_driver_features(struct viommu *v,
                                                            uint64_t features);

/** Size in bytes of the config space (struct virtio_iommu_config). */
VIOMMU_API size_t viommu_config_size(void);

/**
 * Read `len` bytes of the little-endian config space at `offset` into `buf`.
 * Returns -EINVAL if the range is not inside the config space.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_config_read(const struct viommu *v,
                                                    uint32_t offset, void *buf,
                                                    uint32_t len);

/**
 * A driver write to the config space. Only the one-byte `bypass` field is
 * writable, only with 0 or 1, and only while BYPASS_CONFIG is negotiated
 * (R7). Any other write is ignored and returns -EPERM (read-only field or
 * feature not negotiated) or -EINVAL (bad value or range), so the transport
 * can log it; the guest sees the field unchanged.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_config_write(struct viommu *v,
                                                     uint32_t offset,
                                                     const void *buf,
                                                     uint32_t len);

/** Kinds of reset (R6). */
enum viommu_reset_kind {
    /** The driver reset the device (status 0): every endpoint is detached
     *  (host contexts included), every domain and mapping and pending fault
     *  is gone, features must be negotiated again; `bypass` keeps its value;
     *  endpoints stay declared. */
    VIOMMU_RESET_DEVICE = 0,
    /** The whole machine was reset: as above, and `bypass` returns to
     *  config.boot_bypass. */
    VIOMMU_RESET_SYSTEM = 1,
};

/** Reset the device. -EINVAL for an unknown kind. */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_reset(struct viommu *v,
                                              enum viommu_reset_kind kind);

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                 */

/** Subtypes of reserved regions, as in the RESV_MEM probe property. */
enum viommu_resv_type {
    /** No mapping may be created there and accesses fault. */
    VIOMMU_RESV_RESERVED = 0,
    /** An MSI doorbell: accesses are not translated. */
    VIOMMU_RESV_MSI = 1,
};

/** A reserved IOVA region of an endpoint, inclusive bounds. In an array,
 *  every element has the size of the first. */
struct viommu_resv_region {
    uint32_t size;
    enum viommu_resv_type type;
    uint64_t start;
    uint64_t end;
};

/** Initializer of a struct viommu_resv_region, its size set. */
#define VIOMMU_RESV_REGION(first, last, kind)                                  \
    {                                                                          \
        .size = sizeof(struct viommu_resv_region), .start = (first),           \
        .end = (last), .type = (kind)                                          \
    }

/** An IOVA range, inclusive bounds; part of struct viommu_host_geometry,
 *  whose size covers it. */
struct viommu_iova_range {
    uint64_t start;
    uint64_t end;
};

/** Most usable ranges a host geometry can describe. */
#define VIOMMU_HOST_MAX_RANGES 32

/** The IOVA geometry of the host IOMMU behind an endpoint. */
struct viommu_host_geometry {
    uint32_t size;
    /** Page sizes the host IOMMU maps; 0: no constraint. */
    uint64_t page_size_mask;
    /** IOVA ranges the host can map (VFIO's IOVA_RANGE capability, iommufd's
     *  IOMMU_IOAS_IOVA_RANGES); 0 ranges: no constraint. */
    uint32_t nr_usable;
    struct viommu_iova_range usable[VIOMMU_HOST_MAX_RANGES];
};

/**
 * A host IOMMU context: a VFIO type1 container, an iommufd IOAS, anything
 * that holds IOVA -> guest-physical mappings for assigned devices. The
 * embedder implements it; `ctx` is the pointer declared with the endpoint.
 * Endpoints declared with the same ops and ctx share the context, and each
 * mapping is pushed into it once however many of them use it.
 *
 * The library keeps one invariant: a context holds exactly the union of the
 * mappings of the domains its attached endpoints are in. So an ATTACH that
 * puts an endpoint into a domain holding mappings pushes them all into its
 * context before the request completes (the Linux driver replays a domain's
 * mappings only to its first endpoint), and DETACH, a move to another domain,
 * removal and reset take them out again.
 *
 * Calls are synchronous, from inside viommu_handle_request(),
 * viommu_endpoint_remove(), viommu_sriov_remove_vfs(), viommu_reset() and
 * viommu_free(). Each returns 0 or a negative errno. When one fails while a
 * request is handled, everything already done for that request is undone in
 * every context, the device's state is unchanged, and the guest gets:
 *
 *   -ENOMEM, -ENOSPC  VIRTIO_IOMMU_S_NOMEM  host out of mapping resources
 *   -EOPNOTSUPP       VIRTIO_IOMMU_S_UNSUPP the context cannot do this (say,
 *                                           identity beside translation)
 *   -EEXIST           VIRTIO_IOMMU_S_INVAL  overlaps a mapping of another
 *                                           domain the context serves
 *   -ERANGE           VIRTIO_IOMMU_S_RANGE  outside what the host can map
 *   anything else     VIRTIO_IOMMU_S_DEVERR
 *
 * Removal and reset cannot be refused: a failure there, or while undoing,
 * is logged at VIOMMU_LOG_ERR, counted in viommu_stats.host_errors and the
 * operation goes on. The table is copied when an endpoint is declared;
 * endpoints declared with the same table pointer and ctx share a context.
 */
struct viommu_host_ops {
    uint32_t size;
    /** The endpoint enters a domain, from none or from another domain:
     *  its DMA must now use this context's mappings, or pass through
     *  untranslated when `identity` (a bypass domain). */
    int (*attach)(void *ctx, uint32_t endpoint, bool identity);
    /** The endpoint leaves its domain for none: block its DMA. The global
     *  `bypass` of the config space is not applied to host contexts: an
     *  assigned endpoint without a domain is blocked whatever it says. */
    int (*detach)(void *ctx, uint32_t endpoint);
    /** Map [iova, last] to gpa with VIOMMU_XLATE_READ/WRITE/MMIO flags. */
    int (*map)(void *ctx, uint64_t iova, uint64_t last, uint64_t gpa,
               uint32_t flags);
    /** Unmap exactly one range earlier given to map. A domain's
     *  mappings pushed into a context in one go (an endpoint entering a
     *  domain that holds mappings) are coalesced: a run contiguous in IOVA
     *  and guest-physical address, with the same flags, is one map call.
     *  When the guest later unmaps part of such a run, the run is unmapped
     *  and what remains of it mapped again mapping by mapping: DMA to those
     *  remaining mappings may fault between the two calls. */
    int (*unmap)(void *ctx, uint64_t iova, uint64_t last);
    /** Optional: the geometry the endpoint sees, asked once when the
     *  endpoint is declared without a geometry of its own. `geometry` is
     *  zeroed with its size set: fill it up to that size. */
    int (*geometry)(void *ctx, uint32_t endpoint,
                    struct viommu_host_geometry *geometry);
    /**
     * Since 0.3, optional, both or neither: the context keeps one table per
     * guest domain (an iommufd IOAS each) instead of one for all its
     * endpoints. table_new makes the empty table of domain `domain` when
     * the first endpoint of the context enters that domain, and the
     * domain's mappings are pushed into it; attach, detach, map and unmap
     * then get that table as their first argument instead of ctx. A move
     * from one domain to another is a single attach to the new table (the
     * kernel's replace: the endpoint never has no table or a stale one);
     * table_free releases a table, its mappings with it, when the last
     * endpoint of the context leaves its domain. Without them a move is
     * detach, the old domain's mappings out, the new one's in, attach.
     */
    int (*table_new)(void *ctx, uint32_t domain, void **table);
    int (*table_free)(void *ctx, void *table);
};

/** viommu_endpoint_config.flags */
#define VIOMMU_EP_GROUP (1u << 0) /* `group` is set */
#define VIOMMU_EP_ALIAS (1u << 1) /* `alias` is set */

/**
 * An endpoint declared by the embedder, with the host geometry it lives in.
 * Zero-initialize it and set `size = sizeof(struct viommu_endpoint_config)`.
 * Everything it points to is copied during viommu_endpoint_add().
 *
 * Its reserved regions are computed here, once: the declared regions, plus
 * the holes that the host's usable ranges leave inside the device's input
 * range (as RESERVED), merged into a sorted, non-overlapping list cut around
 * one MSI region (the endpoint's own if it declares one, else the device's
 * MSI window). Endpoints of one host group share the union of their regions
 * (R44, R45), so PROBE answers the same for each of them.
 */
struct viommu_endpoint_config {
    uint32_t size;
    /** Endpoint ID as the guest names it (a PCI requester ID, say). */
    uint32_t id;
    /** Declared reserved regions (RESERVED and at most one MSI). */
    const struct viommu_resv_region *resv;
    size_t nr_resv;
    /** The host context holding this endpoint's mappings; NULL ops: an
     *  endpoint the VMM emulates (its DMA goes through viommu_translate). */
    const struct viommu_host_ops *host_ops;
    void *host_ctx;
    /** VIOMMU_EP_GROUP, VIOMMU_EP_ALIAS. */
    uint32_t flags;
    /**
     * Host IOMMU group (/sys/kernel/iommu_groups/N). Endpoints of one group
     * cannot be isolated from each other: they must use the same host
     * context, share their reserved regions, and never be attached to two
     * different domains (such an ATTACH gets UNSUPP, R15).
     */
    uint32_t group;
    /** The requester ID the host IOMMU sees for this endpoint's DMA (behind
     *  a PCIe-to-PCI bridge, say). Endpoints with one alias form a group, as
     *  if declared with one `group`. With VIOMMU_EP_GROUP as well, only the
     *  group counts: declare every endpoint of that alias with the group
     *  (the host puts aliased devices in one IOMMU group anyway). */
    uint32_t alias;
    /** The host geometry. NULL: asked from host_ops->geometry when there
     *  is one, else no constraint. */
    const struct viommu_host_geometry *geometry;
};

/**
 * Declare an endpoint (hot-plug, SR-IOV VF enable). Errors: -EEXIST for an
 * ID already declared; -EINVAL for inverted regions or usable ranges, more
 * than one MSI region, an unknown type, host ops missing one of attach,
 * detach, map or unmap, a group member with another host context or another
 * MSI region than the group's, or a smallest host page larger than the
 * device's granule (a VFIO container with 64 KiB pages behind a 4 KiB
 * device: the guest's 4 KiB maps could never reach the host); -ENOSPC when the
 * PROBE properties would not fit in probe_size; -ENOMEM; or the error of
 * host_ops->geometry.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_endpoint_add(struct viommu *v, const struct viommu_endpoint_config *ep);

/** Most endpoints viommu_endpoint_add_range() declares: a PCI segment. */
#define VIOMMU_MAX_RANGE 65536u

/**
 * Declare endpoints first..last (a VIOT PCI range), each as `tmpl` with its
 * own ID (tmpl->id is ignored). All or nothing: -EINVAL when last < first,
 * -E2BIG for more than VIOMMU_MAX_RANGE, -EEXIST when one is declared
 * already, else the first error of viommu_endpoint_add(), none declared.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_endpoint_add_range(struct viommu *v, uint32_t first, uint32_t last,
                          const struct viommu_endpoint_config *tmpl);

/**
 * Remove a declared endpoint (hot-unplug, SR-IOV VF disable, a PF going
 * away). In this order: it is detached as a DETACH request would do; a domain
 * left without endpoints ceases to exist with all its mappings, so a guest
 * that reuses the domain ID starts from an empty domain; its host context is
 * released (detach, and the unmapping of mappings no other endpoint of the
 * context still uses); its pending fault reports are dropped; the
 * translations of it are invalidated; then config.endpoint_removed is
 * called.
 *
 * Removal cannot be refused by the host. Returns -ENOENT for an unknown ID
 * (and -EINVAL, -EBUSY), changing nothing. Otherwise the endpoint is gone,
 * and the return is 0 when the host released everything, or the first host
 * error while releasing (the host context may still hold state; the errors
 * -ENOENT, -EINVAL and -EBUSY of a host are reported as -EIO).
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_endpoint_remove(struct viommu *v,
                                                        uint32_t id);

/** A PF's SR-IOV capability, as the VMM reads it from config space. */
struct viommu_sriov {
    uint32_t size;
    /** Endpoint ID of the PF: its requester ID, with any bits above the
     *  16-bit requester ID (a PCI segment) kept for the VFs. */
    uint32_t pf;
    uint16_t vf_offset;
    uint16_t vf_stride;
    uint16_t num_vfs;
    /** Zero. */
    uint16_t reserved;
};

/**
 * Endpoint ID of VF `vf` (0-based): pf + vf_offset + vf * vf_stride, as
 * the PCI SR-IOV routing ID rules compute it. -ERANGE when the requester ID
 * would leave the 16-bit space, -EINVAL when vf >= num_vfs or for a bad
 * size.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_sriov_vf_id(const struct viommu_sriov *s, uint16_t vf, uint32_t *id);

/**
 * Declare all the VFs of a PF (VF Enable set), each as `vf_template` with
 * its own ID. All or nothing: on error no VF is declared and the error of
 * viommu_sriov_vf_id() or viommu_endpoint_add() is returned.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_sriov_add_vfs(struct viommu *v, const struct viommu_sriov *s,
                     const struct viommu_endpoint_config *vf_template);

/**
 * Remove all the declared VFs of a PF (VF Enable cleared), each as
 * viommu_endpoint_remove() does (host errors go to endpoint_removed).
 * Returns the number of VFs removed, or the error of viommu_sriov_vf_id().
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_sriov_remove_vfs(struct viommu *v, const struct viommu_sriov *s);

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

/**
 * Largest device-writable area accepted for one request. A request that
 * offers more is dropped (nothing written, used length 0): no driver needs
 * it and the device would otherwise clear guest-chosen amounts of memory.
 */
#define VIOMMU_MAX_WRITABLE (64u * 1024 + 8)

/**
 * Handle one request from the request queue.
 *
 * `req` is the driver-written part of the descriptor chain (the request
 * head and body; QEMU's out_sg), `resp` the device-writable part (for PROBE
 * the properties buffer, then the 4-byte tail; for the others the tail;
 * QEMU's in_sg). The tail is the last 4 bytes of `resp`; everything before
 * it is zeroed and then filled, so
 * the used length stored in `*used_len` is either the whole writable size or
 * 0 when the device wrote nothing: for an unknown request type (R9), a PROBE
 * without the PROBE feature (R37), and a request too short to carry a head
 * or a tail or with a writable area over VIOMMU_MAX_WRITABLE.
 *
 * Returns 0 when the request was handled, whatever status the guest got;
 * -EINVAL only for bad arguments (NULL pointers with a non-zero count).
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_handle_request(struct viommu *v, const struct iovec *req,
                      unsigned int req_cnt, const struct iovec *resp,
                      unsigned int resp_cnt, uint32_t *used_len);

/* ------------------------------------------------------------------------ */
/* Translation of DMA from endpoints the VMM emulates                        */

/** Access kinds for viommu_translate(). */
#define VIOMMU_ACCESS_READ (1u << 0)
#define VIOMMU_ACCESS_WRITE (1u << 1)
/** A lookup, not an access: a refusal queues no fault report. */
#define VIOMMU_ACCESS_NO_REPORT (1u << 2)

/** Flags of a translation result. */
#define VIOMMU_XLATE_READ (1u << 0)   /* the range may be read */
#define VIOMMU_XLATE_WRITE (1u << 1)  /* the range may be written */
#define VIOMMU_XLATE_MMIO (1u << 2)   /* mapped with VIRTIO_IOMMU_MAP_F_MMIO */
#define VIOMMU_XLATE_MSI (1u << 3)    /* inside the MSI region: not remapped */
#define VIOMMU_XLATE_BYPASS (1u << 4) /* identity: bypass */

/** Result of a translation: [iova, iova_last] maps to gpa contiguously. */
struct viommu_translation {
    uint32_t size;
    uint32_t flags;
    uint64_t gpa;
    uint64_t iova_last;
};

/**
 * Translate one access of endpoint `ep` at `iova`. On success fills `*t`
 * with the guest-physical address and the last IOVA of the contiguous
 * range with the same translation and permissions. An access that is not
 * allowed returns -EFAULT and queues a fault report for the event queue
 * (R48-R52): reason DOMAIN when the endpoint is neither attached nor in
 * bypass (R11), MAPPING when no mapping covers the address, the mapping
 * lacks the permission (R29) or the address is in a RESERVED region (R47).
 * An unknown endpoint returns -ENOENT and reports nothing (R50).
 *
 * A VMM may cache the result for [iova, t->iova_last] until
 * config.invalidate names that range for `ep`. Repeated translations of a
 * hot page are served from a small cache inside the library.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_translate(struct viommu *v, uint32_t ep,
                                                  uint64_t iova,
                                                  uint32_t access,
                                                  struct viommu_translation *t);

/** Size in bytes of one fault report (struct virtio_iommu_fault). */
VIOMMU_API size_t viommu_fault_size(void);

/**
 * Move the oldest pending fault report into an event queue buffer given as
 * device-writable iovecs. A report is never split (R52): if the buffer is
 * smaller than viommu_fault_size(), returns -EMSGSIZE and keeps the report.
 * Returns -EAGAIN when nothing is pending, else 0 with `*used_len` set.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_event_pop(struct viommu *v,
                                                  const struct iovec *resp,
                                                  unsigned int resp_cnt,
                                                  uint32_t *used_len);

/** True when a fault report waits for viommu_event_pop(). */
VIOMMU_API bool viommu_event_pending(const struct viommu *v);

/* ------------------------------------------------------------------------ */
/* State queries for management and tests                                    */

/** Counters of the device's current state. */
struct viommu_stats {
    uint32_t size;
    uint32_t endpoints;
    uint32_t domains;
    uint64_t mappings;
    uint32_t pending_faults;
    uint64_t dropped_faults;
    /** Distinct host contexts in use by declared endpoints. */
    uint32_t host_contexts;
    /** Host operations that failed where they could not be refused or
     *  undone (removal, reset, undoing a failed request). */
    uint64_t host_errors;
};

/** Fill `*stats` (up to stats->size) with the device's current counters. */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_get_stats(const struct viommu *v,
                                                  struct viommu_stats *stats);

/**
 * Domain an endpoint is attached to. Returns 0 and sets `*domain` (and
 * `*bypass`, if not NULL, to the domain's bypass flag) when attached,
 * -ENODATA when the endpoint is declared but not attached, -ENOENT when it
 * is not declared.
 */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_endpoint_domain(const struct viommu *v,
                                                        uint32_t ep,
                                                        uint32_t *domain,
                                                        bool *bypass);

/** Called by viommu_domain_foreach_mapping() for each mapping, in IOVA
 *  order; a non-zero return stops the walk and is returned. */
typedef int (*viommu_mapping_fn)(void *opaque, uint64_t iova, uint64_t last,
                                 uint64_t gpa, uint32_t flags);

/**
 * Walk the mappings of a domain that end at or after IOVA `from`, in IOVA
 * order (flags are VIOMMU_XLATE_READ/WRITE/MMIO); the cost is a lookup of
 * `from` and then one step per mapping walked. Returns -ENOENT when the
 * domain does not exist.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_domain_foreach_mapping(const struct viommu *v, uint32_t domain,
                              uint64_t from, viommu_mapping_fn fn,
                              void *opaque);

/** Called for each endpoint or domain ID by the walks below, in ID order;
 *  a non-zero return stops the walk and is returned. */
typedef int (*viommu_id_fn)(void *opaque, uint32_t id);

/** Walk the declared endpoints with IDs from `from` on. The cost is a
 *  lookup of `from` and then one step per endpoint walked. */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_foreach_endpoint(const struct viommu *v,
                                                         uint32_t from,
                                                         viommu_id_fn fn,
                                                         void *opaque);

/** Walk the existing domains with IDs from `from` on, as above. */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_foreach_domain(const struct viommu *v,
                                                       uint32_t from,
                                                       viommu_id_fn fn,
                                                       void *opaque);

/** Walk the endpoints attached to a domain (in no set order), one step per
 *  endpoint. -ENOENT when the domain does not exist. */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_domain_foreach_endpoint(const struct viommu *v, uint32_t domain,
                               viommu_id_fn fn, void *opaque);

/** What viommu_domain_info() reports of a domain. */
struct viommu_domain_info {
    uint32_t size;
    bool bypass;
    uint32_t endpoints;
    uint64_t mappings;
};

/** Fill `*info` (up to info->size) for a domain; -ENOENT when it does not
 *  exist. */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_domain_info(const struct viommu *v, uint32_t domain,
                   struct viommu_domain_info *info);

/** Current value of config `bypass` (0 or 1). */
VIOMMU_API bool viommu_bypass(const struct viommu *v);

/* ------------------------------------------------------------------------ */
/* Save and restore (snapshot, live migration)                               */

/** Takes the next `len` bytes of a saved stream, all of them: returns 0,
 *  or a negative errno that ends the save. */
typedef int (*viommu_write_fn)(void *opaque, const void *buf, size_t len);

/** Gives the next bytes of a stream to restore, up to `len`: returns how
 *  many (fewer is fine), 0 at the end of the stream, or a negative errno
 *  that ends the restore. */
typedef ssize_t (*viommu_read_fn)(void *opaque, void *buf, size_t len);

/**
 * Save the device's guest-visible state: the accepted features, config
 * `bypass`, every domain with its bypass flag and mappings, which endpoint
 * is attached to which domain, the pending fault reports in order and the
 * count of dropped ones. Endpoint declarations are not saved: the
 * destination declares its own endpoints, and the stream names their IDs.
 *
 * The stream is versioned, little-endian and checksummed, and goes out
 * through `write` in chunks of at most 16 KiB; it is never whole in memory.
 * The same state always gives the same bytes. The device is not changed.
 * Returns 0, -ENOMEM, or the first error of `write`.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_save(struct viommu *v, viommu_write_fn write, void *opaque);

/**
 * Restore a state saved by viommu_save(), typically on a destination
 * device with the same configuration and endpoints, freshly created or
 * reset (it must have no domain and no pending fault report: -EBUSY
 * otherwise). Reads `read` to its end in chunks of 16 KiB.
 *
 * Everything is checked before anything changes: the format, its version
 * and checksum, the features (offered by this device), domain IDs (within
 * domain_range), mappings (aligned, disjoint, within input_range, flags
 * valid for the features, outside the reserved regions of their domain's
 * endpoints), the caps of the configuration, the endpoints named (declared
 * here, at least one per domain, no host group split over two domains),
 * and that nothing follows the end. Then every attached endpoint with a
 * host context gets its domain's mappings pushed into the context, as an
 * ATTACH would, all or nothing. Only then does the device take the state.
 *
 * On any refusal the device is unchanged, the reason is logged at
 * VIOMMU_LOG_ERR, and the return value says why: -EINVAL for a corrupt or
 * inconsistent stream (bad magic, checksum, field, truncation, trailing
 * bytes), -EPROTO for a format version this library does not read,
 * -ENOENT for an endpoint that is not declared, -ENOMEM when a cap or the
 * memory is exceeded, an error of `read`, or a host error mapped as for
 * requests (see viommu_host_ops: -ENOMEM, -EOPNOTSUPP, -EINVAL, -ERANGE,
 * -EREMOTEIO).
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_restore(struct viommu *v, viommu_read_fn read, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* VIOMMU_VIOMMU_H */
