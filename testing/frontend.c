/* SPDX-License-Identifier: BSD-3-Clause */
#include "frontend.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "driver.h"

#define QUEUE_AREA 0x1000u   /* rings of queue q at QUEUE_AREA * (1 + 3q) */
#define BUFFER_AREA 0x10000u /* buffers from here up */

/* The frontend serves tests, benchmarks and the demonstration alike: a
 * broken expectation ends the process (the daemon goes with it). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: frontend: %s failed\n", __FILE__,          \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

void fe_connect(struct fe *f)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    strcpy(addr.sun_path, f->path);
    for (int tries = 0; tries < 500; tries++) {
        f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(f->sock >= 0);
        if (connect(f->sock, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return;
        }
        close(f->sock);
        sleep_ms(10);
    }
    fprintf(stderr, "frontend: cannot connect to the daemon at %s\n", f->path);
    abort();
}

void fe_start(struct fe *f, const char *const *args)
{
    const char *daemon = getenv("VIOMMU_VHOST_USER");
    const char *argv[32];
    int argc = 0;

    memset(f, 0, sizeof(*f));
    CHECK((daemon) != NULL);
    strcpy(f->dir, "/tmp/viommu-fe-XXXXXX");
    CHECK((mkdtemp(f->dir)) != NULL);
    snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
    argv[argc++] = daemon;
    argv[argc++] = "--socket-path";
    argv[argc++] = f->path;
    for (; args != NULL && *args != NULL && argc < 30; args++) {
        argv[argc++] = *args;
    }
    argv[argc] = NULL;
    f->pid = fork();
    CHECK(f->pid >= 0);
    if (f->pid == 0) {
        /* A test that dies must not leave the daemon holding its output. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(daemon, (char *const *)argv);
        _exit(127);
    }
    /* Sealable, as QEMU's memory-backend-memfd makes it. */
    f->memfd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(f->memfd >= 0);
    CHECK((ftruncate(f->memfd, FE_MEM_SIZE)) == (0));
    f->mem = mmap(NULL, FE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                  f->memfd, 0);
    CHECK(f->mem != MAP_FAILED);
    for (int q = 0; q < 2; q++) {
        f->q[q].kick = f->q[q].call = f->q[q].err = -1;
    }
    fe_connect(f);
}

static void close_queue_fds(struct fe *f)
{
    for (int q = 0; q < 2; q++) {
        int *fds[] = {&f->q[q].kick, &f->q[q].call, &f->q[q].err};
        for (int i = 0; i < 3; i++) {
            if (*fds[i] >= 0) {
                close(*fds[i]);
                *fds[i] = -1;
            }
        }
    }
}

void fe_disconnect(struct fe *f)
{
    if (f->sock >= 0) {
        close(f->sock);
        f->sock = -1;
    }
    close_queue_fds(f);
}

int fe_stop(struct fe *f)
{
    int status = -1;

    fe_disconnect(f);
    kill(f->pid, SIGTERM);
    for (int tries = 0; tries < 500; tries++) {
        if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
            break;
        }
        sleep_ms(10);
    }
    if (status == -1) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, &status, 0);
    }
    f->pid = 0;
    munmap(f->mem, FE_MEM_SIZE);
    close(f->memfd);
    unlink(f->path);
    rmdir(f->dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool fe_send_on(int sock, uint32_t request, uint32_t flags, const void *payload,
                uint32_t size, const int *fds, unsigned nfds)
{
    struct vu_header h = {request, 1u | flags, size};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, size}};

    return sockmsg_send(sock, iov, size ? 2 : 1, fds, nfds, MSG_DONTWAIT) ==
           (ssize_t)(sizeof(h) + size);
}

