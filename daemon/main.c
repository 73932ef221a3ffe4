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
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "listen.h"
#include "log.h"
#include "polling.h"
#include "spec.h"
#include "vfio_user.h"
#include "vhost_user.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: viommu-vhost-user (--socket-path=PATH | --fd=FDNUM)\n"
            "                         [--endpoint=SPEC]... "
            "[--vfio-user=PATH,PCI,ID]... [-v]...\n"
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
            "  --vfio-user=PATH,PCI-ADDRESS,ENDPOINT\n"
            "                        serve the host device at PCI-ADDRESS\n"
            "                        (bound to vfio-pci) over vfio-user on\n"
            "                        PATH, its DMA translated as endpoint\n"
            "                        ENDPOINT (a requester ID)\n"
            "  --iommufd             open those devices through iommufd\n"
            "                        (default: VFIO type1)\n"
            "  --control-socket=PATH JSON commands and events for management\n"
            "                        (endpoint-add, endpoint-remove,\n"
            "                        endpoint-replug, query-*)\n"
            "  --poll-max-ns=NS      longest the request queue is polled\n"
            "                        after serving, without a kick (default\n"
            "                        131072; 0: no polling)\n"
            "  --state-timeout=SECS  longest a device state transfer (for\n"
            "                        migration) may go without moving on\n"
            "                        before it fails (default 30)\n"
            "  --print-capabilities  print the backend's capabilities (JSON)\n"
            "  -v, --verbose         more log messages (info, then debug)\n"
            "  -h, --help            this text\n");
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

/* Serves frontends and control clients until a signal, or until the --fd
 * frontend leaves. */
