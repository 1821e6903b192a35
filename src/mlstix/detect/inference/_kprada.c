/* PRADA's growing sets in C (optional; see hatch_build.py and _prada.py, whose NumPy path is
 * the reference and the fallback).
 *
 * One `Sets` object per client holds, for each of its growing sets (one per predicted class,
 * numbered by the caller), the member queries (float64) and the threshold statistics. `add`
 * takes a batch of queries in order: each query's distance to its set is the smallest exact
 * float64 distance to a member, the square root of the sum of the squared differences summed
 * feature by feature from the first (the order `np.cumsum` sums in, so the NumPy path gets the
 * same bits); a member is abandoned as soon as its partial sum exceeds the smallest so far
 * (a sum of non-negative terms never falls, so a member finished is measured exactly and one
 * abandoned could not have been nearest). Where the query and the set are finite, four members
 * are summed side by side (four independent chains: the additions of one sum wait on each
 * other, four sums keep the processor busy) and left once all four have passed.
 *
 * Then PRADA's rule, as `_prada.py` reads it: a NaN distance is skipped; a finite one at or
 * below `repeat` (a repeated query) or the set's threshold is not kept; a finite one above is
 * accepted and the threshold rises to max(threshold, mean - std) of the accepted distances; the
 * set's first query and every accepted one join the set while it holds fewer than `cap`.
 *
 * Also (in _kprada_dset.h, included) PRADA's distance set D, kept sorted as values come and
 * go, and the Shapiro-Wilk W of a sorted sample given its Royston coefficients, with every sum
 * taken from the first term on (the order `_stats.py` sums in).
 *
 * Arrays arrive through the buffer protocol, C-contiguous; sizes and formats are checked and a
 * mismatch raises ValueError. Nothing here keeps a reference to a caller's array.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <string.h>

#define MAX_GROUPS 4096 /* the caller uses at most 257 */

typedef struct {
    double *points;         /* capacity x dim, the first count in use */
    unsigned char *finite;  /* per member: all of its values are finite */
    Py_ssize_t count, capacity;
    Py_ssize_t nonfinite; /* members with a NaN or infinite value */
    double threshold, accepted, sum, squares;
} Group;

typedef struct {
    PyObject_HEAD
    Py_ssize_t dim, cap;
    Group *groups;
    Py_ssize_t ngroups;
} SetsObject;

static int sets_init(SetsObject *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"dim", "cap", NULL};
    Py_ssize_t dim, cap;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nn", names, &dim, &cap)) {
        return -1;
    }
    if (dim < 1 || dim > (1 << 24) || cap < 0 || cap > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "Sets: dim must be 1..2**24 and cap 0..2**24");
        return -1;
    }
    if (self->groups != NULL) {
        PyErr_SetString(PyExc_ValueError, "Sets: already initialised");
        return -1;
    }
    self->dim = dim;
    self->cap = cap;
    return 0;
}

