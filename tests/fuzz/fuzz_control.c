/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the daemon's control socket (daemon/control.c): its
 * listener and real client sockets, served by control_serve() as the event
 * loop serves them, on a device that the fuzzer also drives as the
 * vhost-user frontend and the guest (peer.h). Each input is a sequence of
 * operations:
 *
 * - clients connect (more than there are slots), send commands built from
 *   the command table with good and bad arguments and ids, several in one
 *   write with separators or garbage between, one in pieces served apart,
 *   free text, bursts of one command, a command too large; they stop
 *   reading and resume, hang up half-way or close with replies unread;
 *   time passes for idle clients (a new one may evict them);
 * - the guest attaches, detaches, maps and unmaps through the request
 *   queue, gives the event queue buffers, and a device makes a DMA that is
 *   refused (a fault report); the frontend reconnects (a device reset).
 *
 * After each operation, every line a client read must be one JSON object:
 * the greeting first, naming the command table, then replies ({"return"}
 * or {"error": {class, desc}}) and ENDPOINT_REMOVED events. A checker
 * client that behaves asks query-stats: its answer, with its id, must
 * agree with viommu_get_stats(), and it must have seen every endpoint
 * removal as one event, in order. At the end the paged query-endpoints,
 * query-domains and query-mappings must agree with the library's own
 * walks, and no fd may be left open.
 *
 * With FUZZ_LOG in the environment the harness shows the daemon's log and
 * every line the clients read; with VIOMMU_CONTROL_SEEDS=DIR it writes
 * the seed corpus into DIR and exits.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/virtio_iommu.h>

#include "control.h"
#include "input.h"
#include "log.h"
#include "peer.h"
#include "spec.h"
#include "vhost_user.h"

#define NR_CLIENTS 9 /* with the checker, more than the daemon's slots */
#define REPLY_ACK (1ULL << 3) /* vhost-user protocol feature */
#define SETTLE_STEPS 3
#define TEXT_MAX 4096

/* device-add and device-remove: without vfio-user servers here, always an
 * error reply. */
static const char *const commands[] = {
    "endpoint-add",  "endpoint-remove", "endpoint-replug", "query-endpoints",
    "query-domains", "query-mappings",  "query-stats",     "translate",
    "device-add",    "device-remove",
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* A client of the control socket, as the harness holds it. */
struct client {
    int fd; /* -1: none */
    bool reading;
    bool greeted;
    char *buf; /* bytes of a line not yet whole */
    size_t len, cap;
};

struct fuzz {
    struct viommu *v;
    struct vu_dev d;
    struct peer p;
    struct control ctl;
    struct client cl[NR_CLIENTS];
    struct client checker;
    int checker_slot; /* the daemon's slot for it */
    /* Endpoint removals the daemon made, and the events the checker saw. */
    unsigned removed, events;
    uint32_t last_removed, last_event;
    /* The checker's last reply with the id it waits for. */
    const char *want_id;
    struct json_object *reply;
    unsigned next_id;
};

static char socket_path[108];
static bool verbose; /* FUZZ_LOG in the environment: what clients read */

static void removed(void *opaque, uint32_t id, int host_err)
{
    struct fuzz *f = opaque;

    f->removed++;
    f->last_removed = id;
    control_endpoint_removed(&f->ctl, id, host_err);
}

/* ---- what the daemon says ---- */

static struct json_object *member(struct json_object *o, const char *key,
                                  enum json_type type)
{
    struct json_object *m;

    if (!json_object_object_get_ex(o, key, &m) ||
        !json_object_is_type(m, type)) {
        fprintf(stderr, "no %s of type %d in %s\n", key, (int)type,
                json_object_to_json_string(o));
        abort();
    }
    return m;
}

static void check_greeting(struct json_object *o)
{
    struct json_object *body = member(o, "viommu", json_type_object);
    struct json_object *names = member(body, "commands", json_type_array);

    if (strcmp(
            json_object_get_string(member(body, "version", json_type_string)),
            VIOMMU_DAEMON_VERSION) != 0 ||
        json_object_array_length(names) != NR_COMMANDS) {
        abort();
    }
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        struct json_object *n = json_object_array_get_idx(names, i);
        if (!json_object_is_type(n, json_type_string) ||
            strcmp(json_object_get_string(n), commands[i]) != 0) {
            abort(); /* a command the harness does not fuzz */
        }
    }
}

static void check_error(struct json_object *e)
{
    static const char *const classes[] = {"GenericError", "CommandNotFound",
                                          "DeviceNotFound", "Fault"};
    const char *class =
        json_object_get_string(member(e, "class", json_type_string));

    (void)member(e, "desc", json_type_string);
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (strcmp(class, classes[i]) == 0) {
            return;
        }
    }
    abort();
}

static void check_event(struct fuzz *f, struct client *c, struct json_object *o)
{
    struct json_object *data = member(o, "data", json_type_object);
    struct json_object *ts = member(o, "timestamp", json_type_object);

    const char *name =
        json_object_get_string(member(o, "event", json_type_string));

    (void)member(ts, "seconds", json_type_int);
    (void)member(ts, "microseconds", json_type_int);
    if (strcmp(name, "CLIENT_EVICTED") == 0) {
        (void)member(data, "reason", json_type_string); /* then closed */
        return;
    }
    if (strcmp(name, "ENDPOINT_REMOVED") != 0) {
        abort();
    }
    (void)member(data, "host-error", json_type_int);
    if (c == &f->checker) {
        f->events++;
        f->last_event =
            (uint32_t)json_object_get_uint64(member(data, "id", json_type_int));
    }
}

