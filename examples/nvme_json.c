/* Tiny streaming JSON writer; see nvme_json.h. */
#include "nvme_json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void njson_init(struct njson *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void indent(struct njson *j)
{
    for (unsigned i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/* Comma, newline and indentation before a value, then its key. */
static void lead(struct njson *j, const char *key)
{
    if (j->depth > 0) {
        unsigned lvl = j->depth < NJSON_MAX_DEPTH ? j->depth : NJSON_MAX_DEPTH - 1;
        fputs(j->more[lvl] ? ",\n" : "\n", j->f);
        j->more[lvl] = true;
        indent(j);
    }
    if (key)
        fprintf(j->f, "\"%s\": ", key);
}

static void jopen(struct njson *j, const char *key, char c)
{
    lead(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < NJSON_MAX_DEPTH) {
        j->depth++;
        j->more[j->depth] = false;
    }
}

static void jclose(struct njson *j, char c)
{
    bool had = j->depth > 0 && j->more[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (had) {
        fputc('\n', j->f);
        indent(j);
    }
    fputc(c, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void njson_obj(struct njson *j, const char *key) { jopen(j, key, '{'); }
void njson_arr(struct njson *j, const char *key) { jopen(j, key, '['); }
void njson_end_obj(struct njson *j) { jclose(j, '}'); }
void njson_end_arr(struct njson *j) { jclose(j, ']'); }

void njson_u64(struct njson *j, const char *key, uint64_t v)
{
    lead(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void njson_i64(struct njson *j, const char *key, int64_t v)
{
    lead(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void njson_f64(struct njson *j, const char *key, double v)
{
    lead(j, key);
    /* JSON has no NaN or infinity (RFC 8259 §6). */
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

const char *nvme_u128le_str(const uint8_t v[16], char *out, size_t cap)
{
    unsigned __int128 x = 0;
    for (int i = 15; i >= 0; i--)
        x = (x << 8) | v[i];
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (unsigned)(x % 10u));
        x /= 10u;
    } while (x && n < sizeof tmp);
    size_t k = 0;
    while (n && k + 1 < cap)
        out[k++] = tmp[--n];
    if (cap)
        out[k < cap ? k : cap - 1] = '\0';
    return out;
}

void njson_u128le(struct njson *j, const char *key, const uint8_t v[16])
{
    char buf[48];
    lead(j, key);
    fputs(nvme_u128le_str(v, buf, sizeof buf), j->f);
}

void njson_strn(struct njson *j, const char *key, const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[n])
        n++;
    while (n && s[n - 1] == ' ')
        n--;
    lead(j, key);
    fputc('"', j->f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(j->f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) /* device bytes: keep the output ASCII */
            fprintf(j->f, "\\u%04x", c);
        else
            fputc(c, j->f);
    }
    fputc('"', j->f);
}

void njson_str(struct njson *j, const char *key, const char *s)
{
    njson_strn(j, key, s, strlen(s));
}

void njson_bool(struct njson *j, const char *key, bool v)
{
    lead(j, key);
    fputs(v ? "true" : "false", j->f);
}
