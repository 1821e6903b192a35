/* PRADA's distance set D and its W in C (included by _kprada.c; `_prada.Ring` and `Prada.add_pieces`'
 * NumPy path are the reference).
 *
 * `DSet(maxlen)` keeps the last `maxlen` distances in the order they joined (a ring) and, beside
 * it, the same values sorted ascending, updated as values come and go (a binary search and a
 * memmove each), so W needs no sort. D only ever holds finite values above `repeat` (>= 0), so
 * values that compare equal are the same bits and the sorted array is the one a sort of the
 * ring gives.
 *
 * `take(values, classes, repeat, open)` is one piece of a batch (a client's queries between two
 * of PRADA's test points): `values` are the queries' distances to their growing sets in the
 * batch's order, `classes` their classes. The finite distances above `repeat` are taken class by
 * class (a stable sort on the class), after those of the piece left waiting by the batch before
 * (which come first within a class); with `open` they wait for the next piece, else they join D.
 * Returns how many joined.
 *
 * `w(coefficients)` is PRADA's W of D (n = len(D) >= 3; the coefficients of n): the Shapiro-Wilk
 * W with its few most extreme values past the far-out fence clamped to it (_stats.prada_w), summed as
 * `shapiro_w` sums.
 */

typedef struct {
    long long cls;
    double value;
} Pair;

typedef struct {
    PyObject_HEAD
    Py_ssize_t size, count, next;
    double *ring;   /* size values, the count oldest-first from next - count */
    double *sorted; /* the count values held, ascending */
    Pair *waiting;  /* the open piece's values, class by class */
    Py_ssize_t nwaiting, waiting_cap;
    Pair *work, *spare; /* scratch for a piece */
    Py_ssize_t work_cap, spare_cap;
} DSetObject;

/* W of sorted values x (n >= 3, no NaN) given their coefficients a, the values from index
 * `from` on taken as `fence` (from = n: as they are): every sum from the first term on, as
 * _stats.py takes them. */
static double w_sorted(const double *x, Py_ssize_t n, const double *a, Py_ssize_t from,
                       double fence) {
#define W_AT(i) ((i) >= from ? fence : x[(i)])
    double total = W_AT(0);
    for (Py_ssize_t i = 1; i < n; i++) {
        total += W_AT(i);
    }
    double mean = total / (double)n;
    double dev = W_AT(0) - mean;
    double ssq = dev * dev;
    for (Py_ssize_t i = 1; i < n; i++) {
        dev = W_AT(i) - mean;
        ssq += dev * dev;
    }
    double first = fabs(W_AT(0)), last = fabs(W_AT(n - 1));
    double top = first > last ? first : last;
    if (top < 1.0) {
        top = 1.0;
    }
    double w;
    if (ssq <= 1e-24 * (top * top)) {
        w = 0.0;
    } else {
        double dot = a[0] * W_AT(0);
        for (Py_ssize_t i = 1; i < n; i++) {
            dot += a[i] * W_AT(i);
        }
        w = dot * dot / ssq;
        if (w > 1.0) {
            w = 1.0;
        }
    }
    return w;
#undef W_AT
}

/* PRADA's W of sorted x (n >= 3), as _stats.prada_w and _stats.fenced: the largest values past
 * Tukey's far-out fence q3 + 3 (q3 - q1), at most max(2, n / 25) of them, take the fence or the
 * largest value left as it is, whichever is larger (the quartiles taken as order statistics
 * x[(n - 1) / 4] and x[n - 1 - (n - 1) / 4]). */
static double prada_w_sorted(const double *x, Py_ssize_t n, const double *a) {
    double low = x[(n - 1) / 4], high = x[n - 1 - (n - 1) / 4];
    double fence = high + 3.0 * (high - low);
    Py_ssize_t most = n / 25 > 2 ? n / 25 : 2, from = n;
    while (from > 0 && n - from < most && x[from - 1] > fence) {
        from--;
    }
    if (from < n && from > 0 && x[from - 1] > fence) {
        fence = x[from - 1]; /* more lie past the fence: the top ones take the next one's value */
    }
    return w_sorted(x, n, a, from, fence);
}

/* shapiro_w(values, coefficients) -> W: values (float64, n of them, sorted ascending, no NaN)
 * and their Royston coefficients (float64, n); the sums from the first term on, as _stats.py
 * takes them. (NumPy sorts far faster than qsort, so the caller sorts.) */