bool fe_send(struct fe *f, uint32_t request, uint32_t flags,
             const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
    return fe_send_on(f->sock, request, flags, payload, size, fds, nfds);
}

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    while (len > 0) {
        if (poll(&pfd, 1, 2000) != 1) {
            return false;
        }
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

int fe_recv(struct fe *f, uint32_t request, void *buf, uint32_t max)
{
    struct vu_header h;

    if (!read_full(f->sock, &h, sizeof(h))) {
        return -1;
    }
    CHECK((h.request) == (request));
    CHECK((h.flags & 7u) == (1u | (1u << 2))); /* version 1, reply */
    CHECK(h.size <= max);
    if (!read_full(f->sock, buf, h.size)) {
        return -1;
    }
    return (int)h.size;
}

uint64_t fe_get_u64(struct fe *f, uint32_t request)
{
    uint64_t value = 0;

    CHECK(fe_send(f, request, 0, NULL, 0, NULL, 0));
    CHECK((fe_recv(f, request, &value, sizeof(value))) == (8));
    return value;
}

uint64_t fe_acked(struct fe *f, uint32_t request, const void *payload,
                  uint32_t size, const int *fds, unsigned nfds)
{
    uint64_t ack = UINT64_MAX;

    CHECK(fe_send(f, request, VHOST_USER_FLAG_NEED_REPLY, payload, size, fds,
                  nfds));
    CHECK((fe_recv(f, request, &ack, sizeof(ack))) == (8));
    return ack;
}

static uint64_t uva(struct fe *f, uint64_t gpa)
{
    return (uint64_t)(uintptr_t)(f->mem + gpa);
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    CHECK(fd >= 0);
    return fd;
}

uint64_t fe_set_mem_table(struct fe *f)
{
    struct {
        uint32_t nregions, padding;
        uint64_t gpa, size, uva, offset;
    } mem = {1, 0, 0, FE_MEM_SIZE, uva(f, 0), 0};

    return fe_acked(f, VHOST_USER_SET_MEM_TABLE, &mem, sizeof(mem), &f->memfd,
                    1);
}

void fe_start_ring(struct fe *f, unsigned q, uint16_t base)
{
    struct fe_queue *fq = &f->q[q];
    struct vhost_vring_state num = {q, FE_QUEUE_SIZE}, last = {q, base};
    struct vhost_vring_state enable = {q, 1};
    struct vhost_vring_addr addr = {
        .index = q,
        .desc_user_addr = uva(f, fq->desc),
        .used_user_addr = uva(f, fq->used),
        .avail_user_addr = uva(f, fq->avail),
    };
    uint64_t call = q, err = q, kick = q;

    CHECK((fe_acked(f, VHOST_USER_SET_VRING_NUM, &num, 8, NULL, 0)) == (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL,
                    0)) == (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_BASE, &last, 8, NULL, 0)) == (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_CALL, &call, 8, &fq->call, 1)) ==
          (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_ERR, &err, 8, &fq->err, 1)) == (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_KICK, &kick, 8, &fq->kick, 1)) ==
          (0));
    CHECK((fe_acked(f, VHOST_USER_SET_VRING_ENABLE, &enable, 8, NULL, 0)) ==
          (0));
}

