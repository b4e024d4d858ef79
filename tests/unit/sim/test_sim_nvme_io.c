/* The sim platform's NVMe controller: the I/O data path, queue mechanics
 * and fault knobs, driven by hand through the platform operations
 * (test_sim_nvme_drv.c); media contents are checked independently with
 * capdrv_sim_nvme_data() or, for a backing file, pread()/pwrite().
 *
 * Covered: Read/Write round trips (512- and 4096-byte blocks, memory and
 * file media); PRP1 with an offset, PRP2 as data page, PRP lists with an
 * offset and a chained list page, every PRP Offset Invalid case; SGL data
 * block, segment chains and every SGL error; MDTS; LBA Out of Range;
 * Invalid Namespace; Invalid Opcode; Write Zeroes; Dataset Management;
 * Flush; Data Transfer Error when a PRP or list points at unmapped memory
 * (the oracle records it); the phase tag over several laps; a full CQ
 * stalling until its head doorbell frees room; Abort of a SLOW command;
 * deleting an SQ with a held command; and every fault kind. */
#define _GNU_SOURCE
#include "test_sim_nvme_drv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF (NT_DATA + 0x100000u) /* a second data area */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7u + seed + (i >> 9));
}

static void medium(struct nt *t, uint32_t nsid, uint64_t off, void *buf, size_t len)
{
    assert_int_equal(capdrv_sim_nvme_data(t->sim, t->fn, nsid, off, buf, len, false), 0);
}

static void test_rw_roundtrip(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.n_namespaces = 2, .ns = {{0}, {.lba_shift = 12}}};
    nt_open(&t, &cfg);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    uint8_t *src = nt_cpu(&t, NT_DATA), *dst = nt_cpu(&t, BUF);
    static uint8_t chk[0x4000];
    /* 512-byte blocks, one page. */
    fill(src, 2048, 1);
    assert_int_equal(nt_rw(&t, 1, true, 1, 5, 4, nt_dev(&t, NT_DATA), 0), 0);
    medium(&t, 1, 5 * 512, chk, 2048);
    assert_memory_equal(chk, src, 2048);
    memset(dst, 0, 2048);
    assert_int_equal(nt_rw(&t, 1, false, 1, 5, 4, nt_dev(&t, BUF), 0), 0);
    assert_memory_equal(dst, src, 2048);
    /* 4 KiB blocks, two pages: PRP2 is the second data page. */
    fill(src, 8192, 2);
    assert_int_equal(nt_rw(&t, 1, true, 2, 7, 2, nt_dev(&t, NT_DATA), nt_dev(&t, NT_DATA + 0x1000)), 0);
    medium(&t, 2, 7 * 4096, chk, 8192);
    assert_memory_equal(chk, src, 8192);
    memset(dst, 0, 0x3000);
    assert_int_equal(nt_rw(&t, 1, false, 2, 7, 2, nt_dev(&t, BUF + 0x2000), nt_dev(&t, BUF)), 0);
    assert_memory_equal(dst + 0x2000, src, 4096);
    assert_memory_equal(dst, src + 4096, 4096);
    /* PRP1 with an offset: 2 KiB at 0xc00 crosses into PRP2. */
    fill(src + 0xc00, 2048, 3);
    assert_int_equal(nt_rw(&t, 1, true, 1, 100, 4, nt_dev(&t, NT_DATA + 0xc00),
                           nt_dev(&t, NT_DATA + 0x1000)), 0);
    medium(&t, 1, 100 * 512, chk, 2048);
    assert_memory_equal(chk, src + 0xc00, 2048);
    /* Last block of the namespace. */
    assert_int_equal(nt_rw(&t, 1, true, 1, 2047, 1, nt_dev(&t, NT_DATA), 0), 0);
    nt_close(&t, 0);
}

/* Write PRP list entry @i at region offset @list. */
static void prp_entry(struct nt *t, uint64_t list, unsigned i, uint64_t dev)
{
    nt_put_le(nt_cpu(t, list + 8u * i), 8, dev);
}

