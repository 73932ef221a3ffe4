/* SPDX-License-Identifier: BSD-3-Clause */
#include "control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "listen.h"
#include "log.h"
#include "vfio_user.h"

/* Items in one reply of a query, at most and by default: a page costs the
 * daemon well under a millisecond, so no client delays the guest longer. */
#define QUERY_PAGE 256

void control_init(struct control *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_fd = -1;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        c->clients[i].fd = -1;
    }
}

int control_open(struct control *c, struct viommu *v, const char *path)
{
    c->v = v;
    c->listen_fd = listen_unix(path, CONTROL_MAX_CLIENTS);
    return c->listen_fd < 0 ? -1 : 0;
}

/* Frees a client's slot. Only control_serve() and control_close() do,
 * when no command is running: elsewhere a client is only marked dead (a
 * command's own events may find its client gone before its reply). */
static void free_client(struct control_client *cl)
{
    close(cl->fd);
    json_tokener_free(cl->tok);
    free(cl->out);
    *cl = (struct control_client){.fd = -1};
}

static void drop_client(struct control_client *cl, const char *why)
{
    if (!cl->dead) {
        dlog(VIOMMU_LOG_WARN, "control client dropped: %s", why);
        cl->dead = true;
    }
}

/* Sends what the socket takes now; drops the client on an error. */
static void flush(struct control_client *cl)
{
    while (cl->out_len > 0 && !cl->dead) {
        ssize_t n =
            send(cl->fd, cl->out, cl->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            drop_client(cl, strerror(errno));
            return;
        }
        cl->out_len -= (size_t)n;
        memmove(cl->out, cl->out + n, cl->out_len);
    }
}

void control_close(struct control *c)
{
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (c->clients[i].fd >= 0) {
            free_client(&c->clients[i]);
        }
    }
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        c->listen_fd = -1;
    }
    spec_ranges_free(&c->ranges);
}

/* Queues obj and a newline for the client, frees obj, and sends what the
 * socket takes; a client too far behind is dropped. */
static void send_obj(struct control_client *cl, struct json_object *obj)
{
    const char *text =
        json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text) + 1;

    if (cl->dead) {
        json_object_put(obj);
        return;
    }
    if (cl->out_len + len > CONTROL_MAX_OUTPUT) {
        json_object_put(obj);
        drop_client(cl, "it reads too slowly");
        return;
    }
    if (cl->out_len + len > cl->out_cap) {
        size_t cap = cl->out_cap ? cl->out_cap : 4096;
        while (cap < cl->out_len + len) {
            cap *= 2;
        }
        char *out = realloc(cl->out, cap);
        if (out == NULL) {
            json_object_put(obj);
            drop_client(cl, "out of memory");
            return;
        }
        cl->out = out;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, text, len - 1);
    cl->out[cl->out_len + len - 1] = '\n';
    cl->out_len += len;
    json_object_put(obj);
    flush(cl);
}

static struct json_object *error(const char *class, const char *desc)
{
    struct json_object *e = json_object_new_object();
    struct json_object *body = json_object_new_object();

    json_object_object_add(body, "class", json_object_new_string(class));
    json_object_object_add(body, "desc", json_object_new_string(desc));
    json_object_object_add(e, "error", body);
    return e;
}

static struct json_object *ret(struct json_object *value)
{
    struct json_object *r = json_object_new_object();

    json_object_object_add(r, "return",
                           value != NULL ? value : json_object_new_object());
    return r;
}

/* {"event": name, "data": data, "timestamp": {seconds, microseconds}}. */
static struct json_object *event(const char *name, struct json_object *data)
{
    struct json_object *e = json_object_new_object();
    struct json_object *ts = json_object_new_object();
    struct timeval tv;

    gettimeofday(&tv, NULL);
    json_object_object_add(e, "event", json_object_new_string(name));
    json_object_object_add(e, "data", data);
    json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(ts, "microseconds",
                           json_object_new_int64(tv.tv_usec));
    json_object_object_add(e, "timestamp", ts);
    return e;
}