static PyObject *shapiro_w(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *values_obj, *coef_obj;
    if (!PyArg_ParseTuple(args, "OO", &values_obj, &coef_obj)) {
        return NULL;
    }
    Py_buffer values, coef;
    if (get_buffer(values_obj, &values, 0, "values") < 0) {
        return NULL;
    }
    if (get_buffer(coef_obj, &coef, 0, "coefficients") < 0) {
        PyBuffer_Release(&values);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = values.ndim == 1 ? values.shape[0] : -1;
    if (!(format_of(&values) == 'd' && values.itemsize == 8) || n < 3 ||
        !(format_of(&coef) == 'd' && coef.itemsize == 8) || coef.ndim != 1 ||
        coef.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError,
                        "shapiro_w: n >= 3 float64 values and n float64 coefficients are needed");
        goto done;
    }
    const double *x = (const double *)values.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] != x[i] || (i > 0 && !(x[i - 1] <= x[i]))) {
            PyErr_SetString(PyExc_ValueError, "shapiro_w: the values must be sorted, without NaN");
            goto done;
        }
    }
    result = PyFloat_FromDouble(w_sorted(x, n, (const double *)coef.buf, n, 0.0));
done:
    PyBuffer_Release(&values);
    PyBuffer_Release(&coef);
    return result;
}

static int dset_init(DSetObject *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"maxlen", NULL};
    Py_ssize_t size;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n", names, &size)) {
        return -1;
    }
    if (size < 1 || size > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "DSet: maxlen must be 1..2**24");
        return -1;
    }
    if (self->ring != NULL) {
        PyErr_SetString(PyExc_ValueError, "DSet: already initialised");
        return -1;
    }
    self->ring = PyMem_Malloc((size_t)size * sizeof(double));
    self->sorted = PyMem_Malloc((size_t)size * sizeof(double));
    if (self->ring == NULL || self->sorted == NULL) {
        PyMem_Free(self->ring);
        PyMem_Free(self->sorted);
        self->ring = self->sorted = NULL;
        PyErr_NoMemory();
        return -1;
    }
    self->size = size;
    return 0;
}

