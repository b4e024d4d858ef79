/* MSI-X (PCI Local Bus 3.0 §6.8), simplified to what a host sees.
 *
 * Device side, as the spec has it: a vector is signalled only while MSI-X
 * Enable is set; if the vector or the whole function is masked, its Pending
 * Bit latches instead, and the message is sent as soon as it is unmasked
 * (§6.8.3.5). The table (BAR2 offset 0) holds the Mask bits; the PBA (BAR2
 * offset 0x800) is read-only.
 *
 * Host side: irq_enable() routes a vector to an interrupt source (programs
 * its entry, unmasks it, sets MSI-X Enable); a delivered message sets the
 * source's "fired" latch, which irq_wait() consumes. A message for a vector
 * nobody routed goes nowhere. */
#include "sim_internal.h"

#include <string.h>

#define MSIX_CTRL_ENABLE 0x8000u /* §6.8.2.3 */
#define MSIX_CTRL_FMASK 0x4000u
#define MSIX_VCTRL 12u           /* Vector Control dword in an entry (§6.8.2.9) */
#define MSIX_VCTRL_MASK 0x01u
/* Message address/data the platform programs. Nothing decodes them in the
 * simulator; they mimic an x86 LAPIC message so the table looks real. */
#define SIM_MSI_ADDR 0xfee00000u

static uint64_t bit(unsigned v)
{
    return 1ull << v;
}

static uint16_t msix_ctrl(const struct sim_fn *f)
{
    return sim_pci_read16(f, SIM_CAP_MSIX + 2);
}

static bool vector_masked(const struct sim_fn *f, unsigned v)
{
    return (msix_ctrl(f) & MSIX_CTRL_FMASK) ||
           (f->msix_table[v * SIM_MSIX_ENTRY + MSIX_VCTRL] & MSIX_VCTRL_MASK);
}

void sim_irq_reset(struct sim_fn *f)
{
    /* After reset every Mask bit is set and nothing is pending (§6.8.2.9,
     * §6.8.2.10); the address/data fields are undefined, here zero. */
    memset(f->msix_table, 0, sizeof f->msix_table);
    for (unsigned v = 0; v < f->n_vectors; v++)
        f->msix_table[v * SIM_MSIX_ENTRY + MSIX_VCTRL] = MSIX_VCTRL_MASK;
    f->pba = 0;
    f->routed = 0;
    f->fired = 0;
}

void sim_irq_init(struct sim_fn *f, unsigned n_vectors)
{
    f->n_vectors = n_vectors;
    sim_irq_reset(f);
}

static void deliver(struct sim_fn *f, unsigned v)
{
    if (f->routed & bit(v))
        f->fired |= bit(v);
}

void sim_irq_raise(struct sim_fn *f, unsigned vector)
{
    if (vector >= f->n_vectors || !(msix_ctrl(f) & MSIX_CTRL_ENABLE))
        return; /* MSI-X off: the function may not send the message */
    if (vector_masked(f, vector))
        f->pba |= bit(vector);
    else
        deliver(f, vector);
}

void sim_irq_update(struct sim_fn *f)
{
    if (!(msix_ctrl(f) & MSIX_CTRL_ENABLE))
        return;
    for (unsigned v = 0; v < f->n_vectors; v++) {
        if ((f->pba & bit(v)) && !vector_masked(f, v)) {
            f->pba &= ~bit(v);
            deliver(f, v);
        }
    }
}

/* One byte of BAR2 as software reads it. */
static uint8_t bar_byte(const struct sim_fn *f, uint64_t off)
{
    if (off < (uint64_t)f->n_vectors * SIM_MSIX_ENTRY)
        return f->msix_table[off];
    if (off >= CAPDRV_SIM_MSIX_PBA_OFFSET && off < CAPDRV_SIM_MSIX_PBA_OFFSET + 8u)
        return (uint8_t)(f->pba >> (8 * (off - CAPDRV_SIM_MSIX_PBA_OFFSET)));
    return 0; /* reserved space between table and PBA */
}

uint64_t sim_irq_bar_read(struct sim_fn *f, uint64_t off, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)bar_byte(f, off + i) << (8 * i);
    return v;
}

/* Writable bits of byte @k of a table entry: Message Address bits 1:0 are
 * zero (dword aligned), Vector Control has only the Mask bit. */
static uint8_t entry_wmask(unsigned k)
{
    if (k == 0)
        return 0xfc;
    if (k < MSIX_VCTRL)
        return 0xff;
    return k == MSIX_VCTRL ? MSIX_VCTRL_MASK : 0;
}