/* An integer argument in [0, max]: true and *out, or false. */
static bool get_uint(struct json_object *args, const char *key, uint64_t max,
                     uint64_t *out)
{
    struct json_object *o;

    if (args == NULL || !json_object_object_get_ex(args, key, &o) ||
        !json_object_is_type(o, json_type_int)) {
        return false;
    }
    errno = 0;
    uint64_t v = json_object_get_uint64(o);
    if (errno != 0 || json_object_get_int64(o) < 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool has(struct json_object *args, const char *key)
{
    return args != NULL && json_object_object_get_ex(args, key, NULL);
}

static struct json_object *cmd_endpoint_add(struct control *c,
                                            struct json_object *args)
{
    struct endpoint_spec spec;
    const char *why;

    if (spec_from_json(&spec, args, &why) != 0) {
        return error("GenericError", why);
    }
    int err = spec_declare(c->v, &c->ranges, &spec);
    if (err != 0) {
        return error("GenericError",
                     err == -EEXIST   ? "endpoint already declared"
                     : err == -E2BIG  ? "more than 65536 endpoints at once"
                     : err == -EINVAL ? "invalid endpoint"
                     : err == -ENOSPC ? "more than 1024 declared ranges"
                                      : strerror(-err));
    }
    return ret(NULL);
}

static struct json_object *cmd_endpoint_remove(struct control *c,
                                               struct json_object *args)
{
    uint64_t id;

    if (!get_uint(args, "id", UINT32_MAX, &id)) {
        return error("GenericError", "'id' must be an endpoint ID");
    }
    /* A served device's ENDPOINT_REMOVED must wait for its device to be
     * closed, which only device-remove (or its client leaving) does. */
    if (c->assigned != NULL && vfio_user_serves(c->assigned, (uint32_t)id)) {
        return error("GenericError", "the endpoint is a vfio-user device's: "
                                     "device-remove releases it");
    }
    /* Any other error is the host's: the endpoint is gone all the same,
     * and its ENDPOINT_REMOVED event says what the host left. */
    if (viommu_endpoint_remove(c->v, (uint32_t)id) == -ENOENT) {
        return error("DeviceNotFound", "no such endpoint");
    }
    return ret(NULL);
}

static struct json_object *cmd_endpoint_replug(struct control *c,
                                               struct json_object *args)
{
    uint64_t id;

    if (!get_uint(args, "id", UINT32_MAX, &id)) {
        return error("GenericError", "'id' must be an endpoint ID");
    }
    /* A served device's endpoint is declared when its client comes: a
     * plain endpoint there would refuse every client. */
    if (c->assigned != NULL && vfio_user_serves(c->assigned, (uint32_t)id)) {
        return error("GenericError", "the endpoint is a vfio-user device's: "
                                     "it is declared when its client "
                                     "connects");
    }
    int err = spec_redeclare(c->v, &c->ranges, (uint32_t)id);
    if (err == -ENOENT) {
        return error("DeviceNotFound", "no declared range holds it");
    }
    if (err != 0) {
        return error("GenericError", err == -EEXIST
                                         ? "endpoint already declared"
                                         : strerror(-err));
    }
    return ret(NULL);
}

/* A page of a walk: at most `left` more items go into `list`. */
struct walk {
    struct viommu *v;
    struct json_object *list;
    uint64_t left;
};

/* Stops a walk once its page is full. */
static int page_full(struct walk *w)
{
    return w->left-- == 0 ? 1 : 0;
}

static int add_endpoint(void *opaque, uint32_t id)
{
    struct walk *w = opaque;
    uint32_t domain;

    if (page_full(w)) {
        return 1;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_uint64(id));
    if (viommu_endpoint_domain(w->v, id, &domain, NULL) == 0) {
        json_object_object_add(o, "domain", json_object_new_uint64(domain));
    } else {
        json_object_object_add(o, "domain", NULL);
    }
    json_object_array_add(w->list, o);
    return 0;
}

static int add_member(void *opaque, uint32_t id)
{
    json_object_array_add(opaque, json_object_new_uint64(id));
    return 0;
}

static int add_domain(void *opaque, uint32_t id)
{
    struct walk *w = opaque;
    struct viommu_domain_info info = {.size = sizeof(info)};

    if (page_full(w)) {
        return 1;
    }
    if (viommu_domain_info(w->v, id, &info) != 0) {
        return -ENOENT;
    }
    struct json_object *o = json_object_new_object();
    struct json_object *members = json_object_new_array();
    if (viommu_domain_foreach_endpoint(w->v, id, add_member, members) != 0) {
        json_object_put(members);
        json_object_put(o);
        return -ENOENT;
    }
    json_object_object_add(o, "id", json_object_new_uint64(id));
    json_object_object_add(o, "bypass", json_object_new_boolean(info.bypass));
    json_object_object_add(o, "endpoints", members);
    json_object_object_add(o, "mappings",
                           json_object_new_uint64(info.mappings));
    json_object_array_add(w->list, o);
    return 0;
}

static int add_mapping(void *opaque, uint64_t iova, uint64_t last, uint64_t gpa,
                       uint32_t flags)
{
    struct walk *w = opaque;

    if (page_full(w)) {
        return 1;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "iova", json_object_new_uint64(iova));
    json_object_object_add(o, "last", json_object_new_uint64(last));
    json_object_object_add(o, "gpa", json_object_new_uint64(gpa));
    json_object_object_add(o, "read",
                           json_object_new_boolean(flags & VIOMMU_XLATE_READ));
    json_object_object_add(o, "write",
                           json_object_new_boolean(flags & VIOMMU_XLATE_WRITE));
    json_object_object_add(o, "mmio",
                           json_object_new_boolean(flags & VIOMMU_XLATE_MMIO));
    json_object_array_add(w->list, o);
    return 0;
}

static struct json_object *cmd_query_mappings(struct control *c,
                                              struct json_object *args)
{
    struct viommu_domain_info info = {.size = sizeof(info)};
    uint64_t domain, from = 0, limit = QUERY_PAGE;

    if (!get_uint(args, "domain", UINT32_MAX, &domain)) {
        return error("GenericError", "'domain' must be a domain ID");
    }
    if (has(args, "from") && !get_uint(args, "from", UINT64_MAX, &from)) {
        return error("GenericError", "'from' must be an IOVA");
    }
    if (has(args, "limit") &&
        (!get_uint(args, "limit", QUERY_PAGE, &limit) || limit == 0)) {
        return error("GenericError", "'limit' must be a count from 1 to 256");
    }
    if (viommu_domain_info(c->v, (uint32_t)domain, &info) != 0) {
        return error("DeviceNotFound", "no such domain");
    }
    struct walk w = {c->v, json_object_new_array(), limit};
    if (viommu_domain_foreach_mapping(c->v, (uint32_t)domain, from, add_mapping,
                                      &w) < 0) {
        json_object_put(w.list);
        return error("DeviceNotFound", "no such domain");
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "total", json_object_new_uint64(info.mappings));
    json_object_object_add(o, "mappings", w.list);
    return ret(o);
}

static struct json_object *cmd_query_stats(struct control *c,
                                           struct json_object *args)
{
    struct viommu_stats st = {.size = sizeof(st)};
    struct json_object *o = json_object_new_object();

    (void)args;
    if (viommu_get_stats(c->v, &st) != 0) {
        json_object_put(o);
        return error("GenericError", "statistics unavailable");
    }
    json_object_object_add(o, "endpoints",
                           json_object_new_uint64(st.endpoints));
    json_object_object_add(o, "domains", json_object_new_uint64(st.domains));
    json_object_object_add(o, "mappings", json_object_new_uint64(st.mappings));
    json_object_object_add(o, "pending-faults",
                           json_object_new_uint64(st.pending_faults));
    json_object_object_add(o, "dropped-faults",
                           json_object_new_uint64(st.dropped_faults));
    json_object_object_add(o, "host-contexts",
                           json_object_new_uint64(st.host_contexts));
    json_object_object_add(o, "host-errors",
                           json_object_new_uint64(st.host_errors));
    return ret(o);
}

/* Would a DMA of the endpoint at iova pass? A refusal queues a fault
 * report for the guest's event queue, as a real access would. */
static struct json_object *cmd_translate(struct control *c,
                                         struct json_object *args)
{
    struct viommu_translation t = {.size = sizeof(t)};
    uint64_t ep, iova, access = VIOMMU_ACCESS_READ;
    struct json_object *write;

    if (!get_uint(args, "endpoint", UINT32_MAX, &ep) ||
        !get_uint(args, "iova", UINT64_MAX, &iova)) {
        return error("GenericError", "needs 'endpoint' and 'iova'");
    }
    if (json_object_object_get_ex(args, "write", &write)) {
        if (!json_object_is_type(write, json_type_boolean)) {
            return error("GenericError", "'write' must be true or false");
        }
        access = json_object_get_boolean(write) ? VIOMMU_ACCESS_WRITE
                                                : VIOMMU_ACCESS_READ;
    }
    int err = viommu_translate(c->v, (uint32_t)ep, iova, (uint32_t)access, &t);
    if (err == -ENOENT) {
        return error("DeviceNotFound", "no such endpoint");
    }
    if (err != 0) {
        return error("Fault", "access refused; a fault report is queued");
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "gpa", json_object_new_uint64(t.gpa));
    json_object_object_add(o, "last", json_object_new_uint64(t.iova_last));
    json_object_object_add(
        o, "bypass", json_object_new_boolean(t.flags & VIOMMU_XLATE_BYPASS));
    json_object_object_add(o, "msi",
                           json_object_new_boolean(t.flags & VIOMMU_XLATE_MSI));
    return ret(o);
}

/*
 * query-endpoints and query-domains {from?, limit?}: at most `limit`
 * (default and most QUERY_PAGE) items with IDs from `from` on, in ID
 * order; a full page means: ask again from the last ID + 1. The cost is
 * that of the page, whatever the device holds.
 */
static struct json_object *
query_page(struct control *c, struct json_object *args,
           int (*walk)(const struct viommu *, uint32_t, viommu_id_fn, void *),
           viommu_id_fn add)
{
    uint64_t from = 0, limit = QUERY_PAGE;

    if (has(args, "from") && !get_uint(args, "from", UINT32_MAX, &from)) {
        return error("GenericError", "'from' must be an ID");
    }
    if (has(args, "limit") &&
        (!get_uint(args, "limit", QUERY_PAGE, &limit) || limit == 0)) {
        return error("GenericError", "'limit' must be a count from 1 to "
                                     "256");
    }
    struct walk w = {c->v, json_object_new_array(), limit};
    int err = walk(c->v, (uint32_t)from, add, &w);
    if (err < 0) {
        json_object_put(w.list);
        return error("GenericError", strerror(-err));
    }
    return ret(w.list);
}

static struct json_object *cmd_query_endpoints(struct control *c,
                                               struct json_object *args)
{
    return query_page(c, args, viommu_foreach_endpoint, add_endpoint);
}

static struct json_object *cmd_query_domains(struct control *c,
                                             struct json_object *args)
{
    return query_page(c, args, viommu_foreach_domain, add_domain);
}

/* Serves a host device over vfio-user: {socket, host, endpoint}. */
static struct json_object *cmd_device_add(struct control *c,
                                          struct json_object *args)
{
    struct json_object *sock, *host;
    uint64_t ep;

    if (args == NULL || !json_object_object_get_ex(args, "socket", &sock) ||
        !json_object_is_type(sock, json_type_string) ||
        !json_object_object_get_ex(args, "host", &host) ||
        !json_object_is_type(host, json_type_string) ||
        !get_uint(args, "endpoint", UINT32_MAX, &ep)) {
        return error("GenericError", "needs 'socket', 'host' (a PCI "
                                     "address) and 'endpoint'");
    }
    const char *path = json_object_get_string(sock);
    const char *bdf = json_object_get_string(host);
    if (strlen(path) != (size_t)json_object_get_string_len(sock) ||
        strlen(bdf) != (size_t)json_object_get_string_len(host)) {
        return error("GenericError", "a NUL inside a string");
    }
    if (c->assigned == NULL) {
        return error("GenericError", "no vfio-user support");
    }
    int err = vfio_user_device_add(c->assigned, path, bdf, (uint32_t)ep);
    if (err == -ENODEV || err == -ENOENT) {
        return error("DeviceNotFound", err == -ENODEV
                                           ? "no such host device"
                                           : "not bound to vfio-pci");
    }
    if (err == -EEXIST) {
        return error("GenericError", "endpoint or socket in use");
    }
    if (err != 0) {
        return error("GenericError",
                     err == -ENOSPC ? "too many devices" : strerror(-err));
    }
    return ret(NULL);
}

/* Ends a device's vfio-user service; ENDPOINT_REMOVED follows once its
 * host state is released. */
static struct json_object *cmd_device_remove(struct control *c,
                                             struct json_object *args)
{
    uint64_t ep;

    if (!get_uint(args, "endpoint", UINT32_MAX, &ep)) {
        return error("GenericError", "'endpoint' must be an endpoint ID");
    }
    if (c->assigned == NULL ||
        vfio_user_device_remove(c->assigned, (uint32_t)ep) != 0) {
        return error("DeviceNotFound", "no such device");
    }
    return ret(NULL);
}

/* Every command, also what the greeting announces. */
static const struct command {
    const char *name;
    struct json_object *(*run)(struct control *c, struct json_object *args);
} commands[] = {
    {"endpoint-add", cmd_endpoint_add},
    {"endpoint-remove", cmd_endpoint_remove},
    {"endpoint-replug", cmd_endpoint_replug},
    {"query-endpoints", cmd_query_endpoints},
    {"query-domains", cmd_query_domains},
    {"query-mappings", cmd_query_mappings},
    {"query-stats", cmd_query_stats},
    {"translate", cmd_translate},
    {"device-add", cmd_device_add},
    {"device-remove", cmd_device_remove},
};

static struct json_object *execute(struct control *c, struct json_object *cmd)
{
    struct json_object *name, *args = NULL;

    if (!json_object_is_type(cmd, json_type_object) ||
        !json_object_object_get_ex(cmd, "execute", &name) ||
        !json_object_is_type(name, json_type_string)) {
        return error("GenericError", "expected {\"execute\": COMMAND, ...}");
    }
    if (json_object_object_get_ex(cmd, "arguments", &args) &&
        !json_object_is_type(args, json_type_object)) {
        return error("GenericError", "'arguments' must be an object");
    }
    /* The whole string: a name with an embedded NUL is no command. */
    const char *n = json_object_get_string(name);
    size_t len = (size_t)json_object_get_string_len(name);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strlen(commands[i].name) == len &&
            memcmp(commands[i].name, n, len) == 0) {
            return commands[i].run(c, args);
        }
    }
    return error("CommandNotFound", "unknown command");
}

