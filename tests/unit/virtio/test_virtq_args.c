/* Invalid arguments: every -CAPDRV_EINVAL / -CAPDRV_EOVERFLOW case the
 * header documents, and that a refused call changes nothing. */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vq_test.h"

enum { N = 8, IMAX = 4 };

/* Memory for init tests: a ring region with slack after it, state, slab. */
struct mem {
    struct capdrv_virtq_layout lay;
    unsigned char *ring, *state, *ind;
    size_t ring_len, state_len, ind_len;
};

static void mem_get(struct mem *m)
{
    assert_int_equal(capdrv_virtq_layout(N, 0, &m->lay), 0);
    m->ring_len = m->lay.total_len + 64;
    m->state_len = CAPDRV_VIRTQ_STATE_SIZE(N) + 64;
    m->ind_len = (size_t)N * (N + 1) * 16u + 64; /* room even for indirect_max N + 1 */
    void *p;
    assert_int_equal(posix_memalign(&p, 64, m->ring_len), 0);
    m->ring = p;
    assert_int_equal(posix_memalign(&p, 64, m->state_len), 0);
    m->state = p;
    assert_int_equal(posix_memalign(&p, 64, m->ind_len), 0);
    m->ind = p;
    memset(m->ring, 0xAB, m->ring_len);
    memset(m->state, 0xCD, m->state_len);
    memset(m->ind, 0xEF, m->ind_len);
}

static void mem_put(struct mem *m)
{
    free(m->ring);
    free(m->state);
    free(m->ind);
}

static struct capdrv_virtq_config good_cfg(const struct mem *m, int indirect)
{
    struct capdrv_virtq_config c = {
        .size = N,
        .flags = CAPDRV_VIRTQ_F_EVENT_IDX,
        .ring = m->ring,
        .ring_ref = VQ_RING_REF,
        .ring_len = m->lay.total_len,
        .state = m->state,
        .state_len = CAPDRV_VIRTQ_STATE_SIZE(N),
    };
    if (indirect) {
        c.flags |= CAPDRV_VIRTQ_F_INDIRECT;
        c.indirect = m->ind;
        c.indirect_ref = VQ_IND_REF;
        c.indirect_len = (size_t)N * IMAX * 16u;
        c.indirect_max = IMAX;
    }
    return c;
}

static void assert_untouched(const struct mem *m)
{
    for (size_t i = 0; i < m->ring_len; i++)
        assert_int_equal(m->ring[i], 0xAB);
    for (size_t i = 0; i < m->state_len; i++)
        assert_int_equal(m->state[i], 0xCD);
    for (size_t i = 0; i < m->ind_len; i++)
        assert_int_equal(m->ind[i], 0xEF);
}

static void test_init_invalid(void **state)
{
    (void)state;
    struct mem m;
    mem_get(&m);
    struct capdrv_virtq vq;
    struct capdrv_virtq_config c;

    c = good_cfg(&m, 0);
    assert_int_equal(capdrv_virtq_init(NULL, &c), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_init(&vq, NULL), -CAPDRV_EINVAL);

    enum {
        SIZE0, SIZE3, SIZE_BIG, FLAGS, RING_NULL, RING_MISALIGNED, RING_SHORT, RING_REF_MISALIGNED,
        RING_REF_WRAP, STATE_NULL, STATE_MISALIGNED, STATE_SHORT, STATE_IN_RING,
        IND_NO_FLAG, IND_MAX_NO_FLAG, IND_NULL, IND_MAX0, IND_MAX_BIG, IND_MISALIGNED,
        IND_SHORT, IND_REF_MISALIGNED, IND_REF_WRAP, IND_IN_RING, IND_IN_STATE, NCASES
    };
    for (int k = 0; k < NCASES; k++) {
        int ind = k >= IND_NULL;
        c = good_cfg(&m, ind);
        switch (k) {
        case SIZE0: c.size = 0; break;
        case SIZE3: c.size = 3; break;
        case SIZE_BIG: c.size = 65536; break;
        case FLAGS: c.flags |= 1u << 5; break;
        case RING_NULL: c.ring = NULL; break;
        case RING_MISALIGNED: c.ring = m.ring + 8; break;
        case RING_SHORT: c.ring_len = m.lay.total_len - 1; break;
        case RING_REF_MISALIGNED: c.ring_ref = VQ_RING_REF + 4; break;
        case RING_REF_WRAP: c.ring_ref = UINT64_MAX & ~(uint64_t)15; break;
        case STATE_NULL: c.state = NULL; break;
        case STATE_MISALIGNED: c.state = m.state + 4; break;
        case STATE_SHORT: c.state_len = CAPDRV_VIRTQ_STATE_SIZE(N) - 1; break;
        case STATE_IN_RING: c.state = m.ring + 64; break; /* private state must not be the ring */
        case IND_NO_FLAG: c.indirect = m.ind; break;
        case IND_MAX_NO_FLAG: c.indirect_max = 2; break;
        case IND_NULL: c.indirect = NULL; break;
        case IND_MAX0: c.indirect_max = 0; break;
        case IND_MAX_BIG: c.indirect_max = N + 1; c.indirect_len = m.ind_len; break;
        case IND_MISALIGNED: c.indirect = m.ind + 8; break;
        case IND_SHORT: c.indirect_len -= 1; break;
        case IND_REF_MISALIGNED: c.indirect_ref = VQ_IND_REF + 8; break;
        case IND_REF_WRAP: c.indirect_ref = UINT64_MAX & ~(uint64_t)15; break;
        case IND_IN_RING: c.indirect = m.ring + 16; break;
        case IND_IN_STATE: c.indirect = m.state + 16; c.state_len = m.state_len; break;
        default: fail();
        }
        if (capdrv_virtq_init(&vq, &c) != -CAPDRV_EINVAL) {
            print_error("case %d accepted\n", k);
            fail();
        }
        assert_untouched(&m); /* validated before anything is written */
    }

    /* The good configurations pass (with and without indirect). */
    c = good_cfg(&m, 0);
    assert_int_equal(capdrv_virtq_init(&vq, &c), 0);
    c = good_cfg(&m, 1);
    assert_int_equal(capdrv_virtq_init(&vq, &c), 0);
    /* Largest ring_ref that does not wrap. */
    c.ring_ref = (UINT64_MAX - m.lay.total_len + 1) & ~(uint64_t)15;
    assert_int_equal(capdrv_virtq_init(&vq, &c), 0);
    mem_put(&m);
}

