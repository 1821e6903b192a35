/* The inference detectors' compiled kernels (optional; see hatch_build.py).
 *
 * Each function here has a NumPy twin in the module that calls it, which stays the reference:
 * tests run both on the same inputs and compare. Inputs arrive through the buffer protocol
 * (C-contiguous float32 / float64 / int64 arrays, checked here: a wrong type, shape or size
 * raises ValueError); nothing here keeps a reference to them, and the GIL is released while
 * a kernel runs.
 *
 * nearest(pool, start, window, index, distance)  -- _nearest.py
 *   For each pool row p >= start: the nearest of the `window` rows before it, by the exact
 *   float64 sum of squared differences taken feature by feature in order (the sum NumPy's
 *   cumsum takes), the earliest on a tie; rows with a NaN or an infinity are nobody's
 *   nearest and have none. Candidates are ranked first in float32 (four lanes), each one
 *   given up as soon as its partial sum passes what the best so far allows; every candidate
 *   within a proven rounding bound of the best is then summed exactly (see rank_limit).
 *   Pools with a value of 1e15 or more are ranked in float64 directly (float32 squares of
 *   their differences could overflow).
 *
 * steps(pool, ends, lengths, first, minimum, lookback, out)  -- _steps.py
 *   For each pool row q >= first (a step, finite): whether it repeats one of the `lookback`
 *   rows before it by the exact test of _steps.py, pair by pair with early exits (no
 *   prefilter: the cosine bound of the NumPy path only skips pairs this test rejects).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v4f __attribute__((vector_size(16)));


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
    out[0] = (a0[0] + a0[2]) + (a0[1] + a0[3]);
    out[1] = (a1[0] + a1[2]) + (a1[1] + a1[3]);
    out[2] = (a2[0] + a2[2]) + (a2[1] + a2[3]);
    out[3] = (a3[0] + a3[2]) + (a3[1] + a3[3]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX 1
#include <immintrin.h>

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
#define RANK_ALL(RANK4)                                                                     \
    const Py_ssize_t stride = w->stride;                                                    \
    const float *rows = w->rows;                                                            \
    float *rank = w->rank - low;                                                            \
    for (Py_ssize_t c = low; c < p; c += 4) {                                               \
        Py_ssize_t c1 = c + 1 < p ? c + 1 : c, c2 = c + 2 < p ? c + 2 : c;                  \
        Py_ssize_t c3 = c + 3 < p ? c + 3 : c;                                              \
        RANK4(x, rows + c * stride, rows + c1 * stride, rows + c2 * stride,                 \
              rows + c3 * stride, stride, rank + c);                                        \
    }                                                                                       \
    float top = INFINITY;                                                                   \
    for (Py_ssize_t c = low; c < p; c++)                                                    \
        if (rank[c] < top) top = rank[c];                                                   \
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
    for (Py_ssize_t c = low; c < p; c++) {
        if (!((double)rank[c - low] <= limit)) continue;
        double s = exact64(x, w->pool + c * d, d, best);
        if (s < best) { /* ascending: the earliest keeps a tie */
            best = s;
            found = c;
        }
    }
done:
    w->index[p - w->start] = found;
    w->distance[p - w->start] = found < 0 ? INFINITY : sqrt(best);
}

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
    rank = PyMem_Malloc(sizeof(float) * ((size_t)span + 4));
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
    Py_BEGIN_ALLOW_THREADS;
    int wide = 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        const float *row = w.pool + r * d;
        unsigned char ok = 1;
        for (Py_ssize_t j = 0; j < d; j++) {
            float v = row[j];
            if (!isfinite(v)) ok = 0;
            else if (!(fabsf(v) < WIDE)) wide = 1;
        }
        finite[r] = ok;
    }
    for (Py_ssize_t p = start; p < n; p++) nearest_one(&w, p, wide);
    Py_END_ALLOW_THREADS;
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

/* ---------------------------------------------------------------- steps */

/* One pair of steps against the exact test of _steps.py: lengths within 20 % of the longer,
 * no shared query, at least `minimum` common movers (both above 1e-6) and agreement within
 * 5 % of the larger on at least 80 % of them. All in float32 as NumPy computes it, the
 * counts compared as NumPy compares them (0.8 * movers in float64); it gives up as soon as
 * the agreements needed can no longer come, and stops as soon as they have. */