static void handle_command(struct control *c, struct control_client *cl,
                           struct json_object *cmd)
{
    struct json_object *reply = execute(c, cmd), *id;

    if (json_object_is_type(cmd, json_type_object) &&
        json_object_object_get_ex(cmd, "id", &id)) {
        json_object_object_add(reply, "id", json_object_get(id));
    }
    json_object_put(cmd);
    send_obj(cl, reply);
}

static void greet(struct control_client *cl)
{
    struct json_object *g = json_object_new_object();
    struct json_object *body = json_object_new_object();

    struct json_object *names = json_object_new_array();

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        json_object_array_add(names, json_object_new_string(commands[i].name));
    }
    json_object_object_add(body, "version",
                           json_object_new_string(VIOMMU_DAEMON_VERSION));
    json_object_object_add(body, "commands", names);
    json_object_object_add(g, "viommu", body);
    send_obj(cl, g);
}

/* A free slot; when there is none, the slot of the client idle longest,
 * evicted if it has been idle CONTROL_EVICT_IDLE_MS. NULL: all are busy. */
static struct control_client *free_slot(struct control *c)
{
    struct control_client *idlest = NULL;

    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        struct control_client *cl = &c->clients[i];
        if (cl->fd < 0) {
            return cl;
        }
        if (idlest == NULL || cl->last_active < idlest->last_active) {
            idlest = cl;
        }
    }
    if (clock_ms() - idlest->last_active < CONTROL_EVICT_IDLE_MS) {
        return NULL;
    }
    dlog(VIOMMU_LOG_WARN,
         "control client evicted: idle for %lld ms, and a "
         "new client needs its slot",
         (long long)(clock_ms() - idlest->last_active));
    /* Said, so that a client that only listens knows to come back. */
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "reason",
                           json_object_new_string("idle, and every slot "
                                                  "taken"));
    send_obj(idlest, event("CLIENT_EVICTED", data));
    flush(idlest);
    free_client(idlest);
    return idlest;
}

