/* The inference detectors' compiled kernels (optional; see hatch_build.py).
 *
 * The kernels themselves are in _kernel_nearest.h (with _kernel_lanes.h), _kernel_steps.h
 * and _kernel_off.h, included below (one extension module). Each function here has a NumPy
 * twin in the module that calls it, which stays the reference: tests run both on the same
 * inputs and compare. Inputs arrive through the buffer protocol
 * (C-contiguous float32 / float64 / int64 arrays, checked here: a wrong type, shape or size
 * raises ValueError); nothing here keeps a reference to them, and the GIL is released while
 * a kernel runs.
 *
 * nearest(pool, start, window, index, distance)  -- _nearest.py
 *   For each pool row p >= start: the nearest of the `window` rows before it, by the exact
 *   float64 sum of squared differences taken feature by feature in order (the sum NumPy's
 *   cumsum takes), the earliest on a tie; rows with a NaN or an infinity are nobody's
 *   nearest and have none. Candidates are ranked first in float32 (with AVX: eight
 *   candidates side by side against four queries at once, _kernel_lanes.h; else four
 *   candidates a pass); every candidate within a proven rounding bound of the best is then
 *   summed exactly (see rank_limit and nearest_lanes).
 *   Pools with a value of 1e15 or more are ranked in float64 directly (float32 squares of
 *   their differences could overflow).
 *
 * steps(pool, ends, lengths, first, minimum, lookback, out)  -- _steps.py
 *   For each pool row q >= first (a step, finite): whether it repeats one of the `lookback`
 *   rows before it by the exact test of _steps.py, with early exits (with AVX eight
 *   candidates side by side; no prefilter: the cosine bound of the NumPy path only skips
 *   pairs this test rejects).
 *
 * off(points, owners, reference, reference_owners, limit, out)  -- _baseline.py
 *   For each point: whether every reference query of another owner is farther than the
 *   fence, by the exact float64 sum of squared differences in order (see _kernel_off.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v4f __attribute__((vector_size(16)));
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX 1 /* the AVX variants, chosen at run time (see isa()) */
#include <immintrin.h>
#endif

#define WIDE 1e15f

/* The vector instructions the kernels use: 0 portable (16-byte vectors), 1 AVX (with POPCNT),
 * 2 AVX and FMA; the best the processor has, capped by `isa_cap` (tests lower it to run
 * every variant: see simd()). */
static int isa_cap = 2;

static int isa_best(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!__builtin_cpu_supports("avx") || !__builtin_cpu_supports("popcnt")) return 0;
    return __builtin_cpu_supports("fma") ? 2 : 1;
#else
    return 0;
#endif
}

static int isa(void) {
    int best = isa_best();
    return best < isa_cap ? best : isa_cap;
}

/* ---------------------------------------------------------------- buffers */

/* A buffer of `ndim` dimensions holding `kind` ('f' float32, 'd' float64, 'q' int64,
 * '?' bool): C-contiguous and native, else ValueError. */
static int take(PyObject *obj, Py_buffer *view, const char *name, char kind, int ndim,
                int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: not a %sC-contiguous array", name,
                     writable ? "writable " : "");
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    if (*format == '@' || *format == '=') format++;
    int ok;
    switch (kind) {
    case 'f': ok = strcmp(format, "f") == 0 && view->itemsize == 4; break;
    case 'd': ok = strcmp(format, "d") == 0 && view->itemsize == 8; break;
    case 'q':
        ok = (strcmp(format, "q") == 0 || strcmp(format, "l") == 0) && view->itemsize == 8;
        break;
    default: ok = strcmp(format, "?") == 0 && view->itemsize == 1; break;
    }
    if (!ok || view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: wrong type or number of dimensions (%s, %d)", name,
                     format, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#include "_kernel_nearest.h"
#include "_kernel_steps.h"
#include "_kernel_off.h"

static PyObject *kernel_simd(PyObject *self, PyObject *arg) {
    long cap = PyLong_AsLong(arg);
    if (cap == -1 && PyErr_Occurred()) return NULL;
    if (cap < 0 || cap > 2) {
        PyErr_SetString(PyExc_ValueError, "simd: 0 (portable), 1 (AVX) or 2 (AVX and FMA)");
        return NULL;
    }
    int was = isa_cap;
    isa_cap = (int)cap;
    return Py_BuildValue("(ii)", was, isa_best());
}

/* ---------------------------------------------------------------- module */

static PyMethodDef kernel_methods[] = {
    {"nearest", kernel_nearest, METH_VARARGS,
     "nearest(pool, start, window, index, distance): each new row's nearest earlier row."},
    {"steps", kernel_steps, METH_VARARGS,
     "steps(pool, ends, lengths, first, minimum, lookback, out): which new steps repeat one "
     "of the lookback steps before them."},
    {"steps_from", kernel_steps_from, METH_VARARGS,
     "steps_from(queries, start, index, probe, steps, ends, lengths, minimum, lookback, hit, "
     "keep_steps, keep_ends, keep_lengths): the new queries' steps judged; how many kept."},
    {"off", kernel_off, METH_VARARGS,
     "off(points, owners, reference, reference_owners, limit, out): which points are farther "
     "than the fence from every reference query of another owner."},
    {"simd", kernel_simd, METH_O,
     "simd(cap): use vector instructions up to 0 (portable), 1 (AVX) or 2 (AVX and FMA) "
     "where the processor has them; returns (cap before, best the processor has). For tests "
     "of every variant."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "Compiled kernels of the inference detectors.", -1,
    kernel_methods,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    PyObject *module = PyModule_Create(&kernel_module);
    if (module != NULL && PyModule_AddIntConstant(module, "ABI", 2) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