void fe_setup(struct fe *f)
{
    f->features = fe_get_u64(f, VHOST_USER_GET_FEATURES);
    CHECK(f->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
    CHECK(fe_send(f, VHOST_USER_SET_FEATURES, 0, &f->features, 8, NULL, 0));
    uint64_t protocol = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    CHECK(protocol & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
    CHECK(
        fe_send(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &protocol, 8, NULL, 0));
    CHECK((fe_acked(f, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0)) == (0));
    CHECK(fe_set_mem_table(f) == 0);

    f->next_free = BUFFER_AREA;
    for (unsigned q = 0; q < 2; q++) {
        uint64_t area = QUEUE_AREA * (1 + 3 * q);
        f->q[q] = (struct fe_queue){.desc = area,
                                    .avail = area + QUEUE_AREA,
                                    .used = area + 2 * QUEUE_AREA,
                                    .kick = -1,
                                    .call = -1,
                                    .err = -1};
        memset(fe_ptr(f, area), 0, 3 * QUEUE_AREA);
    }
    fe_start_rings(f);
}

void fe_start_rings(struct fe *f)
{
    for (unsigned q = 0; q < 2; q++) {
        f->q[q].kick = new_eventfd();
        f->q[q].call = new_eventfd();
        f->q[q].err = new_eventfd();
        fe_start_ring(f, q, f->q[q].base);
    }
}

void fe_stop_rings(struct fe *f)
{
    for (uint32_t q = 0; q < 2; q++) {
        struct vhost_vring_state state = {q, 0};
        CHECK(fe_send(f, VHOST_USER_GET_VRING_BASE, 0, &state, sizeof(state),
                      NULL, 0));
        CHECK(fe_recv(f, VHOST_USER_GET_VRING_BASE, &state, sizeof(state)) ==
              sizeof(state));
        f->q[q].base = (uint16_t)state.num;
    }
    close_queue_fds(f);
}

uint64_t fe_set_state_fd(struct fe *f, uint32_t direction, int *fd)
{
    uint32_t params[2] = {direction, 0}; /* phase: stopped */
    uint64_t reply = UINT64_MAX;

    CHECK(fe_send(f, VHOST_USER_SET_DEVICE_STATE_FD, 0, params, sizeof(params),
                  fd, 1));
    close(*fd);
    *fd = -1;
    CHECK(fe_recv(f, VHOST_USER_SET_DEVICE_STATE_FD, &reply, sizeof(reply)) ==
          8);
    return reply;
}

uint64_t fe_check_state(struct fe *f)
{
    return fe_get_u64(f, VHOST_USER_CHECK_DEVICE_STATE);
}

void fe_read_all(int fd, uint8_t **buf, size_t *len)
{
    size_t cap = 1 << 16;

    *buf = malloc(cap);
    *len = 0;
    CHECK(*buf != NULL);
    for (;;) {
        if (*len == cap) {
            cap *= 2;
            *buf = realloc(*buf, cap);
            CHECK(*buf != NULL);
        }
        ssize_t n = read(fd, *buf + *len, cap - *len);
        CHECK(n >= 0);
        if (n == 0) {
            return;
        }
        *len += (size_t)n;
    }
}

uint64_t fe_save_state(struct fe *f, uint8_t **buf, size_t *len)
{
    int p[2];

    CHECK(pipe2(p, O_CLOEXEC) == 0);
    (void)fe_set_state_fd(f, VHOST_USER_TRANSFER_SAVE, &p[1]);
    /* The daemon writes as the pipe takes it, then closes its end (at once
     * if it refused): CHECK_DEVICE_STATE says how it went. */
    fe_read_all(p[0], buf, len);
    close(p[0]);
    return fe_check_state(f);
}

uint64_t fe_load_state(struct fe *f, const void *buf, size_t len)
{
    const uint8_t *bytes = buf;
    int p[2];

    CHECK(pipe2(p, O_CLOEXEC) == 0);
    /* The daemon reads as the pipe gives, once it has replied. It may stop
     * early (a stream beyond its bound) and close its end: the rest is not
     * written, and the write fails with EPIPE instead of a signal, as QEMU
     * has it. */
    signal(SIGPIPE, SIG_IGN);
    if ((fe_set_state_fd(f, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff) == 0) {
        while (len > 0) {
            ssize_t n = write(p[1], bytes, len);
            if (n <= 0) {
                break;
            }
            bytes += n;
            len -= (size_t)n;
        }
    }
    close(p[1]);
    return fe_check_state(f);
}

uint64_t fe_alloc(struct fe *f, size_t len)
{
    len = (len + 15) & ~(size_t)15;
    if (f->next_free + len > FE_MEM_SIZE) {
        f->next_free = BUFFER_AREA;
    }
    uint64_t gpa = f->next_free;
    f->next_free += len;
    memset(fe_ptr(f, gpa), 0, len);
    return gpa;
}

static void set_desc(struct vring_desc *d, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    d->addr = htole64(addr);
    d->len = htole32(len);
    d->flags = htole16(flags);
    d->next = htole16(next);
}

bool fe_signalled(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint64_t count;

    if (poll(&pfd, 1, ms) != 1) {
        return false;
    }
    return read(fd, &count, sizeof(count)) == sizeof(count);
}

bool fe_device_wants_kick(struct fe *f, unsigned qi)
{
    const struct fe_queue *q = &f->q[qi];
    const struct vring_used *used = fe_ptr(f, q->used);
    uint16_t now = q->avail_idx, old = (uint16_t)(now - 1);

    /* The avail index store before the device's suppression is read. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (f->features & (1ULL << VIRTIO_RING_F_EVENT_IDX)) {
        /* avail_event: right after the used ring's entries. */
        const uint16_t *avail_event =
            (const uint16_t *)&used->ring[FE_QUEUE_SIZE];
        uint16_t event =
            le16toh(__atomic_load_n(avail_event, __ATOMIC_ACQUIRE));
        return vring_need_event(event, now, old);
    }
    return !(le16toh(__atomic_load_n(&used->flags, __ATOMIC_ACQUIRE)) &
             VRING_USED_F_NO_NOTIFY);
}

uint64_t fe_post(struct fe *f, const void *in, size_t in_len, size_t out_len,
                 bool indirect)
{
    struct fe_queue *q = &f->q[0];
    struct vring_desc *desc = fe_ptr(f, q->desc);
    struct vring_avail *avail = fe_ptr(f, q->avail);
    uint64_t in_gpa = fe_alloc(f, in_len), out_gpa = fe_alloc(f, out_len);

    memcpy(fe_ptr(f, in_gpa), in, in_len);
    /* Poisoned: what the device does not write shows. */
    memset(fe_ptr(f, out_gpa), FE_POISON, out_len);
    if (indirect) {
        uint64_t table = fe_alloc(f, 2 * sizeof(struct vring_desc));
        struct vring_desc *t = fe_ptr(f, table);
        set_desc(&t[0], in_gpa, (uint32_t)in_len, VRING_DESC_F_NEXT, 1);
        set_desc(&t[1], out_gpa, (uint32_t)out_len, VRING_DESC_F_WRITE, 0);
        set_desc(&desc[0], table, 2 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
    } else {
        set_desc(&desc[0], in_gpa, (uint32_t)in_len, VRING_DESC_F_NEXT, 1);
        set_desc(&desc[1], out_gpa, (uint32_t)out_len, VRING_DESC_F_WRITE, 0);
    }
    /* used_event: interrupt me for the next used entry. */
    avail->ring[FE_QUEUE_SIZE] = htole16(q->last_used);
    avail->ring[q->avail_idx % FE_QUEUE_SIZE] = 0;
    q->avail_idx++;
    __atomic_store_n(&avail->idx, htole16(q->avail_idx), __ATOMIC_RELEASE);
    if (!f->driver_kicks || fe_device_wants_kick(f, 0)) {
        uint64_t one = 1;
        CHECK((write(q->kick, &one, sizeof(one))) == (sizeof(one)));
        f->kicks++;
    }
    return out_gpa;
}

uint16_t fe_used_idx(struct fe *f, unsigned q)
{
    struct vring_used *used = fe_ptr(f, f->q[q].used);

    return le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE));
}

int fe_wait_used(struct fe *f, int ms)
{
    struct fe_queue *q = &f->q[0];
    struct vring_used *used = fe_ptr(f, q->used);

    if (!fe_signalled(q->call, ms)) {
        return -1;
    }
    CHECK(((uint16_t)(fe_used_idx(f, 0) - q->last_used)) == (1));
    struct vring_used_elem e = used->ring[q->last_used % FE_QUEUE_SIZE];
    q->last_used++;
    CHECK((le32toh(e.id)) == (0));
    return (int)le32toh(e.len);
}

int fe_request(struct fe *f, const void *in, size_t in_len, void *out,
               size_t out_len, bool indirect)
{
    uint64_t out_gpa = fe_post(f, in, in_len, out_len, indirect);
    int used = fe_wait_used(f, 2000);

    if (used >= 0) {
        memcpy(out, fe_ptr(f, out_gpa), out_len);
    }
    return used;
}

uint8_t fe_status(struct fe *f, const void *req, size_t size)
{
    uint8_t out[sizeof(struct virtio_iommu_req_tail)];
    size_t body = size - sizeof(out);
    int used = fe_request(f, req, body, out, sizeof(out), false);

    return used == (int)sizeof(out) ? out[0] : 0xff;
}

int fe_daemon_fds(const struct fe *f)
{
    char path[64];
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)f->pid);
    DIR *d = opendir(path);
    CHECK((d) != NULL);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