static void dset_dealloc(DSetObject *self) {
    PyMem_Free(self->ring);
    PyMem_Free(self->sorted);
    PyMem_Free(self->waiting);
    PyMem_Free(self->work);
    PyMem_Free(self->spare);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The first position in `sorted` whose value is not below `v`. */
static Py_ssize_t dset_lower(const DSetObject *self, double v) {
    Py_ssize_t low = 0, high = self->count;
    while (low < high) {
        Py_ssize_t mid = low + (high - low) / 2;
        if (self->sorted[mid] < v) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    return low;
}

static void dset_push(DSetObject *self, double v) {
    double *s = self->sorted;
    if (self->count == self->size) { /* the oldest leaves: one value equal to it goes */
        Py_ssize_t at = dset_lower(self, self->ring[self->next]);
        memmove(s + at, s + at + 1, (size_t)(self->count - at - 1) * sizeof(double));
        self->count--;
    }
    Py_ssize_t at = dset_lower(self, v);
    memmove(s + at + 1, s + at, (size_t)(self->count - at) * sizeof(double));
    s[at] = v;
    self->count++;
    self->ring[self->next] = v;
    self->next = self->next + 1 == self->size ? 0 : self->next + 1;
}

/* A stable sort of pairs on their class (top-down merge over insertion-sorted runs; `tmp` as
 * long as `p`). */
static void pairs_sort(Pair *p, Pair *tmp, Py_ssize_t n) {
    if (n <= 32) { /* insertion: stable, and cheapest for a piece's few dozen */
        for (Py_ssize_t i = 1; i < n; i++) {
            Pair item = p[i];
            Py_ssize_t j = i;
            while (j > 0 && p[j - 1].cls > item.cls) {
                p[j] = p[j - 1];
                j--;
            }
            p[j] = item;
        }
        return;
    }
    Py_ssize_t half = n / 2;
    pairs_sort(p, tmp, half);
    pairs_sort(p + half, tmp, n - half);
    if (p[half - 1].cls <= p[half].cls) {
        return; /* already in order (the common case: one class, or classes in order) */
    }
    memcpy(tmp, p, (size_t)n * sizeof(Pair));
    Py_ssize_t i = 0, j = half, o = 0;
    while (i < half && j < n) {
        p[o++] = tmp[j].cls < tmp[i].cls ? tmp[j++] : tmp[i++]; /* ties: the left first */
    }
    while (i < half) {
        p[o++] = tmp[i++];
    }
    while (j < n) {
        p[o++] = tmp[j++];
    }
}

static int pairs_reserve(Pair **buffer, Py_ssize_t *cap, Py_ssize_t need) {
    if (need <= *cap) {
        return 0;
    }
    Py_ssize_t size = need < 64 ? 64 : need;
    Pair *grown = PyMem_Realloc(*buffer, (size_t)size * sizeof(Pair));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buffer = grown;
    *cap = size;
    return 0;
}

static PyObject *dset_take(DSetObject *self, PyObject *args) {
    PyObject *values_obj, *classes_obj;
    double repeat;
    int open;
    if (self->ring == NULL) {
        PyErr_SetString(PyExc_ValueError, "DSet: not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOdp", &values_obj, &classes_obj, &repeat, &open)) {
        return NULL;
    }
    Py_buffer values, classes;
    if (get_buffer(values_obj, &values, 0, "values") < 0) {
        return NULL;
    }
    if (get_buffer(classes_obj, &classes, 0, "classes") < 0) {
        PyBuffer_Release(&values);
        return NULL;
    }
    PyObject *result = NULL;
    char cf = format_of(&classes);
    Py_ssize_t k = values.ndim == 1 ? values.shape[0] : -1;
    if (!(format_of(&values) == 'd' && values.itemsize == 8) || k < 0) {
        PyErr_SetString(PyExc_ValueError, "values: a 1-D float64 array is needed");
        goto done;
    }
    if (!((cf == 'q' || cf == 'l') && classes.itemsize == 8) || classes.ndim != 1 ||
        classes.shape[0] != k) {
        PyErr_SetString(PyExc_ValueError, "classes: an int64 array of one class per value is needed");
        goto done;
    }
    Py_ssize_t need = self->nwaiting + k;
    if (pairs_reserve(&self->work, &self->work_cap, need) < 0 ||
        pairs_reserve(&self->spare, &self->spare_cap, need) < 0) {
        goto done;
    }
    const double *v = (const double *)values.buf;
    const long long *c = (const long long *)classes.buf;
    Pair *fresh = self->work + self->nwaiting;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        if (v[i] != INFINITY && v[i] > repeat) { /* NaN is neither */
            fresh[n].cls = c[i];
            fresh[n].value = v[i];
            n++;
        }
    }
    pairs_sort(fresh, self->spare, n);
    Py_ssize_t total = n;
    if (self->nwaiting) { /* the waiting piece first within a class: a stable merge */
        Pair *tmp = self->spare, *w = self->waiting;
        Py_ssize_t i = 0, j = 0, o = 0, m = self->nwaiting;
        while (i < m && j < n) {
            tmp[o++] = fresh[j].cls < w[i].cls ? fresh[j++] : w[i++];
        }
        while (i < m) {
            tmp[o++] = w[i++];
        }
        while (j < n) {
            tmp[o++] = fresh[j++];
        }
        total = o;
        fresh = tmp;
        self->nwaiting = 0;
    }
    Py_ssize_t joined = 0;
    if (open) {
        if (pairs_reserve(&self->waiting, &self->waiting_cap, total) < 0) {
            goto done; /* (nothing joined D; the waiting piece is dropped with the error) */
        }
        memcpy(self->waiting, fresh, (size_t)total * sizeof(Pair));
        self->nwaiting = total;
    } else {
        for (Py_ssize_t i = 0; i < total; i++) {
            dset_push(self, fresh[i].value);
        }
        joined = total;
    }
    result = PyLong_FromSsize_t(joined);
done:
    PyBuffer_Release(&values);
    PyBuffer_Release(&classes);
    return result;
}

static PyObject *dset_w(DSetObject *self, PyObject *args) {
    PyObject *coef_obj;
    if (!PyArg_ParseTuple(args, "O", &coef_obj)) {
        return NULL;
    }
    Py_buffer coef;
    if (get_buffer(coef_obj, &coef, 0, "coefficients") < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    if (self->count < 3 || !(format_of(&coef) == 'd' && coef.itemsize == 8) || coef.ndim != 1 ||
        coef.shape[0] != self->count) {
        PyErr_SetString(PyExc_ValueError,
                        "DSet.w: at least 3 values and one float64 coefficient each are needed");
    } else {
        result = PyFloat_FromDouble(
            prada_w_sorted(self->sorted, self->count, (const double *)coef.buf));
    }
    PyBuffer_Release(&coef);
    return result;
}

/* The values held, oldest first, as float64 bytes. */
static PyObject *dset_values(DSetObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, self->count * (Py_ssize_t)sizeof(double));
    if (out == NULL) {
        return NULL;
    }
    double *dst = (double *)PyBytes_AS_STRING(out);
    Py_ssize_t first = self->next - self->count;
    if (first < 0) {
        first += self->size;
    }
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_ssize_t at = first + i;
        dst[i] = self->ring[at >= self->size ? at - self->size : at];
    }
    return out;
}

static Py_ssize_t dset_len(DSetObject *self) { return self->count; }

static PySequenceMethods dset_sequence = {.sq_length = (lenfunc)dset_len};

static PyMethodDef dset_methods[] = {
    {"take", (PyCFunction)dset_take, METH_VARARGS,
     "take(values, classes, repeat, open) -> how many joined D (see _kprada_dset.h)."},
    {"w", (PyCFunction)dset_w, METH_VARARGS, "w(coefficients) -> PRADA's W of D (past the far-out fence clamped)."},
    {"values", (PyCFunction)dset_values, METH_NOARGS, "The values held, oldest first (bytes)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DSetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mlstix.detect.inference._kprada.DSet",
    .tp_basicsize = sizeof(DSetObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "DSet(maxlen): one client's PRADA distance set, with its values sorted.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dset_init,
    .tp_dealloc = (destructor)dset_dealloc,
    .tp_methods = dset_methods,
    .tp_as_sequence = &dset_sequence,
};