static void serve(struct vu_dev *d, struct control *ctl,
                  struct vfio_user_set *assigned, int listen_fd, int conn_fd,
                  int sig_fd, struct poller *poller)
{
    for (;;) {
        struct pollfd pfd[2 + VU_NR_QUEUES + 1 + 1 + CONTROL_MAX_CLIENTS +
                          2 * VFIO_USER_MAX_DEVICES];
        struct pollfd *state_pipe = &pfd[2 + VU_NR_QUEUES];
        unsigned nr_vu = 2, nr_ctl, nr_assigned;
        int wait_ms = -1;

        if (d->conn < 0 && listen_fd < 0) {
            if (conn_fd < 0) {
                return; /* the --fd frontend has gone */
            }
            vu_connect(d, conn_fd);
            conn_fd = -1;
        }
        pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = d->conn >= 0 ? d->conn : listen_fd,
                                 .events =
                                     d->conn >= 0 ? vu_conn_events(d) : POLLIN};
        if (d->conn >= 0) {
            vu_kick_fds(d, &pfd[2]);
            /* A device state transfer's pipe, and its deadline. */
            wait_ms = transfer_poll(&d->transfer, state_pipe);
            nr_vu += VU_NR_QUEUES + 1;
        }
        nr_ctl = control_poll_fds(ctl, &pfd[nr_vu]);
        nr_assigned = vfio_user_poll_fds(assigned, &pfd[nr_vu + nr_ctl]);
        bool spin = vu_busy(d) || control_busy(ctl) || poller->polling;
        if (poll(pfd, nr_vu + nr_ctl + nr_assigned, spin ? 0 : wait_ms) < 0) {
            if (errno == EINTR) {
                continue;
            }
            dlog(VIOMMU_LOG_ERR, "poll: %s", strerror(errno));
            return;
        }
        if (pfd[0].revents) {
            return;
        }
        /* The guest's requests first: no other peer's work delays them
         * by more than its own budget. */
        bool ok = true;
        uint64_t served = d->served;
        for (unsigned q = 0; d->conn >= 0 && q < VU_NR_QUEUES && ok; q++) {
            if (pfd[2 + q].revents || (q == 0 && vu_busy(d))) {
                ok = vu_kick(d, q);
            }
        }
        ok = ok && poll_turn(d, poller, d->served != served);
        if (ok && transfer_running(&d->transfer)) {
            ok = vu_transfer(d, state_pipe->revents);
        }
        control_serve(ctl, &pfd[nr_vu], nr_ctl);
        vfio_user_serve(assigned, &pfd[nr_vu + nr_ctl], nr_assigned);
        /* A control command may have caused a fault report. */
        ok = ok && vu_serve_events(d);
        if (d->conn < 0) {
            if (pfd[1].revents & POLLIN) {
                int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (conn >= 0) {
                    vu_connect(d, conn);
                    dlog(VIOMMU_LOG_INFO, "frontend connected");
                }
            }
        } else if (ok && pfd[1].revents) {
            if (pfd[1].revents & POLLOUT) {
                ok = vu_flush(d);
            }
            if (ok && (pfd[1].revents & ~POLLOUT)) {
                ok = vu_receive(d);
            }
        }
        if (!ok) {
            poller->polling = false;
            vu_disconnect(d);
            dlog(VIOMMU_LOG_INFO, "frontend disconnected; device state reset");
        }
        /* Guest RAM of the memory table, for the assigned devices' DMA. */
        vfio_user_sync_ram(assigned);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket-path", required_argument, NULL, 's'},
        {"fd", required_argument, NULL, 'f'},
        {"endpoint", required_argument, NULL, 'e'},
        {"control-socket", required_argument, NULL, 'C'},
        {"vfio-user", required_argument, NULL, 'u'},
        {"iommufd", no_argument, NULL, 'I'},
        {"poll-max-ns", required_argument, NULL, 'P'},
        {"state-timeout", required_argument, NULL, 'T'},
        {"print-capabilities", no_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL, *control_path = NULL;
    const char *endpoints[64];
    unsigned nr_endpoints = 0;
    const char *devices[VFIO_USER_MAX_DEVICES];
    unsigned nr_devices = 0;
    bool iommufd = false;
    int64_t poll_max_ns = POLL_DEFAULT_MAX_NS;
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
        case 'u':
            if (nr_devices == VFIO_USER_MAX_DEVICES) {
                fprintf(stderr, "at most %d --vfio-user options\n",
                        VFIO_USER_MAX_DEVICES);
                return 1;
            }
            devices[nr_devices++] = optarg;
            break;
        case 'I':
            iommufd = true;
            break;
        case 'P':
            poll_max_ns = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || poll_max_ns < 0 ||
                poll_max_ns > 1000000000) {
                fprintf(stderr, "invalid --poll-max-ns: %s\n", optarg);
                return 1;
            }
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
    /* Removals reach the control socket through the vfio-user servers,
     * which hold an assigned device's event until its host state is
     * released. */
    struct vfio_user_set assigned;
    vfio_user_init(&assigned, &vfio_user_host_ops, iommufd);
    assigned.removed = control_endpoint_removed;
    assigned.removed_opaque = &ctl;
    ctl.assigned = &assigned;
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .log = dlog_device,
        .max_log_level = dlog_level,
        .endpoint_removed = vfio_user_endpoint_removed,
        .endpoint_removed_opaque = &assigned,
    };
    struct viommu *v = viommu_new(&cfg);
    if (v == NULL) {
        dlog(VIOMMU_LOG_ERR, "cannot create the device: %s", strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < nr_endpoints; i++) {
        struct endpoint_spec spec;
        const char *why = NULL;
        int err = spec_from_text(&spec, endpoints[i], &why);
        if (err == 0) {
            err = spec_declare(v, &ctl.ranges, &spec);
        }
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "--endpoint=%s: %s", endpoints[i],
                 why != NULL     ? why
                 : err == -E2BIG ? "more than 65536 endpoints in one range"
                                 : strerror(-err));
            control_close(&ctl);
            viommu_free(v);
            return 1;
        }
    }
    assigned.v = v;
    for (unsigned i = 0; i < nr_devices; i++) {
        const char *why = NULL;
        int err = vfio_user_device_add_text(&assigned, devices[i], &why);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "--vfio-user=%s: %s", devices[i],
                 why != NULL ? why : strerror(-err));
            control_close(&ctl);
            vfio_user_fini(&assigned);
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
    if (mem_guard_install() != 0) {
        dlog(VIOMMU_LOG_ERR, "cannot install the SIGBUS guard");
        sig_fd = -1;
    }
    int listen_fd = socket_path != NULL ? listen_unix(socket_path, 1) : -1;
    if (sig_fd < 0 || (socket_path != NULL && listen_fd < 0) ||
        (control_path != NULL && control_open(&ctl, v, control_path) != 0)) {
        control_close(&ctl);
        vfio_user_fini(&assigned);
        viommu_free(v);
        return 1;
    }

    struct vu_dev d;
    vu_init(&d, v);
    d.transfer.timeout_ms = (int)state_timeout_s * 1000;
    assigned.vu_mem = &d.mem;
    if (socket_path != NULL) {
        dlog(VIOMMU_LOG_INFO, "listening on %s", socket_path);
    }
    struct poller poller;
    poller_init(&poller, poll_max_ns);
    serve(&d, &ctl, &assigned, listen_fd, conn_fd, sig_fd, &poller);
    vfio_user_fini(&assigned);
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