static void sets_dealloc(SetsObject *self) {
    for (Py_ssize_t g = 0; g < self->ngroups; g++) {
        PyMem_Free(self->groups[g].points);
        PyMem_Free(self->groups[g].finite);
    }
    PyMem_Free(self->groups);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The group `slot`, created (empty) with those before it when missing; NULL on failure. */
static Group *group_at(SetsObject *self, long long slot) {
    if (slot < 0 || slot >= MAX_GROUPS) {
        PyErr_Format(PyExc_ValueError, "Sets: slot %lld out of range 0..%d", slot, MAX_GROUPS - 1);
        return NULL;
    }
    if (slot >= self->ngroups) {
        Py_ssize_t size = (Py_ssize_t)slot + 1;
        Group *grown = PyMem_Realloc(self->groups, (size_t)size * sizeof(Group));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        memset(grown + self->ngroups, 0, (size_t)(size - self->ngroups) * sizeof(Group));
        self->groups = grown;
        self->ngroups = size;
    }
    return &self->groups[slot];
}

static int group_append(Group *g, const double *row, Py_ssize_t dim, Py_ssize_t cap, int finite) {
    if (g->count == g->capacity) {
        Py_ssize_t size = g->capacity ? 2 * g->capacity : 16;
        if (size > cap) {
            size = cap;
        }
        double *points = PyMem_Realloc(g->points, (size_t)size * (size_t)dim * sizeof(double));
        if (points == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        g->points = points;
        unsigned char *flags = PyMem_Realloc(g->finite, (size_t)size);
        if (flags == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        g->finite = flags;
        g->capacity = size;
    }
    memcpy(g->points + g->count * dim, row, (size_t)dim * sizeof(double));
    g->finite[g->count] = (unsigned char)finite;
    g->nonfinite += !finite;
    g->count++;
    return 0;
}

/* The squared distance from `q` to the nearest member of `g` (inf when empty, NaN when a
 * member's distance is NaN). */
static double group_nearest(const Group *g, const double *q, Py_ssize_t dim, int finite) {
    double best = INFINITY;
    double nan = 0.0; /* the first NaN met (the hardware's, as NumPy's would be), or 0 */
    int seen = 0;
    Py_ssize_t p = 0;
    if (finite && g->nonfinite == 0) {
        /* four members at a time: four independent sums (each still feature by feature, so
         * each exact), checked every 8 features; a block is left once all four passed */
        for (; p + 4 <= g->count; p += 4) {
            const double *m0 = g->points + p * dim, *m1 = m0 + dim, *m2 = m1 + dim,
                         *m3 = m2 + dim;
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0; /* 0 + x is x for x >= 0 */
            Py_ssize_t j = 0;
            for (;;) {
                Py_ssize_t end = dim - j > 8 ? j + 8 : dim;
                for (; j < end; j++) {
                    double qj = q[j];
                    double d0 = qj - m0[j], d1 = qj - m1[j], d2 = qj - m2[j], d3 = qj - m3[j];
                    s0 += d0 * d0;
                    s1 += d1 * d1;
                    s2 += d2 * d2;
                    s3 += d3 * d3;
                }
                if (j == dim || (s0 > best && s1 > best && s2 > best && s3 > best)) {
                    break;
                }
            }
            if (j == dim) { /* the sums not past `best` are complete and exact */
                if (s0 < best) best = s0;
                if (s1 < best) best = s1;
                if (s2 < best) best = s2;
                if (s3 < best) best = s3;
            }
        }
    }
    for (; p < g->count; p++) {
        const double *m = g->points + p * dim;
        double diff = q[0] - m[0];
        double s = diff * diff;
        Py_ssize_t j = 1;
        if (finite && g->finite[p]) { /* no NaN can arise: a partial sum only grows */
            for (; j < dim && !(s > best); j++) {
                diff = q[j] - m[j];
                s += diff * diff;
            }
            if (s < best) {
                best = s;
            }
            continue;
        }
        for (; j < dim; j++) {
            diff = q[j] - m[j];
            s += diff * diff;
        }
        if (s != s) {
            if (!seen) {
                nan = s;
                seen = 1;
            }
        } else if (s < best) {
            best = s;
        }
    }
    return seen ? nan : best;
}

static int get_buffer(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: a C-contiguous%s array is needed", what,
                     writable ? " writable" : "");
        return -1;
    }
    return 0;
}

static char format_of(const Py_buffer *view) {
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') {
        f++;
    }
    return (f[0] != '\0' && f[1] == '\0') ? f[0] : '?';
}

#include "_kprada_dset.h"

