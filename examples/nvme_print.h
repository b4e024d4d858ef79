/* capdrv-nvme's printers: raw Identify data structures and log pages, as
 * the controller returned them, printed the way nvme-cli prints them (same
 * field names, same number formats) or as JSON with nvme-cli's JSON keys.
 *
 * They parse the bytes themselves, at the offsets of NVM Express Base
 * Specification 2.0 and NVM Command Set Specification 1.0, so what is
 * printed is what the controller sent, not a library's interpretation.
 * Every value is device data: counts that index further data (NPSS,
 * NLBAF, entries) are clamped to what the buffer holds. */
#ifndef CAPDRV_EXAMPLES_NVME_PRINT_H
#define CAPDRV_EXAMPLES_NVME_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Sizes of the structures (Base 2.0 §5.17.2, §5.16.1). */
#define NVME_IDENTIFY_BYTES 4096u
#define NVME_SMART_LOG_BYTES 512u
#define NVME_ERROR_LOG_ENTRY_BYTES 64u

/* Little-endian field readers over device bytes. */
uint16_t nvme_get16(const uint8_t *p);
uint32_t nvme_get32(const uint8_t *p);
uint64_t nvme_get64(const uint8_t *p);

/* Identify Controller (CNS 01h, Base 2.0 §5.17.2.1). */
void nvme_print_id_ctrl(FILE *f, const uint8_t id[NVME_IDENTIFY_BYTES], bool json);
/* Identify Namespace (CNS 00h, NVM 1.0 §4.1.5.1) of namespace @nsid. */
void nvme_print_id_ns(FILE *f, const uint8_t id[NVME_IDENTIFY_BYTES], uint32_t nsid, bool json);
/* The LBA format in use: FLBAS bits 3:0, plus bits 6:5 as the upper bits
 * when NLBAF > 16 (NVM 1.0 §4.1.5.1, FLBAS). */
unsigned nvme_flbas_index(const uint8_t id_ns[NVME_IDENTIFY_BYTES]);
/* Active Namespace ID list (CNS 02h, Base 2.0 §5.17.2.2): 1024 NSIDs, the
 * list ends at the first 0. */
void nvme_print_ns_list(FILE *f, const uint8_t list[NVME_IDENTIFY_BYTES], bool json);
/* SMART / Health Information (Log Identifier 02h, Base 2.0 §5.16.1.3). */
void nvme_print_smart_log(FILE *f, const uint8_t log[NVME_SMART_LOG_BYTES], uint32_t nsid,
                          const char *devname, bool json);
/* Error Information (Log Identifier 01h, Base 2.0 §5.16.1.2): @entries
 * entries of 64 bytes each. */
void nvme_print_error_log(FILE *f, const uint8_t *log, unsigned entries, const char *devname,
                          bool json);

#endif
