/* The columnar reader's compiled loop (optional; see hatch_build.py): CSV bodies of plain JSON
 * numbers read into doubles.
 *
 * Its twin is FastReader._numbers in _fast.py (simdjson reading the bodies joined by commas as
 * one JSON array), which stays the reference and the fallback: tests run both, and the line
 * reader (orjson, then float() per value), on the same bytes and compare.
 *
 * numbers(texts) -> (values, counts) | None
 *   texts: a list of str. Each text is read as comma-separated JSON numbers
 *   (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), each with optional JSON whitespace
 *   around it (space, tab, carriage return; a newline is a second row and is refused). An
 *   empty text has no numbers. values: bytes of float64, every text's numbers in order;
 *   counts: bytes of int64, the count of each text. None when any text is not a str, holds a
 *   character outside ASCII, an empty value, anything that is not such a number, or a number
 *   whose double is infinite.
 *   A number with a fraction or an exponent is the correctly rounded double of its decimal
 *   value (Clinger's exact case: at most 19 significant digits, a mantissa up to 2**53 and a
 *   power of ten up to 22, one IEEE operation; otherwise CPython's own PyOS_string_to_double,
 *   the parser of float()). A whole number is its value as a double with no sign on zero
 *   ("-0" is the integer 0, as orjson and simdjson read it; "-0.0" keeps its sign).
 *
 * fields(lines, loads, field, sep, classifier, times, parse_time) -> (clients, inputs, outputs,
 *        times) | None
 *   The common case of FastReader._fields (its twin, which stays the reference): each line
 *   parsed by `loads` (a ValueError: None), a dict whose captureData.endpointInput has a str
 *   `data` and the encoding "CSV" exactly; with `classifier`, an endpointOutput that is not a
 *   dict ('' output), or whose data is None or '' (''), or a str with the encoding "CSV"
 *   exactly; eventMetadata[field] a str, cut before the first `sep` (found, when sep is not
 *   None) and not empty; eventMetadata.inferenceTime absent or None (NaN) or a str, looked up
 *   in the dict `times` and else read by `parse_time` (None: NaN) and stored there. Anything
 *   else: None, and the Python loop reads the block (it takes more spellings and refuses the
 *   rest). `times` is cleared when it holds 65,536 strings, as there.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define EXACT_MANTISSA 9007199254740992ULL /* 2**53 */

static inline int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The double of the JSON number token [start, end) by CPython's parser (float()'s), or -1
 * (with no exception set) when it does not read the whole token. */
static int slow_double(const char *start, const char *end, double *out) {
    Py_ssize_t size = end - start;
    char small[64];
    char *text = size < (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)size + 1);
    if (text == NULL) return -1;
    memcpy(text, start, (size_t)size);
    text[size] = '\0';
    char *stop = NULL;
    double value = PyOS_string_to_double(text, &stop, NULL); /* overflow: +-inf, no error */
    int ok = !(value == -1.0 && PyErr_Occurred()) && stop == text + size;
    if (PyErr_Occurred()) PyErr_Clear();
    if (text != small) PyMem_Free(text);
    if (!ok) return -1;
    *out = value;
    return 0;
}

/* One JSON number at *at (no whitespace before it); advances *at past it. 0, or -1 when the
 * bytes there are not a JSON number. (read_number below: the general case.) */