/* One line the daemon sent to client c: exactly one JSON object. */
static void check_line(struct fuzz *f, struct client *c, const char *line,
                       size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o, *m;

    if (tok == NULL) {
        abort();
    }
    if (verbose) {
        fprintf(stderr, "%s: %.*s\n", c == &f->checker ? "checker" : "client",
                (int)len, line);
    }
    o = json_tokener_parse_ex(tok, line, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len ||
        !json_object_is_type(o, json_type_object)) {
        fprintf(stderr, "not one JSON object: %.*s\n", (int)len, line);
        abort();
    }
    json_tokener_free(tok);
    unsigned kinds = json_object_object_get_ex(o, "return", NULL) +
                     json_object_object_get_ex(o, "error", NULL) +
                     json_object_object_get_ex(o, "event", NULL) +
                     json_object_object_get_ex(o, "viommu", NULL);
    if (kinds != 1 ||
        c->greeted != !json_object_object_get_ex(o, "viommu", NULL)) {
        fprintf(stderr, "unexpected line: %.*s\n", (int)len, line);
        abort();
    }
    if (!c->greeted) {
        check_greeting(o);
        c->greeted = true;
    } else if (json_object_object_get_ex(o, "error", &m)) {
        check_error(m);
    } else if (json_object_object_get_ex(o, "event", NULL)) {
        check_event(f, c, o);
    }
    if (c == &f->checker && f->want_id != NULL &&
        json_object_object_get_ex(o, "id", &m) &&
        json_object_is_type(m, json_type_string) &&
        strcmp(json_object_get_string(m), f->want_id) == 0) {
        json_object_put(f->reply);
        f->reply = json_object_get(o);
    }
    json_object_put(o);
}

static void client_close(struct client *c)
{
    close(c->fd);
    free(c->buf);
    *c = (struct client){.fd = -1};
}

/* Reads what the daemon sent to c and checks each whole line; a client
 * the daemon closed is closed. */
static void client_read(struct fuzz *f, struct client *c)
{
    ssize_t n;

    while (c->fd >= 0) {
        if (c->cap - c->len < 4096) {
            c->cap = c->cap ? 2 * c->cap : 8192;
            c->buf = realloc(c->buf, c->cap);
            if (c->buf == NULL) {
                abort();
            }
        }
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            client_close(c);
            return;
        }
        c->len += (size_t)n;
        char *start = c->buf, *nl;
        while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) !=
               NULL) {
            check_line(f, c, start, (size_t)(nl - start));
            start = nl + 1;
        }
        c->len -= (size_t)(start - c->buf);
        memmove(c->buf, start, c->len);
    }
}

/* ---- the event loop ---- */

/* One turn of the daemon's loop: the guest's queues first, then the
 * control socket, then the fault reports; then the frontend's messages. */
static void step(struct fuzz *f)
{
    struct pollfd pfd[VU_NR_QUEUES + 1 + CONTROL_MAX_CLIENTS];

    vu_kick_fds(&f->d, pfd);
    unsigned n = control_poll_fds(&f->ctl, &pfd[VU_NR_QUEUES]);
    if (poll(pfd, VU_NR_QUEUES + n, 0) < 0) {
        abort();
    }
    for (unsigned q = 0; q < VU_NR_QUEUES; q++) {
        if (pfd[q].revents || (q == 0 && vu_busy(&f->d))) {
            peer_kick(&f->p, q);
        }
    }
    control_serve(&f->ctl, &pfd[VU_NR_QUEUES], n);
    peer_serve_events(&f->p);
    (void)peer_pump(&f->p);
}

static void settle(struct fuzz *f)
{
    for (unsigned i = 0; i < SETTLE_STEPS; i++) {
        step(f);
    }
    for (unsigned i = 0; i < NR_CLIENTS; i++) {
        if (f->cl[i].reading) {
            client_read(f, &f->cl[i]);
        }
    }
    client_read(f, &f->checker);
}

/* Writes to c what the socket takes, the daemon served between tries;
 * the client is closed if the daemon has gone away from it. */
static void client_send(struct fuzz *f, struct client *c, const char *text,
                        size_t len)
{
    for (unsigned tries = 0; c->fd >= 0 && len > 0 && tries < 64; tries++) {
        ssize_t n = send(c->fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            text += n;
            len -= (size_t)n;
        } else if (errno != EAGAIN) {
            client_close(c);
            return;
        } else {
            step(f);
        }
    }
}

static struct client *new_client(struct client *c)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        abort();
    }
    strcpy(addr.sun_path, socket_path);
    c->reading = true;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        client_close(c); /* the backlog is full */
    }
    return c;
}

/* The checker's command and its reply, the daemon serving only it, so
 * that nothing else changes the device meanwhile. */
