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

/* Client names seen lately (a table of 4,096 slots for the whole process, a slot reused when
 * its probes are taken): each distinct client is one str object, not one per query (the
 * engine's dicts of clients then compare by identity, with the hash kept). ASCII names only
 * (the scanner's spans are). */
#define NAMES 4096
#define PROBES 8

static struct {
    uint64_t hash;
    PyObject *name;
} names[NAMES];

static PyObject *name_of(const char *s, Py_ssize_t size) {
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < size; i++) hash = (hash ^ (unsigned char)s[i]) * 1099511628211ULL;
    size_t at = (size_t)hash & (NAMES - 1);
    for (int probe = 0; probe < PROBES; probe++) {
        size_t slot = (at + (size_t)probe) & (NAMES - 1);
        PyObject *name = names[slot].name;
        if (name == NULL) {
            at = slot;
            break;
        }
        if (names[slot].hash == hash && PyUnicode_GET_LENGTH(name) == size &&
            memcmp(PyUnicode_DATA(name), s, (size_t)size) == 0)
            return Py_NewRef(name);
    }
    PyObject *name = PyUnicode_FromStringAndSize(s, size);
    if (name == NULL) return NULL;
    Py_XSETREF(names[at].name, Py_NewRef(name));
    names[at].hash = hash;
    return name;
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

/* Appends one line's query: 1, 0 declined, -1 error. Steals `client`. With `padded`, the two
 * bytes after in_end may be read. */
static int emit(Out *out, const char *in, const char *in_end, const char *answer,
                const char *answer_end, PyObject *client, double seconds, int padded) {
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
#if defined(__SSE2__)
    if (padded && use_sse2 && (count = small_whole_numbers(in, in_end, row, width)) >= 0)
        goto counted;
    count = 0;
#else
    (void)padded;
#endif
    do {
        more = row_value(&in, in_end, &value);
        if (more < 0 || !(fabs(value) < EXACT_LIMIT) || count >= width) goto declined;
        row[count++] = (float)value;
    } while (more);
#if defined(__SSE2__)
counted:
#endif
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
    PyObject *client = name_of(who->s, name_end - who->s);
    if (client == NULL) return -1;
    return emit(out, in->data.s, in->data.e, answer, answer_end, client, seconds, 1);
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
                          said + PyUnicode_GET_LENGTH(answer), client, when, 0);
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