static void accept_client(struct control *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        return;
    }
    struct control_client *cl = free_slot(c);
    if (cl == NULL) {
        dlog(VIOMMU_LOG_WARN,
             "control client refused: %d clients connected "
             "and active",
             CONTROL_MAX_CLIENTS);
        close(fd);
        return;
    }
    cl->tok = json_tokener_new();
    if (cl->tok == NULL) {
        close(fd);
        return;
    }
    cl->fd = fd;
    cl->last_active = clock_ms();
    greet(cl);
}

/*
 * One turn of a client: at most one command, from what it sent (read in
 * small bites, kept until used), so that a flood is served a command at a
 * time and no peer waits on it. After a syntax error the rest of the line
 * is skipped: the next line is a fresh start.
 */
static bool read_client(struct control *c, struct control_client *cl)
{
    if (cl->in_off == cl->in_len) {
        ssize_t n = recv(cl->fd, cl->in, sizeof(cl->in), MSG_DONTWAIT);
        if (n == 0) {
            /* The usual end of a session (viommuctl has one a command):
             * no warning. */
            dlog(VIOMMU_LOG_INFO, "control client closed");
            cl->dead = true;
            return false;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                drop_client(cl, strerror(errno));
            }
            return false;
        }
        cl->in_off = 0;
        cl->in_len = (size_t)n;
    }
    while (cl->in_off < cl->in_len && !cl->dead) {
        const char *p = cl->in + cl->in_off;
        size_t left = cl->in_len - cl->in_off;
        if (cl->skip_line) {
            const char *nl = memchr(p, '\n', left);
            cl->in_off += nl != NULL ? (size_t)(nl - p) + 1 : left;
            cl->skip_line = nl == NULL;
            continue;
        }
        struct json_object *cmd = json_tokener_parse_ex(cl->tok, p, (int)left);
        enum json_tokener_error err = json_tokener_get_error(cl->tok);
        size_t used = json_tokener_get_parse_end(cl->tok);
        if (err == json_tokener_continue) {
            cl->in_off = cl->in_len;
            cl->pending += left;
            if (cl->pending > CONTROL_MAX_OBJECT) {
                send_obj(cl, error("GenericError", "command too large"));
                flush(cl);
                drop_client(cl, "command too large");
            }
            return false;
        }
        json_tokener_reset(cl->tok);
        cl->pending = 0;
        if (err != json_tokener_success) {
            send_obj(cl, error("GenericError", json_tokener_error_desc(err)));
            cl->skip_line = true;
            return true;
        }
        cl->in_off += used > 0 ? used : left;
        cl->last_active = clock_ms();
        handle_command(c, cl, cmd);
        return true;
    }
    return false;
}

