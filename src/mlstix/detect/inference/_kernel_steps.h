/* Part of _kernel.c (included there, not compiled on its own): the repeated-steps test,
 * and the steps made from queries and their nearest. */
#ifndef MLSTIX_KERNEL_STEPS_H
#define MLSTIX_KERNEL_STEPS_H

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

/* The same verdicts with eight candidates side by side: the candidates' steps are read
 * feature-major (`cols`, d rows of `n + 8` floats, zero past the pool), each lane counts the
 * agreements and failures of one pair over the features the new step moved (a common mover
 * needs both; the candidate's side is tested in the lane), with the same float32 operations
 * as repeats(), and a block is settled every eight features: as soon as one lane has its
 * agreements (a repeat) or every lane has failed too often. A pair's verdict is its counts
 * over all common movers, so where each lane stops does not change it. `cols` has 8 zero
 * floats before and after each feature's row, so a block reaching below row 0 reads zeros
 * in its dead lanes. */
__attribute__((target("avx,popcnt"))) static void judge_lanes_avx(const Steps *w,
                                                                  const float *cols,
                                                                  const float *need_of,
                                                                  Py_ssize_t *moved) {
    const Py_ssize_t d = w->d, words = w->words, n = w->n, stride = n + 16;
    const __m256 tiny = _mm256_set1_ps(1e-6f), share = _mm256_set1_ps(0.05f);
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    for (Py_ssize_t q = w->first; q < n; q++) {
        const float *a = w->steps + q * d, la = w->length[q];
        const double e0 = w->end[2 * q], e1 = w->end[2 * q + 1];
        const uint64_t *mq = w->masks + q * words;
        Py_ssize_t count = 0;
        for (Py_ssize_t j = 0; j < d; j++) { /* the features the step moved, branch-free */
            moved[count] = j;
            count += a[j] > 1e-6f;
        }
        Py_ssize_t low = q - w->lookback < 0 ? 0 : q - w->lookback;
        const __m256 lav = _mm256_set1_ps(la), fifth = _mm256_set1_ps(0.2f);
        const __m256d e0v = _mm256_set1_pd(e0), e1v = _mm256_set1_pd(e1);
        unsigned char found = 0;
        for (Py_ssize_t top = q; top > low && !found; top -= 8) {
            Py_ssize_t base = top - 8; /* lanes base..top-1 (those below `low` dead) */
            int live = base >= low ? 0xff : (0xff << (low - base)) & 0xff;
            /* lengths within a fifth of the longer (the pool's lengths have 8 NaN before) */
            __m256 lb = _mm256_loadu_ps(w->length + base);
            __m256 apart = _mm256_andnot_ps(sign, _mm256_sub_ps(lav, lb));
            __m256 most = _mm256_mul_ps(fifth, _mm256_max_ps(lav, lb));
            live &= _mm256_movemask_ps(_mm256_cmp_ps(apart, most, _CMP_LE_OQ));
            if (!live) continue;
            /* no shared query: neither end of the candidate is either end of this step */
            const double *ends = w->end + 2 * base;
            int shared = 0;
            for (int h = 0; h < 4; h++) {
                __m256d f = _mm256_loadu_pd(ends + 4 * h);
                __m256d same = _mm256_or_pd(_mm256_cmp_pd(f, e0v, _CMP_EQ_OQ),
                                            _mm256_cmp_pd(f, e1v, _CMP_EQ_OQ));
                shared |= _mm256_movemask_pd(same) << (4 * h);
            }
            shared = (shared | shared >> 1) & 0x5555; /* lane l: bit 2l, folded to bit l */
            shared = (shared | shared >> 1) & 0x3333;
            shared = (shared | shared >> 2) & 0x0f0f;
            shared = (shared | shared >> 4) & 0x00ff;
            live &= ~shared;
            float need[8], spare[8];
            int alive = 0;
            for (int l = 0; l < 8; l++) {
                need[l] = INFINITY;
                spare[l] = -1.0f;
            }
            for (int bits = live; bits; bits &= bits - 1) {
                int l = __builtin_ctz((unsigned)bits);
                Py_ssize_t c = base + l;
                int64_t movers = 0;
                for (Py_ssize_t k = 0; k < words; k++)
                    movers += __builtin_popcountll(mq[k] & w->masks[c * words + k]);
                if (movers < w->minimum) continue;
                if (need_of[movers] <= 0.0f) { /* nothing to agree on: a repeat */
                    found = 1;
                    break;
                }
                need[l] = need_of[movers];
                spare[l] = (float)movers - need_of[movers];
                alive |= 1 << l;
            }
            if (found || !alive) continue;
            const __m256 needs = _mm256_loadu_ps(need), spares = _mm256_loadu_ps(spare);
            const float *block = cols + 8 + base; /* base >= -7 */
            __m256 agree = _mm256_setzero_ps(), fails = agree;
            for (Py_ssize_t t = 0; t < count; t++) {
                Py_ssize_t j = moved[t];
                __m256 x = _mm256_set1_ps(a[j]);
                __m256 y = _mm256_loadu_ps(block + j * stride);
                __m256 larger = _mm256_max_ps(x, y);
                __m256 gap = _mm256_andnot_ps(sign, _mm256_sub_ps(x, y));
                __m256 close = _mm256_cmp_ps(gap, _mm256_mul_ps(share, larger), _CMP_LE_OQ);
                __m256 both = _mm256_cmp_ps(y, tiny, _CMP_GT_OQ);
                agree = _mm256_add_ps(agree, _mm256_and_ps(_mm256_and_ps(both, close), one));
                fails = _mm256_add_ps(fails, _mm256_and_ps(_mm256_andnot_ps(close, both), one));
                if ((t & 3) == 3 || t == count - 1) {
                    int hit = _mm256_movemask_ps(_mm256_cmp_ps(agree, needs, _CMP_GE_OQ)) & alive;
                    if (hit) {
                        found = 1;
                        break;
                    }
                    int open = _mm256_movemask_ps(_mm256_cmp_ps(fails, spares, _CMP_LE_OQ));
                    if (!(open & alive)) break;
                }
            }
        }
        w->hit[q - w->first] = found;
    }
}
#endif

