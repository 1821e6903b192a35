/* The columnar reader's JSON scanner (included by _kread.c; used by _kread_capture.h): one
 * Data Capture line read in place, as strict JSON restricted to what orjson surely reads alike
 * (see _kread_capture.h), and the common ISO 8601 time form. */

#if defined(__SSE2__)
#include <emmintrin.h>
static int use_sse2 = 1; /* see simd() */
#else
static int use_sse2 = 0;
#endif

enum { V_ABSENT = 0, V_STR, V_NULL, V_OBJ, V_OTHER };

typedef struct {
    int kind;
    const char *s, *e; /* a string's contents (no quotes) */
} Val;

typedef struct {
    int kind; /* V_ABSENT, V_OBJ or V_OTHER */
    Val data, encoding;
} Part;

typedef struct {
    int capture, meta; /* V_ABSENT, V_OBJ or V_OTHER */
    Part input, output;
    Val who, when;
} Line;

typedef struct {
    const char *field, *sep;
    Py_ssize_t field_len, sep_len;
} Keys;

#define MAX_DEPTH 64

/* JSON's blanks but the newline, which ends the line (never inside one) */
static inline const char *skip_blank(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* The end of the string whose contents start at p (the closing quote), or NULL when it holds
 * an escape, a control character or a byte outside ASCII, or does not end. */
static inline const char *string_end(const char *p, const char *end) {
#if defined(__SSE2__)
    if (use_sse2) {
        const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'),
                      low = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            /* signed: bytes 0x80-0xff are below 0x20 too */
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                    _mm_cmpeq_epi8(v, slash)),
                                       _mm_cmplt_epi8(v, low));
            int mask = _mm_movemask_epi8(hit);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                return *p == '"' ? p : NULL;
            }
            p += 16;
        }
    }
#endif
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p;
        if (c == '\\' || c < 0x20 || c >= 0x80) return NULL;
    }
    return NULL;
}

static inline int same(const char *s, const char *e, const char *text, Py_ssize_t len) {
    return e - s == len && memcmp(s, text, (size_t)len) == 0;
}

/* Skips one JSON value at *at (no blank before it); 0, or -1 when unsure. */
static int skip_value(const char **at, const char *end, int depth) {
    const char *p = *at;
    if (p >= end || depth > MAX_DEPTH) return -1;
    char c = *p;
    if (c == '"') {
        const char *q = string_end(p + 1, end);
        if (q == NULL) return -1;
        *at = q + 1;
        return 0;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p = skip_blank(p + 1, end);
        if (p < end && *p == close) {
            *at = p + 1;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                if (p >= end || *p != '"') return -1;
                const char *q = string_end(p + 1, end);
                if (q == NULL) return -1;
                p = skip_blank(q + 1, end);
                if (p >= end || *p != ':') return -1;
                p = skip_blank(p + 1, end);
            }
            if (skip_value(&p, end, depth + 1) < 0) return -1;
            p = skip_blank(p, end);
            if (p < end && *p == ',') {
                p = skip_blank(p + 1, end);
                continue;
            }
            if (p < end && *p == close) {
                *at = p + 1;
                return 0;
            }
            return -1;
        }
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t len = strlen(word);
        if ((size_t)(end - p) < len || memcmp(p, word, len) != 0) return -1;
        *at = p + len;
        return 0;
    }
    /* a number: -?(0|[1-9][0-9]*)(.[0-9]+)?, at most 17 digits, no exponent */
    int digits = 0;
    if (*p == '-') p++;
    if (p >= end || !is_digit(*p)) return -1;
    if (*p == '0') {
        p++;
        digits++;
    } else {
        for (; p < end && is_digit(*p); p++) digits++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return -1;
        for (; p < end && is_digit(*p); p++) digits++;
    }
    if (digits > 17 || (p < end && (*p == 'e' || *p == 'E' || is_digit(*p)))) return -1;
    *at = p;
    return 0;
}

/* One value at *at into v: a string's span, null, an object left at its '{' (V_OBJ, *at not
 * moved), or anything else skipped (V_OTHER). 0, or -1 when unsure. */
static inline int value_at(const char **at, const char *end, int depth, Val *v, int objects) {
    const char *p = *at;
    if (p < end && *p == '"') {
        const char *q = string_end(p + 1, end);
        if (q == NULL) return -1;
        v->kind = V_STR;
        v->s = p + 1;
        v->e = q;
        *at = q + 1;
        return 0;
    }
    if (objects && p < end && *p == '{') {
        v->kind = V_OBJ;
        return 0;
    }
    if (p < end && *p == 'n') {
        if (skip_value(at, end, depth) < 0) return -1;
        v->kind = V_NULL;
        return 0;
    }
    if (skip_value(at, end, depth) < 0) return -1;
    v->kind = V_OTHER;
    return 0;
}

/* The object at *at ('{'), calling take(key, value position) for each member; take reads or
 * skips the value and returns 0, or -1 when unsure. */
