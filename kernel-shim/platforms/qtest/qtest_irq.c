/* MSI-X through cookies in guest RAM.
 *
 * An MSI-X message is a memory write of the entry's Message Data to its
 * Message Address (PCI Local Bus 3.0 §6.8.1). Instead of the LAPIC window
 * (0xfeexxxxx, which would need an interrupt controller model on our side),
 * each routed entry points at its own 4-byte slot in guest RAM, below the
 * DMA allocator, with a non-zero cookie as data. QEMU performs the write
 * through the function's bus-master address space (so COMMAND.MASTER must
 * be set, as for any DMA) straight into the memfd this process maps;
 * irq_wait() sees it there.
 *
 * Table entry layout (§6.8.2.6-9): +0 address low, +4 address high,
 * +8 data, +12 vector control (bit 0 Mask). Message Control (§6.8.2.3):
 * bit 15 MSI-X Enable, bit 14 Function Mask. A masked vector's message is
 * held as a Pending Bit and sent when it is unmasked (§6.8.3.5); QEMU
 * implements that, so irq_mask() only flips the Mask bit. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <errno.h>
#include <time.h>

#define MSIX_CTRL_ENABLE 0x8000u
#define MSIX_CTRL_FMASK 0x4000u
#define ENTRY_VCTRL 12u
#define COOKIE_TAG 0xc0000000u

static uint64_t slot_gpa(const struct capdrv_qtest *q, const struct qt_fn *f, unsigned v)
{
    return CAPDRV_QTEST_COOKIE_BASE + ((uint64_t)(f - q->fns) * QT_MAX_VECTORS + v) * 4u;
}

static uint32_t *slot(struct capdrv_qtest *q, const struct qt_fn *f, unsigned v)
{
    return (uint32_t *)(void *)(q->ram + slot_gpa(q, f, v));
}

static uint32_t cookie(const struct capdrv_qtest *q, const struct qt_fn *f, unsigned v)
{
    return COOKIE_TAG | (uint32_t)(f - q->fns) << 8 | v;
}

static bool is_mmio(const struct qt_fn *f)
{
    return f->info.kind == CAPDRV_HW_FN_MMIO;
}

/* MSI-X vectors of a PCI function; line 0 (vector 0) of an MMIO device. */
static bool vector_ok(const struct qt_fn *f, unsigned v)
{
    if (is_mmio(f))
        return v == 0 && f->info.n_irq_lines > 0;
    return f->msix_cap && v < f->msix_n && v < QT_MAX_VECTORS;
}

static uint64_t entry(const struct qt_fn *f, unsigned v)
{
    return f->bar_addr[f->msix_table_bar] + f->msix_table_off + (uint64_t)v * 16u;
}

static int set_mask(struct capdrv_qtest *q, const struct qt_fn *f, unsigned v, bool masked)
{
    return qt_mem_write(q, entry(f, v) + ENTRY_VCTRL, 4, masked ? 1u : 0u);
}

static int pending(struct capdrv_qtest *q, const struct qt_fn *f, uint64_t *bits)
{
    uint64_t at = f->bar_addr[f->msix_pba_bar] + f->msix_pba_off;
    *bits = 0;
    return qt_mem_read(q, at, f->msix_n > 32 ? 8 : 4, bits);
}

/* Drop a latched message of masked vector @v: let it fire into the discard
 * slot, then mask again. The entry is reprogrammed at the next enable. */
static int drain(struct capdrv_qtest *q, const struct qt_fn *f, unsigned v)
{
    int rc;
    if ((rc = qt_mem_write(q, entry(f, v), 4, (uint32_t)QT_DISCARD_GPA)) < 0 ||
        (rc = qt_mem_write(q, entry(f, v) + 4, 4, 0)) < 0 || (rc = set_mask(q, f, v, false)) < 0)
        return rc;
    return set_mask(q, f, v, true);
}

static void clear_slot(struct capdrv_qtest *q, const struct qt_fn *f, unsigned v)
{
    __atomic_store_n(slot(q, f, v), 0u, __ATOMIC_RELEASE);
}

static int msix_ctrl(struct capdrv_qtest *q, const struct qt_fn *f, uint32_t set, uint32_t clear)
{
    uint32_t ctrl;
    int rc = qt_cfg_read(q, f, f->msix_cap + 2u, 2, &ctrl);
    return rc < 0 ? rc : qt_cfg_write(q, (struct qt_fn *)f, f->msix_cap + 2u, 2, (ctrl | set) & ~clear);
}

int qt_irq_enable(struct capdrv_qtest *q, struct qt_fn *f, unsigned v)
{
    if (!vector_ok(f, v))
        return -CAPDRV_ENOENT;
    if (is_mmio(f)) {
        f->routed = 1; /* sampled by irq_wait (qtest_virt.c) */
        f->mmio_masked = false;
        return 0;
    }
    int rc;
    uint64_t e = entry(f, v);
    if ((rc = set_mask(q, f, v, true)) < 0 || (rc = qt_mem_write(q, e, 4, (uint32_t)slot_gpa(q, f, v))) < 0 ||
        (rc = qt_mem_write(q, e + 4, 4, 0)) < 0 || (rc = qt_mem_write(q, e + 8, 4, cookie(q, f, v))) < 0)
        return rc;
    clear_slot(q, f, v);
    f->routed |= 1ull << v;
    if ((rc = set_mask(q, f, v, false)) < 0)
        return rc;
    return msix_ctrl(q, f, MSIX_CTRL_ENABLE, MSIX_CTRL_FMASK);
}