static __attribute__((noinline)) int read_number_general(const char **at, const char *end, double *out) {
    const char *p = *at, *start = *at;
    int negative = 0, whole = 1, truncated = 0, significant = 0;
    uint64_t mantissa = 0;
    long exponent = 0; /* power of ten applied to the mantissa */
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) return -1;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return -1; /* a leading zero */
    } else {
        for (; p < end && is_digit(*p); p++) {
            if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                significant++;
            } else {
                truncated = 1;
                exponent++;
            }
        }
    }
    if (p < end && *p == '.') {
        whole = 0;
        p++;
        if (p >= end || !is_digit(*p)) return -1;
        for (; p < end && is_digit(*p); p++) {
            if (mantissa == 0 && *p == '0') {
                exponent--; /* a leading zero of the fraction: no significant digit yet */
            } else if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                significant++;
                exponent--;
            } else {
                truncated = 1;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        whole = 0;
        p++;
        int minus = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            minus = *p == '-';
            p++;
        }
        if (p >= end || !is_digit(*p)) return -1;
        long power = 0;
        for (; p < end && is_digit(*p); p++) {
            if (power < 100000) power = power * 10 + (*p - '0');
        }
        exponent += minus ? -power : power;
    }
    *at = p;
    double value;
    if (whole) {
        if (truncated) {
            if (slow_double(start, p, &value) < 0) return -1;
            *out = value; /* (at least 1e19: the caller refuses it, past 2**53) */
            return 0;
        }
        value = (double)mantissa;
        *out = negative && mantissa != 0 ? -value : value; /* the integer 0 has no sign */
        return 0;
    }
    if (!truncated && mantissa <= EXACT_MANTISSA && exponent >= -22 && exponent <= 22) {
        value = (double)mantissa;
        value = exponent >= 0 ? value * POW10[exponent] : value / POW10[-exponent];
        *out = negative ? -value : value;
        return 0;
    }
    return slow_double(start, p, out);
}

/* read_number_general's common case first: at most 19 digits in all, no exponent; the same
 * double (a whole number is its value, no sign on zero; a fraction is its digits as an integer
 * divided by a power of ten up to 1e19, exact when the integer is at most 2**53: Clinger's
 * case, as there); anything else is left to read_number_general from the start. */
static inline int read_number(const char **at, const char *end, double *out) {
    const char *p = *at;
    int negative = p < end && *p == '-';
    p += negative;
    const char *digits = p;
    uint64_t mantissa = 0;
    while (p < end && is_digit(*p)) mantissa = mantissa * 10 + (uint64_t)(*p++ - '0');
    Py_ssize_t whole = p - digits, fraction = 0;
    if (whole == 0 || (whole > 1 && *digits == '0')) return -1; /* no digit, a leading zero */
    if (p < end && *p == '.') {
        const char *point = ++p;
        while (p < end && is_digit(*p)) mantissa = mantissa * 10 + (uint64_t)(*p++ - '0');
        fraction = p - point;
        if (fraction == 0) return -1;
    }
    if (whole + fraction > 19 || (p < end && (*p == 'e' || *p == 'E')))
        return read_number_general(at, end, out);
    if (fraction && mantissa > EXACT_MANTISSA) return read_number_general(at, end, out);
    *at = p;
    if (fraction == 0) {
        double value = (double)mantissa;
        *out = negative && mantissa != 0 ? -value : value; /* the integer 0 has no sign */
        return 0;
    }
    double value = (double)mantissa / POW10[fraction];
    *out = negative ? -value : value;
    return 0;
}

/* One value of a CSV row at *at: blanks, a JSON number whose double is finite, blanks, then
 * ',' and more (1; *at past the comma) or the row's end (0); -1 when it is not such a row
 * (a comma last is an empty value). */
static inline int row_next(const char **at, const char *end, double *value) {
    const char *p = *at;
    while (p < end && is_space(*p)) p++;
    if (read_number(&p, end, value) < 0 || *value - *value != 0.0) return -1; /* bad, or inf */
    while (p < end && is_space(*p)) p++;
    *at = p;
    if (p == end) return 0;
    if (*p != ',' || p + 1 == end) return -1;
    *at = p + 1;
    return 1;
}

/* row_next, with its common cases inline: first a whole number of one or two digits right
 * before a comma with more after it (the digit count chosen without a branch); then a number of
 * at most 19 digits and no exponent (the double read_number makes of it) right before such a
 * comma or the row's end; anything else (blanks, an exponent, more digits, a bad value) goes to
 * row_next from the same place, so the three read every row alike. (Reading 8 digits at a time,
 * SWAR, was slower on these short numbers.) */
