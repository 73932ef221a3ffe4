/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommu-vhost-user: a virtio-iommu device as a vhost-user backend program,
 * following the conventions of vhost-user.rst ("Backend program
 * conventions"): --socket-path or --fd, --print-capabilities.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "endpoints.h"
#include "log.h"
#include "vhost_user.h"

#define MAX_RESV 16
#define SEND_TIMEOUT_S 10

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: viommu-vhost-user (--socket-path=PATH | --fd=FDNUM)\n"
            "                         [--endpoint=SPEC]... [-v]...\n"
            "       viommu-vhost-user --print-capabilities\n"
            "\n"
            "A virtio-iommu device (virtio ID 23) served over vhost-user.\n"
            "\n"
            "  --socket-path=PATH    listen on this UNIX socket; serve one\n"
            "                        frontend at a time, again after each\n"
            "                        disconnection\n"
            "  --fd=FDNUM            serve the frontend already connected on\n"
            "                        this fd; exit when it disconnects\n"
            "  --endpoint=SPEC       declare endpoints, as a VIOT PCI range:\n"
            "                        FIRST[-LAST][,group=N]"
            "[,reserved=START-END]...\n"
            "                        (requester IDs, e.g. 0x0008-0x00ff)\n"
            "  --control-socket=PATH JSON commands and events for management\n"
            "                        (endpoint-add, endpoint-remove, query-*)\n"
            "  --state-timeout=SECS  longest a device state transfer (for\n"
            "                        migration) may take; the daemon serves\n"
            "                        nothing else meanwhile (default 30)\n"
            "  --print-capabilities  print the backend's capabilities (JSON)\n"
            "  -v, --verbose         more log messages (info, then debug)\n"
            "  -h, --help            this text\n");
}

static bool parse_u64(const char *s, char **end, uint64_t *out)
{
    errno = 0;
    *out = strtoull(s, end, 0);
    return errno == 0 && *end != s;
}

/* Parses START-END (END may be absent when single is allowed). */
static bool parse_range(const char *s, char **end, uint64_t *first,
                        uint64_t *last, bool single)
{
    if (!parse_u64(s, end, first)) {
        return false;
    }
    if (**end != '-') {
        *last = *first;
        return single;
    }
    return parse_u64(*end + 1, end, last) && *last >= *first;
}

static int add_endpoints(struct viommu *v, const char *spec)
{
    struct viommu_resv_region resv[MAX_RESV];
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .resv = resv};
    uint64_t first, last;
    char *p;

    if (!parse_range(spec, &p, &first, &last, true) || last > UINT32_MAX) {
        return -EINVAL;
    }
    while (*p == ',') {
        uint64_t a, b;
        if (strncmp(p + 1, "group=", 6) == 0 && parse_u64(p + 7, &p, &a) &&
            a <= UINT32_MAX) {
            ep.flags |= VIOMMU_EP_GROUP;
            ep.group = (uint32_t)a;
        } else if (strncmp(p + 1, "reserved=", 9) == 0 &&
                   ep.nr_resv < MAX_RESV &&
                   parse_range(p + 10, &p, &a, &b, false)) {
            resv[ep.nr_resv++] =
                (struct viommu_resv_region){a, b, VIOMMU_RESV_RESERVED};
        } else {
            return -EINVAL;
        }
    }
    if (*p != '\0') {
        return -EINVAL;
    }
    return endpoints_add_range(v, (uint32_t)first, (uint32_t)last, &ep);
}