static struct json_object *ask(struct fuzz *f, const char *execute,
                               const char *args)
{
    char text[256], id[32];

    snprintf(id, sizeof(id), "check-%u", f->next_id++);
    snprintf(text, sizeof(text),
             "{\"execute\": \"%s\", \"arguments\": {%s}, \"id\": \"%s\"}",
             execute, args, id);
    f->want_id = id;
    client_send(f, &f->checker, text, strlen(text));
    for (unsigned i = 0; f->reply == NULL && i < 64; i++) {
        struct pollfd pfd[1 + CONTROL_MAX_CLIENTS];
        unsigned n = control_poll_fds(&f->ctl, pfd);
        if (poll(pfd, n, 0) < 0) {
            abort();
        }
        for (unsigned k = 0; k < n; k++) {
            if (k != 1 + (unsigned)f->checker_slot) {
                pfd[k].revents = 0;
            }
        }
        control_serve(&f->ctl, pfd, n);
        client_read(f, &f->checker);
    }
    f->want_id = NULL;
    if (f->checker.fd < 0 || f->reply == NULL) {
        abort(); /* a client that behaves is served */
    }
    struct json_object *r = f->reply;
    f->reply = NULL;
    return r;
}

static uint64_t u64(struct json_object *o, const char *key)
{
    return json_object_get_uint64(member(o, key, json_type_int));
}

/* query-stats agrees with the library, and every removal was told. */
static void check_stats(struct fuzz *f)
{
    struct viommu_stats st = {.size = sizeof(st)};
    struct json_object *r = ask(f, "query-stats", "");
    struct json_object *o = member(r, "return", json_type_object);

    if (viommu_get_stats(f->v, &st) != 0 ||
        u64(o, "endpoints") != st.endpoints ||
        u64(o, "domains") != st.domains || u64(o, "mappings") != st.mappings ||
        u64(o, "pending-faults") != st.pending_faults ||
        u64(o, "dropped-faults") != st.dropped_faults ||
        u64(o, "host-contexts") != st.host_contexts ||
        u64(o, "host-errors") != st.host_errors) {
        fprintf(stderr, "query-stats %s disagrees\n",
                json_object_to_json_string(o));
        abort();
    }
    if (f->events != f->removed ||
        (f->removed > 0 && f->last_event != f->last_removed)) {
        abort();
    }
    json_object_put(r);
}

/* ---- the end: pages against the library's walks ---- */

struct ids {
    uint32_t *id;
    size_t n, cap;
};

static int collect(void *opaque, uint32_t id)
{
    struct ids *l = opaque;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->id = realloc(l->id, l->cap * sizeof(*l->id));
        if (l->id == NULL) {
            abort();
        }
    }
    l->id[l->n++] = id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The endpoints of domain d as the page lists them (in no set order) are
 * the library's. */
static void check_members(struct fuzz *f, uint32_t d, struct json_object *eps)
{
    struct ids lib = {0}, listed = {0};

    if (viommu_domain_foreach_endpoint(f->v, d, collect, &lib) != 0) {
        abort();
    }
    for (size_t i = 0; i < json_object_array_length(eps); i++) {
        struct json_object *e = json_object_array_get_idx(eps, i);
        if (!json_object_is_type(e, json_type_int)) {
            abort();
        }
        (void)collect(&listed, (uint32_t)json_object_get_uint64(e));
    }
    if (lib.n != listed.n) {
        abort();
    }
    qsort(lib.id, lib.n, sizeof(*lib.id), cmp_id);
    qsort(listed.id, listed.n, sizeof(*listed.id), cmp_id);
    if (lib.n > 0 && memcmp(lib.id, listed.id, lib.n * sizeof(*lib.id)) != 0) {
        abort();
    }
    free(lib.id);
    free(listed.id);
}

/* query-mappings of domain d: its total and a first page in IOVA order. */
static void check_mappings(struct fuzz *f, uint32_t d, uint64_t mappings,
                           unsigned limit)
{
    char args[64];

    snprintf(args, sizeof(args), "\"domain\": %u, \"limit\": %u", d, limit);
    struct json_object *r = ask(f, "query-mappings", args);
    struct json_object *o = member(r, "return", json_type_object);
    struct json_object *list = member(o, "mappings", json_type_array);
    size_t n = json_object_array_length(list);
    uint64_t prev = 0;

    if (u64(o, "total") != mappings ||
        n != (mappings < limit ? mappings : limit)) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(list, i);
        if ((i > 0 && u64(m, "iova") <= prev) ||
            u64(m, "last") < u64(m, "iova")) {
            abort();
        }
        prev = u64(m, "last");
    }
    json_object_put(r);
}

/*
 * Runs, reading nothing new, what the other clients have already sent, until
 * none has a command left in the daemon's buffer: from then on only the
 * checker's own commands run, so a walk of the library taken now is what
 * the daemon's queries see.
 */
static void quiesce(struct fuzz *f)
{
    for (unsigned turn = 0; turn < 4096; turn++) {
        struct pollfd pfd[1 + CONTROL_MAX_CLIENTS];
        bool buffered = false;
        for (int k = 0; k < CONTROL_MAX_CLIENTS; k++) {
            const struct control_client *cl = &f->ctl.clients[k];
            buffered |= k != f->checker_slot && cl->fd >= 0 && !cl->dead &&
                        cl->in_off < cl->in_len;
        }
        if (!buffered) {
            return;
        }
        unsigned n = control_poll_fds(&f->ctl, pfd);
        for (unsigned k = 0; k < n; k++) {
            pfd[k].revents = 0;
        }
        control_serve(&f->ctl, pfd, n);
    }
    abort(); /* buffered commands that never run */
}