static PyObject *sets_add(SetsObject *self, PyObject *args) {
    PyObject *rows_obj, *slots_obj, *out_obj;
    double repeat;
    if (self->dim < 1) {
        PyErr_SetString(PyExc_ValueError, "Sets: not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOdO", &rows_obj, &slots_obj, &repeat, &out_obj)) {
        return NULL;
    }
    Py_buffer rows, slots, out;
    if (get_buffer(rows_obj, &rows, 0, "rows") < 0) {
        return NULL;
    }
    if (get_buffer(slots_obj, &slots, 0, "slots") < 0) {
        PyBuffer_Release(&rows);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1, "out") < 0) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&slots);
        return NULL;
    }
    PyObject *result = NULL;
    double *q = NULL;
    const Py_ssize_t dim = self->dim;
    char rf = format_of(&rows), sf = format_of(&slots), of = format_of(&out);
    int wide = rf == 'd' && rows.itemsize == 8;
    if (!(wide || (rf == 'f' && rows.itemsize == 4)) || rows.ndim != 2 ||
        rows.shape[1] != dim) {
        PyErr_Format(PyExc_ValueError, "rows: a (k, %zd) float32 or float64 array is needed", dim);
        goto done;
    }
    Py_ssize_t k = rows.shape[0];
    if (!((sf == 'q' || sf == 'l') && slots.itemsize == 8) || slots.ndim != 1 ||
        slots.shape[0] != k) {
        PyErr_SetString(PyExc_ValueError, "slots: an int64 array of one slot per row is needed");
        goto done;
    }
    if (!(of == 'd' && out.itemsize == 8) || out.ndim != 1 || out.shape[0] != k) {
        PyErr_SetString(PyExc_ValueError, "out: a float64 array of one value per row is needed");
        goto done;
    }
    const long long *slot = (const long long *)slots.buf;
    for (Py_ssize_t i = 0; i < k; i++) { /* every group before any state changes */
        if (group_at(self, slot[i]) == NULL) {
            goto done;
        }
    }
    q = PyMem_Malloc((size_t)dim * sizeof(double));
    if (q == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double *best = (double *)out.buf;
    for (Py_ssize_t i = 0; i < k; i++) {
        int finite = 1;
        if (wide) {
            const double *src = (const double *)rows.buf + i * dim;
            for (Py_ssize_t j = 0; j < dim; j++) {
                q[j] = src[j];
                finite &= isfinite(src[j]) != 0;
            }
        } else {
            const float *src = (const float *)rows.buf + i * dim;
            for (Py_ssize_t j = 0; j < dim; j++) {
                q[j] = (double)src[j];
                finite &= isfinite(src[j]) != 0;
            }
        }
        Group *g = &self->groups[slot[i]];
        double d = sqrt(group_nearest(g, q, dim, finite));
        best[i] = d;
        if (d != d) {
            continue; /* NaN: neither kept nor joined */
        }
        if (d != INFINITY) {
            if (d <= repeat || d <= g->threshold) {
                continue;
            }
            g->accepted += 1.0;
            g->sum += d;
            g->squares += d * d;
            double mean = g->sum / g->accepted;
            double var = g->squares / g->accepted - mean * mean;
            double low = mean - sqrt(var > 0.0 ? var : 0.0);
            if (low > g->threshold) {
                g->threshold = low;
            }
        }
        if (g->count < self->cap && group_append(g, q, dim, self->cap, finite) < 0) {
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_Free(q);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&slots);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *sets_group(SetsObject *self, PyObject *args) {
    long long slot;
    if (!PyArg_ParseTuple(args, "L", &slot)) {
        return NULL;
    }
    if (slot < 0 || slot >= self->ngroups) {
        return Py_BuildValue("(nddddy#)", (Py_ssize_t)0, 0.0, 0.0, 0.0, 0.0, "", (Py_ssize_t)0);
    }
    const Group *g = &self->groups[slot];
    return Py_BuildValue("(nddddy#)", g->count, g->threshold, g->accepted, g->sum, g->squares,
                         g->points ? (const char *)g->points : "",
                         (Py_ssize_t)(g->count * self->dim * (Py_ssize_t)sizeof(double)));
}

static PyObject *sets_groups(SetsObject *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(self->ngroups);
}

static PyMethodDef sets_methods[] = {
    {"add", (PyCFunction)sets_add, METH_VARARGS,
     "add(rows, slots, repeat, out): a batch of queries in order; each one's distance to its "
     "set into out."},
    {"group", (PyCFunction)sets_group, METH_VARARGS,
     "group(slot) -> (members, threshold, accepted, sum, squares, points as float64 bytes)"},
    {"groups", (PyCFunction)sets_groups, METH_NOARGS, "How many slots exist."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SetsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mlstix.detect.inference._kprada.Sets",
    .tp_basicsize = sizeof(SetsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sets(dim, cap): one client's PRADA growing sets.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)sets_init,
    .tp_dealloc = (destructor)sets_dealloc,
    .tp_methods = sets_methods,
};

static PyMethodDef kprada_methods[] = {
    {"shapiro_w", shapiro_w, METH_VARARGS,
     "shapiro_w(values, coefficients) -> W (see _stats.shapiro_w)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kprada_module = {
    PyModuleDef_HEAD_INIT, "_kprada", "PRADA's growing sets and W, compiled.", -1, kprada_methods,
};

PyMODINIT_FUNC PyInit__kprada(void) {
    if (PyType_Ready(&SetsType) < 0 || PyType_Ready(&DSetType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&kprada_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&SetsType);
    Py_INCREF(&DSetType);
    if (PyModule_AddObject(module, "Sets", (PyObject *)&SetsType) < 0 ||
        PyModule_AddObject(module, "DSet", (PyObject *)&DSetType) < 0 ||
        PyModule_AddIntConstant(module, "ABI", 1) < 0) {
        Py_DECREF(&SetsType);
        Py_DECREF(&DSetType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