static void test_prp_lists(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    /* 64 KiB from PRP1 offset 0x200: 0xe00 bytes there, then 16 pages
     * listed. The list starts 8 entries before the end of its page: 7 data
     * entries and a chain to a second list page with the other 9. Data
     * pages are scattered in reverse order. */
    const uint64_t l1 = 0x80000 + 0xfc0, l2 = 0x90000;
    uint64_t pages[16];
    for (unsigned i = 0; i < 16; i++)
        pages[i] = NT_DATA + 0x40000u - 0x2000u * i;
    for (unsigned i = 0; i < 7; i++)
        prp_entry(&t, l1, i, nt_dev(&t, pages[i]));
    prp_entry(&t, l1, 7, nt_dev(&t, l2));
    for (unsigned i = 7; i < 16; i++)
        prp_entry(&t, l2, i - 7, nt_dev(&t, pages[i]));
    static uint8_t want[0x10000], got[0x10000];
    fill(want, sizeof want, 9);
    memcpy(nt_cpu(&t, NT_DATA + 0x50200), want, 0xe00);
    for (unsigned i = 0; i < 16; i++) {
        size_t off = 0xe00 + 0x1000u * i, n = sizeof want - off < 0x1000 ? sizeof want - off : 0x1000;
        memcpy(nt_cpu(&t, pages[i]), want + off, n);
    }
    uint64_t p1 = nt_dev(&t, NT_DATA + 0x50200), p2 = nt_dev(&t, l1);
    assert_int_equal(nt_rw(&t, 1, true, 1, 64, 128, p1, p2), 0);
    medium(&t, 1, 64 * 512, got, sizeof got);
    assert_memory_equal(got, want, sizeof got);
    /* Read it back through the same lists into zeroed pages. */
    memset(nt_cpu(&t, NT_DATA + 0x50200), 0, 0xe00);
    for (unsigned i = 0; i < 16; i++)
        memset(nt_cpu(&t, pages[i]), 0, 0x1000);
    assert_int_equal(nt_rw(&t, 1, false, 1, 64, 128, p1, p2), 0);
    assert_memory_equal(nt_cpu(&t, NT_DATA + 0x50200), want, 0xe00);
    assert_memory_equal(nt_cpu(&t, pages[15]), want + 0xe00 + 0xf000, 0x200);
    /* Exactly fitting: 3 pages, list of 2 entries (no chain). */
    prp_entry(&t, 0xa0000, 0, nt_dev(&t, NT_DATA + 0x1000));
    prp_entry(&t, 0xa0000, 1, nt_dev(&t, NT_DATA + 0x2000));
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 24, nt_dev(&t, NT_DATA), nt_dev(&t, 0xa0000)), 0);

    /* PRP Offset Invalid, every case (§4.1.1). */
    uint16_t bad = ST(0, 0x13);
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 1, nt_dev(&t, NT_DATA + 2), 0), bad);
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 16, nt_dev(&t, NT_DATA), nt_dev(&t, BUF + 0x200)),
                     bad); /* PRP2 data page with an offset */
    assert_int_equal(nt_rw(&t, 1, false, 1, 64, 128, p1, p2 + 4), bad); /* list not qword aligned */
    prp_entry(&t, l2, 3, nt_dev(&t, pages[10]) + 0x10);
    assert_int_equal(nt_rw(&t, 1, false, 1, 64, 128, p1, p2), bad); /* entry with an offset */
    prp_entry(&t, l2, 3, nt_dev(&t, pages[10]));
    prp_entry(&t, l1, 7, nt_dev(&t, l2) + 8);
    assert_int_equal(nt_rw(&t, 1, false, 1, 64, 128, p1, p2), bad); /* chain with an offset */
    prp_entry(&t, l1, 7, nt_dev(&t, l2));
    assert_int_equal(nt_rw(&t, 1, false, 1, 64, 128, p1, p2), 0);
    nt_close(&t, 0);
}

/* SGL descriptor at region offset @at. */
static void sgl_desc(struct nt *t, uint64_t at, uint64_t addr, uint32_t len, uint8_t id)
{
    uint8_t *p = nt_cpu(t, at);
    memset(p, 0, 16);
    nt_put_le(p, 8, addr);
    nt_put_le(p + 8, 4, len);
    p[15] = id;
}

/* Read/Write with SGL1 given as raw descriptor fields. */
static uint16_t rw_sgl(struct nt *t, bool write, uint64_t slba, uint32_t nlb, uint64_t addr,
                       uint32_t len, uint8_t id, uint8_t psdt)
{
    struct ncmd c = {.opc = write ? 0x01 : 0x02, .flags = (uint8_t)(psdt << 6), .nsid = 1,
                     .prp1 = addr, .prp2 = (uint64_t)id << 56 | len, .cdw10 = (uint32_t)slba,
                     .cdw12 = nlb - 1u};
    return nt_cmd(t, 1, &c).st;
}