static void test_add_invalid(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, N, 0, IMAX);
    struct capdrv_virtq *vq = &f.vq;
    struct capdrv_virtq_seg s[N + 1];
    for (unsigned i = 0; i <= N; i++) {
        s[i].ref = VQ_DATA_REF + 0x100u * i;
        s[i].len = 10;
    }
    unsigned char before[512];
    assert_true(f.lay.total_len <= sizeof before);
    memcpy(before, f.ring, f.lay.total_len);

    assert_int_equal(capdrv_virtq_add(NULL, s, 1, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, NULL, 1, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, 0, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, N + 1, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, 0, N + 1, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, N / 2 + 1, N / 2, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, UINT_MAX, 1, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_add(vq, s, 1, UINT_MAX, NULL), -CAPDRV_EINVAL);
    /* A zero-length segment anywhere. */
    for (unsigned z = 0; z < 3; z++) {
        struct capdrv_virtq_seg t[3] = {s[0], s[1], s[2]};
        t[z].len = 0;
        assert_int_equal(capdrv_virtq_add(vq, t, 2, 1, NULL), -CAPDRV_EINVAL);
    }
    /* More than 2^32 bytes in total (§2.7.5.2), direct and indirect. */
    struct capdrv_virtq_seg big[5] = {{VQ_DATA_REF, 0x80000000u},
                                      {VQ_DATA_REF + 0x80000000u, 0x80000000u},
                                      {VQ_DATA_REF + 0x100000000ull, 1},
                                      {VQ_DATA_REF, 0xffffffffu},
                                      {VQ_DATA_REF, 0xffffffffu}};
    assert_int_equal(capdrv_virtq_add(vq, big, 1, 2, NULL), -CAPDRV_EOVERFLOW);
    assert_int_equal(capdrv_virtq_add(vq, big + 3, 0, 2, NULL), -CAPDRV_EOVERFLOW);
    assert_int_equal(capdrv_virtq_add(vq, big, 5, 0, NULL), -CAPDRV_EOVERFLOW);
    /* Nothing changed by any refusal. */
    assert_int_equal(capdrv_virtq_num_free(vq), N);
    assert_memory_equal(before, f.ring, f.lay.total_len);
    assert_int_equal(capdrv_virtq_publish(vq), 0);

    /* Exactly 2^32 bytes is allowed; the device may report up to
     * 2^32 - 1 written (the used len is 32 bits). */
    assert_int_equal(capdrv_virtq_add(vq, big, 0, 2, VQ_COOKIE(1)), 0);
    assert_int_equal(capdrv_virtq_publish(vq), 1);
    struct vq_dev_req r;
    assert_int_equal(vq_dev_pop(&f.dev, &r), 1);
    assert_int_equal(r.wbytes, 0x100000000ull);
    vq_dev_complete(&f.dev, r.head, 0xffffffffu);
    vq_dev_flush(&f.dev);
    struct capdrv_virtq_completion c;
    assert_int_equal(capdrv_virtq_reap(vq, &c, 1), 1);
    assert_int_equal(c.len, 0xffffffffu);
    assert_int_equal(capdrv_virtq_error(vq), CAPDRV_VIRTQ_OK);
    vq_fix_free(&f);
}

static void test_other_calls_invalid(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, N, CAPDRV_VIRTQ_F_EVENT_IDX, 0);
    struct capdrv_virtq *vq = &f.vq;
    struct capdrv_virtq_completion c;
    assert_int_equal(capdrv_virtq_publish(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_needs_notify(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_reap(NULL, &c, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_reap(vq, NULL, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_reap(vq, NULL, 0), 0);
    assert_int_equal(capdrv_virtq_enable_cb(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_disable_cb(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_verify(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_detach(NULL, &c, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_detach(vq, NULL, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_detach(vq, NULL, 0), 0);

    /* reap with max 0 leaves pending completions pending. */
    struct capdrv_virtq_seg s = {VQ_DATA_REF, 4};
    assert_int_equal(capdrv_virtq_add(vq, &s, 0, 1, VQ_COOKIE(3)), 0);
    assert_int_equal(capdrv_virtq_publish(vq), 1);
    struct vq_dev_req r;
    assert_int_equal(vq_dev_pop(&f.dev, &r), 1);
    vq_dev_complete(&f.dev, r.head, 4);
    vq_dev_flush(&f.dev);
    assert_int_equal(capdrv_virtq_reap(vq, &c, 0), 0);
    assert_int_equal(capdrv_virtq_reap(vq, NULL, 0), 0);
    assert_int_equal(capdrv_virtq_reap(vq, &c, 1), 1);
    assert_ptr_equal(c.cookie, VQ_COOKIE(3));
    assert_int_equal(c.len, 4);
    vq_fix_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_invalid),
        cmocka_unit_test(test_add_invalid),
        cmocka_unit_test(test_other_calls_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
