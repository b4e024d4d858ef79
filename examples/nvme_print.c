/* nvme-cli style printers over raw NVMe data structures; see nvme_print.h.
 * Offsets: Identify Controller, Base 2.0 §5.17.2.1 (Figure 275); Identify
 * Namespace, NVM 1.0 §4.1.5.1 (Figure 97); SMART / Health, Base 2.0
 * §5.16.1.3 (Figure 207); Error Information, Base 2.0 §5.16.1.2
 * (Figure 205). Text formats follow nvme-cli's normal (non-verbose) output. */
#include "nvme_print.h"

#include "nvme_json.h"

#include <inttypes.h>
#include <string.h>

uint16_t nvme_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t nvme_get32(const uint8_t *p)
{
    return (uint32_t)nvme_get16(p) | (uint32_t)nvme_get16(p + 2) << 16;
}

uint64_t nvme_get64(const uint8_t *p)
{
    return (uint64_t)nvme_get32(p) | (uint64_t)nvme_get32(p + 4) << 32;
}

static uint64_t get_n(const uint8_t *p, unsigned size)
{
    return size == 1 ? p[0] : size == 2 ? nvme_get16(p) : size == 4 ? nvme_get32(p) : nvme_get64(p);
}

enum kind { HEX, DEC, STR, U128, IEEE, UUID };

struct field {
    const char *name;
    uint16_t off, size;
    enum kind kind;
};

/* nvme-cli's order and formats (%#x for HEX, decimal for DEC). */
static const struct field id_ctrl_fields[] = {
    {"vid", 0, 2, HEX},        {"ssvid", 2, 2, HEX},      {"sn", 4, 20, STR},
    {"mn", 24, 40, STR},       {"fr", 64, 8, STR},        {"rab", 72, 1, DEC},
    {"ieee", 73, 3, IEEE},     {"cmic", 76, 1, HEX},      {"mdts", 77, 1, DEC},
    {"cntlid", 78, 2, HEX},    {"ver", 80, 4, HEX},       {"rtd3r", 84, 4, HEX},
    {"rtd3e", 88, 4, HEX},     {"oaes", 92, 4, HEX},      {"ctratt", 96, 4, HEX},
    {"rrls", 100, 2, HEX},     {"cntrltype", 111, 1, DEC}, {"fguid", 112, 16, UUID},
    {"crdt1", 128, 2, DEC},    {"crdt2", 130, 2, DEC},    {"crdt3", 132, 2, DEC},
    {"nvmsr", 253, 1, DEC},    {"vwci", 254, 1, DEC},     {"mec", 255, 1, DEC},
    {"oacs", 256, 2, HEX},     {"acl", 258, 1, DEC},      {"aerl", 259, 1, DEC},
    {"frmw", 260, 1, HEX},     {"lpa", 261, 1, HEX},      {"elpe", 262, 1, DEC},
    {"npss", 263, 1, DEC},     {"avscc", 264, 1, HEX},    {"apsta", 265, 1, HEX},
    {"wctemp", 266, 2, DEC},   {"cctemp", 268, 2, DEC},   {"mtfa", 270, 2, DEC},
    {"hmpre", 272, 4, DEC},    {"hmmin", 276, 4, DEC},    {"tnvmcap", 280, 16, U128},
    {"unvmcap", 296, 16, U128}, {"rpmbs", 312, 4, HEX},   {"edstt", 316, 2, DEC},
    {"dsto", 318, 1, DEC},     {"fwug", 319, 1, DEC},     {"kas", 320, 2, DEC},
    {"hctma", 322, 2, HEX},    {"mntmt", 324, 2, DEC},    {"mxtmt", 326, 2, DEC},
    {"sanicap", 328, 4, HEX},  {"hmminds", 332, 4, DEC},  {"hmmaxd", 336, 2, DEC},
    {"nsetidmax", 338, 2, DEC}, {"endgidmax", 340, 2, DEC}, {"anatt", 342, 1, DEC},
    {"anacap", 343, 1, DEC},   {"anagrpmax", 344, 4, DEC}, {"nanagrpid", 348, 4, DEC},
    {"pels", 352, 4, DEC},     {"domainid", 356, 2, DEC}, {"megcap", 368, 16, U128},
    {"sqes", 512, 1, HEX},     {"cqes", 513, 1, HEX},     {"maxcmd", 514, 2, DEC},
    {"nn", 516, 4, DEC},       {"oncs", 520, 2, HEX},     {"fuses", 522, 2, HEX},
    {"fna", 524, 1, HEX},      {"vwc", 525, 1, HEX},      {"awun", 526, 2, DEC},
    {"awupf", 528, 2, DEC},    {"icsvscc", 530, 1, DEC},  {"nwpc", 531, 1, DEC},
    {"acwu", 532, 2, DEC},     {"ocfs", 534, 2, HEX},     {"sgls", 536, 4, HEX},
    {"mnan", 540, 4, DEC},     {"maxdna", 544, 16, U128}, {"maxcna", 560, 4, DEC},
    {"subnqn", 768, 256, STR}, {"ioccsz", 1792, 4, DEC},  {"iorcsz", 1796, 4, DEC},
    {"icdoff", 1800, 2, DEC},  {"fcatt", 1802, 1, HEX},   {"msdbd", 1803, 1, DEC},
    {"ofcs", 1804, 2, DEC},
};