static void test_sgl(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.sgl = true};
    nt_open(&t, &cfg);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    static uint8_t want[2048], got[2048];
    fill(want, sizeof want, 5);
    /* One data block. */
    memcpy(nt_cpu(&t, NT_DATA + 3), want, 1024);
    assert_int_equal(rw_sgl(&t, true, 0, 2, nt_dev(&t, NT_DATA + 3), 1024, 0x00, 1), 0);
    medium(&t, 1, 0, got, 1024);
    assert_memory_equal(got, want, 1024);
    /* Last Segment of three unaligned data blocks (100 + 412 + 512). */
    const uint64_t seg = 0x80000, seg2 = 0x81000;
    memcpy(nt_cpu(&t, BUF + 1), want, 100);
    memcpy(nt_cpu(&t, BUF + 0x1005), want + 100, 412);
    memcpy(nt_cpu(&t, BUF + 0x2fff), want + 512, 512);
    sgl_desc(&t, seg, nt_dev(&t, BUF + 1), 100, 0x00);
    sgl_desc(&t, seg + 16, nt_dev(&t, BUF + 0x1005), 412, 0x00);
    sgl_desc(&t, seg + 32, nt_dev(&t, BUF + 0x2fff), 512, 0x00);
    assert_int_equal(rw_sgl(&t, true, 10, 2, nt_dev(&t, seg), 48, 0x30, 1), 0);
    medium(&t, 1, 10 * 512, got, 1024);
    assert_memory_equal(got, want, 1024);
    /* Segment (data block + Last Segment pointer) -> Last Segment (two
     * data blocks, one of them empty), read direction. */
    sgl_desc(&t, seg, nt_dev(&t, BUF + 0x5000), 1000, 0x00);
    sgl_desc(&t, seg + 16, nt_dev(&t, seg2), 32, 0x30);
    sgl_desc(&t, seg2, nt_dev(&t, BUF + 0x7000), 0, 0x00);
    sgl_desc(&t, seg2 + 16, nt_dev(&t, BUF + 0x7001), 24, 0x00);
    memset(nt_cpu(&t, BUF + 0x5000), 0, 0x3000);
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 32, 0x20, 1), 0);
    assert_memory_equal(nt_cpu(&t, BUF + 0x5000), want, 1000);
    assert_memory_equal(nt_cpu(&t, BUF + 0x7001), want + 1000, 24);

    /* Errors (§4.1.2; Base 2.0 Figure "Generic Command Status Values"). */
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1000, 0x00, 1), ST(0, 0x0f));
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1100, 0x00, 1), ST(0, 0x0f));
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x10, 1), ST(0, 0x11)); /* bit bucket */
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x01, 1), ST(0, 0x11)); /* sub type */
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x50, 1), ST(0, 0x11));
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 40, 0x20, 1), ST(0, 0x0d));
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 0, 0x30, 1), ST(0, 0x0d));
    /* A segment pointer that is not last in its segment. */
    sgl_desc(&t, seg + 32, nt_dev(&t, BUF), 24, 0x00);
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 48, 0x20, 1), ST(0, 0x0d));
    /* A segment pointer inside a Last Segment. */
    sgl_desc(&t, seg2 + 16, nt_dev(&t, seg), 16, 0x20);
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 32, 0x20, 1), ST(0, 0x0d));
    /* A self-referencing chain ends at the descriptor limit. */
    sgl_desc(&t, seg, nt_dev(&t, seg), 16, 0x20);
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, seg), 16, 0x20, 1), ST(0, 0x0e));
    /* A segment in unmapped memory: Data Transfer Error. */
    assert_int_equal(rw_sgl(&t, false, 10, 2, nt_dev(&t, NT_MEM + 0x100), 16, 0x30, 1),
                     ST(0, 0x04));
    /* PSDT 10b and 11b are not supported. */
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x00, 2), ST(0, 0x02));
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x00, 3), ST(0, 0x02));
    nt_close(&t, 1);

    /* Without cfg.sgl, PSDT 01b is an Invalid Field. */
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    assert_int_equal(rw_sgl(&t, false, 0, 2, nt_dev(&t, BUF), 1024, 0x00, 1), ST(0, 0x02));
    nt_close(&t, 0);
}

