/* Part of _kernel.c (included there, not compiled on its own): the nearest earlier query. */
#ifndef MLSTIX_KERNEL_NEAREST_H
#define MLSTIX_KERNEL_NEAREST_H

/* ---------------------------------------------------------------- nearest */

/* The float32 ranks of |x - c_i|^2 for four candidates at once (x is loaded once for all
 * four), in any order of summation: rank_limit bounds every order. Rows are `stride` floats
 * (a multiple of 8: narrower pools are copied with zero columns, which add nothing). Written
 * for 16-byte vectors (SSE2 on every x86-64; the vector extension elsewhere) and, chosen at
 * run time where the processor has them, AVX and AVX with FMA. */
static inline void rank4_sse(const float *x, const float *c0, const float *c1,
                             const float *c2, const float *c3, Py_ssize_t stride, float *out) {
    v4f a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    for (Py_ssize_t j = 0; j < stride; j += 4) {
        v4f xv, v0, v1, v2, v3;
        memcpy(&xv, x + j, sizeof xv);
        memcpy(&v0, c0 + j, sizeof v0);
        memcpy(&v1, c1 + j, sizeof v1);
        memcpy(&v2, c2 + j, sizeof v2);
        memcpy(&v3, c3 + j, sizeof v3);
        v0 = xv - v0;
        v1 = xv - v1;
        v2 = xv - v2;
        v3 = xv - v3;
        a0 += v0 * v0;
        a1 += v1 * v1;
        a2 += v2 * v2;
        a3 += v3 * v3;
    }
    v4f sums = {(a0[0] + a0[2]) + (a0[1] + a0[3]), (a1[0] + a1[2]) + (a1[1] + a1[3]),
                (a2[0] + a2[2]) + (a2[1] + a2[3]), (a3[0] + a3[2]) + (a3[1] + a3[3])};
    memcpy(out, &sums, sizeof sums); /* one store: the caller reads the four back at once */
}

#ifdef HAVE_AVX

/* The four sums of four 8-lane accumulators, into out[0..3]. */
__attribute__((target("avx"))) static inline void sum4(__m256 a0, __m256 a1, __m256 a2,
                                                        __m256 a3, float *out) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

#define RANK4_AVX(ACCUMULATE)                                                               \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
    for (Py_ssize_t j = 0; j < stride; j += 8) {                                            \
        __m256 xv = _mm256_loadu_ps(x + j);                                                 \
        __m256 v0 = _mm256_sub_ps(xv, _mm256_loadu_ps(c0 + j));                             \
        __m256 v1 = _mm256_sub_ps(xv, _mm256_loadu_ps(c1 + j));                             \
        __m256 v2 = _mm256_sub_ps(xv, _mm256_loadu_ps(c2 + j));                             \
        __m256 v3 = _mm256_sub_ps(xv, _mm256_loadu_ps(c3 + j));                             \
        a0 = ACCUMULATE(v0, a0);                                                            \
        a1 = ACCUMULATE(v1, a1);                                                            \
        a2 = ACCUMULATE(v2, a2);                                                            \
        a3 = ACCUMULATE(v3, a3);                                                            \
    }                                                                                       \
    sum4(a0, a1, a2, a3, out);

#define SQUARE_ADD(v, a) _mm256_add_ps(a, _mm256_mul_ps(v, v))
#define SQUARE_FMA(v, a) _mm256_fmadd_ps(v, v, a)

__attribute__((target("avx"))) static inline void rank4_avx(const float *x, const float *c0,
                                                             const float *c1, const float *c2,
                                                             const float *c3,
                                                             Py_ssize_t stride, float *out) {
    RANK4_AVX(SQUARE_ADD)
}

/* With fused multiply-adds: one rounding fewer per term, within the same bound. */
__attribute__((target("avx,fma"))) static inline void rank4_fma(const float *x, const float *c0,
                                                                 const float *c1, const float *c2,
                                                                 const float *c3,
                                                                 Py_ssize_t stride, float *out) {
    RANK4_AVX(SQUARE_FMA)
}
#endif

/* The exact float64 sum of squared differences, feature by feature in order (NumPy's cumsum
 * order); given up (any value above `stop`) once it passes `stop`. */
static double exact64(const float *x, const float *c, Py_ssize_t d, double stop) {
    double s = 0.0;
    Py_ssize_t j = 0;
    for (; j + 8 <= d; j += 8) {
        for (int t = 0; t < 8; t++) {
            double q = (double)x[j + t] - (double)c[j + t];
            s += q * q;
        }
        if (s > stop) return s;
    }
    for (; j < d; j++) {
        double q = (double)x[j] - (double)c[j];
        s += q * q;
    }
    return s;
}

/* Every candidate whose float32 rank is at most this may be the exact nearest when the best
 * rank is `best`. A rank r of exact sum S (d terms): each difference and square is rounded
 * once (relative u = 2^-24, or an absolute 2^-149 below float32's normal range) and a sum of
 * non-negative terms in any order is off by at most (d - 1) u relatively (Higham, Accuracy
 * and Stability of Numerical Algorithms, 2nd ed., 3.1), so r is within e = (d + 3) u of S
 * plus d 2^-149; float64's own sums are within (d + 3) 2^-53. Twice those, to spare. */