/* Identify Namespace fields up to the LBA formats (nvme-cli order). */
static const struct field id_ns_fields[] = {
    {"nsze", 0, 8, HEX},      {"ncap", 8, 8, HEX},      {"nuse", 16, 8, HEX},
    {"nsfeat", 24, 1, HEX},   {"nlbaf", 25, 1, DEC},    {"flbas", 26, 1, HEX},
    {"mc", 27, 1, HEX},       {"dpc", 28, 1, HEX},      {"dps", 29, 1, HEX},
    {"nmic", 30, 1, HEX},     {"rescap", 31, 1, HEX},   {"fpi", 32, 1, HEX},
    {"dlfeat", 33, 1, DEC},   {"nawun", 34, 2, DEC},    {"nawupf", 36, 2, DEC},
    {"nacwu", 38, 2, DEC},    {"nabsn", 40, 2, DEC},    {"nabo", 42, 2, DEC},
    {"nabspf", 44, 2, DEC},   {"noiob", 46, 2, DEC},    {"nvmcap", 48, 16, U128},
    {"mssrl", 74, 2, DEC},    {"mcl", 76, 4, DEC},      {"msrc", 80, 1, DEC},
    {"anagrpid", 92, 4, DEC}, {"nsattr", 99, 1, DEC},   {"nvmsetid", 100, 2, DEC},
    {"endgid", 102, 2, DEC},
};

/* Optimal I/O fields, printed only when NSFEAT bit 4 (OPTPERF) says they
 * are valid (NVM 1.0 Figure 97); nvme-cli prints them after nvmcap. */
static const struct field id_ns_optperf[] = {
    {"npwg", 64, 2, DEC}, {"npwa", 66, 2, DEC}, {"npdg", 68, 2, DEC},
    {"npda", 70, 2, DEC}, {"nows", 72, 2, DEC},
};

static void uuid_str(const uint8_t *p, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (unsigned i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[p[i] >> 4];
        out[k++] = hex[p[i] & 15];
    }
    out[k] = '\0';
}

