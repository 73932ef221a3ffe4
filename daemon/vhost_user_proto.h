/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user protocol's header and numbers (QEMU
 * docs/interop/vhost-user.rst), the ones this device speaks: said once, for the
 * daemon and for the test kit's frontends that play QEMU.
 */
#ifndef VIOMMU_DAEMON_VHOST_USER_PROTO_H
#define VIOMMU_DAEMON_VHOST_USER_PROTO_H

#include <stdint.h>

/* Every message starts with it. */
struct vu_header {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
};

/* Requests (front-end to back-end). */
enum {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_RESET_DEVICE = 34,
    VHOST_USER_SET_DEVICE_STATE_FD = 42,
    VHOST_USER_CHECK_DEVICE_STATE = 43,
};

#define VHOST_USER_VERSION 1u
#define VHOST_USER_VERSION_MASK 3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE 19

/* SET_DEVICE_STATE_FD: transfer directions, and the one phase. */
#define VHOST_USER_TRANSFER_SAVE 0u /* from the backend to the frontend */
#define VHOST_USER_TRANSFER_LOAD 1u /* from the frontend to the backend */
#define VHOST_USER_PHASE_STOPPED 0u /* the device is suspended */

#endif