static double rank_limit(double best, Py_ssize_t d) {
    double e = 2.0 * (double)(d + 3) * 0x1p-24, tiny = 2.0 * (double)d * 0x1p-149;
    double g = 2.0 * (double)(d + 3) * 0x1p-53;
    return (best + tiny) * (1.0 + e) / (1.0 - e) * (1.0 + g) / (1.0 - g) + tiny;
}

typedef struct {
    const float *pool, *rows; /* the pool; the same with `stride` floats a row */
    Py_ssize_t n, d, stride, start, window;
    int64_t *index;
    double *distance;
    unsigned char *finite;
    float *rank;
    int isa;
} Nearest;

/* Rank the candidates low..p-1 of x into w->rank (a candidate with a NaN or an infinity ranks
 * NaN or inf: the exact pass skips it); the lowest rank. Four at a time (w->rank has room
 * for the three past the end that a last short group writes). */
typedef int v4i32 __attribute__((vector_size(16)));

#define RANK_ALL(RANK4)                                                                     \
    const Py_ssize_t stride = w->stride;                                                    \
    const float *rows = w->rows;                                                            \
    float *rank = w->rank - low;                                                            \
    v4f least = {INFINITY, INFINITY, INFINITY, INFINITY};                                   \
    const float *row = rows + low * stride;                                                 \
    Py_ssize_t c = low;                                                                     \
    for (; c < p; c += 4, row += 4 * stride) {                                              \
        if (c + 4 <= p) /* four whole candidates, or the last ones repeated */              \
            RANK4(x, row, row + stride, row + 2 * stride, row + 3 * stride, stride,         \
                  rank + c);                                                                \
        else                                                                                \
            RANK4(x, row, row + (c + 1 < p) * stride, row + 2 * (c + 2 < p) * stride,       \
                  row, stride, rank + c);                                                   \
        v4f four; /* the running least, lane by lane (a NaN rank is never less) */          \
        memcpy(&four, rank + c, sizeof four);                                               \
        v4i32 less = four < least;                                                          \
        least = (v4f)(((v4i32)four & less) | ((v4i32)least & ~less));                       \
    }                                                                                       \
    float top = least[0];                                                                   \
    for (int l = 1; l < 4; l++)                                                             \
        if (least[l] < top) top = least[l];                                                 \
    return top;

static float rank_all_sse(const Nearest *w, const float *x, Py_ssize_t low, Py_ssize_t p) {
    RANK_ALL(rank4_sse)
}

#ifdef HAVE_AVX
__attribute__((target("avx"))) static float rank_all_avx(const Nearest *w, const float *x,
                                                          Py_ssize_t low, Py_ssize_t p) {
    RANK_ALL(rank4_avx)
}

__attribute__((target("avx,fma"))) static float rank_all_fma(const Nearest *w, const float *x,
                                                              Py_ssize_t low, Py_ssize_t p) {
    RANK_ALL(rank4_fma)
}
#endif

static void nearest_one(const Nearest *w, Py_ssize_t p, int wide) {
    const Py_ssize_t d = w->d;
    const float *x = w->pool + p * d;
    Py_ssize_t low = p - w->window < 0 ? 0 : p - w->window;
    int64_t found = -1;
    double best = INFINITY;
    if (!w->finite[p] || low >= p) goto done;
    if (wide) { /* exact sums only, latest first so a near one comes early */
        for (Py_ssize_t c = p - 1; c >= low; c--) {
            if (!w->finite[c]) continue;
            double s = exact64(x, w->pool + c * d, d, best);
            if (s <= best) { /* on a tie the earlier (this one) wins */
                best = s;
                found = c;
            }
        }
        goto done;
    }
    /* rank every candidate in float32, then sum exactly those that may be the nearest */
    const float *xr = w->rows + p * w->stride;
    float *rank = w->rank;
#ifdef HAVE_AVX
    float top = w->isa >= 2   ? rank_all_fma(w, xr, low, p)
                : w->isa == 1 ? rank_all_avx(w, xr, low, p)
                              : rank_all_sse(w, xr, low, p);
#else
    float top = rank_all_sse(w, xr, low, p);
#endif
    if (top == INFINITY) goto done;
    double limit = rank_limit((double)top, d);
    /* (double)r <= limit exactly when r <= the largest float not above limit */
    float below = (float)limit;
    if ((double)below > limit) below = nextafterf(below, -INFINITY);
    const v4f bar = {below, below, below, below};
    for (Py_ssize_t c = low; c < p; c += 4) { /* four ranks a test: most pass none */
        v4f four;
        memcpy(&four, rank + (c - low), sizeof four); /* (room for 3 past the end) */
        v4i32 in = four <= bar;
        if (!(in[0] | in[1] | in[2] | in[3])) continue;
        for (int l = 0; l < 4 && c + l < p; l++) {
            if (!in[l]) continue;
            double s = exact64(x, w->pool + (c + l) * d, d, best);
            if (s < best) { /* ascending: the earliest keeps a tie */
                best = s;
                found = c + l;
            }
        }
    }
done:
    w->index[p - w->start] = found;
    w->distance[p - w->start] = found < 0 ? INFINITY : sqrt(best);
}