static void hex_str(const uint8_t *p, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Text: "<name padded to @width>: value", as nvme-cli does it. */
static void text_field(FILE *f, const struct field *fl, const uint8_t *base, int width)
{
    const uint8_t *p = base + fl->off;
    char buf[48];
    if (!strcmp(fl->name, "nsattr"))
        fputs("nsattr\t: ", f); /* nvme-cli prints this one with a tab */
    else
        fprintf(f, "%-*s: ", width, fl->name);
    switch (fl->kind) {
    case HEX: fprintf(f, "%#" PRIx64 "\n", get_n(p, fl->size)); break;
    case DEC: fprintf(f, "%" PRIu64 "\n", get_n(p, fl->size)); break;
    case STR: {
        /* nvme-cli prints the whole padded field; a NUL ends it early. */
        int n = 0;
        while (n < fl->size && p[n])
            n++;
        for (int i = 0; i < n; i++)
            fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', f);
        fputc('\n', f);
        break;
    }
    case U128: fprintf(f, "%s\n", nvme_u128le_str(p, buf, sizeof buf)); break;
    case IEEE: fprintf(f, "%02x%02x%02x\n", p[2], p[1], p[0]); break;
    case UUID: uuid_str(p, buf); fprintf(f, "%s\n", buf); break;
    }
}

static void json_field(struct njson *j, const struct field *fl, const uint8_t *base)
{
    const uint8_t *p = base + fl->off;
    char buf[48];
    switch (fl->kind) {
    case HEX:
    case DEC: njson_u64(j, fl->name, get_n(p, fl->size)); break;
    case STR: njson_strn(j, fl->name, (const char *)p, fl->size); break;
    case U128: njson_u128le(j, fl->name, p); break;
    case IEEE: njson_u64(j, fl->name, (uint64_t)p[2] << 16 | (uint64_t)p[1] << 8 | p[0]); break;
    case UUID: uuid_str(p, buf); njson_str(j, fl->name, buf); break;
    }
}

/* A power value with its 2-bit scale (Base 2.0 §5.17.2.1, Figure 276:
 * 01b = 0.0001 W, 10b = 0.01 W, 00b = not reported). */
static void power_str(uint16_t v, unsigned scale, char *out, size_t cap)
{
    switch (scale & 3u) {
    case 0: snprintf(out, cap, "-"); break;
    case 1: snprintf(out, cap, "%u.%04uW", v / 10000u, v % 10000u); break;
    case 2: snprintf(out, cap, "%u.%02uW", v / 100u, v % 100u); break;
    default: snprintf(out, cap, "reserved"); break;
    }
}

static const char *workload_str(unsigned apw)
{
    switch (apw & 7u) {
    case 0: return "-";
    case 1: return "1MiB 32 RW, 30s idle";
    case 2: return "80K 128KiB SW";
    default: return "reserved";
    }
}

void nvme_print_id_ctrl(FILE *f, const uint8_t id[NVME_IDENTIFY_BYTES], bool json)
{
    /* NPSS is 0's based; 32 descriptors of 32 bytes fit at 2048..3071. */
    unsigned npss = id[263] > 31 ? 31 : id[263];
    struct njson j;
    if (json) {
        njson_init(&j, f);
        njson_obj(&j, NULL);
        for (size_t i = 0; i < sizeof id_ctrl_fields / sizeof id_ctrl_fields[0]; i++)
            json_field(&j, &id_ctrl_fields[i], id);
        njson_arr(&j, "psds");
    } else {
        fprintf(f, "NVME Identify Controller:\n");
        for (size_t i = 0; i < sizeof id_ctrl_fields / sizeof id_ctrl_fields[0]; i++)
            text_field(f, &id_ctrl_fields[i], id, 10);
    }
    for (unsigned i = 0; i <= npss; i++) {
        /* Power State Descriptor, Base 2.0 Figure 276. */
        const uint8_t *ps = id + 2048 + 32 * i;
        uint16_t mp = nvme_get16(ps), idlp = nvme_get16(ps + 16), actp = nvme_get16(ps + 20);
        bool mxps = ps[3] & 1u, nops = ps[3] & 2u;
        if (json) {
            njson_obj(&j, NULL);
            njson_u64(&j, "max_power", mp);
            njson_u64(&j, "max_power_scale", mxps);
            njson_u64(&j, "non-operational_state", nops);
            njson_u64(&j, "entry_lat", nvme_get32(ps + 4));
            njson_u64(&j, "exit_lat", nvme_get32(ps + 8));
            njson_u64(&j, "read_tput", ps[12] & 0x1fu);
            njson_u64(&j, "read_lat", ps[13] & 0x1fu);
            njson_u64(&j, "write_tput", ps[14] & 0x1fu);
            njson_u64(&j, "write_lat", ps[15] & 0x1fu);
            njson_u64(&j, "idle_power", idlp);
            njson_u64(&j, "idle_scale", ps[18] >> 6);
            njson_u64(&j, "active_power", actp);
            njson_u64(&j, "active_power_work", ps[22] & 7u);
            njson_u64(&j, "active_scale", ps[22] >> 6);
            njson_end_obj(&j);
            continue;
        }
        char idle[32], active[32];
        power_str(idlp, ps[18] >> 6, idle, sizeof idle);
        power_str(actp, ps[22] >> 6, active, sizeof active);
        fprintf(f, "ps   %4u : mp:", i);
        if (mxps)
            fprintf(f, "%u.%04uW ", mp / 10000u, mp % 10000u);
        else
            fprintf(f, "%u.%02uW ", mp / 100u, mp % 100u);
        fprintf(f,
                "%soperational enlat:%" PRIu32 " exlat:%" PRIu32 " rrt:%u rrl:%u\n"
                "            rwt:%u rwl:%u idle_power:%s active_power:%s\n"
                "            active_power_workload:%s\n",
                nops ? "non-" : "", nvme_get32(ps + 4), nvme_get32(ps + 8), ps[12] & 0x1fu,
                ps[13] & 0x1fu, ps[14] & 0x1fu, ps[15] & 0x1fu, idle, active, workload_str(ps[22]));
    }
    if (json) {
        njson_end_arr(&j);
        njson_end_obj(&j);
    }
}

unsigned nvme_flbas_index(const uint8_t id_ns[NVME_IDENTIFY_BYTES])
{
    unsigned flbas = id_ns[26], idx = flbas & 0xfu;
    if (id_ns[25] >= 16) /* NLBAF is 0's based: more than 16 formats */
        idx |= ((flbas >> 5) & 3u) << 4;
    return idx;
}

void nvme_print_id_ns(FILE *f, const uint8_t id[NVME_IDENTIFY_BYTES], uint32_t nsid, bool json)
{
    /* NLBAF is 0's based, at most 63 (64 formats at bytes 128..383). */
    unsigned nlbaf = id[25] > 63 ? 63 : id[25], inuse = nvme_flbas_index(id);
    bool optperf = id[24] & 0x10u;
    char eui[17], nguid[33];
    hex_str(id + 104, 16, nguid);
    hex_str(id + 120, 8, eui);
    struct njson j;
    if (json) {
        njson_init(&j, f);
        njson_obj(&j, NULL);
    } else {
        fprintf(f, "NVME Identify Namespace %" PRIu32 ":\n", nsid);
    }
    for (size_t i = 0; i < sizeof id_ns_fields / sizeof id_ns_fields[0]; i++) {
        const struct field *fl = &id_ns_fields[i];
        if (json)
            json_field(&j, fl, id);
        else
            text_field(f, fl, id, 8);
        if (optperf && !strcmp(fl->name, "nvmcap"))
            for (size_t k = 0; k < sizeof id_ns_optperf / sizeof id_ns_optperf[0]; k++) {
                if (json)
                    json_field(&j, &id_ns_optperf[k], id);
                else
                    text_field(f, &id_ns_optperf[k], id, 8);
            }
    }
    if (json) {
        njson_str(&j, "nguid", nguid);
        njson_str(&j, "eui64", eui);
        njson_arr(&j, "lbafs");
    } else {
        fprintf(f, "nguid   : %s\neui64   : %s\n", nguid, eui);
    }
    for (unsigned i = 0; i <= nlbaf; i++) {
        /* LBA Format Data Structure, NVM 1.0 Figure 98: MS bytes 1:0,
         * LBADS byte 2, RP bits 1:0 of byte 3. */
        const uint8_t *lf = id + 128 + 4 * i;
        if (json) {
            njson_obj(&j, NULL);
            njson_u64(&j, "ms", nvme_get16(lf));
            njson_u64(&j, "ds", lf[2]);
            njson_u64(&j, "rp", lf[3] & 3u);
            njson_end_obj(&j);
        } else {
            fprintf(f, "lbaf %2u : ms:%-3u lbads:%-2u rp:%#x %s\n", i, nvme_get16(lf), lf[2],
                    lf[3] & 3u, i == inuse ? "(in use)" : "");
        }
    }
    if (json) {
        njson_end_arr(&j);
        njson_end_obj(&j);
    }
}

void nvme_print_ns_list(FILE *f, const uint8_t list[NVME_IDENTIFY_BYTES], bool json)
{
    struct njson j;
    if (json) {
        njson_init(&j, f);
        njson_obj(&j, NULL);
        njson_arr(&j, "nsid_list");
    } else {
        fprintf(f, "NVME Namespace List:\n");
    }
    for (unsigned i = 0; i < NVME_IDENTIFY_BYTES / 4; i++) {
        uint32_t nsid = nvme_get32(list + 4 * i);
        if (nsid == 0)
            break; /* Base 2.0 §5.17.2.2: the list is zero-terminated */
        if (json) {
            njson_obj(&j, NULL);
            njson_u64(&j, "nsid", nsid);
            njson_end_obj(&j);
        } else {
            fprintf(f, "[%4u]:%#" PRIx32 "\n", i, nsid);
        }
    }
    if (json) {
        njson_end_arr(&j);
        njson_end_obj(&j);
    }
}

/* Counters of the SMART log: 16-byte little-endian values (Figure 207). */
static const struct {
    const char *name;
    uint16_t off;
} smart_counters[] = {
    {"data_units_read", 32},       {"data_units_written", 48},   {"host_read_commands", 64},
    {"host_write_commands", 80},   {"controller_busy_time", 96}, {"power_cycles", 112},
    {"power_on_hours", 128},       {"unsafe_shutdowns", 144},    {"media_errors", 160},
    {"num_err_log_entries", 176},
};

void nvme_print_smart_log(FILE *f, const uint8_t log[NVME_SMART_LOG_BYTES], uint32_t nsid,
                          const char *devname, bool json)
{
    /* Composite Temperature in kelvins, bytes 2:1. */
    unsigned temp = nvme_get16(log + 1);
    char buf[48];
    if (json) {
        struct njson j;
        njson_init(&j, f);
        njson_obj(&j, NULL);
        njson_u64(&j, "critical_warning", log[0]);
        njson_u64(&j, "temperature", temp);
        njson_u64(&j, "avail_spare", log[3]);
        njson_u64(&j, "spare_thresh", log[4]);
        njson_u64(&j, "percent_used", log[5]);
        njson_u64(&j, "endurance_grp_critical_warning_summary", log[6]);
        for (size_t i = 0; i < sizeof smart_counters / sizeof smart_counters[0]; i++)
            njson_u128le(&j, smart_counters[i].name, log + smart_counters[i].off);
        njson_u64(&j, "warning_temp_time", nvme_get32(log + 192));
        njson_u64(&j, "critical_comp_time", nvme_get32(log + 196));
        for (unsigned s = 0; s < 8; s++) {
            unsigned t = nvme_get16(log + 200 + 2 * s);
            if (t) {
                snprintf(buf, sizeof buf, "temperature_sensor_%u", s + 1);
                njson_u64(&j, buf, t);
            }
        }
        njson_u64(&j, "thm_temp1_trans_count", nvme_get32(log + 216));
        njson_u64(&j, "thm_temp2_trans_count", nvme_get32(log + 220));
        njson_u64(&j, "thm_temp1_total_time", nvme_get32(log + 224));
        njson_u64(&j, "thm_temp2_total_time", nvme_get32(log + 228));
        njson_end_obj(&j);
        return;
    }
    fprintf(f, "Smart Log for NVME device:%s namespace-id:%" PRIx32 "\n", devname, nsid);
    fprintf(f, "critical_warning\t\t\t: %#x\n", log[0]);
    fprintf(f, "temperature\t\t\t\t: %d C (%u Kelvin)\n", (int)temp - 273, temp);
    fprintf(f, "available_spare\t\t\t\t: %u%%\n", log[3]);
    fprintf(f, "available_spare_threshold\t\t: %u%%\n", log[4]);
    fprintf(f, "percentage_used\t\t\t\t: %u%%\n", log[5]);
    fprintf(f, "endurance group critical warning summary: %#x\n", log[6]);
    for (size_t i = 0; i < sizeof smart_counters / sizeof smart_counters[0]; i++) {
        const char *name = smart_counters[i].name;
        size_t len = strlen(name);
        /* nvme-cli aligns the colon with tabs at column 40 (8-column tabs). */
        fputs(name, f);
        for (size_t col = len; col < 40; col = (col / 8 + 1) * 8)
            fputc('\t', f);
        fprintf(f, ": %s\n", nvme_u128le_str(log + smart_counters[i].off, buf, sizeof buf));
    }
    fprintf(f, "Warning Temperature Time\t\t: %" PRIu32 "\n", nvme_get32(log + 192));
    fprintf(f, "Critical Composite Temperature Time\t: %" PRIu32 "\n", nvme_get32(log + 196));
    for (unsigned s = 0; s < 8; s++) {
        unsigned t = nvme_get16(log + 200 + 2 * s);
        if (t)
            fprintf(f, "Temperature Sensor %u\t\t\t: %d C (%u Kelvin)\n", s + 1, (int)t - 273, t);
    }
    fprintf(f, "Thermal Management T1 Trans Count\t: %" PRIu32 "\n", nvme_get32(log + 216));
    fprintf(f, "Thermal Management T2 Trans Count\t: %" PRIu32 "\n", nvme_get32(log + 220));
    fprintf(f, "Thermal Management T1 Total Time\t: %" PRIu32 "\n", nvme_get32(log + 224));
    fprintf(f, "Thermal Management T2 Total Time\t: %" PRIu32 "\n", nvme_get32(log + 228));
}

void nvme_print_error_log(FILE *f, const uint8_t *log, unsigned entries, const char *devname,
                          bool json)
{
    struct njson j;
    if (json) {
        njson_init(&j, f);
        njson_obj(&j, NULL);
        njson_arr(&j, "errors");
    } else {
        fprintf(f, "Error Log Entries for device:%s entries:%u\n.................\n", devname,
                entries);
    }
    for (unsigned i = 0; i < entries; i++) {
        /* Error Information Log Entry, Base 2.0 Figure 205. */
        const uint8_t *e = log + (size_t)i * NVME_ERROR_LOG_ENTRY_BYTES;
        uint16_t sf = nvme_get16(e + 12);
        if (json) {
            njson_obj(&j, NULL);
            njson_u64(&j, "error_count", nvme_get64(e));
            njson_u64(&j, "sqid", nvme_get16(e + 8));
            njson_u64(&j, "cmdid", nvme_get16(e + 10));
            njson_u64(&j, "status_field", sf >> 1);
            njson_u64(&j, "phase_tag", sf & 1u);
            njson_u64(&j, "parm_error_location", nvme_get16(e + 14));
            njson_u64(&j, "lba", nvme_get64(e + 16));
            njson_u64(&j, "nsid", nvme_get32(e + 24));
            njson_u64(&j, "vs", e[28]);
            njson_u64(&j, "trtype", e[29]);
            njson_u64(&j, "cs", nvme_get64(e + 32));
            njson_u64(&j, "trtype_spec_info", nvme_get16(e + 40));
            njson_end_obj(&j);
            continue;
        }
        /* Status Field bits 15:1 = DNR, M, CRD, SCT, SC (Base 2.0 §4.6.1). */
        fprintf(f, " Entry[%2u]\n.................\n", i);
        fprintf(f, "error_count\t: %" PRIu64 "\n", nvme_get64(e));
        fprintf(f, "sqid\t\t: %u\n", nvme_get16(e + 8));
        fprintf(f, "cmdid\t\t: %#x\n", nvme_get16(e + 10));
        fprintf(f, "status_field\t: %#x (SCT %#x SC %#x%s)\n", sf >> 1, (sf >> 9) & 7u,
                (sf >> 1) & 0xffu, sf & 0x8000u ? ", DNR" : "");
        fprintf(f, "phase_tag\t: %#x\n", sf & 1u);
        fprintf(f, "parm_err_loc\t: %#x\n", nvme_get16(e + 14));
        fprintf(f, "lba\t\t: %#" PRIx64 "\n", nvme_get64(e + 16));
        fprintf(f, "nsid\t\t: %#" PRIx32 "\n", nvme_get32(e + 24));
        fprintf(f, "vs\t\t: %u\n", e[28]);
        fprintf(f, "trtype\t\t: %#x\n", e[29]);
        fprintf(f, "cs\t\t: %#" PRIx64 "\n", nvme_get64(e + 32));
        fprintf(f, "trtype_spec_info: %#x\n", nvme_get16(e + 40));
        fprintf(f, ".................\n");
    }
    if (json) {
        njson_end_arr(&j);
        njson_end_obj(&j);
    }
}
