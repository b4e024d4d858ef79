/* Simulated NVMe controller: Identify data structures (NVM Express Base
 * 2.0 §5.17.2, NVM Command Set 1.0 §4.1.5) and log pages (Base 2.0
 * §5.16.1: Error Information, SMART / Health Information, Firmware Slot
 * Information). Byte offsets are those of the spec's figures. */
#include "dev_nvme.h"

#include <string.h>

#define WCTEMP_K 0x157u /* 343 K warning composite temperature */
#define CCTEMP_K 0x175u /* 373 K critical composite temperature */
#define ELOG_ENTRY 64u
#define SMART_SIZE 512u
#define FW_SIZE 512u

/* ASCII, space padded, not NUL terminated (§1.4 string fields). */
static void put_str(uint8_t *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    memset(p, ' ', n);
    memcpy(p, s, l < n ? l : n);
}

void nvme_ident_ctrl(const struct nvme_dev *d, uint8_t *b)
{
    sim_le_put(b + 0, 2, 0x1b36);  /* VID */
    sim_le_put(b + 2, 2, 0x1af4);  /* SSVID */
    put_str(b + 4, 20, CAPDRV_SIM_NVME_SERIAL);
    put_str(b + 24, 40, CAPDRV_SIM_NVME_MODEL);
    put_str(b + 64, 8, CAPDRV_SIM_NVME_FIRMWARE);
    b[72] = 6;                     /* RAB: 64 commands */
    b[73] = 0x00;                  /* IEEE OUI 52:54:00, least significant byte first */
    b[74] = 0x54;
    b[75] = 0x52;
    b[77] = (uint8_t)d->cfg.mdts;  /* MDTS, units of CAP.MPSMIN */
    sim_le_put(b + 78, 2, 1);      /* CNTLID */
    sim_le_put(b + 80, 4, NVME_VS_2_0);
    b[111] = 1;                    /* CNTRLTYPE: I/O controller */
    sim_le_put(b + 256, 2, 0);     /* OACS: no optional admin commands (DBBC bit 8 clear) */
    b[258] = NVME_ACL;
    b[259] = NVME_AERL;
    b[260] = 0x03;                 /* FRMW: one slot, slot 1 read-only */
    b[261] = 0x04;                 /* LPA: extended Get Log Page data (NUMDU, LPO) */
    b[262] = NVME_ELOG_N - 1u;     /* ELPE, 0's based */
    b[263] = 0;                    /* NPSS: power state 0 only */
    sim_le_put(b + 266, 2, WCTEMP_K);
    sim_le_put(b + 268, 2, CCTEMP_K);
    b[512] = 0x66;                 /* SQES: 64-byte entries, required and maximum */
    b[513] = 0x44;                 /* CQES: 16-byte entries */
    sim_le_put(b + 516, 4, d->nns); /* NN */
    uint16_t oncs = 0;
    if (!d->cfg.no_dsm)
        oncs |= 1u << 2;
    if (!d->cfg.no_write_zeroes)
        oncs |= 1u << 3;
    sim_le_put(b + 520, 2, oncs);
    b[525] = 0x07;                 /* VWC: present, Flush NSID FFFFFFFFh supported */
    sim_le_put(b + 536, 4, d->cfg.sgl ? CAPDRV_NVME_SGLS_BYTE : 0u); /* SGLS */
    put_str(b + 768, 256, "nqn.2024-01.org.capdrv:sim-nvme");
    for (unsigned i = 768; i < 1024; i++) /* SUBNQN is NUL padded, not space padded */
        if (b[i] == ' ')
            b[i] = 0;
    sim_le_put(b + 2048, 2, 2500); /* PSD0 MP: 25.00 W */
}

