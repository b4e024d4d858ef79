/* Writes the seed corpus of fuzz_nvme_cq (tests/fuzz/corpus/nvme_cq/): the
 * input layout documented at the top of fuzz_nvme_cq.c (mode, A, driver
 * operations, then A controller action bytes). The operation numbers and
 * action encodings below are that file's; keep them in step.
 *
 *   cmake --build build --target fuzz_gen_nvme_cq_seeds
 *   build/tests/fuzz/fuzz_gen_nvme_cq_seeds tests/fuzz/corpus/nvme_cq
 *
 * With the default mode the controller completes five commands before
 * the first I/O (Identify Controller, Set Features Number of Queues,
 * Identify Namespace, Create I/O CQ, Create I/O SQ): five zero action
 * bytes ("correct") come first, so the hostile action hits the I/O. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { OP_READ, OP_WRITE, OP_FLUSH, OP_RING, OP_POLL, OP_WAIT, OP_CHECK, OP_RESET, OP_DESTROY,
       OP_CREATE, OP_ADMIN, OP_CSTS, OP_RELEASE_HELD, OP_SPONTANEOUS, OP_DEAD, OP_INFO };
/* Controller actions (complete()). */
enum { A_OK = 0, A_STATUS = 3, A_HOLD = 4, A_CORRUPT = 5, A_DUP = 6, A_EXTRA = 7 };
#define BRINGUP_CPLS 5u

struct seed {
    uint8_t ops[256], act[128];
    size_t n_ops, n_act;
    uint8_t mode;
};

static void op(struct seed *s, unsigned v)
{
    if (s->n_ops < sizeof s->ops)
        s->ops[s->n_ops++] = (uint8_t)v;
}

static void act(struct seed *s, unsigned v)
{
    if (s->n_act < sizeof s->act)
        s->act[s->n_act++] = (uint8_t)v;
}

static void act16(struct seed *s, unsigned v)
{
    act(s, v & 0xffu);
    act(s, (v >> 8) & 0xffu);
}

static void bringup_ok(struct seed *s)
{
    for (unsigned i = 0; i < BRINGUP_CPLS; i++)
        act(s, A_OK);
}

/* read of @nlb blocks at data offset page @pg on queue pair 0, rung */
static void read_rung(struct seed *s, unsigned nlb, unsigned pg)
{
    op(s, OP_READ);
    op(s, 0);        /* queue pair 0, one segment */
    op(s, nlb - 1u); /* NLB */
    op(s, 0);        /* SLBA */
    op(s, pg << 6);  /* data offset */
    op(s, OP_RING);
}

static void reap(struct seed *s)
{
    op(s, OP_POLL);
    op(s, 8);
    op(s, OP_WAIT);
    op(s, 2); /* 2 ms */
}

static void healthy(struct seed *s)
{
    read_rung(s, 16, 0);  /* 8 KiB: PRP1 + PRP2 */
    read_rung(s, 24, 1);  /* 12 KiB: a PRP list */
    op(s, OP_WRITE);
    op(s, 0x80);          /* two segments */
    op(s, 15);
    op(s, 3);
    op(s, 0x10);
    op(s, OP_FLUSH);
    op(s, 0);
    op(s, 0);
    op(s, 0);
    op(s, 0);
    op(s, OP_RING);
    reap(s);
    op(s, OP_ADMIN);
    op(s, 0x04);          /* Identify Controller */
    op(s, OP_INFO);
    op(s, OP_CREATE | 1u << 4);
    op(s, OP_DESTROY);
    op(s, OP_RESET);
    op(s, OP_CHECK);
}

static void gen_healthy(struct seed *s)
{
    healthy(s);
}

static void gen_bad_cid(struct seed *s)
{
    bringup_ok(s);
    act(s, A_CORRUPT);
    act(s, 1);             /* CID */
    act16(s, 0xbeef);
    read_rung(s, 1, 0);
    reap(s);
    read_rung(s, 1, 0);    /* the queue is broken now */
    op(s, OP_RESET);       /* recovery: outstanding commands complete */
    read_rung(s, 1, 0);
    reap(s);
}

static void gen_dup(struct seed *s)
{
    bringup_ok(s);
    act(s, A_DUP);
    read_rung(s, 2, 0);
    read_rung(s, 2, 0);
    reap(s);
}

static void gen_sqhd(struct seed *s)
{
    bringup_ok(s);
    act(s, A_CORRUPT);
    act(s, 4);             /* SQHD */
    act16(s, 0x77);
    read_rung(s, 1, 0);
    reap(s);
    op(s, OP_DESTROY);
}

