/* The columnar reader's one-pass loop (included by _kread.c): a block of Data Capture lines
 * straight from the file's bytes to the arrays the engine judges.
 *
 * capture(block, field, sep, classifier, times, parse_time, loads)
 *     -> (clients, vectors, width, labels, seconds) | None
 *   block: any buffer of whole lines (split at "\n", a last empty piece dropped, as
 *   FastReader._read splits it). For each line, FastReader's reading with the line reader's
 *   parser (orjson) and the compiled fields()/numbers() loops, its twin and reference: the
 *   client (eventMetadata[field], cut before the first `sep` when sep is not None), the input
 *   row (float32, `width` values, the same in every line, at least 2), the label (-1 for
 *   none; with `classifier` from a CSV output as FastReader._labels reads it) and the time
 *   (float64 seconds, NaN for none). vectors, labels and seconds are bytearrays of float32,
 *   int64 and float64. None wherever the twin might read the block otherwise: the twin then
 *   reads it (and takes it, or sends it line by line).
 *
 *   Each line is first read here as strict JSON (RFC 8259) restricted to what orjson surely
 *   reads as this scanner does: strings of printable ASCII without escapes, numbers of at most
 *   17 digits without an exponent outside the bodies, nesting under 64 levels, nothing after
 *   the object but blanks. Keys are compared byte for byte (so unescaped ASCII keys only) and
 *   the last of duplicate keys counts, at every level, as in orjson. A line outside that
 *   subset is parsed by `loads` and its dict read as fields() reads it (a ValueError: None).
 *   A time in the form 2025-12-01T00:00:03Z (optionally .f to .ffffff, or +00:00 for Z),
 *   years 1970-2199, is converted here (datetime.fromisoformat(...).timestamp()'s double: the
 *   whole microseconds divided by 10**6, one correctly rounded division); any other string
 *   goes through `times` and `parse_time` as in fields().
 */

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int use_sse2 = 1; /* see simd() */

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

/* -- the block -------------------------------------------------------------------------- */

#define EXACT_LIMIT 9007199254740992.0 /* 2**53: FastReader refuses values at or past it */

typedef struct {
    PyObject *obj; /* a bytearray, cut to `used` at the end */
    char *data;
    Py_ssize_t used, cap;
} Buf;

typedef struct {
    PyObject *clients;
    Buf vectors, labels, seconds;
    Py_ssize_t width; /* 0 until the first row */
    int classifier;
} Out;

static int buf_new(Buf *b, Py_ssize_t cap) {
    b->obj = PyByteArray_FromStringAndSize(NULL, cap); /* (pages are touched as written) */
    if (b->obj == NULL) return -1;
    b->data = PyByteArray_AS_STRING(b->obj);
    b->used = 0;
    b->cap = cap;
    return 0;
}

/* The label of a row of scores, as FastReader._labels reads it: 1 (into *label), 0 declined */
static inline int label_of(const char *p, const char *end, int64_t *label) {
    if (p == end) {
        *label = -1;
        return 1;
    }
    double value, first = 0.0;
    float best = 0.0f;
    int64_t count = 0, at = 0;
    int more;
    do {
        more = row_value(&p, end, &value);
        if (more < 0 || !(fabs(value) < EXACT_LIMIT)) return 0;
        float single = (float)value; /* np.argmax of the float32 scores: the first maximum */
        if (count == 0) {
            first = value;
            best = single;
        } else if (single > best) {
            best = single;
            at = count;
        }
        count++;
    } while (more);
    if (count > 1) {
        *label = at;
        return 1;
    }
    /* one score: a whole number outside (0, 1) is a class (below -1: declined), a
     * probability in [0, 1] is thresholded at 0.5, anything else is none */
    int whole = first == floor(first) && !(first > 0.0 && first < 1.0);
    if (whole && first < -1.0) return 0;
    if (whole)
        *label = (int64_t)first;
    else if (first >= 0.0 && first <= 1.0)
        *label = first >= 0.5;
    else
        *label = -1;
    return 1;
}