double fe_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double fe_percentile(double *samples, size_t n, unsigned pct)
{
    CHECK(n > 0 && pct <= 100);
    qsort(samples, n, sizeof(samples[0]), cmp_double);
    size_t i = n * pct / 100;
    return samples[i < n ? i : n - 1];
}

/* Transport features the frontend keeps whatever the driver accepts:
 * INDIRECT_DESC, EVENT_IDX, and vhost-user's PROTOCOL_FEATURES. */
#define TRANSPORT_BITS                                                         \
    ((1ULL << 28) | (1ULL << 29) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))

static uint64_t tr_features(void *opaque)
{
    struct fe *f = opaque;

    return f->features & ~TRANSPORT_BITS;
}

static int tr_set_features(void *opaque, uint64_t features)
{
    struct fe *f = opaque;
    uint64_t all = features | (f->features & TRANSPORT_BITS);

    CHECK(fe_send(f, VHOST_USER_SET_FEATURES, VHOST_USER_FLAG_NEED_REPLY, &all,
                  8, NULL, 0));
    uint64_t ack = 1;
    CHECK(fe_recv(f, VHOST_USER_SET_FEATURES, &ack, sizeof(ack)) == 8);
    return ack == 0 ? 0 : -EINVAL;
}

int fe_config_read(struct fe *f, uint32_t offset, void *buf, uint32_t len)
{
    struct {
        uint32_t offset, size, flags;
        uint8_t data[256];
    } cfg = {offset, len, 0, {0}};

    if (len > sizeof(cfg.data)) {
        return -EINVAL;
    }
    CHECK(fe_send(f, VHOST_USER_GET_CONFIG, 0, &cfg, 12 + len, NULL, 0));
    int size = fe_recv(f, VHOST_USER_GET_CONFIG, &cfg, sizeof(cfg));
    if (size != (int)(12 + len)) {
        return -EINVAL; /* an empty reply: out of range */
    }
    memcpy(buf, cfg.data, len);
    return 0;
}