static inline int repeats(const float *a, const float *b, const uint64_t *ma, const uint64_t *mb,
                   Py_ssize_t words, Py_ssize_t minimum) {
    int64_t movers = 0;
    for (Py_ssize_t k = 0; k < words; k++) movers += __builtin_popcountll(ma[k] & mb[k]);
    if (movers < minimum) return 0;
    double t = 0.8 * (double)movers;
    int64_t need = (int64_t)t, fails = 0, agree = 0; /* the least integer >= t */
    if ((double)need < t) need++;
    if (need <= 0) return 1;
    int64_t spare = movers - need;
    for (Py_ssize_t k = 0; k < words; k++) {
        uint64_t both = ma[k] & mb[k];
        while (both) {
            Py_ssize_t j = 64 * k + __builtin_ctzll(both);
            both &= both - 1;
            float x = a[j], y = b[j], m = x > y ? x : y;
            if (fabsf(x - y) <= 0.05f * m) {
                if (++agree >= need) return 1;
            } else if (++fails > spare) {
                return 0;
            }
        }
    }
    return 0;
}

#ifdef HAVE_AVX

/* The same test eight features at a time (AVX: the same float32 operations lane by lane,
 * counted from the lanes' sign masks), settled after each eight as soon as it can be. */
__attribute__((target("avx,popcnt"))) static inline int repeats_avx(const float *a, const float *b,
                                                              const uint64_t *ma,
                                                              const uint64_t *mb,
                                                              Py_ssize_t words, Py_ssize_t d,
                                                              Py_ssize_t minimum) {
    int64_t movers = 0;
    for (Py_ssize_t k = 0; k < words; k++) movers += __builtin_popcountll(ma[k] & mb[k]);
    if (movers < minimum) return 0;
    double t = 0.8 * (double)movers;
    int64_t need = (int64_t)t, fails = 0, agree = 0; /* the least integer >= t */
    if ((double)need < t) need++;
    if (need <= 0) return 1;
    int64_t spare = movers - need;
    const __m256 tiny = _mm256_set1_ps(1e-6f), share = _mm256_set1_ps(0.05f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    Py_ssize_t j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 x = _mm256_loadu_ps(a + j), y = _mm256_loadu_ps(b + j);
        __m256 larger = _mm256_max_ps(x, y);
        __m256 gap = _mm256_andnot_ps(sign, _mm256_sub_ps(x, y));
        __m256 close = _mm256_cmp_ps(gap, _mm256_mul_ps(share, larger), _CMP_LE_OQ);
        __m256 both = _mm256_and_ps(_mm256_cmp_ps(x, tiny, _CMP_GT_OQ),
                                    _mm256_cmp_ps(y, tiny, _CMP_GT_OQ));
        unsigned moved = (unsigned)_mm256_movemask_ps(both);
        unsigned same = (unsigned)_mm256_movemask_ps(close) & moved;
        agree += __builtin_popcount(same);
        fails += __builtin_popcount(moved & ~same);
        if (agree >= need) return 1;
        if (fails > spare) return 0;
    }
    for (; j < d; j++) {
        float x = a[j], y = b[j], m = x > y ? x : y;
        if (!(x > 1e-6f && y > 1e-6f)) continue;
        if (fabsf(x - y) <= 0.05f * m) {
            if (++agree >= need) return 1;
        } else if (++fails > spare) {
            return 0;
        }
    }
    return 0;
}
#endif

/* Every new step q >= first against the `lookback` steps before it (cheap tests first). */
typedef struct {
    const float *steps, *length;
    const double *end;
    const uint64_t *masks;
    Py_ssize_t n, d, words, first, minimum, lookback;
    unsigned char *hit;
} Steps;

#define JUDGE_ALL(REPEATS)                                                                  \
    const Py_ssize_t d = w->d, words = w->words;                                            \
    for (Py_ssize_t q = w->first; q < w->n; q++) {                                          \
        const float *a = w->steps + q * d, la = w->length[q];                               \
        const double e0 = w->end[2 * q], e1 = w->end[2 * q + 1];                            \
        unsigned char found = 0;                                                            \
        Py_ssize_t low = q - w->lookback < 0 ? 0 : q - w->lookback;                         \
        for (Py_ssize_t c = q - 1; c >= low; c--) {                                         \
            float lb = w->length[c], m = la > lb ? la : lb;                                 \
            if (!(fabsf(la - lb) <= 0.2f * m)) continue;                                    \
            const double f0 = w->end[2 * c], f1 = w->end[2 * c + 1];                        \
            if (!(e0 != f0 && e0 != f1 && e1 != f0 && e1 != f1)) continue;                  \
            if (REPEATS) {                                                                  \
                found = 1;                                                                  \
                break;                                                                      \
            }                                                                               \
        }                                                                                   \
        w->hit[q - w->first] = found;                                                       \
    }

static void judge_all(const Steps *w) {
    JUDGE_ALL(repeats(a, w->steps + c * d, w->masks + q * words, w->masks + c * words, words,
                      w->minimum))
}