/*
 * Walks query-endpoints or query-domains page by page (a full page: ask
 * again from the last ID + 1) and checks each item against the library:
 * the same IDs in the same order, each endpoint's domain, each domain's
 * bypass flag, endpoints and mappings.
 */
static void check_pages(struct fuzz *f, bool domains, unsigned limit)
{
    struct ids lib = {0};
    size_t seen = 0;
    uint64_t from = 0;
    bool full = true;

    quiesce(f);
    if ((domains ? viommu_foreach_domain(f->v, 0, collect, &lib)
                 : viommu_foreach_endpoint(f->v, 0, collect, &lib)) != 0) {
        abort();
    }
    while (full && from <= UINT32_MAX) {
        char args[64];
        snprintf(args, sizeof(args), "\"from\": %llu, \"limit\": %u",
                 (unsigned long long)from, limit);
        struct json_object *r =
            ask(f, domains ? "query-domains" : "query-endpoints", args);
        struct json_object *page = member(r, "return", json_type_array);
        size_t n = json_object_array_length(page);
        for (size_t i = 0; i < n; i++) {
            struct json_object *item = json_object_array_get_idx(page, i);
            uint32_t id = (uint32_t)u64(item, "id");
            if (seen == lib.n || id != lib.id[seen++]) {
                abort();
            }
            if (domains) {
                struct viommu_domain_info info = {.size = sizeof(info)};
                if (viommu_domain_info(f->v, id, &info) != 0 ||
                    json_object_get_boolean(member(
                        item, "bypass", json_type_boolean)) != info.bypass ||
                    u64(item, "mappings") != info.mappings) {
                    abort();
                }
                check_members(f, id,
                              member(item, "endpoints", json_type_array));
                check_mappings(f, id, info.mappings, limit);
            } else {
                struct json_object *d;
                uint32_t domain;
                bool attached =
                    viommu_endpoint_domain(f->v, id, &domain, NULL) == 0;
                if (!json_object_object_get_ex(item, "domain", &d) ||
                    (attached ? !json_object_is_type(d, json_type_int) ||
                                    json_object_get_uint64(d) != domain
                              : d != NULL)) {
                    abort();
                }
            }
            from = (uint64_t)id + 1;
        }
        full = n == limit;
        json_object_put(r);
    }
    if (seen != lib.n) {
        abort();
    }
    free(lib.id);
}

/* ---- what clients send ---- */

/* Appends printf-style text to the buffer of cap bytes at *len. */
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
    }
}

/* A value for an ID, a count or an address: mostly small and valid, else
 * at or beyond a limit, negative, or of another type. */
static void value(struct input *in, bool address, char *out, size_t cap,
                  size_t *len)
{
    static const char *const odd[] = {"4294967295",
                                      "4294967296",
                                      "18446744073709551615",
                                      "18446744073709551616",
                                      "-1",
                                      "1.5",
                                      "\"1\"",
                                      "null",
                                      "true",
                                      "[]",
                                      "{}",
                                      "65536",
                                      "4096",
                                      "4097",
                                      "0"};
    unsigned b = (unsigned)take(in, 1);

    if (b < 0xa0) {
        if (address) {
            put(out, cap, len, "%llu",
                (unsigned long long)((b % 16) * 0x1000 + take(in, 1) * 0x10));
        } else {
            put(out, cap, len, "%u", b % 8);
        }
    } else {
        put(out, cap, len, "%s", odd[b % (sizeof(odd) / sizeof(odd[0]))]);
    }
}

/* Each argument of each command; an address when the value is one. */
static const struct argument {
    const char *name;
    bool address;
} arguments[NR_COMMANDS][4] = {
    {{"id", false}, {"last", false}, {"group", false}, {"reserved", true}},
    {{"id", false}},
    {{"id", false}},
    {{"from", false}, {"limit", false}},
    {{"from", false}, {"limit", false}},
    {{"domain", false}, {"limit", false}},
    {{NULL, false}},
    {{"endpoint", false}, {"iova", true}, {"write", false}},
    {{"socket", false}, {"host", false}, {"endpoint", false}},
    {{"endpoint", false}},
};

static void reserved(struct input *in, char *out, size_t cap, size_t *len)
{
    unsigned n = (unsigned)take(in, 1) % 4;

    put(out, cap, len, "[");
    for (unsigned i = 0; i < n; i++) {
        put(out, cap, len, "%s{\"start\": ", i ? ", " : "");
        value(in, true, out, cap, len);
        put(out, cap, len, ", \"end\": ");
        value(in, true, out, cap, len);
        put(out, cap, len, "}");
    }
    put(out, cap, len, "]");
}

/*
 * One command: its name from the table (or none, an unknown one, one cut
 * short or with a NUL inside, a number), arguments each there or not with
 * a value from value() (or arguments that are no object, or an extra
 * one), and an id of any type, or none; rarely no object at all.
 */