void nvme_ident_ns(const struct nvme_dev *d, uint32_t nsid, uint8_t *b)
{
    const struct nvme_ns *ns = &d->ns[nsid - 1u];
    sim_le_put(b + 0, 8, ns->nlba);  /* NSZE */
    sim_le_put(b + 8, 8, ns->nlba);  /* NCAP */
    sim_le_put(b + 16, 8, ns->nlba); /* NUSE */
    b[25] = 0;                       /* NLBAF: one format (0's based) */
    b[26] = 0;                       /* FLBAS: format 0, no metadata */
    /* DLFEAT: deallocated blocks read as 00h; Write Zeroes may deallocate. */
    b[33] = (uint8_t)(0x01u | (d->cfg.no_write_zeroes ? 0u : 0x08u));
    b[128 + 2] = (uint8_t)ns->lbads; /* LBAF0: MS 0, LBADS, RP 00b (best) */
}

void nvme_ident_nslist(const struct nvme_dev *d, uint32_t after, uint8_t *b)
{
    unsigned k = 0;
    for (uint32_t id = 1; id <= d->nns; id++)
        if (id > after)
            sim_le_put(b + 4u * k++, 4, id); /* increasing, zero terminated */
}

void nvme_ident_nsdesc(uint8_t *b)
{
    /* One descriptor: NIDT 04h (Command Set Identifier), NIDL 1, CSI 00h
     * (NVM); a zero NIDT ends the list. */
    b[0] = 0x04;
    b[1] = 0x01;
    b[4] = 0x00;
}

void nvme_elog_add(struct nvme_dev *d, const struct nvme_cpl *c, uint32_t nsid)
{
    memmove(d->elog[1], d->elog[0], (NVME_ELOG_N - 1u) * ELOG_ENTRY);
    uint8_t *e = d->elog[0];
    memset(e, 0, ELOG_ENTRY);
    d->error_count++;
    sim_le_put(e + 0, 8, d->error_count); /* unique, increasing; 0 = empty */
    sim_le_put(e + 8, 2, c->sqid);
    sim_le_put(e + 10, 2, c->cid);
    uint16_t sf = (uint16_t)(((c->status & 0xffu) << 1) | (((c->status >> 8) & 0x7u) << 9) |
                             ((c->status & NVME_DNR) ? CAPDRV_NVME_CQE_DNR : 0u));
    sim_le_put(e + 12, 2, sf);            /* Status Field, phase tag 0 */
    sim_le_put(e + 14, 2, 0xffffu);       /* Parameter Error Location: not given */
    sim_le_put(e + 24, 4, nsid);
}

static void smart(const struct nvme_dev *d, uint8_t *b)
{
    b[0] = d->smart_temp_warn ? 0x02 : 0x00; /* Critical Warning bit 1: temperature */
    sim_le_put(b + 1, 2, CAPDRV_SIM_NVME_TEMP_K);
    b[3] = 100; /* Available Spare, % */
    b[4] = 10;  /* Available Spare Threshold */
    /* Data Units: thousands of 512-byte units, rounded up (§5.16.1.3). */
    sim_le_put(b + 32, 8, (d->units_read + 999u) / 1000u);
    sim_le_put(b + 48, 8, (d->units_written + 999u) / 1000u);
    sim_le_put(b + 64, 8, d->host_reads);
    sim_le_put(b + 80, 8, d->host_writes);
    sim_le_put(b + 112, 8, 1); /* Power Cycles */
    sim_le_put(b + 176, 8, d->error_count);
}

size_t nvme_log_page(const struct nvme_dev *d, uint8_t lid, uint8_t *b)
{
    switch (lid) {
    case NVME_LOG_ERROR:
        memcpy(b, d->elog, sizeof d->elog);
        return sizeof d->elog;
    case NVME_LOG_SMART:
        smart(d, b);
        return SMART_SIZE;
    case NVME_LOG_FW:
        b[0] = 0x01; /* AFI: slot 1 active */
        memcpy(b + 8, CAPDRV_SIM_NVME_FIRMWARE, 8); /* FRS1 */
        return FW_SIZE;
    default:
        return 0;
    }
}