/* Whether the row holds a finite value of WIDE or more (into the return value) and no NaN or
 * infinity (into *finite); four values at a time. */
static int row_flags(const float *row, Py_ssize_t d, unsigned char *finite) {
    const v4f zero = {0, 0, 0, 0}, wide = {WIDE, WIDE, WIDE, WIDE};
    const v4f most = {FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX};
    const v4i32 magnitude = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v4f bad = zero; /* x * 0 is NaN for a NaN or an infinity, a zero otherwise */
    v4i32 big = {0, 0, 0, 0};
    Py_ssize_t j = 0;
    for (; j + 4 <= d; j += 4) {
        v4f v;
        memcpy(&v, row + j, sizeof v);
        bad += v * zero;
        v4f a = (v4f)((v4i32)v & magnitude);
        big |= (a >= wide) & (a <= most);
    }
    int ok = bad[0] == 0 && bad[1] == 0 && bad[2] == 0 && bad[3] == 0;
    int large = (big[0] | big[1] | big[2] | big[3]) != 0;
    for (; j < d; j++) {
        float a = fabsf(row[j]);
        int real = a <= FLT_MAX; /* false for NaN and infinities */
        ok &= real;
        large |= real & (a >= WIDE);
    }
    *finite = (unsigned char)ok;
    return large;
}

#include "_kernel_lanes.h"

static PyObject *kernel_nearest(PyObject *self, PyObject *args) {
    PyObject *pool_obj, *index_obj, *distance_obj;
    Py_ssize_t start, window;
    if (!PyArg_ParseTuple(args, "OnnOO:nearest", &pool_obj, &start, &window, &index_obj,
                          &distance_obj))
        return NULL;
    Py_buffer pool, index, distance;
    if (take(pool_obj, &pool, "pool", 'f', 2, 0) < 0) return NULL;
    if (take(index_obj, &index, "index", 'q', 1, 1) < 0) {
        PyBuffer_Release(&pool);
        return NULL;
    }
    if (take(distance_obj, &distance, "distance", 'd', 1, 1) < 0) {
        PyBuffer_Release(&pool);
        PyBuffer_Release(&index);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = pool.shape[0], d = pool.shape[1];
    unsigned char *finite = NULL;
    float *rank = NULL, *padded = NULL;
    if (start < 0 || start > n || window < 0) {
        PyErr_SetString(PyExc_ValueError, "start must be within the pool, window >= 0");
        goto out;
    }
    if (index.shape[0] != n - start || distance.shape[0] != n - start) {
        PyErr_SetString(PyExc_ValueError, "index and distance need one entry per new row");
        goto out;
    }
    Py_ssize_t span = window < n ? window : n, stride = (d + 7) / 8 * 8;
    finite = PyMem_Malloc((size_t)n + 1);
    rank = PyMem_Malloc(sizeof(float) * ((size_t)span + 24)); /* (lanes: up to 8 vectors past) */
    if (stride != d) padded = PyMem_Calloc((size_t)(n * stride) + 1, sizeof(float));
    if (finite == NULL || rank == NULL || (stride != d && padded == NULL)) {
        PyErr_NoMemory();
        goto out;
    }
    Nearest w = {pool.buf, padded ? padded : pool.buf, n, d, stride, start, window,
                 index.buf, distance.buf, finite, rank, 0};
    if (padded)
        for (Py_ssize_t r = 0; r < n; r++)
            memcpy(padded + r * stride, w.pool + r * d, sizeof(float) * (size_t)d);
#ifdef HAVE_AVX
    w.isa = isa();
#endif
    int lanes_failed = 0, done;
    Py_BEGIN_ALLOW_THREADS;
    int wide = 0;
    for (Py_ssize_t r = 0; r < n; r++) wide |= row_flags(w.pool + r * d, d, finite + r);
    done = 0;
#ifdef HAVE_AVX
    if (!wide && w.isa >= 1 && start < n && n < ((Py_ssize_t)1 << 24)) {
        Lanes lanes;
        float *buffer;
        if (lanes_make(&w, &lanes, &buffer) == 0) {
            for (Py_ssize_t p = start; p < n; p += 4) nearest_lanes(&w, &lanes, p);
            done = 1;
        } else {
            lanes_failed = 1;
        }
        free(buffer);
    }
#endif
    if (!done && !lanes_failed)
        for (Py_ssize_t p = start; p < n; p++) nearest_one(&w, p, wide);
    Py_END_ALLOW_THREADS;
    if (lanes_failed) {
        PyErr_NoMemory();
        goto out;
    }
    result = Py_NewRef(Py_None);
out:
    PyMem_Free(finite);
    PyMem_Free(rank);
    PyMem_Free(padded);
    PyBuffer_Release(&pool);
    PyBuffer_Release(&index);
    PyBuffer_Release(&distance);
    return result;
}

#endif