/* Appends one line's query: 1, 0 declined, -1 error. Steals `client`. */
static int emit(Out *out, const char *in, const char *in_end, const char *answer,
                const char *answer_end, PyObject *client, double seconds) {
    int64_t label = -1;
    if (out->classifier && !label_of(answer, answer_end, &label)) goto declined;
    if (out->labels.used + 8 > out->labels.cap || out->seconds.used + 8 > out->seconds.cap)
        goto declined; /* (beyond the bound for lines of this length: never for real ones) */
    float *row = (float *)(out->vectors.data + out->vectors.used);
    Py_ssize_t room = (out->vectors.cap - out->vectors.used) / (Py_ssize_t)sizeof(float);
    Py_ssize_t width = out->width ? out->width : room, count = 0;
    if (in == in_end) goto declined; /* no value: not a row of the endpoint's width */
    double value;
    int more;
    do {
        more = row_value(&in, in_end, &value);
        if (more < 0 || !(fabs(value) < EXACT_LIMIT) || count >= width) goto declined;
        row[count++] = (float)value;
    } while (more);
    if (out->width == 0) {
        if (count < 2) goto declined;
        out->width = count;
    } else if (count != out->width) {
        goto declined;
    }
    if (PyList_Append(out->clients, client) < 0) {
        Py_DECREF(client);
        return -1;
    }
    Py_DECREF(client);
    out->vectors.used += count * (Py_ssize_t)sizeof(float);
    memcpy(out->labels.data + out->labels.used, &label, 8);
    memcpy(out->seconds.data + out->seconds.used, &seconds, 8);
    out->labels.used += 8;
    out->seconds.used += 8;
    return 1;
declined:
    Py_DECREF(client);
    return 0;
}

/* A line read by the scanner: 1, 0 declined, -1 error */
static int from_spans(Out *out, const Line *line, const Keys *keys, PyObject *times,
                      PyObject *parse_time) {
    if (line->capture != V_OBJ || line->meta != V_OBJ || line->input.kind != V_OBJ) return 0;
    const Part *in = &line->input;
    if (in->data.kind != V_STR || !csv_span(&in->encoding)) return 0;
    const char *answer = NULL, *answer_end = NULL;
    if (out->classifier && line->output.kind == V_OBJ) {
        const Val *scores = &line->output.data;
        if (scores->kind == V_STR && scores->e > scores->s) {
            if (!csv_span(&line->output.encoding)) return 0;
            answer = scores->s;
            answer_end = scores->e;
        } else if (scores->kind != V_ABSENT && scores->kind != V_NULL && scores->kind != V_STR) {
            return 0;
        }
    }
    const Val *who = &line->who;
    if (who->kind != V_STR) return 0;
    const char *name_end = who->e;
    if (keys->sep != NULL) {
        const char *p = who->s;
        for (; p + keys->sep_len <= who->e; p++)
            if (memcmp(p, keys->sep, (size_t)keys->sep_len) == 0) break;
        if (p + keys->sep_len > who->e) return 0;
        name_end = p;
    }
    if (name_end == who->s) return 0;
    double seconds;
    const Val *when = &line->when;
    if (when->kind == V_ABSENT || when->kind == V_NULL) {
        seconds = Py_NAN;
    } else if (when->kind != V_STR) {
        return 0;
    } else if (iso_seconds(when->s, when->e, &seconds) < 0) {
        PyObject *text = PyUnicode_FromStringAndSize(when->s, when->e - when->s);
        if (text == NULL) return -1;
        PyObject *value = time_of(text, times, parse_time);
        Py_DECREF(text);
        if (value == NULL) return -1;
        seconds = PyFloat_AsDouble(value);
        Py_DECREF(value);
        if (seconds == -1.0 && PyErr_Occurred()) return -1;
    }
    PyObject *client = PyUnicode_FromStringAndSize(who->s, name_end - who->s);
    if (client == NULL) return -1;
    return emit(out, in->data.s, in->data.e, answer, answer_end, client, seconds);
}