static inline __attribute__((always_inline)) int row_value(const char **at, const char *end,
                                                           double *value) {
    const char *p = *at;
    if (end - p >= 3) {
        unsigned first = (unsigned)(unsigned char)p[0] - '0';
        unsigned second = (unsigned)(unsigned char)p[1] - '0';
        if (first < 10) {
            int two = second < 10;
            const char *comma = p + 1 + two;
            if (*comma == ',' && comma + 1 < end && !(two && first == 0)) {
                *value = (double)(two ? first * 10 + second : first);
                *at = comma + 1;
                return 1;
            }
        }
    }
    int negative = p < end && *p == '-';
    p += negative;
    const char *digits = p;
    uint64_t mantissa = 0;
    unsigned d;
    while (p < end && (d = (unsigned)(unsigned char)*p - '0') < 10) {
        mantissa = mantissa * 10 + d;
        p++;
    }
    Py_ssize_t whole = p - digits, fraction = 0;
    if (p < end && *p == '.') {
        const char *point = ++p;
        while (p < end && (d = (unsigned)(unsigned char)*p - '0') < 10) {
            mantissa = mantissa * 10 + d;
            p++;
        }
        fraction = p - point;
    }
    if (whole == 0 || (whole > 1 && *digits == '0') || (fraction == 0 && p[-1] == '.') ||
        whole + fraction > 19 || (fraction && mantissa > EXACT_MANTISSA) ||
        (p < end && (*p != ',' || p + 1 == end)))
        return row_next(at, end, value);
    double v = (double)mantissa;
    if (fraction) {
        v /= POW10[fraction];
        *value = negative ? -v : v;
    } else {
        *value = negative && mantissa != 0 ? -v : v; /* the integer 0 has no sign */
    }
    if (p == end) {
        *at = p;
        return 0;
    }
    *at = p + 1;
    return 1;
}

static PyObject *numbers(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "numbers() takes a list of str");
        return NULL;
    }
    Py_ssize_t rows = PyList_GET_SIZE(arg);
    /* at most one number per two characters, plus one: the values are written straight into
     * one buffer of that size, cut to what was read at the end */
    Py_ssize_t bound = 0;
    for (Py_ssize_t row = 0; row < rows; row++) {
        PyObject *text = PyList_GET_ITEM(arg, row);
        if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
        bound += PyUnicode_GET_LENGTH(text) / 2 + 1;
    }
    PyObject *counts = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (counts == NULL) return NULL;
    PyObject *values = PyBytes_FromStringAndSize(NULL, bound * (Py_ssize_t)sizeof(double));
    if (values == NULL) {
        Py_DECREF(counts);
        return NULL;
    }
    int64_t *count = (int64_t *)PyBytes_AS_STRING(counts);
    double *out = (double *)PyBytes_AS_STRING(values);
    Py_ssize_t used = 0;
    int refused = 0;
    for (Py_ssize_t row = 0; row < rows && !refused; row++) {
        PyObject *text = PyList_GET_ITEM(arg, row);
        const char *p = (const char *)PyUnicode_DATA(text);
        const char *end = p + PyUnicode_GET_LENGTH(text);
        int64_t found = 0;
        if (p < end) {
            int more;
            do {
                more = row_value(&p, end, &out[used + found]);
                if (more < 0) {
                    refused = 1;
                    break;
                }
                found++;
            } while (more);
        }
        count[row] = found;
        used += found;
    }
    if (refused) {
        Py_DECREF(values);
        Py_DECREF(counts);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&values, used * (Py_ssize_t)sizeof(double)) < 0) {
        Py_DECREF(counts);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, values, counts);
    Py_DECREF(values);
    Py_DECREF(counts);
    return result;
}

static PyObject *K_CAPTURE, *K_META, *K_INPUT, *K_OUTPUT, *K_DATA, *K_ENCODING, *K_TIME,
    *S_CSV, *S_EMPTY;

/* dict[key] (borrowed), or NULL with no error when absent; -1 on an error */
static int get(PyObject *dict, PyObject *key, PyObject **out) {
    *out = PyDict_GetItemWithError(dict, key);
    return (*out == NULL && PyErr_Occurred()) ? -1 : 0;
}

static int is_csv(PyObject *encoding) {
    return encoding != NULL && PyUnicode_CheckExact(encoding) &&
           PyUnicode_Compare(encoding, S_CSV) == 0;
}

#define TIMES_KEPT 65536