int qt_irq_disable(struct capdrv_qtest *q, struct qt_fn *f, unsigned v)
{
    if (!vector_ok(f, v))
        return -CAPDRV_ENOENT;
    if (is_mmio(f)) {
        f->routed = 0; /* a level line has no latch to drop */
        return 0;
    }
    uint64_t pend = 0;
    int rc;
    if ((rc = set_mask(q, f, v, true)) < 0 || (rc = pending(q, f, &pend)) < 0)
        return rc;
    /* hw.h: pending state is dropped. */
    if ((pend >> v) & 1u && (rc = drain(q, f, v)) < 0)
        return rc;
    f->routed &= ~(1ull << v);
    clear_slot(q, f, v);
    return 0;
}

int qt_irq_mask(struct capdrv_qtest *q, struct qt_fn *f, unsigned v, bool masked)
{
    if (!vector_ok(f, v))
        return -CAPDRV_ENOENT;
    if (is_mmio(f)) {
        f->mmio_masked = masked; /* level line: it fires at unmask if still high */
        return 0;
    }
    return set_mask(q, f, v, masked);
}

void qt_irq_forget(struct capdrv_qtest *q, struct qt_fn *f)
{
    for (unsigned v = 0; f->msix_cap && v < f->msix_n && v < QT_MAX_VECTORS; v++)
        clear_slot(q, f, v);
    f->routed = 0;
}

int qt_irq_off(struct capdrv_qtest *q, struct qt_fn *f)
{
    if (!f->msix_cap)
        return 0;
    unsigned n = f->msix_n < QT_MAX_VECTORS ? f->msix_n : QT_MAX_VECTORS;
    uint64_t pend = 0;
    int rc;
    for (unsigned v = 0; v < n; v++)
        if ((rc = set_mask(q, f, v, true)) < 0)
            return rc;
    if ((rc = pending(q, f, &pend)) < 0)
        return rc;
    for (unsigned v = 0; v < n; v++)
        if ((pend >> v) & 1u && (rc = drain(q, f, v)) < 0)
            return rc;
    qt_irq_forget(q, f);
    return msix_ctrl(q, f, 0, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Consume the fired sources of @set; a source listed twice is reported in
 * both positions. */
static uint64_t collect(struct capdrv_qtest *q, const struct capdrv_hw_irq *set, unsigned n)
{
    uint64_t ready = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct qt_fn *f = &q->fns[set[i].fn];
        if (is_mmio(f)) {
            /* The line's level, sampled at its source (qtest_virt.c). */
            bool high = false;
            pthread_mutex_lock(&q->lock);
            if (f->routed && !f->mmio_masked && qt_alive(q))
                (void)qt_mmio_irq_pending(q, f, &high);
            pthread_mutex_unlock(&q->lock);
            if (high)
                ready |= 1ull << i;
            continue;
        }
        if (__atomic_load_n(slot(q, f, set[i].vector), __ATOMIC_ACQUIRE) ==
            cookie(q, f, set[i].vector))
            ready |= 1ull << i;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!(ready & (1ull << i)) || is_mmio(&q->fns[set[i].fn]))
            continue; /* a level line has no latch to consume */
        const struct qt_fn *f = &q->fns[set[i].fn];
        uint32_t want = cookie(q, f, set[i].vector);
        __atomic_compare_exchange_n(slot(q, f, set[i].vector), &want, 0u, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    return ready;
}

int qt_irq_wait(struct capdrv_qtest *q, const struct capdrv_hw_irq *set, unsigned n,
                int64_t timeout_ns, uint64_t *ready)
{
    if (!set || !ready || n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    /* The function table is fixed after create: no lock needed to read it. */
    for (unsigned i = 0; i < n; i++) {
        const struct qt_fn *f = set[i].fn < q->n_fns ? &q->fns[set[i].fn] : NULL;
        if (!f || !vector_ok(f, set[i].vector))
            return -CAPDRV_ENOENT;
    }
    /* Nothing waits forever on QEMU (qtest.h): unbounded means timeout_ms. */
    int64_t bound = q->timeout_ms * 1000000;
    if (timeout_ns < 0)
        timeout_ns = bound;
    int64_t deadline = now_ns() + timeout_ns;
    long nap_ns = 2000;
    for (;;) {
        uint64_t got = collect(q, set, n);
        if (got) {
            *ready = got;
            int count = 0;
            for (; got; got &= got - 1u)
                count++;
            return count;
        }
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return -CAPDRV_ETIMEDOUT;
        pthread_mutex_lock(&q->lock);
        bool alive = qt_alive(q);
        pthread_mutex_unlock(&q->lock);
        if (!alive)
            return -CAPDRV_EIO;
        /* Completions arrive from QEMU's own threads at any time: poll,
         * backing off from 2 us to 1 ms. */
        struct timespec ts = {.tv_sec = 0, .tv_nsec = left < nap_ns ? (long)left : nap_ns};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        if (nap_ns < 1000000)
            nap_ns *= 2;
    }
}