static void command(struct input *in, char *out, size_t cap, size_t *len)
{
    static const char *const bad_names[] = {
        "\"quit\"", "\"query-stats\\u0000x\"", "5", "\"query-stat\""};
    static const char *const ids[] = {"1", "\"a\"", "{\"x\": [1, 2]}", "null",
                                      "-7"};
    unsigned how = (unsigned)take(in, 1);
    unsigned c = (unsigned)take(in, 1);
    unsigned present = (unsigned)take(in, 1);

    if (how == 0xff) {
        put(out, cap, len, "[1, {\"execute\": \"query-stats\"}] ");
        return;
    }
    put(out, cap, len, "{");
    if (c % 16 < 14) {
        put(out, cap, len, "\"execute\": \"%s\"", commands[c % NR_COMMANDS]);
    } else {
        put(out, cap, len, "\"execute\": %s", bad_names[(c >> 4) % 4]);
    }
    if (how & 1) {
        put(out, cap, len, ", \"arguments\": [1]");
    } else if (!(how & 2)) {
        const struct argument *a = arguments[c % NR_COMMANDS];
        put(out, cap, len, ", \"arguments\": {");
        for (unsigned i = 0, first = 1; i < 4 && a[i].name != NULL; i++) {
            if (!(present & (1u << i))) {
                continue;
            }
            put(out, cap, len, "%s\"%s\": ", first ? "" : ", ", a[i].name);
            first = 0;
            if (strcmp(a[i].name, "reserved") == 0 && (present & 0x80)) {
                reserved(in, out, cap, len);
            } else {
                value(in, a[i].address, out, cap, len);
            }
        }
        if (present & 0x40) {
            put(out, cap, len, "%s\"extra\": 1", present & 0xf ? ", " : "");
        }
        put(out, cap, len, "}");
    }
    if (how & 4) {
        put(out, cap, len, ", \"id\": %s", ids[(how >> 3) % 5]);
    }
    put(out, cap, len, "}");
}

/* What goes between commands in one write. */
static void separator(struct input *in, char *out, size_t cap, size_t *len)
{
    static const char *const seps[] = {"",  " ", "\n", "\r\n\t", "x",
                                       "}", "{", "\"", "[[",     "]"};

    put(out, cap, len, "%s", seps[take(in, 1) % 10]);
}

/* Sends text on c in up to three pieces, the daemon served between. */
static void send_pieces(struct fuzz *f, struct client *c, struct input *in,
                        const char *text, size_t len)
{
    unsigned pieces = 1 + take(in, 1) % 3;
    size_t from = 0;

    for (unsigned i = 1; i < pieces && from < len; i++) {
        size_t to = from + take(in, 1) % (len - from + 1);
        client_send(f, c, text + from, to - from);
        step(f);
        from = to;
    }
    client_send(f, c, text + from, len - from);
}

static struct client *pick(struct fuzz *f, struct input *in)
{
    return &f->cl[take(in, 1) % NR_CLIENTS];
}

/* ---- the guest and the frontend ---- */

/* An ATTACH, DETACH, MAP or UNMAP with small IDs on the request queue,
 * kicked: served at the next turn of the loop. */
static void guest_request(struct fuzz *f, struct input *in)
{
    uint8_t req[PEER_REQ_MAX] = {0};
    uint8_t type = 1 + take(in, 1) % 4;
    uint32_t domain = htole32((uint32_t)take(in, 1) % 4);
    uint32_t ep = htole32((uint32_t)take(in, 1) % 6);
    /* Where value() puts the addresses of translate. */
    uint64_t start = (take(in, 1) % 16) * 0x1000;
    uint64_t end = htole64(start + (take(in, 1) % 4 + 1) * 0x1000 - 1);
    uint32_t flags = htole32((uint32_t)take(in, 1) % 8);
    size_t tail = sizeof(struct virtio_iommu_req_tail), len;

    req[0] = type;
    start = htole64(start);
    switch (type) {
    case VIRTIO_IOMMU_T_ATTACH:
    case VIRTIO_IOMMU_T_DETACH:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &ep, 4);
        len = sizeof(struct virtio_iommu_req_attach) - tail;
        break;
    case VIRTIO_IOMMU_T_MAP:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &start, 8);
        memcpy(req + 16, &end, 8);
        memcpy(req + 24, &start, 8);
        memcpy(req + 32, &flags, 4);
        len = sizeof(struct virtio_iommu_req_map) - tail;
        break;
    default:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &start, 8);
        memcpy(req + 16, &end, 8);
        len = sizeof(struct virtio_iommu_req_unmap) - tail;
        break;
    }
    (void)peer_post(&f->p, 0, req, len, tail, false, true);
}

/* The frontend comes back (the device is reset) and sets up again, with
 * REPLY_ACK. */
static void frontend_again(struct fuzz *f)
{
    peer_reconnect(&f->p);
    peer_setup(&f->p, vu_features(&f->d), REPLY_ACK);
}

/* Every client but the checker looks idle for long enough to be evicted. */
static void time_passes(struct fuzz *f)
{
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (i != f->checker_slot) {
            f->ctl.clients[i].last_active -= CONTROL_EVICT_IDLE_MS;
        }
    }
}

/* ---- the input ---- */

