/**
 * @file capdrv_shim/fdt_guard.h
 * @brief A bounded walk over a flattened device tree's structure block,
 *        to run before libfdt walks it. Header-only and freestanding; used
 *        by the shim's manifest parser and the library's virtio-mmio scan.
 *
 * libfdt 1.6.1's fdt_next_tag() adds a property's length to the offset
 * unchecked: a length of 0xfffffff4 makes a property its own successor and
 * fdt_check_full() never returns (tests/fuzz/regressions/virtio_fdt/
 * prop-len-self-loop, manifest/prop-len-self-loop). This walk requires
 * every tag to move forward and every property to stay inside the block.
 */
#ifndef CAPDRV_SHIM_FDT_GUARD_H
#define CAPDRV_SHIM_FDT_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include <libfdt.h>

static inline uint32_t capdrv_fdt_guard_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/**
 * @brief Check the structure block of @p fdt is walkable.
 *
 * The caller has checked the header lies inside the buffer (fdt_check_header)
 * and totalsize <= @p len.
 *
 * @param fdt blob.
 * @param len bytes readable at @p fdt.
 * @return 1 when the tags form a forward walk ending in FDT_END with every
 *         property inside the block and its name inside the strings block;
 *         0 otherwise.
 */
static inline int capdrv_fdt_struct_bounded(const void *fdt, size_t len)
{
    uint64_t s_off = fdt_off_dt_struct(fdt), s_len = fdt_size_dt_struct(fdt);
    uint64_t str_off = fdt_off_dt_strings(fdt), str_len = fdt_size_dt_strings(fdt);
    if (s_off > len || s_len > len - s_off || str_off > len || str_len > len - str_off ||
        (s_off & 3u) != 0)
        return 0;
    const uint8_t *b = (const uint8_t *)fdt + s_off;
    uint64_t pos = 0;
    while (pos + 4u <= s_len) {
        uint32_t tag = capdrv_fdt_guard_be32(b + pos);
        pos += 4;
        switch (tag) {
        case FDT_BEGIN_NODE:
            while (pos < s_len && b[pos] != '\0')
                pos++;
            if (pos >= s_len)
                return 0; /* unterminated node name */
            pos++;
            break;
        case FDT_PROP: {
            if (s_len - pos < 8u)
                return 0;
            uint32_t plen = capdrv_fdt_guard_be32(b + pos);
            uint32_t nameoff = capdrv_fdt_guard_be32(b + pos + 4);
            pos += 8;
            if (plen > s_len - pos || nameoff >= str_len)
                return 0;
            pos += plen;
            break;
        }
        case FDT_END_NODE:
        case FDT_NOP:
            break;
        case FDT_END:
            return 1;
        default:
            return 0;
        }
        pos = (pos + 3u) & ~(uint64_t)3u; /* tags are 4-byte aligned */
    }
    return 0; /* no FDT_END inside the block */
}

#endif