static void test_io_errors(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    /* MDTS 5: 128 KiB = 256 blocks; one more is an Invalid Field. */
    for (unsigned i = 0; i < 32; i++)
        prp_entry(&t, 0x80000, i, nt_dev(&t, NT_DATA + 0x1000u * (i + 1u)));
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 256, nt_dev(&t, NT_DATA), nt_dev(&t, 0x80000)), 0);
    struct ncqe e;
    struct ncmd big = {.opc = 0x02, .nsid = 1, .prp1 = nt_dev(&t, NT_DATA),
                       .prp2 = nt_dev(&t, 0x80000), .cdw12 = 256};
    e = nt_cmd(&t, 1, &big);
    assert_int_equal(e.st, ST(0, 0x02));
    assert_true(e.dnr);
    /* LBA Out of Range. */
    assert_int_equal(nt_rw(&t, 1, false, 1, 2047, 2, nt_dev(&t, NT_DATA), 0), ST(0, 0x80));
    assert_int_equal(nt_rw(&t, 1, false, 1, 2048, 1, nt_dev(&t, NT_DATA), 0), ST(0, 0x80));
    assert_int_equal(nt_rw(&t, 1, true, 1, UINT64_MAX, 1, nt_dev(&t, NT_DATA), 0), ST(0, 0x80));
    /* Invalid Namespace. */
    assert_int_equal(nt_rw(&t, 1, false, 0, 0, 1, nt_dev(&t, NT_DATA), 0), ST(0, 0x0b));
    assert_int_equal(nt_rw(&t, 1, false, 2, 0, 1, nt_dev(&t, NT_DATA), 0), ST(0, 0x0b));
    assert_int_equal(nt_rw(&t, 1, false, 0xffffffff, 0, 1, nt_dev(&t, NT_DATA), 0), ST(0, 0x0b));
    /* Invalid Opcode: Compare, vendor specific, an admin opcode on an I/O queue. */
    struct ncmd op = {.opc = 0x05, .nsid = 1};
    assert_int_equal(nt_cmd(&t, 1, &op).st, ST(0, 0x01));
    op.opc = 0x81;
    assert_int_equal(nt_cmd(&t, 1, &op).st, ST(0, 0x01));
    op.opc = 0x06;
    assert_int_equal(nt_cmd(&t, 1, &op).st, ST(0, 0x01));
    /* Fused and reserved PSDT. */
    struct ncmd rd = {.opc = 0x02, .flags = 0x01, .nsid = 1, .prp1 = nt_dev(&t, NT_DATA)};
    assert_int_equal(nt_cmd(&t, 1, &rd).st, ST(0, 0x02));
    rd.flags = 0xc0;
    assert_int_equal(nt_cmd(&t, 1, &rd).st, ST(0, 0x02));
    /* Data Transfer Error: the data page is not mapped; the oracle records
     * it. */
    uint64_t hole = nt_dev(&t, NT_MEM) + 0x1000;
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 0);
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 1, hole, 0), ST(0, 0x04));
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 1);
    struct capdrv_sim_violation v;
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_int_equal(v.fn, t.fn);
    assert_int_equal(v.devaddr, hole);
    assert_true(v.is_write);
    /* A write from a page that straddles the end of the mapping. */
    assert_int_equal(nt_rw(&t, 1, true, 1, 0, 8, nt_dev(&t, NT_MEM - 0x800), hole - 0x1000),
                     ST(0, 0x04));
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 2);
    /* A PRP list in unmapped memory. */
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 24, nt_dev(&t, NT_DATA), hole), ST(0, 0x04));
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 3);
    /* The queue still works. */
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 1, nt_dev(&t, NT_DATA), 0), 0);
    nt_close(&t, 3);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void test_wz_dsm_flush(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    static uint8_t img[2048 * 512];
    memset(img, 0xab, sizeof img);
    assert_int_equal(capdrv_sim_nvme_data(t.sim, t.fn, 1, 0, img, sizeof img, true), 0);
    /* Write Zeroes blocks 10..19, and 30..31 with Deallocate. */
    struct ncmd wz = {.opc = 0x08, .nsid = 1, .cdw10 = 10, .cdw12 = 9};
    assert_int_equal(nt_cmd(&t, 1, &wz).st, 0);
    wz.cdw10 = 30;
    wz.cdw12 = 1u | (1u << 25);
    assert_int_equal(nt_cmd(&t, 1, &wz).st, 0);
    wz.cdw10 = 2040;
    wz.cdw12 = 8;
    assert_int_equal(nt_cmd(&t, 1, &wz).st, ST(0, 0x80));
    medium(&t, 1, 0, img, sizeof img);
    assert_true(all(img, 10 * 512, 0xab));
    assert_true(all(img + 10 * 512, 10 * 512, 0));
    assert_true(all(img + 20 * 512, 10 * 512, 0xab));
    assert_true(all(img + 30 * 512, 2 * 512, 0));
    assert_true(all(img + 32 * 512, (2048 - 32) * 512, 0xab));
    /* DSM: two ranges; without AD nothing changes. */
    uint8_t *r = nt_cpu(&t, NT_DATA);
    memset(r, 0, 64);
    nt_put_le(r + 4, 4, 4);     /* range 0: 4 blocks at 100 */
    nt_put_le(r + 8, 8, 100);
    nt_put_le(r + 16 + 4, 4, 1); /* range 1: 1 block at 200 */
    nt_put_le(r + 16 + 8, 8, 200);
    struct ncmd dsm = {.opc = 0x09, .nsid = 1, .prp1 = nt_dev(&t, NT_DATA), .cdw10 = 1,
                       .cdw11 = 0x3};
    assert_int_equal(nt_cmd(&t, 1, &dsm).st, 0);
    medium(&t, 1, 0, img, sizeof img);
    assert_true(all(img + 100 * 512, 4 * 512, 0xab));
    dsm.cdw11 = 0x4;
    assert_int_equal(nt_cmd(&t, 1, &dsm).st, 0);
    medium(&t, 1, 0, img, sizeof img);
    assert_true(all(img + 99 * 512, 512, 0xab));
    assert_true(all(img + 100 * 512, 4 * 512, 0));
    assert_true(all(img + 104 * 512, 512, 0xab));
    assert_true(all(img + 200 * 512, 512, 0));
    /* A range out of the namespace: nothing is deallocated. */
    nt_put_le(r + 8, 8, 300);
    nt_put_le(r + 16 + 8, 8, 2048);
    assert_int_equal(nt_cmd(&t, 1, &dsm).st, ST(0, 0x80));
    medium(&t, 1, 0, img, sizeof img);
    assert_true(all(img + 300 * 512, 4 * 512, 0xab));
    /* Flush: one namespace, all namespaces, an inactive one. */
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);
    fl.nsid = 0xffffffff;
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);
    fl.nsid = 3;
    assert_int_equal(nt_cmd(&t, 1, &fl).st, ST(0, 0x0b));
    nt_close(&t, 0);

    /* Not offered: Invalid Command Opcode. */
    struct capdrv_sim_nvme_config cfg = {.no_write_zeroes = true, .no_dsm = true};
    nt_open(&t, &cfg);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    wz.cdw10 = 0;
    wz.cdw12 = 0;
    assert_int_equal(nt_cmd(&t, 1, &wz).st, ST(0, 0x01));
    assert_int_equal(nt_cmd(&t, 1, &dsm).st, ST(0, 0x01));
    nt_close(&t, 0);
}

