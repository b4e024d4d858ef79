/* A minimal NVMe driver of the conformance harness itself, for the one
 * rule capdrv/nvme.h cannot express: a command rewritten in the
 * provider's submission queue after its doorbell (dma.rewrite-after-notify
 * on machines without dmatest). It owns window 0 of the engine's "nvme"
 * grant (conf_engine_open() with CONF_ENGINE_REGS) and one DMA buffer:
 * the admin SQ and CQ, I/O SQ 1 and I/O CQ 1, one 4 KiB page each
 * (NVMe Base 2.0 §3.5.1 bring-up, §5.4/§5.5 queue creation, PC = 1,
 * polling: IEN = 0). Everything waits in real or simulated time through
 * the platform's advance hook, bounded. */
#ifndef CAPDRV_CONF_NVME_RAW_H
#define CAPDRV_CONF_NVME_RAW_H

#include "engine.h"

#include <capdrv/nvme/types.h>

struct nraw_q {
    uint16_t size;   /* entries */
    uint16_t tail;   /* SQ: next slot to fill */
    uint16_t head;   /* CQ: next entry to look at */
    uint8_t phase;   /* CQ: the Phase Tag of new entries */
};

struct nraw {
    struct conf_ctx *c;
    struct conf_engine *e;
    capdrv_cap_t qbuf;
    struct capdrv_dmabuf_info q;
    unsigned stride;      /* doorbell stride, bytes (4 << CAP.DSTRD) */
    uint64_t to_ns;       /* CAP.TO */
    uint16_t cid;
    struct nraw_q sq[2], cq[2];
    uint32_t lba_bytes;   /* namespace 1 (Identify Namespace) */
};

/* Disable, admin queues (4 entries each), enable, Identify namespace 1,
 * I/O CQ 1 of @cq_size and SQ 1 of @sq_size entries. Fails the case on
 * error (false). */
bool nraw_up(struct nraw *n, struct conf_ctx *c, struct conf_engine *e, uint16_t sq_size,
             uint16_t cq_size);
/* CC.EN = 0 and wait for CSTS.RDY = 0 (the shim then retires the queues). */
void nraw_down(struct nraw *n);
/* A zeroed 64-byte SQE with @opc, @nsid and a fresh CID (returned). */
uint16_t nraw_sqe(struct nraw *n, uint8_t *sqe, uint8_t opc, uint32_t nsid);
/* Copy @sqe into SQ @qid's next slot (not rung); the slot's bytes. */
uint8_t *nraw_put(struct nraw *n, unsigned qid, const uint8_t *sqe);
/* Ring SQ @qid's tail doorbell; the shim's answer. */
int nraw_ring(struct nraw *n, unsigned qid);
/* Wait (bounded) for the next entry of CQ @qid and consume it; the head
 * doorbell is rung only when @release. False on timeout. */
bool nraw_next(struct nraw *n, unsigned qid, bool release, uint16_t *cid, uint16_t *status,
               uint16_t *sqhd);
/* Ring CQ @qid's head doorbell at the consumed position. */
int nraw_release(struct nraw *n, unsigned qid);
/* Submit one command on @qid and wait for it; its status (0: success),
 * -1 on timeout or a refused doorbell. */
int nraw_cmd(struct nraw *n, unsigned qid, const uint8_t *sqe);

/* Make the controller stop fetching from SQ 1 (made by nraw_up() with 4
 * entries over a CQ of 2), so that the next command published there waits
 * unfetched until nraw_finish(). CQ 1 holds one entry, so the first of
 * three Flushes fills it (Base 2.0 §4.6: full when the tail is one behind
 * the head) and is not released. A controller that fetches only while its
 * CQ has room (the sim's) then holds everything. QEMU's controller fetches
 * an SQE only with a free request, of which an SQ has as many as entries,
 * and gets one back only when the completion is posted: after it fetched
 * all three (SQHD says so), two more Flushes take its last two. False (the
 * case fails) when a doorbell is refused or no completion comes. */
bool nraw_hold(struct nraw *n);
/* Give CQ 1 room again and consume completions until command @cid's (the
 * others must succeed); its status, or -1. */
int nraw_finish(struct nraw *n, uint16_t cid);

static inline bool nraw_all_bytes(const void *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] != v)
            return false;
    return true;
}

void nraw_put_le(uint8_t *p, unsigned bytes, uint64_t v);
uint64_t nraw_get_le(const volatile uint8_t *p, unsigned bytes);

#endif