void sim_irq_bar_write(struct sim_fn *f, uint64_t off, unsigned width, uint64_t val)
{
    uint64_t table_len = (uint64_t)f->n_vectors * SIM_MSIX_ENTRY;
    for (unsigned i = 0; i < width; i++) {
        uint64_t at = off + i;
        if (at >= table_len)
            continue; /* PBA and reserved space are read-only */
        uint8_t wm = entry_wmask((unsigned)(at % SIM_MSIX_ENTRY));
        uint8_t b = (uint8_t)(val >> (8 * i));
        f->msix_table[at] = (uint8_t)((f->msix_table[at] & ~wm) | (b & wm));
    }
    sim_irq_update(f); /* an unmask releases a pending message */
}

int sim_irq_enable(struct sim_fn *f, unsigned vector)
{
    if (vector >= f->n_vectors)
        return -CAPDRV_ENOENT;
    uint8_t *e = &f->msix_table[vector * SIM_MSIX_ENTRY];
    sim_le_put(e + 0, 4, SIM_MSI_ADDR);
    sim_le_put(e + 4, 4, 0);
    sim_le_put(e + 8, 4, f->index << 8 | vector);
    f->routed |= bit(vector);
    f->fired &= ~bit(vector);
    e[MSIX_VCTRL] &= (uint8_t)~MSIX_VCTRL_MASK;
    sim_pci_write16_raw(f, SIM_CAP_MSIX + 2, (uint16_t)(msix_ctrl(f) | MSIX_CTRL_ENABLE));
    sim_irq_update(f);
    return 0;
}

int sim_irq_disable(struct sim_fn *f, unsigned vector)
{
    if (vector >= f->n_vectors)
        return -CAPDRV_ENOENT;
    f->msix_table[vector * SIM_MSIX_ENTRY + MSIX_VCTRL] |= MSIX_VCTRL_MASK;
    f->routed &= ~bit(vector);
    f->fired &= ~bit(vector);
    f->pba &= ~bit(vector); /* hw.h: pending state is dropped */
    return 0;
}

int sim_irq_mask(struct sim_fn *f, unsigned vector, bool masked)
{
    if (vector >= f->n_vectors)
        return -CAPDRV_ENOENT;
    uint8_t *vc = &f->msix_table[vector * SIM_MSIX_ENTRY + MSIX_VCTRL];
    if (masked)
        *vc |= MSIX_VCTRL_MASK;
    else
        *vc &= (uint8_t)~MSIX_VCTRL_MASK;
    sim_irq_update(f);
    return 0;
}

/* Consume the fired sources of @set; returns the bit mask over @set. */
static uint64_t collect(struct capdrv_sim *sim, const struct capdrv_hw_irq *set, unsigned n)
{
    uint64_t ready = 0;
    for (unsigned i = 0; i < n; i++)
        if (sim->fns[set[i].fn]->fired & bit(set[i].vector))
            ready |= bit(i);
    /* Clear only after scanning, so a source listed twice is reported in
     * both positions. */
    for (unsigned i = 0; i < n; i++)
        if (ready & bit(i))
            sim->fns[set[i].fn]->fired &= ~bit(set[i].vector);
    return ready;
}

int sim_irq_wait(struct capdrv_sim *sim, const struct capdrv_hw_irq *set, unsigned n,
                 int64_t timeout_ns, uint64_t *ready)
{
    if (!set || !ready || n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < n; i++) {
        const struct sim_fn *f = sim_fn_get(sim, set[i].fn);
        if (!f || set[i].vector >= f->n_vectors)
            return -CAPDRV_ENOENT;
    }
    uint64_t deadline =
        timeout_ns < 0 ? SIM_NEVER : sim_sat_add(sim->now_ns, (uint64_t)timeout_ns);
    for (;;) {
        uint64_t got = collect(sim, set, n);
        if (got) {
            *ready = got;
            int count = 0;
            for (; got; got &= got - 1u)
                count++;
            return count;
        }
        /* Instead of sleeping, jump to the next device event. With nothing
         * scheduled nothing can ever fire: report a timeout rather than
         * hang, even for an unbounded wait. A bounded wait that times out
         * has used its whole timeout of simulated time. */
        uint64_t next = sim_next_event(sim);
        if (next == SIM_NEVER || next > deadline) {
            if (deadline != SIM_NEVER)
                sim_run_until(sim, deadline);
            return -CAPDRV_ETIMEDOUT;
        }
        sim_run_until(sim, next);
    }
}