static void test_file_backed(void **state)
{
    (void)state;
    char path[] = "capdrv-nvmefile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 16 * 4096 + 100), 0);
    static uint8_t pat[4096], got[8192];
    fill(pat, sizeof pat, 11);
    assert_int_equal(pwrite(fd, pat, sizeof pat, 10 * 4096), (ssize_t)sizeof pat);
    struct capdrv_sim_nvme_config cfg = {.n_namespaces = 1,
                                         .ns = {{.lba_shift = 12, .backing_file = path}}};
    struct capdrv_sim *probe;
    assert_int_equal(capdrv_sim_create(NULL, &probe), 0);
    struct capdrv_pci_addr a = {0, 0, 8, 0};
    int rc = capdrv_sim_add_nvme(probe, &a, &cfg, NULL);
    capdrv_sim_destroy(probe);
    if (rc == -CAPDRV_ENOTSUP) {
        close(fd);
        unlink(path);
        skip(); /* io_uring unavailable on this host */
    }
    assert_int_equal(rc, 0);
    struct nt t;
    nt_open(&t, &cfg);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    /* Capacity from the file: 16 blocks (the tail is ignored). */
    assert_int_equal(nt_identify(&t, 0, 1), 0);
    assert_int_equal(nt_get_le(nt_cpu(&t, NT_DATA), 8), 16);
    assert_int_equal(nt_cpu(&t, NT_DATA)[130], 12);
    /* Read what the file holds. */
    memset(nt_cpu(&t, BUF), 0, 4096);
    assert_int_equal(nt_rw(&t, 1, false, 1, 10, 1, nt_dev(&t, BUF), 0), 0);
    assert_memory_equal(nt_cpu(&t, BUF), pat, 4096);
    /* Write through the device, check with pread. */
    fill(nt_cpu(&t, NT_DATA), 8192, 12);
    assert_int_equal(nt_rw(&t, 1, true, 1, 3, 2, nt_dev(&t, NT_DATA), nt_dev(&t, NT_DATA + 0x1000)), 0);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);
    assert_int_equal(pread(fd, got, 8192, 3 * 4096), 8192);
    assert_memory_equal(got, nt_cpu(&t, NT_DATA), 8192);
    /* Write Zeroes on the file. */
    struct ncmd wz = {.opc = 0x08, .nsid = 1, .cdw10 = 3, .cdw12 = 0};
    assert_int_equal(nt_cmd(&t, 1, &wz).st, 0);
    assert_int_equal(pread(fd, got, 4096, 3 * 4096), 4096);
    assert_true(all(got, 4096, 0));
    assert_int_equal(nt_rw(&t, 1, false, 1, 16, 1, nt_dev(&t, BUF), 0), ST(0, 0x80));
    nt_close(&t, 0);
    /* A file smaller than one block. */
    assert_int_equal(ftruncate(fd, 1000), 0);
    assert_int_equal(capdrv_sim_create(NULL, &probe), 0);
    assert_int_equal(capdrv_sim_add_nvme(probe, &a, &cfg, NULL), -CAPDRV_EINVAL);
    capdrv_sim_destroy(probe);
    close(fd);
    unlink(path);
}