#ifdef HAVE_AVX
__attribute__((target("avx,popcnt"))) static void judge_all_avx(const Steps *w) {
    JUDGE_ALL(repeats_avx(a, w->steps + c * d, w->masks + q * words, w->masks + c * words,
                          words, d, w->minimum))
}
#endif

/* Judge steps first..n-1 of a pool (masks built here); -1 when out of memory. Needs no GIL. */
static int run_steps(const float *steps, const float *length, const double *end, Py_ssize_t n,
                     Py_ssize_t d, Py_ssize_t first, Py_ssize_t minimum, Py_ssize_t lookback,
                     unsigned char *hit) {
    Py_ssize_t words = (d + 63) / 64;
    uint64_t *masks = calloc((size_t)(n * words) + 1, sizeof(uint64_t));
    if (masks == NULL) return -1;
    for (Py_ssize_t r = 0; r < n; r++)
        for (Py_ssize_t j = 0; j < d; j++)
            if (steps[r * d + j] > 1e-6f) masks[r * words + j / 64] |= (uint64_t)1 << (j % 64);
    Steps w = {steps, length, end, masks, n, d, words, first, minimum, lookback, hit};
#ifdef HAVE_AVX
    if (isa() >= 1)
        judge_all_avx(&w);
    else
#endif
        judge_all(&w);
    free(masks);
    return 0;
}

static PyObject *kernel_steps(PyObject *self, PyObject *args) {
    PyObject *pool_obj, *ends_obj, *lengths_obj, *out_obj;
    Py_ssize_t first, minimum, lookback;
    if (!PyArg_ParseTuple(args, "OOOnnnO:steps", &pool_obj, &ends_obj, &lengths_obj, &first,
                          &minimum, &lookback, &out_obj))
        return NULL;
    Py_buffer pool, ends, lengths, out;
    Py_buffer *held[4] = {&pool, &ends, &lengths, &out};
    int taken = 0;
    if (take(pool_obj, &pool, "pool", 'f', 2, 0) < 0) goto fail;
    taken++;
    if (take(ends_obj, &ends, "ends", 'd', 2, 0) < 0) goto fail;
    taken++;
    if (take(lengths_obj, &lengths, "lengths", 'f', 1, 0) < 0) goto fail;
    taken++;
    if (take(out_obj, &out, "out", '?', 1, 1) < 0) goto fail;
    taken++;
    Py_ssize_t n = pool.shape[0], d = pool.shape[1];
    if (ends.shape[0] != n || ends.shape[1] != 2 || lengths.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "ends (n x 2) and lengths (n) need one entry per step");
        goto fail;
    }
    if (first < 0 || first > n || out.shape[0] != n - first || lookback < 0) {
        PyErr_SetString(PyExc_ValueError, "first must be within the pool, out one per new step");
        goto fail;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = run_steps(pool.buf, lengths.buf, ends.buf, n, d, first, minimum, lookback, out.buf);
    Py_END_ALLOW_THREADS;
    if (failed) {
        PyErr_NoMemory();
        goto fail;
    }
    for (int i = 0; i < taken; i++) PyBuffer_Release(held[i]);
    Py_RETURN_NONE;
fail:
    for (int i = 0; i < taken; i++) PyBuffer_Release(held[i]);
    return NULL;
}

/* The steps of new queries start..n-1 of `queries` to their nearest (`index`, -1: none),
 * judged against the client's remembered steps and each other; the last `lookback` finite
 * steps (remembered, then new) come back in keep_*, their count returned. A step is the
 * float32 |x - nearest|, its length the float32 square root of the in-order float32 sum of
 * its squares, and each query's fingerprint the in-order float64 sum of x_j * probe_j: as
 * _steps.py computes them. */
