/* Validation of manager wire messages (wire.h). Everything a peer sends
 * passes through cdw_check() before any field is read. */
#include "wire.h"

#include <string.h>

static const size_t req_size[CDW_TYPE_END] = {
    [CDW_HELLO] = sizeof(struct cdw_hello),
    [CDW_GRANT_COUNT] = 0,
    [CDW_GRANT_INFO] = sizeof(struct cdw_index),
    [CDW_GRANT_OPEN] = sizeof(struct cdw_index),
    [CDW_GRANT_LANE] = sizeof(struct cdw_cap),
    [CDW_GRANT_RESET] = sizeof(struct cdw_cap),
    [CDW_WINDOW_INFO] = sizeof(struct cdw_cap_idx),
    [CDW_MMIO_OPEN] = sizeof(struct cdw_cap_idx),
    [CDW_MMIO_READ] = sizeof(struct cdw_mmio_rd),
    [CDW_MMIO_WRITE] = sizeof(struct cdw_mmio_wr),
    [CDW_CFG_READ] = sizeof(struct cdw_cfg),
    [CDW_CFG_WRITE] = sizeof(struct cdw_cfg),
    [CDW_POOL_OPEN] = sizeof(struct cdw_cap),
    [CDW_DMA_ALLOC] = sizeof(struct cdw_alloc),
    [CDW_DMABUF_INFO] = sizeof(struct cdw_cap),
    [CDW_IRQ_OPEN] = sizeof(struct cdw_cap_idx),
    [CDW_IRQ_WAIT] = sizeof(struct cdw_irq_wait),
    [CDW_IRQ_ACK] = sizeof(struct cdw_cap),
    [CDW_IRQ_MASK] = sizeof(struct cdw_irq_mask),
    [CDW_CAP_RELEASE] = sizeof(struct cdw_cap),
    [CDW_BYE] = 0,
    [CDW_STATUS] = 0,
    [CDW_REVOKE] = sizeof(struct cdw_revoke),
};

static const size_t resp_size[CDW_TYPE_END] = {
    [CDW_HELLO] = sizeof(struct cdw_r_hello),
    [CDW_GRANT_COUNT] = sizeof(struct cdw_r_rc),
    [CDW_GRANT_INFO] = sizeof(struct cdw_r_grant_info),
    [CDW_GRANT_OPEN] = sizeof(struct cdw_r_cap),
    [CDW_GRANT_LANE] = sizeof(struct cdw_r_rc),
    [CDW_GRANT_RESET] = sizeof(struct cdw_r_rc),
    [CDW_WINDOW_INFO] = sizeof(struct cdw_r_window_info),
    [CDW_MMIO_OPEN] = sizeof(struct cdw_r_cap),
    [CDW_MMIO_READ] = sizeof(struct cdw_r_val),
    [CDW_MMIO_WRITE] = sizeof(struct cdw_r_rc),
    [CDW_CFG_READ] = sizeof(struct cdw_r_val),
    [CDW_CFG_WRITE] = sizeof(struct cdw_r_rc),
    [CDW_POOL_OPEN] = sizeof(struct cdw_r_cap),
    [CDW_DMA_ALLOC] = sizeof(struct cdw_r_buf),
    [CDW_DMABUF_INFO] = sizeof(struct cdw_r_buf),
    [CDW_IRQ_OPEN] = sizeof(struct cdw_r_cap),
    [CDW_IRQ_WAIT] = sizeof(struct cdw_r_val),
    [CDW_IRQ_ACK] = sizeof(struct cdw_r_rc),
    [CDW_IRQ_MASK] = sizeof(struct cdw_r_rc),
    [CDW_CAP_RELEASE] = sizeof(struct cdw_r_rc),
    [CDW_BYE] = sizeof(struct cdw_r_rc),
    [CDW_STATUS] = offsetof(struct cdw_r_status, text),
    [CDW_REVOKE] = sizeof(struct cdw_r_rc),
};