/* The Phase Tag over several laps of a 4-entry CQ; SQHD wraps too. */
static void test_phase_wrap(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 4);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    for (unsigned i = 0; i < 14; i++) {
        struct ncqe e = nt_cmd(&t, 1, &fl); /* checks SQHD = the driver's tail */
        assert_int_equal(e.p, (i / 4) % 2 == 0);
        assert_int_equal(e.sqhd, (i + 1) % 4);
    }
    /* Batches of 3 (all the room a 4-entry CQ has). */
    for (unsigned lap = 0; lap < 4; lap++) {
        uint16_t ids[3];
        for (unsigned k = 0; k < 3; k++)
            ids[k] = nt_put(&t, 1, &fl);
        nt_ring(&t, 1);
        for (unsigned k = 0; k < 3; k++) {
            struct ncqe e;
            assert_true(nt_take(&t, 1, &e));
            assert_int_equal(e.cid, ids[k]);
        }
        nt_release(&t, 1);
    }
    nt_close(&t, 0);
}

/* A full CQ stalls the controller until the head doorbell frees room;
 * a command waiting behind it can be aborted. */
static void test_full_cq_stall(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    assert_int_equal(nt_create_cq(&t, 1, 4, true, 1), 0);
    assert_int_equal(nt_create_sq(&t, 1, 16, 1), 0);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    uint16_t ids[7];
    for (unsigned i = 0; i < 7; i++)
        ids[i] = nt_put(&t, 1, &fl);
    nt_ring(&t, 1);
    struct ncqe e;
    unsigned got = 0;
    /* Command 5 still waits in the SQ: an Abort marks it. */
    struct ncmd ab = {.opc = 0x08, .cdw10 = (uint32_t)ids[5] << 16 | 1u};
    assert_int_equal(nt_cmd(&t, 0, &ab).dw0 & 1, 0);
    for (unsigned round = 0; round < 3; round++) {
        unsigned n = 0;
        while (nt_take(&t, 1, &e)) {
            assert_int_equal(e.cid, ids[got]);
            assert_int_equal(e.st, got == 5 ? ST(0, 0x07) : 0);
            assert_int_equal(e.sqhd, got + 1); /* fetched one by one as room allows */
            got++;
            n++;
        }
        assert_int_equal(n, round < 2 ? 3 : 1);
        struct capdrv_sim_nvme_stats s;
        assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s), 0);
        assert_int_equal(s.io_cmds, got);
        nt_release(&t, 1);
    }
    assert_int_equal(got, 7);
    assert_false(nt_peek(&t, 1, &e));
    /* Once completed, it cannot be aborted again. */
    assert_int_equal(nt_cmd(&t, 0, &ab).dw0 & 1, 1);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s), 0);
    assert_int_equal(s.aborted, 1);
    nt_close(&t, 0);
}

