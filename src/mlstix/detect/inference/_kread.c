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
 *
 * capture(block, ...) (_kread_capture.h, on the scanner of _kread_scan.h): a whole block of
 *   lines in one pass from its bytes to the columns FastReader returns, the common case of
 *   fields() and numbers() together; what it cannot vouch for it leaves to them (None).
 *
 * The number readers are in _kread_numbers.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_kread_numbers.h"

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

#include "_kread_scan.h"
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
