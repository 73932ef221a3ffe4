/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adaptive polling of the request queue. A Linux guest's driver waits for
 * each answer spinning on the used ring, so the next request follows the
 * answer after the guest's own work, a few microseconds later. Waking up
 * for a kick costs much more than that (the driver's MMIO exit and eventfd
 * write, the daemon's wake-up), so after serving, the daemon keeps reading
 * the ring, with the driver's kicks suppressed, for a window; then it asks
 * for kicks again, looks once more and sleeps.
 *
 * The window follows the idle times that kicks end, as QEMU's aio_poll
 * does: a kick after an idle time within --poll-max-ns means that a longer
 * window would have caught the request, so the window grows to cover that
 * time (one and a half times it, at least double); a longer idle time
 * halves it. A guest that maps back to back is served without a wake-up
 * after a few requests; an idle guest costs one window of spinning, then
 * nothing.
 */
#include "polling.h"

#include "clock.h"
#include "vring.h"

#define POLL_MIN_NS 1000
/* Longest the ring is polled before the other fds get a look. */
#define POLL_SLICE_NS 50000
/* Pauses between two looks at a polled ring: about 0.2 us. */
#define SPIN_PAUSES 8

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

void poller_init(struct poller *p, int64_t max_ns)
{
    *p = (struct poller){.max_ns = max_ns,
                         .window_ns = min64(max_ns, POLL_MIN_NS)};
}

/* A pause in a spin: the CPU gives its pipeline to whatever shares the
 * core, a guest's vCPU thread maybe. Spinning without it slows a TCG guest
 * on the other hyperthread by a third (measured). */
static void relax(void)
{
    for (int i = 0; i < SPIN_PAUSES; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    }
}

struct spin {
    struct poller *p;
    bool idle; /* the window went by with no request */
};

/* Reads the ring in a tight loop (no system call) and serves each request
 * as it comes, until the window has gone by since the last one (idle) or
 * POLL_SLICE_NS since the call, or requests wait beyond a budget
 * (vu_busy()). Under vu_guarded(). */
static bool spin(struct vu_dev *d, void *arg)
{
    struct spin *s = arg;
    struct poller *p = s->p;
    int64_t end = clock_ns() + POLL_SLICE_NS;

    for (;;) {
        if (vq_has_avail(&d->vq[0])) {
            uint64_t before = d->served;
            if (!vu_serve(d, NULL)) {
                return false;
            }
            if (d->served != before) {
                p->last_ns = clock_ns();
            }
        }
        int64_t now = clock_ns();
        s->idle = now - p->last_ns >= p->window_ns;
        if (s->idle || now >= end || vu_busy(d)) {
            return true; /* the caller's other fds get a look */
        }
        relax();
    }
}

static bool quiet_on(struct vu_dev *d, void *unused)
{
    (void)unused;
    vq_set_quiet(&d->vq[0], true);
    return true;
}

static bool quiet_off(struct vu_dev *d, void *unused)
{
    vq_set_quiet(&d->vq[0], false);
    /* what came before the driver could kick again */
    return vu_serve(d, unused);
}

/* Asks the driver not to kick the request queue (quiet), or to kick again;
 * then serves what came before it could (*served), so no wake-up is lost.
 * False as vu_kick() says. */
static bool set_quiet(struct vu_dev *d, bool quiet, bool *served)
{
    uint64_t before = d->served;
    bool ok = vu_guarded(d, quiet ? quiet_on : quiet_off, NULL);

    *served = d->served != before;
    return ok;
}

bool poll_turn(struct vu_dev *d, struct poller *p, bool kicked)
{
    struct spin s = {.p = p};
    bool ok = true, found = false;

    if (p->max_ns == 0 || d->conn < 0) {
        p->polling = false;
        return true;
    }
    if (kicked) {
        int64_t now = clock_ns();
        if (!p->polling) {
            int64_t idle = now - p->last_ns;
            p->window_ns =
                idle <= p->max_ns
                    ? min64(p->max_ns, max64(2 * p->window_ns, idle * 3 / 2))
                    : min64(p->max_ns, max64(POLL_MIN_NS, p->window_ns / 2));
            ok = set_quiet(d, true, &found);
            p->polling = true;
        }
        p->last_ns = now;
    }
    if (!p->polling || !ok) {
        return ok;
    }
    ok = vu_guarded(d, spin, &s);
    if (ok && s.idle) {
        ok = set_quiet(d, false, &found);
        if (found) { /* it came as polling ended: go on */
            p->last_ns = clock_ns();
            ok = ok && set_quiet(d, true, &found);
        } else {
            p->polling = false;
        }
    }
    return ok;
}
