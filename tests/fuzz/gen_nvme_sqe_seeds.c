/* Writes the seed corpus of fuzz_nvme_sqe (tests/fuzz/corpus/nvme_sqe/):
 * scripts in the input layout documented at the top of fuzz_nvme_sqe.c.
 * The operation numbers and operand encodings below are that file's; keep
 * them in step.
 *
 *   cmake --build build --target fuzz_gen_nvme_sqe_seeds
 *   build/tests/fuzz/fuzz_gen_nvme_sqe_seeds tests/fuzz/corpus/nvme_sqe */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { OP_SQE, OP_GOOD_CMD, OP_LIST, OP_SQ_DB, OP_CQ_DB, OP_REG_W, OP_REG_R, OP_RELEASE,
       OP_ALLOC, OP_DISABLE, OP_ENABLE, OP_CREATE_IO, OP_RESET, OP_TIME, OP_SCRIBBLE };
enum { B_QUEUES, B_DATA, B_LIST, B_SMALL, B_OTHER };
/* pick_ref() kinds (selector bits 7:5). */
enum { R_ZERO, R_DWORD, R_PAGE, R_STALE, R_OTHER, R_RAW, R_LIST };
/* Mode byte bits. */
#define M_DIRECT 0x01u
#define M_TWO_NS 0x02u
#define M_SGL 0x08u
#define M_NO_IO 0x10u
#define M_DELAY 0x20u

struct seed {
    uint8_t b[512];
    size_t n;
};

static void u8(struct seed *s, unsigned v)
{
    if (s->n < sizeof s->b)
        s->b[s->n++] = (uint8_t)v;
}

static void le(struct seed *s, unsigned bytes, uint64_t v)
{
    for (unsigned i = 0; i < bytes; i++)
        u8(s, (unsigned)(v >> (8 * i)) & 0xffu);
}

static void ref(struct seed *s, unsigned kind, unsigned buf, unsigned arg)
{
    u8(s, kind << 5 | buf);
    if (kind == R_LIST)
        le(s, 2, arg);
    else if (kind != R_ZERO)
        u8(s, arg);
}

/* A raw SQE with PRPs (see op_sqe): qid, opcode, flags, NSID selector,
 * PRP1, PRP2, CDW10, CDW11, CDW12 (low half). */
static void sqe(struct seed *s, unsigned q, unsigned opc, unsigned nsid_sel, unsigned p1k,
                unsigned p1b, unsigned p1a, unsigned p2k, unsigned p2b, unsigned p2a,
                uint32_t cdw10, uint32_t cdw11, uint16_t cdw12)
{
    u8(s, OP_SQE);
    u8(s, q);
    u8(s, opc);
    u8(s, 0);
    u8(s, nsid_sel);
    ref(s, p1k, p1b, p1a);
    ref(s, p2k, p2b, p2a);
    le(s, 4, cdw10);
    le(s, 4, cdw11);
    le(s, 2, cdw12);
}

static void ring_reap(struct seed *s, unsigned q)
{
    u8(s, OP_SQ_DB);
    u8(s, q);
    u8(s, OP_CQ_DB);
    u8(s, q);
}

/* Identify Controller (CNS 01h) into the data buffer, well-formed. */
static void identify(struct seed *s, unsigned mode)
{
    u8(s, mode);
    u8(s, OP_GOOD_CMD);
    u8(s, 0x10); /* kind 0 (Identify), CNS 1, NSID 0 */
    u8(s, 0);    /* page 0 */
    ring_reap(s, 0);
    u8(s, OP_GOOD_CMD);
    u8(s, 0x08); /* Identify Namespace 1 */
    u8(s, 1);
    ring_reap(s, 0);
}

/* Read 32 blocks of 512 bytes (16 KiB) into data pages 1..4: PRP1 page 1,
 * PRP2 a list of pages 2..4 written by OP_LIST. */
static void read_prp_list(struct seed *s, unsigned mode)
{
    u8(s, mode);
    u8(s, OP_LIST);
    u8(s, 0); /* PRP entries from index 0 */
    u8(s, 2); /* 3 entries */
    ref(s, R_PAGE, B_DATA, 2);
    ref(s, R_PAGE, B_DATA, 3);
    ref(s, R_PAGE, B_DATA, 4);
    sqe(s, 1, 0x02, 1, R_PAGE, B_DATA, 1, R_LIST, 0, 0, 0, 0, 31);
    ring_reap(s, 1);
    /* the same through the well-formed path: write then read, 24 blocks */
    u8(s, OP_GOOD_CMD);
    u8(s, 0x0b); /* write, NSID 1, queue 1 */
    u8(s, 23);
    u8(s, 0x10);
    u8(s, 5);
    ring_reap(s, 1);
}

/* Create I/O CQ 2 and SQ 2 (4 entries) with raw admin commands, then a
 * Flush on it and delete them. */