static void gen_phase(struct seed *s)
{
    bringup_ok(s);
    act(s, A_CORRUPT);
    act(s, 8);             /* wrong phase: the host sees nothing */
    read_rung(s, 1, 0);
    reap(s);
    reap(s);
    reap(s);
}

static void gen_held_timeout(struct seed *s)
{
    bringup_ok(s);
    act(s, A_HOLD);        /* the read's completion is held: timeout, abort, reset */
    read_rung(s, 4, 0);
    for (unsigned i = 0; i < 4; i++)
        reap(s);
    op(s, OP_RELEASE_HELD);
    reap(s);
}

static void gen_extra(struct seed *s)
{
    bringup_ok(s);
    act(s, A_EXTRA);       /* correct, then one for a CID never submitted */
    act(s, 0);
    act(s, 0);
    act(s, 0);
    act(s, 0);             /* DW0 */
    act16(s, 1);           /* SQHD */
    act16(s, 1);           /* SQID */
    act16(s, 0x0005);      /* CID */
    act16(s, 0);           /* status */
    read_rung(s, 1, 0);
    reap(s);
}

static void gen_status(struct seed *s)
{
    bringup_ok(s);
    act(s, A_STATUS);
    act16(s, (0x80u << 1) | (1u << 15)); /* LBA Out of Range, DNR */
    read_rung(s, 8, 0);
    reap(s);
}

static void gen_removed(struct seed *s)
{
    read_rung(s, 1, 0);
    op(s, OP_DEAD | 1u << 4); /* every register reads all ones */
    read_rung(s, 1, 0);
    reap(s);
    op(s, OP_CHECK);
    op(s, OP_RESET);
}

static void gen_cfs(struct seed *s)
{
    read_rung(s, 1, 0);
    op(s, OP_DEAD);        /* CSTS.CFS */
    reap(s);
    op(s, OP_CHECK);
    op(s, OP_RESET);
    read_rung(s, 1, 0);
    reap(s);
}

static void gen_csts(struct seed *s)
{
    read_rung(s, 1, 0);
    op(s, OP_CSTS);
    op(s, 0x38);           /* all ones, 8 reads */
    op(s, OP_CHECK);
    op(s, OP_RESET);
    op(s, OP_CSTS);
    op(s, 0x3a);           /* RDY stuck at 0 */
    op(s, OP_RESET);
    reap(s);
}

static void gen_spontaneous(struct seed *s)
{
    op(s, OP_SPONTANEOUS | 1u << 4); /* on CQ 1 */
    for (unsigned i = 0; i < 4; i++)
        op(s, 0);          /* DW0 */
    op(s, 0);
    op(s, 0);              /* SQHD */
    op(s, 1);
    op(s, 0);              /* SQID 1 */
    op(s, 0);
    op(s, 0x10);           /* CID 0x1000 */
    op(s, 0);
    op(s, 0);
    read_rung(s, 1, 0);
    reap(s);
}

static int emit(const char *dir, const char *name, const struct seed *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t hdr[2] = {s->mode, (uint8_t)s->n_act};
    int bad = fwrite(hdr, 1, 2, f) != 2 || fwrite(s->ops, 1, s->n_ops, f) != s->n_ops ||
              fwrite(s->act, 1, s->n_act, f) != s->n_act;
    return (fclose(f) != 0) | bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const struct {
        const char *name;
        void (*fn)(struct seed *);
        uint8_t mode;
    } seeds[] = {
        {"healthy", gen_healthy, 0x00},
        {"healthy_irq_two_queues", gen_healthy, 0x0c},
        {"healthy_depth2", gen_healthy, 0x80},
        {"bad_cid", gen_bad_cid, 0x00},
        {"duplicate_cqe", gen_dup, 0x00},
        {"sqhd_beyond_tail", gen_sqhd, 0x00},
        {"wrong_phase", gen_phase, 0x00},
        {"held_timeout_abort_reset", gen_held_timeout, 0x00},
        {"extra_cqe_unknown_cid", gen_extra, 0x00},
        {"error_status", gen_status, 0x00},
        {"removed", gen_removed, 0x00},
        {"fatal_status", gen_cfs, 0x04},
        {"csts_hostile", gen_csts, 0x00},
        {"spontaneous_cqe", gen_spontaneous, 0x00},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        struct seed s;
        memset(&s, 0, sizeof s);
        s.mode = seeds[i].mode;
        seeds[i].fn(&s);
        rc |= emit(argv[1], seeds[i].name, &s);
    }
    return rc;
}