/* A line the scanner is unsure of, parsed by `loads` and read as fields() reads it */
static int from_loads(Out *out, const char *p, const char *end, PyObject *loads,
                      PyObject *field, PyObject *sep, PyObject *times, PyObject *parse_time) {
    PyObject *text = PyBytes_FromStringAndSize(p, end - p);
    if (text == NULL) return -1;
    PyObject *record = PyObject_CallOneArg(loads, text);
    Py_DECREF(text);
    if (record == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    PyObject *client = NULL, *data = NULL, *answer = NULL, *seconds = NULL;
    int status = take_record(record, field, sep, out->classifier, times, parse_time, &client,
                             &data, &answer, &seconds);
    if (status == 1) {
        double when = PyFloat_AsDouble(seconds);
        Py_DECREF(seconds);
        if (when == -1.0 && PyErr_Occurred()) {
            status = -1;
            Py_DECREF(client);
        } else if (!PyUnicode_IS_ASCII(data) || !PyUnicode_IS_ASCII(answer)) {
            status = 0; /* (numbers() declines them) */
            Py_DECREF(client);
        } else {
            const char *in = (const char *)PyUnicode_DATA(data);
            const char *said = (const char *)PyUnicode_DATA(answer);
            status = emit(out, in, in + PyUnicode_GET_LENGTH(data), said,
                          said + PyUnicode_GET_LENGTH(answer), client, when);
        }
    }
    Py_DECREF(record);
    return status;
}

static PyObject *capture(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7 || !PyUnicode_Check(args[1]) ||
        !(args[2] == Py_None || PyUnicode_Check(args[2])) || !PyDict_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "capture(block, field: str, sep: str | None, classifier, times: dict, "
                        "parse_time, loads)");
        return NULL;
    }
    Keys keys = {NULL, NULL, 0, 0};
    if (args[2] != Py_None && PyUnicode_GET_LENGTH(args[2]) == 0) {
        PyErr_SetString(PyExc_ValueError, "capture(): an empty separator");
        return NULL;
    }
    /* (a name with a lone surrogate has no UTF-8: no key spelled in a line can match it) */
    keys.field = PyUnicode_AsUTF8AndSize(args[1], &keys.field_len);
    if (keys.field != NULL && args[2] != Py_None)
        keys.sep = PyUnicode_AsUTF8AndSize(args[2], &keys.sep_len);
    if (keys.field == NULL || (args[2] != Py_None && keys.sep == NULL)) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    int classifier = PyObject_IsTrue(args[3]);
    if (classifier < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *p = (const char *)view.buf, *end = p + view.len;
    PyObject *result = NULL;
    Out out = {NULL, {NULL, NULL, 0, 0}, {NULL, NULL, 0, 0}, {NULL, NULL, 0, 0}, 0, classifier};
    /* every float32 comes from 2 bytes at least ("1,"); every line takes 32 at least */
    Py_ssize_t lines = view.len / 32 + 1;
    out.clients = PyList_New(0);
    if (out.clients == NULL || buf_new(&out.vectors, 2 * view.len + 16) < 0 ||
        buf_new(&out.labels, 8 * lines) < 0 || buf_new(&out.seconds, 8 * lines) < 0)
        goto finish;
    if (view.len > 0 && end[-1] == '\n') end--; /* (the empty piece after the last newline) */
    int status = view.len > 0;
    while (status == 1) {
        Line line;
        const char *stop;
        if (read_line(p, end, &line, &keys, &stop) == 0) {
            status = from_spans(&out, &line, &keys, args[4], args[5]);
        } else {
            stop = memchr(p, '\n', (size_t)(end - p));
            if (stop == NULL) stop = end;
            status = from_loads(&out, p, stop, args[6], args[1], args[2], args[4], args[5]);
        }
        if (stop == end) break;
        p = stop + 1;
    }
    if (status < 0) goto finish;
    if (status == 0) {
        result = Py_NewRef(Py_None);
        goto finish;
    }
    if (PyByteArray_Resize(out.vectors.obj, out.vectors.used) < 0 ||
        PyByteArray_Resize(out.labels.obj, out.labels.used) < 0 ||
        PyByteArray_Resize(out.seconds.obj, out.seconds.used) < 0)
        goto finish;
    result = Py_BuildValue("(OOnOO)", out.clients, out.vectors.obj, out.width, out.labels.obj,
                           out.seconds.obj);
finish:
    PyBuffer_Release(&view);
    Py_XDECREF(out.clients);
    Py_XDECREF(out.vectors.obj);
    Py_XDECREF(out.labels.obj);
    Py_XDECREF(out.seconds.obj);
    return result;
}

static PyObject *simd(PyObject *self, PyObject *arg) {
    (void)self;
    long want = PyLong_AsLong(arg);
    if (want == -1 && PyErr_Occurred()) return NULL;
    if (want != 0 && want != 1) {
        PyErr_SetString(PyExc_ValueError, "simd: 0 (portable) or 1 (SSE2)");
        return NULL;
    }
    int was = use_sse2;
#if defined(__SSE2__)
    use_sse2 = (int)want;
    return Py_BuildValue("(ii)", was, 1);
#else
    use_sse2 = 0;
    return Py_BuildValue("(ii)", was, 0);
#endif
}