static void create_queue(struct seed *s, unsigned mode)
{
    u8(s, mode | M_NO_IO);
    u8(s, OP_CREATE_IO); /* queue pair 1 */
    sqe(s, 0, 0x05, 0, R_PAGE, B_QUEUES, 5, R_ZERO, 0, 0, 3u << 16 | 2u, 1u, 0);
    ring_reap(s, 0);
    sqe(s, 0, 0x01, 0, R_PAGE, B_QUEUES, 4, R_ZERO, 0, 0, 3u << 16 | 2u, 2u << 16 | 1u, 0);
    ring_reap(s, 0);
    u8(s, OP_GOOD_CMD);
    u8(s, 0x0a); /* Flush, queue 2 */
    ring_reap(s, 2);
    /* Delete them again */
    sqe(s, 0, 0x00, 0, R_ZERO, 0, 0, R_ZERO, 0, 0, 2u, 0, 0);
    sqe(s, 0, 0x04, 0, R_ZERO, 0, 0, R_ZERO, 0, 0, 2u, 0, 0);
    ring_reap(s, 0);
}

/* A read; a stale reference and the other grant's buffer (refused); a read
 * whose data buffer is released after the doorbell; disable, reset and
 * bring-up again. */
static void hostile(struct seed *s, unsigned mode)
{
    u8(s, mode);
    sqe(s, 1, 0x02, 1, R_DWORD, B_DATA, 0, R_ZERO, 0, 0, 0, 0, 0);
    ring_reap(s, 1);
    sqe(s, 1, 0x02, 1, R_STALE, 0, 0, R_ZERO, 0, 0, 0, 0, 0);
    u8(s, OP_SQ_DB);
    u8(s, 1);
    sqe(s, 1, 0x01, 1, R_OTHER, 0, 0, R_ZERO, 0, 0, 0, 0, 0);
    u8(s, OP_SQ_DB);
    u8(s, 1);
    sqe(s, 1, 0x02, 1, R_DWORD, B_DATA, 0, R_ZERO, 0, 0, 0, 0, 0);
    u8(s, OP_SQ_DB);
    u8(s, 1);
    u8(s, OP_RELEASE | B_DATA << 4); /* in flight: the shim resets the function */
    u8(s, OP_CQ_DB);
    u8(s, 1);
    u8(s, OP_ALLOC | B_DATA << 4);
    u8(s, OP_DISABLE);
    u8(s, 2); /* CC.EN 0, wait for RDY 0 */
    u8(s, OP_ENABLE);
    u8(s, OP_RESET);
    u8(s, OP_ENABLE);
}

/* An SGL read (one data block) and an SGL Last Segment in the list buffer. */
static void sgl(struct seed *s, unsigned mode)
{
    u8(s, mode | M_SGL);
    /* Data block: 8 blocks of 512 bytes */
    u8(s, OP_SQE);
    u8(s, 1);
    u8(s, 0x02);
    u8(s, 0x40); /* PSDT 01b */
    u8(s, 1);
    ref(s, R_PAGE, B_DATA, 0);
    le(s, 4, 4096);
    u8(s, 0x00); /* Data Block, address */
    le(s, 4, 0);
    le(s, 4, 0);
    le(s, 2, 7);
    ring_reap(s, 1);
    /* Last Segment of two data blocks in the list buffer */
    u8(s, OP_LIST);
    u8(s, 1); /* SGL descriptors from index 0 */
    u8(s, 1); /* 2 */
    ref(s, R_PAGE, B_DATA, 1);
    u8(s, 4); /* 2 KiB */
    u8(s, 0x00);
    ref(s, R_PAGE, B_DATA, 3);
    u8(s, 4);
    u8(s, 0x00);
    u8(s, OP_SQE);
    u8(s, 1);
    u8(s, 0x02);
    u8(s, 0x40);
    u8(s, 1);
    ref(s, R_LIST, 0, 0);
    le(s, 4, 32);
    u8(s, 0x30); /* Last Segment, address */
    le(s, 4, 0);
    le(s, 4, 0);
    le(s, 2, 7);
    ring_reap(s, 1);
}

static int emit(const char *dir, const char *name, const struct seed *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n) {
        perror(path);
        if (f)
            fclose(f);
        return 1;
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const struct {
        const char *name;
        void (*fn)(struct seed *, unsigned);
        unsigned mode;
    } seeds[] = {
        {"identify", identify, 0},
        {"identify_direct", identify, M_DIRECT},
        {"read_prp_list", read_prp_list, 0},
        {"read_prp_list_direct", read_prp_list, M_DIRECT},
        {"create_queue", create_queue, 0},
        {"create_queue_direct_two_ns", create_queue, M_DIRECT | M_TWO_NS},
        {"hostile_release_stale", hostile, 0},
        {"hostile_release_stale_direct_delay", hostile, M_DIRECT | M_DELAY},
        {"sgl", sgl, 0},
        {"sgl_direct", sgl, M_DIRECT},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        struct seed s;
        memset(&s, 0, sizeof s);
        seeds[i].fn(&s, seeds[i].mode);
        rc |= emit(argv[1], seeds[i].name, &s);
    }
    return rc;
}