static void test_abort_slow(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_SLOW, .qid = 1, .opcode = -1,
                                      .delay_ns = 10000};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    static uint8_t pat[512];
    fill(pat, sizeof pat, 21);
    assert_int_equal(capdrv_sim_nvme_data(t.sim, t.fn, 1, 0, pat, sizeof pat, true), 0);
    struct ncmd rd = {.opc = 0x02, .nsid = 1, .prp1 = nt_dev(&t, BUF)};
    uint16_t a = nt_put(&t, 1, &rd);
    uint16_t b = nt_put(&t, 1, &rd);
    nt_ring(&t, 1);
    struct ncqe e;
    assert_false(nt_peek(&t, 1, &e));
    /* Abort a: aborted (DW0 bit 0 = 0); its CQE says Command Abort Requested. */
    struct ncmd ab = {.opc = 0x08, .cdw10 = (uint32_t)a << 16 | 1u};
    e = nt_cmd(&t, 0, &ab);
    assert_int_equal(e.st, 0);
    assert_int_equal(e.dw0 & 1, 0);
    assert_true(nt_take(&t, 1, &e));
    assert_int_equal(e.cid, a);
    assert_int_equal(e.st, ST(0, 0x07));
    /* Aborting it again, or a CID that was never held: not aborted. */
    assert_int_equal(nt_cmd(&t, 0, &ab).dw0 & 1, 1);
    ab.cdw10 = (uint32_t)0x7777 << 16 | 1u;
    assert_int_equal(nt_cmd(&t, 0, &ab).dw0 & 1, 1);
    /* b completes when its time comes, with its data. */
    memset(nt_cpu(&t, BUF), 0, 512);
    assert_false(nt_peek(&t, 1, &e));
    (void)nt_fired(&t, 1); /* a's completion signalled already */
    struct capdrv_hw_irq src = {t.fn, 1};
    uint64_t ready;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), 1);
    assert_int_equal(capdrv_sim_now(t.sim), 10000);
    assert_true(nt_take(&t, 1, &e));
    assert_int_equal(e.cid, b);
    assert_int_equal(e.st, 0);
    assert_int_equal(e.sqhd, 2);
    assert_memory_equal(nt_cpu(&t, BUF), pat, 512);
    nt_release(&t, 1);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s), 0);
    assert_int_equal(s.aborted, 1);
    /* Deleting an SQ completes its held commands: Aborted due to SQ Deletion. */
    uint16_t c = nt_put(&t, 1, &rd);
    nt_ring(&t, 1);
    struct ncmd dsq = {.opc = 0x00, .cdw10 = 1};
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, 0);
    assert_true(nt_take(&t, 1, &e));
    assert_int_equal(e.cid, c);
    assert_int_equal(e.st, ST(0, 0x08));
    /* Nothing left for the clock. */
    capdrv_sim_advance(t.sim, 100000);
    assert_false(nt_peek(&t, 1, &e));
    /* A reset drops held commands without touching memory. */
    assert_int_equal(nt_create_sq(&t, 1, 16, 1), 0);
    nt_put(&t, 1, &rd);
    nt_ring(&t, 1);
    nt_disable(&t);
    capdrv_sim_advance(t.sim, 100000);
    assert_false(nt_peek(&t, 1, &e));
    nt_close(&t, 0);
}

static void set_fault(struct nt *t, enum capdrv_sim_nvme_fault_kind k, int qid, int opc,
                      unsigned count)
{
    struct capdrv_sim_nvme_fault f = {.kind = k, .qid = qid, .opcode = opc, .count = count};
    assert_int_equal(capdrv_sim_nvme_set_fault(t->sim, t->fn, &f), 0);
}

/* Submit @c on @q and return the raw CQE at the driver's head (whatever
 * its phase), consuming it. */
static struct ncqe raw_cqe(struct nt *t, unsigned q, const struct ncmd *c, uint16_t *cid)
{
    *cid = nt_put(t, q, c);
    nt_ring(t, q);
    struct ncqe e;
    bool want = t->phase[q];
    t->phase[q] = !want;
    bool inverted = nt_peek(t, q, &e);
    t->phase[q] = want;
    if (!inverted)
        assert_true(nt_peek(t, q, &e));
    t->phase[q] = want;
    if (++t->cq_head[q] == t->cq_size[q]) {
        t->cq_head[q] = 0;
        t->phase[q] = !t->phase[q];
    }
    nt_release(t, q);
    return e;
}