static int print_capabilities(void)
{
    struct json_object *caps = json_object_new_object();

    if (caps == NULL ||
        json_object_object_add(caps, "type", json_object_new_string("iommu")) !=
            0 ||
        json_object_object_add(caps, "features", json_object_new_array()) !=
            0) {
        json_object_put(caps);
        return 1;
    }
    puts(json_object_to_json_string_ext(caps, JSON_C_TO_STRING_PRETTY));
    json_object_put(caps);
    return 0;
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        dlog(VIOMMU_LOG_ERR, "socket path too long: %s", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dlog(VIOMMU_LOG_ERR, "socket: %s", strerror(errno));
        return -1;
    }
    unlink(path); /* a stale socket of an earlier run */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, 1) != 0) {
        dlog(VIOMMU_LOG_ERR, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A frontend that stops reading replies must not stop the daemon. */
static void set_timeout(int conn)
{
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};

    if (setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        dlog(VIOMMU_LOG_WARN, "SO_SNDTIMEO: %s", strerror(errno));
    }
}

/* Serves frontends and control clients until a signal, or until the --fd
 * frontend leaves. */
static void serve(struct vu_dev *d, struct control *ctl, int listen_fd,
                  int conn_fd, int sig_fd)
{
    for (;;) {
        struct pollfd pfd[2 + VU_NR_QUEUES + 1 + CONTROL_MAX_CLIENTS];
        unsigned nr_vu = 2, nr_ctl;

        if (d->conn < 0 && listen_fd < 0) {
            if (conn_fd < 0) {
                return; /* the --fd frontend has gone */
            }
            set_timeout(conn_fd);
            vu_connect(d, conn_fd);
            conn_fd = -1;
        }
        pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = d->conn >= 0 ? d->conn : listen_fd,
                                 .events = POLLIN};
        if (d->conn >= 0) {
            vu_kick_fds(d, &pfd[2]);
            nr_vu += VU_NR_QUEUES;
        }
        nr_ctl = control_poll_fds(ctl, &pfd[nr_vu]);
        if (poll(pfd, nr_vu + nr_ctl, vu_busy(d) ? 0 : -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            dlog(VIOMMU_LOG_ERR, "poll: %s", strerror(errno));
            return;
        }
        if (pfd[0].revents) {
            return;
        }
        control_serve(ctl, &pfd[nr_vu], nr_ctl);
        vu_serve_events(d); /* a control command may have caused a fault */
        if (d->conn < 0) {
            if (pfd[1].revents & POLLIN) {
                int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (conn >= 0) {
                    set_timeout(conn);
                    vu_connect(d, conn);
                    dlog(VIOMMU_LOG_INFO, "frontend connected");
                }
            }
            continue;
        }
        if (pfd[1].revents) {
            if (!vu_handle_message(d)) {
                vu_disconnect(d);
                dlog(VIOMMU_LOG_INFO,
                     "frontend disconnected; device state reset");
            }
            continue; /* the kick fds may have changed */
        }
        for (unsigned q = 0; q < VU_NR_QUEUES; q++) {
            if (pfd[2 + q].revents || (q == 0 && vu_busy(d))) {
                vu_kick(d, q);
            }
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket-path", required_argument, NULL, 's'},
        {"fd", required_argument, NULL, 'f'},
        {"endpoint", required_argument, NULL, 'e'},
        {"control-socket", required_argument, NULL, 'C'},
        {"state-timeout", required_argument, NULL, 'T'},
        {"print-capabilities", no_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL, *control_path = NULL;
    const char *endpoints[64];
    unsigned nr_endpoints = 0;
    int conn_fd = -1, opt;
    long state_timeout_s = VU_TRANSFER_TIMEOUT_MS / 1000;
    char *end;

    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'f':
            conn_fd = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || conn_fd < 0) {
                fprintf(stderr, "invalid --fd: %s\n", optarg);
                return 1;
            }
            break;
        case 'e':
            if (nr_endpoints == 64) {
                fprintf(stderr, "at most 64 --endpoint options\n");
                return 1;
            }
            endpoints[nr_endpoints++] = optarg;
            break;
        case 'C':
            control_path = optarg;
            break;
        case 'T':
            state_timeout_s = strtol(optarg, &end, 10);
            if (*end != '\0' || state_timeout_s < 1 || state_timeout_s > 3600) {
                fprintf(stderr, "invalid --state-timeout: %s\n", optarg);
                return 1;
            }
            break;
        case 'c':
            return print_capabilities();
        case 'v':
            if (dlog_level < VIOMMU_LOG_DEBUG) {
                dlog_level++;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc || (socket_path == NULL) == (conn_fd < 0)) {
        fprintf(stderr, "give exactly one of --socket-path and --fd\n");
        usage(stderr);
        return 1;
    }

    struct control ctl;
    control_init(&ctl);
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .log = dlog_device,
        .max_log_level = dlog_level,
        .endpoint_removed = control_endpoint_removed,
        .endpoint_removed_opaque = &ctl,
    };
    struct viommu *v = viommu_new(&cfg);
    if (v == NULL) {
        dlog(VIOMMU_LOG_ERR, "cannot create the device: %s", strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < nr_endpoints; i++) {
        int err = add_endpoints(v, endpoints[i]);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "--endpoint=%s: %s", endpoints[i],
                 err == -EINVAL  ? "invalid"
                 : err == -E2BIG ? "more than 65536 endpoints in one range"
                                 : strerror(-err));
            viommu_free(v);
            return 1;
        }
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    int listen_fd = socket_path != NULL ? listen_on(socket_path) : -1;
    if (sig_fd < 0 || (socket_path != NULL && listen_fd < 0) ||
        (control_path != NULL && control_open(&ctl, v, control_path) != 0)) {
        control_close(&ctl);
        viommu_free(v);
        return 1;
    }

    struct vu_dev d;
    vu_init(&d, v);
    d.transfer_timeout_ms = (int)state_timeout_s * 1000;
    if (socket_path != NULL) {
        dlog(VIOMMU_LOG_INFO, "listening on %s", socket_path);
    }
    serve(&d, &ctl, listen_fd, conn_fd, sig_fd);
    vu_disconnect(&d);
    control_close(&ctl);
    if (control_path != NULL) {
        unlink(control_path);
    }
    viommu_free(v);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(socket_path);
    }
    close(sig_fd);
    dlog(VIOMMU_LOG_INFO, "exiting");
    return 0;
}
