/* Randomised mutation (fixed seed, so every run is the same): byte flips,
 * byte overwrites and truncations over good blobs. The parser must never
 * crash or read outside the blob (run this under ASan/UBSan too) and must
 * return 0 (then every invariant holds and free leaves nothing) or
 * -CAPDRV_EINVAL. mt_parse() checks the whole contract on each call. */
#include "mtest.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64* (Vigna 2014) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

struct stats {
    unsigned accepted, refused;
};

static void one(struct mt *t, const unsigned char *blob, size_t len, struct stats *s)
{
    struct mt_guard g;
    void *copy = mt_guarded(&g, blob, len);
    struct shim_manifest m;
    char why[128];
    int rc = mt_parse(t, copy, len, &m, why, sizeof why);
    if (rc == 0) {
        s->accepted++;
        mt_free(t, &m);
    } else {
        assert_int_equal(rc, -CAPDRV_EINVAL);
        s->refused++;
    }
    mt_guarded_free(&g);
}

static void fuzz(struct mt *t, const char *name, uint64_t seed, unsigned iters)
{
    size_t len;
    unsigned char *good = mt_load(name, &len);
    unsigned char *work = malloc(len);
    assert_non_null(work);
    uint32_t st = mt_be32_get(good, 8), strings = mt_be32_get(good, 12);
    assert_true(st < len && strings < len);
    struct stats s = {0, 0};
    rng_state = seed;
    for (unsigned i = 0; i < iters; i++) {
        memcpy(work, good, len);
        size_t n = len;
        unsigned kind = rnd() % 4;
        unsigned flips = 1 + rnd() % 4;
        for (unsigned f = 0; f < flips; f++) {
            size_t at;
            switch (kind) {
            case 0: /* anywhere */
                at = rnd() % len;
                break;
            case 1: /* the structure block (tags, lengths, names, values) */
                at = st + rnd() % (strings - st);
                break;
            case 2: /* the strings block (property names) */
                at = strings + rnd() % (len - strings);
                break;
            default: /* the header */
                at = rnd() % 40;
                break;
            }
            if (rnd() & 1)
                work[at] ^= (unsigned char)(1u << (rnd() % 8));
            else
                work[at] = (unsigned char)rnd();
        }
        if (rnd() % 8 == 0) /* and sometimes truncate as well */
            n = rnd() % (len + 1);
        one(t, work, n, &s);
    }
    print_message("%s: %u accepted, %u refused\n", name, s.accepted, s.refused);
    assert_int_equal(s.accepted + s.refused, iters);
    assert_true(s.refused > 0);
    free(work);
    free(good);
}

static void test_fuzz_full(void **state)
{
    fuzz(*state, "good_full", 0x6361706472760001ull, 4000);
}

static void test_fuzz_compat(void **state)
{
    fuzz(*state, "good_compat_list", 0x6361706472760002ull, 2000);
}

static void test_fuzz_limits(void **state)
{
    fuzz(*state, "good_limits", 0x6361706472760003ull, 1000);
}

/* Every single-bit flip of a small blob, exhaustively. */
static void test_every_bit(void **state)
{
    struct mt *t = *state;
    size_t len;
    unsigned char *good = mt_load("good_minimal", &len);
    struct stats s = {0, 0};
    for (size_t at = 0; at < len; at++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            good[at] ^= (unsigned char)(1u << bit);
            one(t, good, len, &s);
            good[at] ^= (unsigned char)(1u << bit);
        }
    }
    print_message("good_minimal bit flips: %u accepted, %u refused\n", s.accepted, s.refused);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fuzz_full, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_fuzz_compat, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_fuzz_limits, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_every_bit, mt_setup, mt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