/* Judge steps first..n-1 of a pool (masks built here); -1 when out of memory. Needs no GIL. */
static int run_steps(const float *steps, const float *length, const double *end, Py_ssize_t n,
                     Py_ssize_t d, Py_ssize_t first, Py_ssize_t minimum, Py_ssize_t lookback,
                     unsigned char *hit) {
    Py_ssize_t words = (d + 63) / 64;
    uint64_t *masks = calloc((size_t)(n * words) + 1, sizeof(uint64_t));
    if (masks == NULL) return -1;
    for (Py_ssize_t r = 0; r < n; r++) /* branch-free: the bits of the movers */
        for (Py_ssize_t k = 0; k < words; k++) {
            const float *row = steps + r * d + 64 * k;
            Py_ssize_t width = d - 64 * k < 64 ? d - 64 * k : 64;
            uint64_t bits = 0;
            for (Py_ssize_t j = 0; j < width; j++) bits |= (uint64_t)(row[j] > 1e-6f) << j;
            masks[r * words + k] = bits;
        }
    Steps w = {steps, length, end, masks, n, d, words, first, minimum, lookback, hit};
#ifdef HAVE_AVX
    if (isa() >= 1) {
        /* the steps feature-major, 8 zero floats before and after each row */
        float *cols = calloc((size_t)(d * (n + 16)) + 1, sizeof(float));
        float *need_of = malloc(((size_t)d + 1) * sizeof(float));
        Py_ssize_t *moved = malloc(((size_t)d + 1) * sizeof(Py_ssize_t));
        float *padded_lengths = malloc(((size_t)n + 8) * sizeof(float));
        double *padded_ends = malloc(((size_t)n + 8) * 2 * sizeof(double));
        if (cols == NULL || need_of == NULL || moved == NULL || padded_lengths == NULL ||
            padded_ends == NULL) {
            free(cols);
            free(need_of);
            free(moved);
            free(padded_lengths);
            free(padded_ends);
            free(masks);
            return -1;
        }
        /* lengths and ends with 8 NaN rows before: a block reaching below row 0 reads them */
        for (int i = 0; i < 8; i++) {
            padded_lengths[i] = NAN;
            padded_ends[2 * i] = padded_ends[2 * i + 1] = NAN;
        }
        memcpy(padded_lengths + 8, length, (size_t)n * sizeof(float));
        memcpy(padded_ends + 16, end, (size_t)n * 2 * sizeof(double));
        Steps lanes = w;
        lanes.length = padded_lengths + 8;
        lanes.end = padded_ends + 16;
        for (Py_ssize_t r = 0; r < n; r++)
            for (Py_ssize_t j = 0; j < d; j++) cols[j * (n + 16) + 8 + r] = steps[r * d + j];
        for (Py_ssize_t m = 0; m <= d; m++) { /* the least integer >= 0.8 m, as repeats() */
            double t = 0.8 * (double)m;
            int64_t need = (int64_t)t;
            if ((double)need < t) need++;
            need_of[m] = (float)need;
        }
        judge_lanes_avx(&lanes, cols, need_of, moved);
        free(cols);
        free(need_of);
        free(moved);
        free(padded_lengths);
        free(padded_ends);
    } else
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
    owner = malloc(2 * rows * sizeof(Py_ssize_t));
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
    /* fingerprints of the rows a step joins only (new queries with a nearest, and those
     * nearest), four rows at a time: each row's sum stays in order, the four interleave */
    Py_ssize_t need = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        if (index[i] >= 0) {
            owner[need++] = start + i;
            owner[need++] = (Py_ssize_t)index[i];
        }
    for (Py_ssize_t t = 0; t < need; t += 4) {
        Py_ssize_t r0 = owner[t], r1 = owner[t + 1 < need ? t + 1 : t];
        Py_ssize_t r2 = owner[t + 2 < need ? t + 2 : t], r3 = owner[t + 3 < need ? t + 3 : t];
        const float *q0 = queries + r0 * d, *q1 = queries + r1 * d, *q2 = queries + r2 * d,
                    *q3 = queries + r3 * d;
        double f0 = 0.0, f1 = 0.0, f2 = 0.0, f3 = 0.0;
        for (Py_ssize_t j = 0; j < d; j++) {
            f0 += (double)q0[j] * probe[j];
            f1 += (double)q1[j] * probe[j];
            f2 += (double)q2[j] * probe[j];
            f3 += (double)q3[j] * probe[j];
        }
        fp[r0] = f0;
        fp[r1] = f1;
        fp[r2] = f2;
        fp[r3] = f3;
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

#endif