static PyObject *kernel_steps_from(PyObject *self, PyObject *args) {
    PyObject *o[12];
    Py_ssize_t start, minimum, lookback;
    if (!PyArg_ParseTuple(args, "OnOOOOOnnOOOO:steps_from", &o[0], &start, &o[1], &o[2], &o[3],
                          &o[4], &o[5], &minimum, &lookback, &o[6], &o[7], &o[8], &o[9]))
        return NULL;
    static const char *names[10] = {"queries", "index", "probe", "steps", "ends", "lengths",
                                    "hit", "keep_steps", "keep_ends", "keep_lengths"};
    static const char kinds[10] = {'f', 'q', 'd', 'f', 'd', 'f', '?', 'f', 'd', 'f'};
    static const int dims[10] = {2, 1, 1, 2, 2, 1, 1, 2, 2, 1};
    Py_buffer b[10];
    int taken = 0;
    PyObject *result = NULL;
    float *comb = NULL, *clen = NULL;
    double *cend = NULL, *fp = NULL;
    Py_ssize_t *owner = NULL;
    unsigned char *chit = NULL;
    for (; taken < 10; taken++)
        if (take(o[taken], &b[taken], names[taken], kinds[taken], dims[taken], taken >= 6) < 0)
            goto out;
    Py_ssize_t n = b[0].shape[0], d = b[0].shape[1], k = n - start, mem = b[3].shape[0];
    if (start < 0 || start > n || b[1].shape[0] != k || b[6].shape[0] != k) {
        PyErr_SetString(PyExc_ValueError, "start must be within queries; index, hit: one each");
        goto out;
    }
    if (b[2].shape[0] != d || b[3].shape[1] != d || b[7].shape[1] != d) {
        PyErr_SetString(PyExc_ValueError, "probe, steps and keep_steps need the queries' width");
        goto out;
    }
    if (lookback < 1 || mem > lookback || b[4].shape[0] != mem || b[4].shape[1] != 2 ||
        b[5].shape[0] != mem || b[7].shape[0] != lookback || b[8].shape[0] != lookback ||
        b[8].shape[1] != 2 || b[9].shape[0] != lookback) {
        PyErr_SetString(PyExc_ValueError,
                        "steps, ends, lengths: at most lookback rows; keep_*: lookback rows");
        goto out;
    }
    const int64_t *index = b[1].buf;
    for (Py_ssize_t i = 0; i < k; i++)
        if (index[i] < -1 || index[i] >= start + i) {
            PyErr_SetString(PyExc_ValueError, "index: each entry -1 or an earlier query");
            goto out;
        }
    size_t rows = (size_t)(mem + k) + 1;
    comb = malloc(rows * (size_t)(d ? d : 1) * sizeof(float));
    clen = malloc(rows * sizeof(float));
    cend = malloc(2 * rows * sizeof(double));
    fp = malloc(((size_t)n + 1) * sizeof(double));
    owner = malloc(rows * sizeof(Py_ssize_t));
    chit = calloc(rows, 1);
    if (!comb || !clen || !cend || !fp || !owner || !chit) {
        PyErr_NoMemory();
        goto out;
    }
    const float *queries = b[0].buf;
    const double *probe = b[2].buf;
    unsigned char *hit = b[6].buf;
    Py_ssize_t m = mem, kept;
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    if (mem) {
        memcpy(comb, b[3].buf, (size_t)(mem * d) * sizeof(float));
        memcpy(cend, b[4].buf, (size_t)(2 * mem) * sizeof(double));
        memcpy(clen, b[5].buf, (size_t)mem * sizeof(float));
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        double f = 0.0;
        for (Py_ssize_t j = 0; j < d; j++) f += (double)queries[r * d + j] * probe[j];
        fp[r] = f;
    }
    memset(hit, 0, (size_t)k);
    for (Py_ssize_t i = 0; i < k; i++) {
        int64_t c = index[i];
        if (c < 0) continue;
        const float *x = queries + (start + i) * d, *y = queries + c * d;
        float *row = comb + m * d, square = 0.0f;
        int finite = 1;
        for (Py_ssize_t j = 0; j < d; j++) {
            float v = fabsf(x[j] - y[j]);
            row[j] = v;
            finite &= isfinite(v) != 0;
            square += v * v;
        }
        if (!finite) continue;
        clen[m] = sqrtf(square);
        cend[2 * m] = fp[start + i];
        cend[2 * m + 1] = fp[c];
        owner[m - mem] = i;
        m++;
    }
    failed = run_steps(comb, clen, cend, m, d, mem, minimum, lookback, chit);
    if (!failed)
        for (Py_ssize_t t = mem; t < m; t++) hit[owner[t - mem]] = chit[t - mem];
    kept = m < lookback ? m : lookback;
    memcpy(b[7].buf, comb + (m - kept) * d, (size_t)(kept * d) * sizeof(float));
    memcpy(b[8].buf, cend + 2 * (m - kept), (size_t)(2 * kept) * sizeof(double));
    memcpy(b[9].buf, clen + (m - kept), (size_t)kept * sizeof(float));
    Py_END_ALLOW_THREADS;
    if (failed) {
        PyErr_NoMemory();
        goto out;
    }
    result = PyLong_FromSsize_t(kept);
out:
    free(comb);
    free(clen);
    free(cend);
    free(fp);
    free(owner);
    free(chit);
    for (int i = 0; i < taken; i++) PyBuffer_Release(&b[i]);
    return result;
}

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
    if (module != NULL && PyModule_AddIntConstant(module, "ABI", 1) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