/* The seconds of a time value (a str, None or absent) as a new float, NaN for none: looked up
 * in `times`, else read by `parse_time` and kept there. NULL on an error. */
static PyObject *time_of(PyObject *when, PyObject *times, PyObject *parse_time) {
    if (when == NULL || when == Py_None) return PyFloat_FromDouble(Py_NAN);
    PyObject *seconds = PyDict_GetItemWithError(times, when);
    if (seconds != NULL) return Py_NewRef(seconds);
    if (PyErr_Occurred()) return NULL;
    PyObject *parsed = PyObject_CallOneArg(parse_time, when);
    if (parsed == NULL) return NULL;
    if (parsed == Py_None) {
        Py_DECREF(parsed);
        seconds = PyFloat_FromDouble(Py_NAN);
        if (seconds == NULL) return NULL;
    } else {
        seconds = parsed;
    }
    if (PyDict_GET_SIZE(times) >= TIMES_KEPT) PyDict_Clear(times);
    if (PyDict_SetItem(times, when, seconds) < 0) {
        Py_DECREF(seconds);
        return NULL;
    }
    return seconds;
}

/* One parsed line as fields() reads it: 1 with *client and *seconds (new references) and
 * *data and *answer (borrowed from record), 0 declined, -1 error. */
static int take_record(PyObject *record, PyObject *field, PyObject *sep, int classifier,
                       PyObject *times, PyObject *parse_time, PyObject **client,
                       PyObject **data, PyObject **answer, PyObject **seconds) {
    PyObject *capture, *meta, *request, *encoding, *who, *when;
    if (!PyDict_CheckExact(record)) return 0;
    if (get(record, K_CAPTURE, &capture) < 0 || get(record, K_META, &meta) < 0) return -1;
    if (capture == NULL || meta == NULL || !PyDict_CheckExact(capture) ||
        !PyDict_CheckExact(meta))
        return 0;
    if (get(capture, K_INPUT, &request) < 0) return -1;
    if (request == NULL || !PyDict_CheckExact(request)) return 0;
    if (get(request, K_DATA, data) < 0 || get(request, K_ENCODING, &encoding) < 0) return -1;
    if (*data == NULL || !PyUnicode_CheckExact(*data) || !is_csv(encoding)) return 0;
    *answer = S_EMPTY;
    if (classifier) {
        PyObject *response, *scores, *coding;
        if (get(capture, K_OUTPUT, &response) < 0) return -1;
        if (response != NULL && PyDict_CheckExact(response)) {
            if (get(response, K_DATA, &scores) < 0) return -1;
            if (scores != NULL && scores != Py_None &&
                !(PyUnicode_CheckExact(scores) && PyUnicode_GET_LENGTH(scores) == 0)) {
                if (get(response, K_ENCODING, &coding) < 0) return -1;
                if (!PyUnicode_CheckExact(scores) || !is_csv(coding)) return 0;
                *answer = scores;
            }
        }
    }
    if (get(meta, field, &who) < 0) return -1;
    if (who == NULL || !PyUnicode_CheckExact(who)) return 0;
    if (get(meta, K_TIME, &when) < 0) return -1;
    if (when != NULL && when != Py_None && !PyUnicode_CheckExact(when)) return 0;
    if (sep != Py_None) {
        Py_ssize_t at = PyUnicode_Find(who, sep, 0, PyUnicode_GET_LENGTH(who), 1);
        if (at == -2) return -1;
        if (at < 0) return 0;
        *client = PyUnicode_Substring(who, 0, at);
        if (*client == NULL) return -1;
    } else {
        *client = Py_NewRef(who);
    }
    if (PyUnicode_GET_LENGTH(*client) == 0) {
        Py_CLEAR(*client);
        return 0;
    }
    *seconds = time_of(when, times, parse_time);
    if (*seconds == NULL) {
        Py_CLEAR(*client);
        return -1;
    }
    return 1;
}