/* The operations; any other code sends a command. */
enum {
    OP_CONNECT,
    OP_SEVERAL,
    OP_TEXT,
    OP_BURST,
    OP_CLIENT,
    OP_LARGE,
    OP_GUEST,
    OP_EVENT_BUFFERS,
    OP_DMA,
    OP_FRONTEND,
    OP_TIME,
    OP_STEP,
    NR_OPS
};

static void operation(struct fuzz *f, struct input *in)
{
    static char text[64 * TEXT_MAX];
    struct client *c;
    size_t len = 0;

    switch (take(in, 1) % (NR_OPS + 2)) {
    case OP_CONNECT:
        c = pick(f, in);
        if (c->fd < 0) {
            new_client(c);
        }
        break;
    case OP_SEVERAL: { /* several in one write, things between */
        unsigned n = 2 + take(in, 1) % 4;
        c = pick(f, in);
        for (unsigned i = 0; i < n; i++) {
            command(in, text, TEXT_MAX, &len);
            separator(in, text, TEXT_MAX, &len);
        }
        send_pieces(f, c, in, text, len);
        break;
    }
    case OP_TEXT: {
        c = pick(f, in);
        len = take(in, 1);
        for (size_t i = 0; i < len; i++) {
            text[i] = (char)take(in, 1);
        }
        client_send(f, c, text, len);
        break;
    }
    case OP_BURST: { /* replies pile up unread */
        unsigned n = 1 + (unsigned)take(in, 1);
        size_t one;
        c = pick(f, in);
        command(in, text, TEXT_MAX, &len);
        one = len;
        for (unsigned i = 1; i < n && len + one < sizeof(text); i++) {
            memcpy(text + len, text, one);
            len += one;
        }
        client_send(f, c, text, len);
        break;
    }
    case OP_CLIENT:
        c = pick(f, in);
        switch (take(in, 1) % 3) {
        case 0:
            c->reading = !c->reading;
            break;
        case 1:
            if (c->fd >= 0) {
                client_close(c); /* replies unread or not */
            }
            break;
        default:
            if (c->fd >= 0 && shutdown(c->fd, SHUT_WR) != 0) {
                abort(); /* hangs up, maybe inside a command */
            }
            break;
        }
        break;
    case OP_LARGE: { /* or one too large */
        bool too_large = take(in, 1) % 4 == 0;
        size_t id_len =
            too_large ? CONTROL_MAX_OBJECT : 256 * (take(in, 1) % 32);
        c = pick(f, in);
        put(text, sizeof(text), &len,
            "{\"execute\": \"query-stats\", \"id\": \"");
        memset(text + len, 'a', id_len);
        len += id_len;
        put(text, sizeof(text), &len, "\"}");
        client_send(f, c, text, len);
        /* The daemon reads it a bite at a time, to the end or the limit. */
        for (unsigned i = 0; too_large && i < 2 * id_len / 256 && c->fd >= 0;
             i++) {
            step(f);
            if (c->reading && i % 16 == 15) {
                client_read(f, c);
            }
        }
        break;
    }
    case OP_GUEST:
        guest_request(f, in);
        break;
    case OP_EVENT_BUFFERS: {
        unsigned n = 1 + take(in, 1) % 4;
        for (unsigned i = 0; i < n; i++) {
            (void)peer_post(&f->p, 1, NULL, 0, 24, false, true);
        }
        break;
    }
    case OP_DMA: { /* refused: a fault report */
        struct viommu_translation t = {.size = sizeof(t)};
        (void)viommu_translate(f->v, take(in, 1) % 6, take(in, 1) << 12,
                               VIOMMU_ACCESS_WRITE, &t);
        break;
    }
    case OP_FRONTEND:
        frontend_again(f);
        break;
    case OP_TIME:
        time_passes(f);
        break;
    case OP_STEP:
        step(f);
        break;
    default:
        c = pick(f, in);
        command(in, text, TEXT_MAX, &len);
        put(text, TEXT_MAX, &len, "\n");
        send_pieces(f, c, in, text, len);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz f;
    struct input in = {data, size};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .max_domains = 8,
        .max_mappings = 64,
        .max_pending_faults = 4,
        .endpoint_removed = removed,
        .endpoint_removed_opaque = &f,
    };
    struct endpoint_spec spec;
    const char *why;

    dlog_level = -1; /* silent */
    if (verbose) {
        dlog_level = VIOMMU_LOG_DEBUG;
        cfg.log = dlog_device;
        cfg.max_log_level = VIOMMU_LOG_DEBUG;
    }
    f.v = viommu_new(&cfg);
    control_init(&f.ctl);
    if (f.v == NULL || spec_from_text(&spec, "0-3", &why) != 0 ||
        spec_declare(f.v, &f.ctl.ranges, &spec) != 0) {
        abort();
    }
    vu_init(&f.d, f.v);
    peer_init(&f.p, &f.d);
    peer_setup(&f.p, vu_features(&f.d), REPLY_ACK);
    if (control_open(&f.ctl, f.v, socket_path) != 0) {
        abort();
    }
    f.removed = f.events = 0;
    f.next_id = 0;
    for (unsigned i = 0; i < NR_CLIENTS; i++) {
        f.cl[i] = (struct client){.fd = -1};
    }
    f.checker = (struct client){.fd = -1};
    new_client(&f.checker);
    settle(&f);
    f.checker_slot = -1;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (f.ctl.clients[i].fd >= 0) {
            f.checker_slot = i;
        }
    }
    if (f.checker_slot < 0 || !f.checker.greeted) {
        abort();
    }

    while (in.left > 0) {
        operation(&f, &in);
        settle(&f);
        check_stats(&f);
    }
    unsigned limit = 1 + (unsigned)(size % 5);
    check_pages(&f, false, limit);
    check_pages(&f, true, limit);

    for (unsigned i = 0; i < NR_CLIENTS; i++) {
        if (f.cl[i].fd >= 0) {
            client_close(&f.cl[i]);
        }
    }
    client_close(&f.checker);
    control_close(&f.ctl);
    unlink(socket_path);
    peer_fini(&f.p);
    viommu_free(f.v);
    return 0;
}

