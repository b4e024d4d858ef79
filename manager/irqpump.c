/* Interrupts by descriptor (irqpump.h). */
#define _GNU_SOURCE
#include "irqpump.h"

#include "remote/wire.h"

#include <capdrv_shim/core.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tracked {
    capdrv_cap_t cap;
    int efd;    /* the manager's end of the stream (see signal_one()) */
    bool armed; /* the pump waits for it */
};

struct mgr_irqpump {
    struct capdrv_shim *shim;
    struct shim_provider *p;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* something was armed */
    struct tracked t[CDW_IRQ_MAX];
    unsigned n;
    bool started;
    pthread_t thr;
    atomic_bool stop;
};

/* Lock held. The provider's end of a stream socketpair gets one byte per
 * event (CDW_IRQ_EVENT_*), sent without ever blocking whatever the peer
 * did to its end (MSG_DONTWAIT is per call; an eventfd's O_NONBLOCK would
 * be shared with the provider). A full buffer loses nothing: the bytes
 * already there say the same. */
static void signal_one(struct tracked *t, char ev)
{
    ssize_t w;
    do
        w = send(t->efd, &ev, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    t->armed = false;
}

/* Lock held: drop entry @i. Closing the manager's end is the stale mark:
 * the provider reads end-of-file. */
static void drop(struct mgr_irqpump *pp, unsigned i)
{
    close(pp->t[i].efd);
    pp->t[i] = pp->t[--pp->n];
}

/* After a wait reported a bad handle: find which, tell their providers. */
static void sweep_stale(struct mgr_irqpump *pp, const capdrv_cap_t *set, unsigned k)
{
    for (unsigned j = 0; j < k; j++) {
        uint64_t r = 0;
        int rc = capdrv_shim_sys_irq_wait(pp->shim, pp->p, &set[j], 1, 0, &r);
        if (rc != -CAPDRV_ESTALE && rc != -CAPDRV_EBADF && rc <= 0)
            continue;
        pthread_mutex_lock(&pp->mu);
        for (unsigned i = 0; i < pp->n; i++) {
            if (pp->t[i].cap != set[j] || !pp->t[i].armed)
                continue;
            if (rc > 0)
                signal_one(&pp->t[i], CDW_IRQ_EVENT_FIRED); /* it is pending after all */
            else
                drop(pp, i); /* end-of-file: stale */
            break;
        }
        pthread_mutex_unlock(&pp->mu);
    }
}

static void *pump_main(void *arg)
{
    struct mgr_irqpump *pp = arg;
    while (!atomic_load(&pp->stop)) {
        capdrv_cap_t set[CDW_IRQ_MAX];
        unsigned k = 0;
        pthread_mutex_lock(&pp->mu);
        for (unsigned i = 0; i < pp->n; i++)
            if (pp->t[i].armed)
                set[k++] = pp->t[i].cap;
        if (k == 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += CDW_IRQ_WAIT_SLICE_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&pp->cv, &pp->mu, &until);
            pthread_mutex_unlock(&pp->mu);
            continue;
        }
        pthread_mutex_unlock(&pp->mu);
        /* Without the lock: the server may add, re-arm or forget meanwhile;
         * results are matched by handle. */
        uint64_t ready = 0;
        int rc = capdrv_shim_sys_irq_wait(pp->shim, pp->p, set, k, CDW_IRQ_WAIT_SLICE_NS, &ready);
        if (rc > 0) {
            pthread_mutex_lock(&pp->mu);
            for (unsigned j = 0; j < k; j++)
                for (unsigned i = 0; (ready >> j & 1u) && i < pp->n; i++)
                    if (pp->t[i].cap == set[j] && pp->t[i].armed)
                        signal_one(&pp->t[i], CDW_IRQ_EVENT_FIRED);
            pthread_mutex_unlock(&pp->mu);
        } else if (rc == -CAPDRV_ESTALE || rc == -CAPDRV_EBADF) {
            sweep_stale(pp, set, k);
        } else if (rc != -CAPDRV_ETIMEDOUT) {
            /* The platform failed (e.g. QEMU died): the waiters learn it,
             * as a wait by message would have; an acknowledgement re-arms. */
            pthread_mutex_lock(&pp->mu);
            for (unsigned i = 0; i < pp->n; i++)
                if (pp->t[i].armed)
                    signal_one(&pp->t[i], CDW_IRQ_EVENT_ERROR);
            pthread_mutex_unlock(&pp->mu);
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int mgr_irqpump_new(struct capdrv_shim *shim, struct shim_provider *p, struct mgr_irqpump **out)
{
    struct mgr_irqpump *pp = calloc(1, sizeof *pp);
    if (!pp)
        return -CAPDRV_ENOMEM;
    pp->shim = shim;
    pp->p = p;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&pp->mu, NULL) != 0 || pthread_cond_init(&pp->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(pp);
        return -CAPDRV_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    atomic_init(&pp->stop, false);
    *out = pp;
    return 0;
}

int mgr_irqpump_add(struct mgr_irqpump *pp, capdrv_cap_t irq, int *provider_fd)
{
    pthread_mutex_lock(&pp->mu);
    int rc = 0;
    if (!pp->started) {
        if (pthread_create(&pp->thr, NULL, pump_main, pp) != 0)
            rc = -CAPDRV_EIO;
        else
            pp->started = true;
    }
    int sv[2] = {-1, -1};
    if (rc == 0 && pp->n == CDW_IRQ_MAX)
        rc = -CAPDRV_ENOSPC;
    if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        rc = -CAPDRV_ENOMEM;
    if (rc == 0) {
        (void)shutdown(sv[0], SHUT_RD);   /* the manager only sends ... */
        (void)shutdown(sv[1], SHUT_WR);   /* ... and the provider only reads */
        *provider_fd = sv[1];
        pp->t[pp->n++] = (struct tracked){.cap = irq, .efd = sv[0], .armed = true};
        pthread_cond_signal(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return rc;
}

void mgr_irqpump_acked(struct mgr_irqpump *pp, capdrv_cap_t irq)
{
    /* The provider emptied its end before it acknowledged (older firings
     * go with this acknowledgement: the shim's pending state is one bit). */
    pthread_mutex_lock(&pp->mu);
    bool known = false;
    for (unsigned i = 0; i < pp->n; i++)
        known |= pp->t[i].cap == irq;
    pthread_mutex_unlock(&pp->mu);
    if (!known)
        return;
    /* Latched in the device already? Then it is pending before the ACK's
     * reply, so a poll right after sees it (as a message would). */
    uint64_t r = 0;
    int rc = capdrv_shim_sys_irq_wait(pp->shim, pp->p, &irq, 1, 0, &r);
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->n; i++)
        if (pp->t[i].cap == irq) {
            if (rc > 0) {
                signal_one(&pp->t[i], CDW_IRQ_EVENT_FIRED);
            } else {
                pp->t[i].armed = true;
                pthread_cond_signal(&pp->cv);
            }
        }
    pthread_mutex_unlock(&pp->mu);
}

void mgr_irqpump_forget(struct mgr_irqpump *pp, capdrv_cap_t cap)
{
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->n; i++)
        if (pp->t[i].cap == cap) {
            drop(pp, i);
            break;
        }
    pthread_mutex_unlock(&pp->mu);
}

unsigned mgr_irqpump_count(struct mgr_irqpump *pp)
{
    if (!pp)
        return 0;
    pthread_mutex_lock(&pp->mu);
    unsigned n = pp->n;
    pthread_mutex_unlock(&pp->mu);
    return n;
}

void mgr_irqpump_free(struct mgr_irqpump *pp)
{
    if (!pp)
        return;
    atomic_store(&pp->stop, true);
    pthread_mutex_lock(&pp->mu);
    pthread_cond_signal(&pp->cv);
    bool started = pp->started;
    pthread_mutex_unlock(&pp->mu);
    if (started)
        pthread_join(pp->thr, NULL);
    for (unsigned i = 0; i < pp->n; i++)
        close(pp->t[i].efd);
    pthread_cond_destroy(&pp->cv);
    pthread_mutex_destroy(&pp->mu);
    free(pp);
}