/* 1 done, 0 declined (the Python loop reads the block), -1 error */
static int fields_into(PyObject *lines, PyObject *loads, PyObject *field, PyObject *sep,
                       int classifier, PyObject *times, PyObject *parse_time,
                       PyObject *clients, PyObject *inputs, PyObject *outputs,
                       PyObject *when_list) {
    Py_ssize_t n = PyList_GET_SIZE(lines);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = PyObject_CallOneArg(loads, PyList_GET_ITEM(lines, i));
        if (record == NULL) {
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return 0;
            }
            return -1;
        }
        PyObject *client = NULL, *data = NULL, *answer = NULL, *seconds = NULL;
        int status = take_record(record, field, sep, classifier, times, parse_time, &client,
                                 &data, &answer, &seconds);
        if (status == 1 &&
            (PyList_Append(clients, client) < 0 || PyList_Append(inputs, data) < 0 ||
             (classifier && PyList_Append(outputs, answer) < 0) ||
             PyList_Append(when_list, seconds) < 0))
            status = -1;
        Py_XDECREF(client);
        Py_XDECREF(seconds);
        Py_DECREF(record);
        if (status != 1) return status;
    }
    return 1;
}

static PyObject *fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7 || !PyList_Check(args[0]) || !PyUnicode_Check(args[2]) ||
        !(args[3] == Py_None || PyUnicode_Check(args[3])) || !PyDict_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "fields(lines: list, loads, field: str, sep: str | None, classifier, "
                        "times: dict, parse_time)");
        return NULL;
    }
    if (args[3] != Py_None && PyUnicode_GET_LENGTH(args[3]) == 0) {
        PyErr_SetString(PyExc_ValueError, "fields(): an empty separator");
        return NULL;
    }
    int classifier = PyObject_IsTrue(args[4]);
    if (classifier < 0) return NULL;
    PyObject *clients = PyList_New(0), *inputs = PyList_New(0), *outputs = PyList_New(0),
             *when = PyList_New(0);
    PyObject *result = NULL;
    if (clients && inputs && outputs && when) {
        int status = fields_into(args[0], args[1], args[2], args[3], classifier, args[5],
                                 args[6], clients, inputs, outputs, when);
        if (status == 1)
            result = PyTuple_Pack(4, clients, inputs, outputs, when);
        else if (status == 0)
            result = Py_NewRef(Py_None);
    }
    Py_XDECREF(clients);
    Py_XDECREF(inputs);
    Py_XDECREF(outputs);
    Py_XDECREF(when);
    return result;
}

#include "_kread_capture.h"

static PyMethodDef methods[] = {
    {"numbers", numbers, METH_O,
     "numbers(texts) -> (values, counts) | None: CSV bodies of JSON numbers as doubles."},
    {"fields", (PyCFunction)(void (*)(void))fields, METH_FASTCALL,
     "fields(lines, loads, field, sep, classifier, times, parse_time): the common case of "
     "FastReader._fields, or None."},
    {"capture", (PyCFunction)(void (*)(void))capture, METH_FASTCALL,
     "capture(block, field, sep, classifier, times, parse_time, loads): a block of Data "
     "Capture lines in columns (clients, vectors, width, labels, seconds), or None."},
    {"simd", simd, METH_O, "simd(flag): scan strings 16 bytes at a time (1) or not (0)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kread",
    "The columnar reader's compiled loop: CSV bodies of JSON numbers to doubles.", -1, methods,
};

PyMODINIT_FUNC PyInit__kread(void) {
    K_CAPTURE = PyUnicode_InternFromString("captureData");
    K_META = PyUnicode_InternFromString("eventMetadata");
    K_INPUT = PyUnicode_InternFromString("endpointInput");
    K_OUTPUT = PyUnicode_InternFromString("endpointOutput");
    K_DATA = PyUnicode_InternFromString("data");
    K_ENCODING = PyUnicode_InternFromString("encoding");
    K_TIME = PyUnicode_InternFromString("inferenceTime");
    S_CSV = PyUnicode_InternFromString("CSV");
    S_EMPTY = PyUnicode_InternFromString("");
    if (!K_CAPTURE || !K_META || !K_INPUT || !K_OUTPUT || !K_DATA || !K_ENCODING || !K_TIME ||
        !S_CSV || !S_EMPTY)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "ABI", 1) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