#define OBJECT_LOOP(AT, END, KEY_S, KEY_E, BODY)                                             \
    do {                                                                                      \
        const char *p_ = skip_blank(*(AT) + 1, END);                                          \
        if (p_ < END && *p_ == '}') {                                                         \
            *(AT) = p_ + 1;                                                                   \
            break;                                                                            \
        }                                                                                     \
        for (;;) {                                                                            \
            if (p_ >= END || *p_ != '"') return -1;                                           \
            const char *KEY_S = p_ + 1, *KEY_E = string_end(KEY_S, END);                      \
            if (KEY_E == NULL) return -1;                                                     \
            p_ = skip_blank(KEY_E + 1, END);                                                  \
            if (p_ >= END || *p_ != ':') return -1;                                           \
            p_ = skip_blank(p_ + 1, END);                                                     \
            *(AT) = p_;                                                                       \
            BODY;                                                                             \
            p_ = skip_blank(*(AT), END);                                                      \
            if (p_ < END && *p_ == ',') {                                                     \
                p_ = skip_blank(p_ + 1, END);                                                 \
                continue;                                                                     \
            }                                                                                 \
            if (p_ < END && *p_ == '}') {                                                     \
                *(AT) = p_ + 1;                                                               \
                break;                                                                        \
            }                                                                                 \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)

static int read_part(const char **at, const char *end, Part *part) {
    Val none = {V_ABSENT, NULL, NULL};
    part->data = none;
    part->encoding = none;
    OBJECT_LOOP(at, end, ks, ke, {
        if (same(ks, ke, "data", 4)) {
            if (value_at(at, end, 3, &part->data, 0) < 0) return -1;
        } else if (same(ks, ke, "encoding", 8)) {
            if (value_at(at, end, 3, &part->encoding, 0) < 0) return -1;
        } else if (skip_value(at, end, 3) < 0) {
            return -1;
        }
    });
    return 0;
}

static int read_capture(const char **at, const char *end, Line *line) {
    line->input.kind = line->output.kind = V_ABSENT;
    OBJECT_LOOP(at, end, ks, ke, {
        Part *part = same(ks, ke, "endpointInput", 13)    ? &line->input
                     : same(ks, ke, "endpointOutput", 14) ? &line->output
                                                          : NULL;
        if (part != NULL && *at < end && **at == '{') {
            part->kind = V_OBJ;
            if (read_part(at, end, part) < 0) return -1;
        } else {
            if (part != NULL) part->kind = V_OTHER;
            if (skip_value(at, end, 2) < 0) return -1;
        }
    });
    return 0;
}

static int read_meta(const char **at, const char *end, Line *line, const Keys *keys) {
    line->who.kind = line->when.kind = V_ABSENT;
    OBJECT_LOOP(at, end, ks, ke, {
        int who = same(ks, ke, keys->field, keys->field_len);
        int when = same(ks, ke, "inferenceTime", 13);
        if (who || when) {
            Val v;
            if (value_at(at, end, 2, &v, 0) < 0) return -1;
            if (who) line->who = v;
            if (when) line->when = v;
        } else if (skip_value(at, end, 2) < 0) {
            return -1;
        }
    });
    return 0;
}

/* The line at p into *line, *stop at its end (the newline, or the block's end): 0, or -1 when
 * unsure (loads decides). (No blank, string, number or word holds a newline: a line is never
 * read past its end.) */
static int read_line(const char *p, const char *end, Line *line, const Keys *keys,
                     const char **stop) {
    line->capture = line->meta = V_ABSENT;
    p = skip_blank(p, end);
    if (p >= end || *p != '{') return -1;
    const char **at = &p;
    OBJECT_LOOP(at, end, ks, ke, {
        int capture = same(ks, ke, "captureData", 11);
        int meta = !capture && same(ks, ke, "eventMetadata", 13);
        if ((capture || meta) && *at < end && **at == '{') {
            if (capture) {
                line->capture = V_OBJ;
                if (read_capture(at, end, line) < 0) return -1;
            } else {
                line->meta = V_OBJ;
                if (read_meta(at, end, line, keys) < 0) return -1;
            }
        } else {
            if (capture) line->capture = V_OTHER;
            if (meta) line->meta = V_OTHER;
            if (skip_value(at, end, 1) < 0) return -1;
        }
    });
    p = skip_blank(p, end);
    if (p < end && *p != '\n') return -1;
    *stop = p;
    return 0;
}

/* "CSV" in any ASCII case (what str.upper() makes "CSV" of, among ASCII strings) */
static inline int csv_span(const Val *v) {
    return v->kind == V_STR && v->e - v->s == 3 && (v->s[0] | 0x20) == 'c' &&
           (v->s[1] | 0x20) == 's' && (v->s[2] | 0x20) == 'v';
}

/* 2025-12-01T00:00:03[.ffffff](Z|+00:00), 1970-2199: epoch seconds into *out; 0, or -1 */
static int iso_seconds(const char *s, const char *e, double *out) {
    Py_ssize_t n = e - s;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    static const int at[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    int d[14];
    for (int i = 0; i < 14; i++) {
        if (!is_digit(s[at[i]])) return -1;
        d[i] = s[at[i]] - '0';
    }
    long year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3], month = d[4] * 10 + d[5],
         day = d[6] * 10 + d[7], hour = d[8] * 10 + d[9], minute = d[10] * 10 + d[11],
         second = d[12] * 10 + d[13];
    const char *p = s + 19;
    long micro = 0;
    int fraction = 0;
    if (*p == '.') {
        for (p++; p < e && is_digit(*p) && fraction < 6; p++, fraction++)
            micro = micro * 10 + (*p - '0');
        if (fraction == 0) return -1;
        for (int i = fraction; i < 6; i++) micro *= 10;
    }
    if (!((e - p == 1 && *p == 'Z') || (e - p == 6 && memcmp(p, "+00:00", 6) == 0)))
        return -1;
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
        day > days_in[month - 1] + (month == 2 && leap) || hour > 23 || minute > 59 ||
        second > 59)
        return -1;
    /* days from 1970-01-01 (the civil-from-days inverse, proleptic Gregorian) */
    long y = month <= 2 ? year - 1 : year;
    long era = y / 400, yoe = y - era * 400;
    long doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    int64_t whole = (int64_t)days * 86400 + hour * 3600 + minute * 60 + second;
    *out = fraction ? (double)(whole * 1000000 + micro) / 1e6 : (double)whole;
    return 0;
}