static void test_faults(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.max_io_queues = 2};
    nt_open(&t, &cfg);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    nt_io_pair(&t, 2, 16);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    struct ncmd rd = {.opc = 0x02, .nsid = 1, .prp1 = nt_dev(&t, BUF)};
    struct ncqe e;
    uint16_t cid;

    /* STATUS on reads of SQ 1, once: no data moves; an error event waits. */
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_STATUS, .qid = 1, .opcode = 2,
                                      .status = ST(2, 0x81), .count = 1};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    assert_int_equal(nt_cmd(&t, 2, &rd).st, 0); /* other queue */
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0); /* other opcode */
    memset(nt_cpu(&t, BUF), 0x5a, 512);
    e = nt_cmd(&t, 1, &rd);
    assert_int_equal(e.st, ST(2, 0x81));
    assert_false(e.dnr);
    assert_true(all(nt_cpu(&t, BUF), 512, 0x5a));
    assert_int_equal(nt_cmd(&t, 1, &rd).st, 0); /* count 1: cleared */
    struct ncmd aer = {.opc = 0x0c};
    assert_int_equal(nt_cmd(&t, 0, &aer).dw0, 0x010400); /* transient internal error */

    /* DROP, once: consumed without a completion. */
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_DROP, -1, -1, 1);
    nt_put(&t, 1, &fl);
    nt_ring(&t, 1);
    assert_false(nt_peek(&t, 1, &e));
    e = nt_cmd(&t, 1, &fl);
    assert_int_equal(e.st, 0);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s), 0);
    assert_int_equal(s.dropped, 1);

    /* BAD_CID, DUP_CID, SQHD, SQID, on SQ 2 only. */
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_BAD_CID, 2, -1, 0);
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);
    e = raw_cqe(&t, 2, &fl, &cid);
    assert_int_equal(e.cid, cid ^ 0x8000);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_SQHD, 2, -1, 0);
    e = raw_cqe(&t, 2, &fl, &cid);
    assert_int_equal(e.cid, cid);
    assert_int_equal(e.sqhd, 17);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_SQID, 2, -1, 0);
    e = raw_cqe(&t, 2, &fl, &cid);
    assert_int_equal(e.sqid, 3);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_DUP_CID, 2, -1, 1);
    cid = nt_put(&t, 2, &fl);
    nt_ring(&t, 2);
    assert_true(nt_take(&t, 2, &e));
    assert_int_equal(e.cid, cid);
    assert_true(nt_take(&t, 2, &e));
    assert_int_equal(e.cid, cid);
    assert_false(nt_peek(&t, 2, &e));
    nt_release(&t, 2);
    assert_int_equal(nt_cmd(&t, 2, &fl).st, 0);

    /* PHASE: the entry is written with the old phase: the host sees nothing. */
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_PHASE, 2, -1, 1);
    cid = nt_put(&t, 2, &fl);
    nt_ring(&t, 2);
    assert_false(nt_peek(&t, 2, &e));
    t.phase[2] = !t.phase[2];
    assert_true(nt_peek(&t, 2, &e)); /* there, with the inverted tag */
    assert_int_equal(e.cid, cid);
    t.phase[2] = !t.phase[2];
    assert_true(nt_take(&t, 2, &e) == false);
    t.cq_head[2]++; /* skip it by hand */
    nt_release(&t, 2);
    assert_int_equal(nt_cmd(&t, 2, &fl).st, 0);

    /* CFS at the next doorbell; a reset clears it; count 1 clears the knob. */
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_CFS, -1, -1, 1);
    nt_put(&t, 1, &fl);
    nt_ring(&t, 1);
    assert_int_equal(nt_csts(&t) & 2, 2);
    assert_false(nt_peek(&t, 1, &e));
    nt_disable(&t);
    assert_int_equal(nt_csts(&t), 0);
    nt_enable(&t);
    nt_io_pair(&t, 1, 16);
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);

    /* REMOVED: all ones, writes dropped; clearing it brings the device back. */
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_REMOVED, -1, -1, 0);
    assert_int_equal(nt_rd(&t, R_CAP, 8), UINT64_MAX);
    assert_int_equal(nt_rd(&t, R_CSTS, 4), 0xffffffffu);
    assert_int_equal(nt_rd(&t, R_VS, 2), 0xffff);
    nt_wr(&t, R_CC, 4, 0);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_NONE, -1, -1, 0);
    assert_int_equal(nt_csts(&t) & 1, 1); /* the CC write was dropped */

    /* NEVER_READY. */
    nt_disable(&t);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_NEVER_READY, -1, -1, 0);
    nt_enable_cc(&t, NT_ADMIN_ENTRIES, CC_READY_VALUE);
    capdrv_sim_advance(t.sim, 10000000000ull);
    assert_int_equal(nt_csts(&t), 0);
    nt_wr(&t, R_CC, 4, 0);
    set_fault(&t, CAPDRV_SIM_NVME_FAULT_NONE, -1, -1, 0);
    nt_enable(&t);
    nt_close(&t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rw_roundtrip),
        cmocka_unit_test(test_prp_lists),
        cmocka_unit_test(test_sgl),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_wz_dsm_flush),
        cmocka_unit_test(test_file_backed),
        cmocka_unit_test(test_phase_wrap),
        cmocka_unit_test(test_full_cq_stall),
        cmocka_unit_test(test_abort_slow),
        cmocka_unit_test(test_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