size_t cdw_payload_size(uint16_t type)
{
    unsigned t = type & ~CDW_RESPONSE;
    if (t == 0 || t >= CDW_TYPE_END)
        return 0;
    /* Requests without arguments have a zero payload; report them as 0
     * too and let cdw_check() tell them from unknown types. */
    return (type & CDW_RESPONSE) ? resp_size[t] : req_size[t];
}

static int nul_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

void cdw_hdr_init(struct cdw_hdr *h, uint16_t type, uint32_t length, uint32_t seq)
{
    h->magic = CDW_MAGIC;
    h->version = CDW_VERSION;
    h->type = type;
    h->length = length;
    h->seq = seq;
}

int cdw_check(const void *buf, size_t len, int from_manager, struct cdw_hdr *hdr)
{
    struct cdw_hdr h;
    if (!buf || len < sizeof h || len > CDW_MSG_MAX)
        return -CAPDRV_EPROTO;
    memcpy(&h, buf, sizeof h);
    if (h.magic != CDW_MAGIC || h.version != CDW_VERSION)
        return -CAPDRV_EPROTO;
    if (!(h.type & CDW_RESPONSE) != !from_manager) /* wrong direction */
        return -CAPDRV_EPROTO;
    unsigned t = h.type & ~CDW_RESPONSE;
    if (t == 0 || t >= CDW_TYPE_END || h.length != len - sizeof h)
        return -CAPDRV_EPROTO;
    const unsigned char *pl = (const unsigned char *)buf + sizeof h;
    size_t want = cdw_payload_size(h.type);
    if (from_manager && t == CDW_STATUS) {
        struct cdw_r_status st;
        if (h.length < want)
            return -CAPDRV_EPROTO;
        memcpy(&st, pl, want);
        /* text_len counts the bytes sent, terminating NUL included */
        if (st.text_len == 0 || st.text_len > CDW_STATUS_TEXT_MAX ||
            h.length != want + st.text_len || pl[want + st.text_len - 1] != '\0')
            return -CAPDRV_EPROTO;
    } else if (h.length != want) {
        return -CAPDRV_EPROTO;
    }
    /* Field-level checks: only what the receiver could not refuse itself
     * with a documented error (strings, booleans, array bounds). */
    if (!from_manager) {
        if (t == CDW_HELLO) {
            struct cdw_hello m;
            memcpy(&m, pl, sizeof m);
            if (m.reserved != 0 || (m.flags & ~CDW_HELLO_CONTROL) ||
                !nul_terminated(m.name, sizeof m.name))
                return -CAPDRV_EPROTO;
        } else if (t == CDW_REVOKE) {
            struct cdw_revoke m;
            memcpy(&m, pl, sizeof m);
            if (!nul_terminated(m.name, sizeof m.name))
                return -CAPDRV_EPROTO;
        } else if (t == CDW_IRQ_MASK) {
            struct cdw_irq_mask m;
            memcpy(&m, pl, sizeof m);
            if (m.masked > 1)
                return -CAPDRV_EPROTO;
        }
    } else {
        if (t == CDW_GRANT_INFO) {
            struct cdw_r_grant_info m;
            memcpy(&m, pl, sizeof m);
            if (m.rc == 0 && (!nul_terminated(m.name, sizeof m.name) || m.claimed > 1))
                return -CAPDRV_EPROTO;
        } else if (t == CDW_WINDOW_INFO) {
            struct cdw_r_window_info m;
            memcpy(&m, pl, sizeof m);
            if (m.rc == 0 && !nul_terminated(m.name, sizeof m.name))
                return -CAPDRV_EPROTO;
        }
        int32_t rc;
        memcpy(&rc, pl, sizeof rc);
        if (rc > 0 && t != CDW_GRANT_COUNT && t != CDW_GRANT_LANE && t != CDW_IRQ_WAIT)
            return -CAPDRV_EPROTO; /* only these return a count or a value */
    }
    *hdr = h;
    return 0;
}