/* ---- the seed corpus ---- */

struct seed {
    uint8_t b[8192];
    size_t len;
};

static void op(struct seed *s, unsigned n, const uint8_t *b)
{
    memcpy(s->b + s->len, b, n);
    s->len += n;
}

/* Client c sends text as it is. */
static void says(struct seed *s, uint8_t c, const char *text)
{
    uint8_t h[3] = {OP_TEXT, c, (uint8_t)strlen(text)};

    op(s, 3, h);
    op(s, h[2], (const uint8_t *)text);
}

static void connects(struct seed *s, uint8_t c)
{
    op(s, 2, (uint8_t[]){OP_CONNECT, c});
}

/* The guest's request of type t (guest_request()'s fields). */
static void guest(struct seed *s, uint8_t t, uint8_t domain, uint8_t ep,
                  uint8_t page, uint8_t flags)
{
    op(s, 7, (uint8_t[]){OP_GUEST, t - 1, domain, ep, page, 0, flags});
}

static void write_seed(const char *dir, const char *name, struct seed *s)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL || fwrite(s->b, 1, s->len, out) != s->len ||
        fclose(out) != 0) {
        abort();
    }
    s->len = 0;
}

#define EXEC(name) "{\"execute\": \"" name "\""
#define ARGS(name, args) EXEC(name) ", \"arguments\": {" args "}}\n"

/* Every command of the table with good and bad arguments, and the ways
 * clients misbehave, as sequences the fuzzer starts from. */