uint64_t fe_config_write(struct fe *f, uint32_t offset, const void *buf,
                         uint32_t len)
{
    struct {
        uint32_t offset, size, flags;
        uint8_t data[256];
    } cfg = {offset, len, 0, {0}};

    CHECK(len <= sizeof(cfg.data));
    memcpy(cfg.data, buf, len);
    return fe_acked(f, VHOST_USER_SET_CONFIG, &cfg, 12 + len, NULL, 0);
}

static int tr_config_read(void *opaque, uint32_t offset, void *buf,
                          uint32_t len)
{
    return fe_config_read(opaque, offset, buf, len);
}

static uint32_t tr_send(void *opaque, const void *in, size_t in_len, void *out,
                        size_t out_len)
{
    int used = fe_request(opaque, in, in_len, out, out_len, false);

    return used < 0 ? 0 : (uint32_t)used;
}

void fe_transport(struct fe *f, struct vdrv_transport *t)
{
    *t = (struct vdrv_transport){tr_features, tr_set_features, tr_config_read,
                                 tr_send, f};
}

const char *fe_control_read(struct fe_control *c)
{
    static char line[sizeof(c->buf)];

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            memcpy(line, c->buf, n);
            line[n] = '\0';
            c->len -= n + 1;
            memmove(c->buf, nl + 1, c->len);
            return line;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (c->len == sizeof(c->buf) || poll(&pfd, 1, 2000) != 1) {
            return NULL;
        }
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n <= 0) {
            return NULL;
        }
        c->len += (size_t)n;
    }
}

const char *fe_control_open(struct fe_control *c, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    CHECK(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    c->len = 0;
    c->events = 0;
    c->last_event[0] = '\0';
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c->fd >= 0);
    CHECK(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    return fe_control_read(c);
}

const char *fe_control_command(struct fe_control *c, const char *cmd)
{
    size_t len = strlen(cmd);

    CHECK(send(c->fd, cmd, len, MSG_NOSIGNAL) == (ssize_t)len);
    for (;;) {
        const char *line = fe_control_read(c);
        if (line == NULL || strncmp(line, "{\"event\":", 9) != 0) {
            return line;
        }
        c->events++;
        snprintf(c->last_event, sizeof(c->last_event), "%s", line);
    }
}