bool control_busy(const struct control *c)
{
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        const struct control_client *cl = &c->clients[i];
        if (cl->fd >= 0 && !cl->dead && cl->in_off < cl->in_len) {
            return true;
        }
    }
    return false;
}

unsigned control_poll_fds(const struct control *c, struct pollfd *pfd)
{
    unsigned n = 0;

    if (c->listen_fd < 0) {
        return 0;
    }
    pfd[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        const struct control_client *cl = &c->clients[i];
        pfd[n++] = (struct pollfd){
            .fd = cl->fd,
            .events = (short)(POLLIN | (cl->out_len > 0 ? POLLOUT : 0))};
    }
    return n;
}

void control_serve(struct control *c, const struct pollfd *pfd, unsigned n)
{
    if (n == 0) {
        return;
    }
    /* Output to everyone; then one command, the clients taking turns:
     * the loop serves the guest again before the next. */
    for (unsigned i = 1; i < n; i++) {
        struct control_client *cl = &c->clients[i - 1];
        if (cl->fd >= 0 && cl->fd == pfd[i].fd && (pfd[i].revents & POLLOUT)) {
            flush(cl);
        }
    }
    for (unsigned k = 0; k < CONTROL_MAX_CLIENTS && k + 1 < n; k++) {
        unsigned i = (c->next_turn + k) % CONTROL_MAX_CLIENTS;
        struct control_client *cl = &c->clients[i];
        if (cl->fd < 0 || cl->dead || cl->fd != pfd[i + 1].fd ||
            !((pfd[i + 1].revents & ~POLLOUT) || cl->in_off < cl->in_len)) {
            continue;
        }
        if (read_client(c, cl)) {
            c->next_turn = (i + 1) % CONTROL_MAX_CLIENTS;
            break;
        }
    }
    /* Commands may have found any client gone, not only their own. */
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (c->clients[i].fd >= 0 && c->clients[i].dead) {
            free_client(&c->clients[i]);
        }
    }
    if (pfd[0].revents & POLLIN) {
        accept_client(c);
    }
}

void control_endpoint_removed(void *opaque, uint32_t id, int host_err)
{
    struct control *c = opaque;

    dlog(VIOMMU_LOG_INFO, "endpoint %u removed%s", id,
         host_err != 0 ? " (host state may remain)" : "");
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        struct control_client *cl = &c->clients[i];
        if (cl->fd < 0 || cl->dead) {
            continue;
        }
        struct json_object *data = json_object_new_object();
        json_object_object_add(data, "id", json_object_new_uint64(id));
        json_object_object_add(data, "host-error",
                               json_object_new_int(host_err));
        send_obj(cl, event("ENDPOINT_REMOVED", data));
    }
}