static void write_seeds(const char *dir)
{
    struct seed s = {.len = 0};

    connects(&s, 0);
    says(&s, 0,
         ARGS("endpoint-add", "\"id\": 8, \"last\": 9, \"group\": 1, "
                              "\"reserved\": [{\"start\": 4096, \"end\": "
                              "8191}]"));
    says(&s, 0, ARGS("query-endpoints", ""));
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 8"));
    says(&s, 0, ARGS("query-endpoints", "\"from\": 8, \"limit\": 1"));
    write_seed(dir, "endpoint-add", &s);

    connects(&s, 0);
    says(&s, 0, EXEC("endpoint-add") "}\n");
    says(&s, 0, ARGS("endpoint-add", "\"id\": \"8\""));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 9, \"last\": 8"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 0"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 0, \"last\": 4294967295"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 8, \"group\": 4294967296"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 8, \"reserved\": {}"));
    says(&s, 0,
         ARGS("endpoint-add", "\"id\": 8, \"reserved\": [{\"start\": 1}]"));
    says(&s, 0,
         ARGS("endpoint-add",
              "\"id\": 8, \"reserved\": [{\"start\": 2, \"end\": 1}]"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": -1"));
    write_seed(dir, "endpoint-add-bad", &s);

    connects(&s, 0);
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 3"));
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 3"));
    says(&s, 0, ARGS("endpoint-remove", "\"id\": \"x\""));
    says(&s, 0, ARGS("endpoint-remove", ""));
    write_seed(dir, "endpoint-remove", &s);

    connects(&s, 0);
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 2"));
    says(&s, 0, ARGS("endpoint-replug", "\"id\": 2"));
    says(&s, 0, ARGS("endpoint-replug", "\"id\": 2"));
    says(&s, 0, ARGS("endpoint-replug", "\"id\": 9"));
    says(&s, 0, ARGS("endpoint-add", "\"id\": 8, \"last\": 9"));
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 9"));
    says(&s, 0, ARGS("endpoint-replug", "\"id\": 9"));
    says(&s, 0, ARGS("endpoint-replug", "\"id\": \"x\""));
    write_seed(dir, "endpoint-replug", &s);

    connects(&s, 0);
    says(&s, 0, ARGS("query-endpoints", "\"from\": 2, \"limit\": 1"));
    says(&s, 0, ARGS("query-endpoints", "\"limit\": 0"));
    says(&s, 0, ARGS("query-endpoints", "\"limit\": 4097"));
    says(&s, 0, ARGS("query-endpoints", "\"from\": -1"));
    says(&s, 0, ARGS("query-endpoints", "\"from\": 4294967296"));
    write_seed(dir, "query-endpoints", &s);

    connects(&s, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 1, 0, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 2, 1, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 2, 2, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_MAP, 1, 0, 1, 3);
    says(&s, 0, ARGS("query-domains", ""));
    says(&s, 0, ARGS("query-domains", "\"from\": 2, \"limit\": 1"));
    says(&s, 0, ARGS("query-domains", "\"limit\": \"1\""));
    guest(&s, VIRTIO_IOMMU_T_DETACH, 2, 1, 0, 0);
    says(&s, 0, ARGS("query-domains", "\"from\": 2"));
    write_seed(dir, "query-domains", &s);

    connects(&s, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 1, 0, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_MAP, 1, 0, 1, 3);
    guest(&s, VIRTIO_IOMMU_T_MAP, 1, 0, 8, 1);
    says(&s, 0, ARGS("query-mappings", "\"domain\": 1"));
    says(&s, 0, ARGS("query-mappings", "\"domain\": 1, \"limit\": 1"));
    says(&s, 0, ARGS("query-mappings", "\"domain\": 9"));
    says(&s, 0, ARGS("query-mappings", ""));
    says(&s, 0, ARGS("query-mappings", "\"domain\": 1, \"limit\": 65537"));
    guest(&s, VIRTIO_IOMMU_T_UNMAP, 1, 0, 8, 0);
    says(&s, 0, ARGS("query-mappings", "\"domain\": 1"));
    write_seed(dir, "query-mappings", &s);

    connects(&s, 0);
    says(&s, 0, EXEC("query-stats") "}\n");
    says(&s, 0, ARGS("query-stats", ""));
    says(&s, 0, EXEC("query-stats") ", \"arguments\": [1]}\n");
    says(&s, 0, EXEC("query-stats") ", \"id\": {\"a\": [1, \"b\"]}}\n");
    write_seed(dir, "query-stats", &s);

    connects(&s, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 1, 0, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_MAP, 1, 0, 1, 1);
    says(&s, 0, ARGS("translate", "\"endpoint\": 0, \"iova\": 4096"));
    says(&s, 0,
         ARGS("translate", "\"endpoint\": 0, \"iova\": 4100, \"write\": true"));
    says(&s, 0, ARGS("translate", "\"endpoint\": 0, \"iova\": 65536"));
    says(&s, 0, ARGS("translate", "\"endpoint\": 99, \"iova\": 0"));
    says(&s, 0, ARGS("translate", "\"endpoint\": 0"));
    op(&s, 2, (uint8_t[]){OP_EVENT_BUFFERS, 3});
    op(&s, 3, (uint8_t[]){OP_DMA, 1, 2});
    write_seed(dir, "translate", &s);

    connects(&s, 0);
    says(&s, 0, EXEC("query-stats") "} garbage " EXEC("query-stats") "}\n");
    says(&s, 0, "not json\n");
    says(&s, 0, "[1, 2]\n42 \"text\" null\n");
    says(&s, 0, EXEC("quit") "}\n{\"execute\": 5}\n{\"arguments\": {}}\n");
    says(&s, 0, EXEC("query-stats") ", \"arguments\": 1}\n");
    says(&s, 0, EXEC("query-stats\\u0000") "}\n");
    says(&s, 0, EXEC("query-"));
    op(&s, 1, (uint8_t[]){OP_STEP});
    says(&s, 0, "stats\"}" EXEC("query-stats") "}");
    write_seed(dir, "protocol", &s);

    for (uint8_t c = 0; c < 8; c++) {
        connects(&s, c);
    }
    op(&s, 1, (uint8_t[]){OP_TIME});
    connects(&s, 8);
    op(&s, 3, (uint8_t[]){OP_CLIENT, 1, 1});           /* closes */
    op(&s, 3, (uint8_t[]){OP_CLIENT, 2, 0});           /* stops reading */
    op(&s, 6, (uint8_t[]){OP_BURST, 255, 2, 0, 2, 0}); /* query-endpoints */
    op(&s, 3, (uint8_t[]){OP_CLIENT, 2, 0});           /* reads again */
    says(&s, 3, EXEC("query-st"));
    op(&s, 3, (uint8_t[]){OP_CLIENT, 3, 2}); /* hangs up inside */
    write_seed(dir, "clients", &s);

    connects(&s, 0);
    op(&s, 3, (uint8_t[]){OP_LARGE, 0, 0});
    connects(&s, 1);
    op(&s, 4, (uint8_t[]){OP_LARGE, 1, 16, 1});
    write_seed(dir, "large", &s);

    connects(&s, 0);
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 1, 0, 0, 0);
    guest(&s, VIRTIO_IOMMU_T_MAP, 1, 0, 1, 3);
    says(&s, 0, ARGS("endpoint-remove", "\"id\": 0"));
    op(&s, 1, (uint8_t[]){OP_FRONTEND});
    guest(&s, VIRTIO_IOMMU_T_ATTACH, 1, 1, 0, 0);
    says(&s, 0, ARGS("query-domains", ""));
    write_seed(dir, "frontend", &s);
}

static char socket_dir[] = "/tmp/viommu-fuzz-control-XXXXXX";

static void remove_socket_dir(void)
{
    rmdir(socket_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("VIOMMU_CONTROL_SEEDS");

    (void)argc;
    (void)argv;
    if (seeds != NULL) {
        write_seeds(seeds);
        exit(0);
    }
    verbose = getenv("FUZZ_LOG") != NULL;
    if (mkdtemp(socket_dir) == NULL || atexit(remove_socket_dir) != 0) {
        abort();
    }
    snprintf(socket_path, sizeof(socket_path), "%s/ctl", socket_dir);
    return 0;
}
