/* Part of _kernel.c (included by _kernel_nearest.h, not compiled on its own): the nearest
 * earlier query ranked with eight candidates side by side (AVX).
 *
 * The pool is centred on the first new query (near-duplicates then have small norms and a
 * tight bound) and kept feature-major, so one broadcast of -2 x'_j and one multiply-add serve
 * eight candidates: each candidate's score |c'|^2 - 2 x'.c' comes out in a lane, with no sum
 * across a vector per candidate. The score plus |x'|^2 is |x - c|^2 within 2 (d + 4) u
 * (|x'| + |c'|)^2 (u = 2^-24; the products and sums in any order, Higham, Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., 3.1, and the rounding of the centring), so the
 * nearest is among the candidates whose score is within twice that of the lowest (twice
 * again, to spare, with `reach` the largest |x'| + |c'| of the window); those are summed
 * exactly, feature by feature in order, as before. Rows with a NaN or an infinity score +inf
 * (their norm is +inf, their columns 0) and are nobody's nearest. */
#ifndef MLSTIX_KERNEL_LANES_H
#define MLSTIX_KERNEL_LANES_H

#ifdef HAVE_AVX

typedef struct {
    const float *cols;  /* [feature][column], `stride` floats a feature, zero past the pool */
    const float *norms; /* per pool row |c'|^2, +inf where not finite and past the pool */
    const float *roots; /* per pool row |c'| (0 where not finite and past the pool) */
    float *twice;       /* 4 d floats: -2 x' of the four queries being ranked */
    float *rank;        /* 4 rooms of scores */
    Py_ssize_t stride, room;
} Lanes;

/* Four queries p0..p0+3 at once (the last repeated when fewer are left): each candidate
 * vector is loaded once for the four. The scores of candidates base..p0+3 (base = the first
 * query's low rounded down to 8) go into rank[q * L->room + (c - base)], +inf outside query
 * q's own window low_q..p0+q-1; per query the lowest into top[q] and the largest |c'| of its
 * window into widest[q]. */
#define LANES_RANK4(MADD)                                                                   \
    const Py_ssize_t d = w->d, stride = L->stride, room = L->room;                          \
    const float *cols = L->cols;                                                            \
    Py_ssize_t last = p0 + 3 < w->n ? p0 + 3 : w->n - 1;                                    \
    Py_ssize_t base = low[0] & ~(Py_ssize_t)7, vectors = (last - base + 7) / 8;             \
    const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);                            \
    const __m256 inf = _mm256_set1_ps(INFINITY);                                            \
    float *twice = L->twice;                                                                \
    for (int q = 0; q < 4; q++) {                                                           \
        Py_ssize_t p = p0 + q <= last ? p0 + q : last;                                      \
        for (Py_ssize_t j = 0; j < d; j++) twice[q * d + j] = -2.0f * cols[j * stride + p]; \
    }                                                                                       \
    __m256 least[4] = {inf, inf, inf, inf}, most[4];                                        \
    __m256 lows[4], highs[4];                                                               \
    for (int q = 0; q < 4; q++) {                                                           \
        most[q] = _mm256_setzero_ps();                                                      \
        lows[q] = _mm256_set1_ps((float)low[q]);                                            \
        highs[q] = _mm256_set1_ps((float)(p0 + q));                                         \
    }                                                                                       \
    for (Py_ssize_t v = 0; v < vectors; v += 2) {                                           \
        const Py_ssize_t at = base + 8 * v;                                                 \
        __m256 n0 = _mm256_loadu_ps(L->norms + at), n1 = _mm256_loadu_ps(L->norms + at + 8); \
        __m256 a00 = n0, a01 = n1, a10 = n0, a11 = n1, a20 = n0, a21 = n1, a30 = n0, a31 = n1; \
        const float *col = cols + at;                                                       \
        for (Py_ssize_t j = 0; j < d; j++, col += stride) {                                 \
            __m256 c0 = _mm256_loadu_ps(col), c1 = _mm256_loadu_ps(col + 8);                \
            __m256 x0 = _mm256_broadcast_ss(twice + j);                                     \
            __m256 x1 = _mm256_broadcast_ss(twice + d + j);                                 \
            __m256 x2 = _mm256_broadcast_ss(twice + 2 * d + j);                             \
            __m256 x3 = _mm256_broadcast_ss(twice + 3 * d + j);                             \
            a00 = MADD(x0, c0, a00);                                                        \
            a01 = MADD(x0, c1, a01);                                                        \
            a10 = MADD(x1, c0, a10);                                                        \
            a11 = MADD(x1, c1, a11);                                                        \
            a20 = MADD(x2, c0, a20);                                                        \
            a21 = MADD(x2, c1, a21);                                                        \
            a30 = MADD(x3, c0, a30);                                                        \
            a31 = MADD(x3, c1, a31);                                                        \
        }                                                                                   \
        __m256 got[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};                \
        for (int i = 0; i < 2 && v + i < vectors; i++) {                                    \
            __m256 index = _mm256_add_ps(lane, _mm256_set1_ps((float)(at + 8 * i)));        \
            __m256 root = _mm256_loadu_ps(L->roots + at + 8 * i);                           \
            for (int q = 0; q < 4; q++) {                                                   \
                __m256 in = _mm256_and_ps(_mm256_cmp_ps(index, lows[q], _CMP_GE_OQ),        \
                                          _mm256_cmp_ps(index, highs[q], _CMP_LT_OQ));      \
                __m256 score = _mm256_blendv_ps(inf, got[q][i], in);                        \
                _mm256_storeu_ps(rank + q * room + 8 * (v + i), score);                     \
                least[q] = _mm256_min_ps(score, least[q]); /* (a NaN never wins) */         \
                most[q] = _mm256_max_ps(most[q], _mm256_and_ps(root, in));                  \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    for (int q = 0; q < 4; q++) {                                                           \
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(most[q]),                              \
                              _mm256_extractf128_ps(most[q], 1));                           \
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));                                             \
        widest[q] = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));                  \
        __m128 m = _mm_min_ps(_mm256_castps256_ps128(least[q]),                             \
                              _mm256_extractf128_ps(least[q], 1));                          \
        m = _mm_min_ps(m, _mm_movehl_ps(m, m));                                             \
        top[q] = _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));                     \
    }                                                                                       \
    return base;

#define MADD_AVX(x, c, a) _mm256_add_ps(a, _mm256_mul_ps(x, c))
#define MADD_FMA(x, c, a) _mm256_fmadd_ps(x, c, a)

__attribute__((target("avx"))) static Py_ssize_t lanes_rank_avx(const Nearest *w,
                                                                 const Lanes *L, Py_ssize_t p0,
                                                                 const Py_ssize_t *low,
                                                                 float *rank, float *top,
                                                                 float *widest) {
    LANES_RANK4(MADD_AVX)
}

__attribute__((target("avx,fma"))) static Py_ssize_t lanes_rank_fma(const Nearest *w,
                                                                     const Lanes *L,
                                                                     Py_ssize_t p0,
                                                                     const Py_ssize_t *low,
                                                                     float *rank, float *top,
                                                                     float *widest) {
    LANES_RANK4(MADD_FMA)
}

/* nearest_one for queries p0..p0+3 (those below n) of a pool without wide values. */
static void nearest_lanes(const Nearest *w, const Lanes *L, Py_ssize_t p0) {
    const Py_ssize_t d = w->d;
    Py_ssize_t low[4];
    for (int q = 0; q < 4; q++) {
        Py_ssize_t p = p0 + q;
        low[q] = p - w->window < 0 ? 0 : p - w->window;
    }
    float top[4], widest[4];
    Py_ssize_t base = w->isa >= 2 ? lanes_rank_fma(w, L, p0, low, L->rank, top, widest)
                                  : lanes_rank_avx(w, L, p0, low, L->rank, top, widest);
    for (int q = 0; q < 4 && p0 + q < w->n; q++) {
        const Py_ssize_t p = p0 + q;
        const float *x = w->pool + p * d, *rank = L->rank + q * L->room;
        int64_t found = -1;
        double best = INFINITY;
        if (!w->finite[p] || low[q] >= p || !(top[q] < INFINITY)) goto done;
        double reach = (double)L->roots[p] + (double)widest[q];
        double slack = 8.0 * (double)(d + 4) * 0x1p-24, tiny = (double)(4 * d + 16) * 0x1p-149;
        double limit = (double)top[q] + slack * reach * reach + tiny;
        /* (double)r <= limit exactly when r <= the largest float not above limit */
        float below = (float)limit;
        if ((double)below > limit) below = nextafterf(below, -INFINITY);
        for (Py_ssize_t c = low[q]; c < p; c++) {
            if (!(rank[c - base] <= below)) continue;
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
}

/* The centred, feature-major pool for nearest_lanes; -1 when out of memory. `buffer` gets
 * the one allocation to free. */
static int lanes_make(const Nearest *w, Lanes *L, float **buffer) {
    const Py_ssize_t n = w->n, d = w->d, stride = n + 40; /* room for 2 vectors past p */
    const Py_ssize_t room = (w->window < n ? w->window : n) + 32;
    float *all = calloc((size_t)(stride * (d + 2) + 4 * d + 4 * room) + 1, sizeof(float));
    *buffer = all;
    if (all == NULL) return -1;
    float *cols = all, *norms = all + stride * d, *roots = norms + stride;
    const float *centre = w->finite[w->start] ? w->pool + w->start * d : NULL;
    for (Py_ssize_t r = 0; r < stride; r++) norms[r] = INFINITY;
    for (Py_ssize_t r = 0; r < n; r++) {
        if (!w->finite[r]) continue; /* columns 0, norm +inf, root 0 */
        const float *row = w->pool + r * d;
        float square = 0.0f;
        for (Py_ssize_t j = 0; j < d; j++) {
            float v = centre ? row[j] - centre[j] : row[j];
            cols[j * stride + r] = v;
            square += v * v;
        }
        norms[r] = square;
        roots[r] = sqrtf(square);
    }
    L->cols = cols;
    L->norms = norms;
    L->roots = roots;
    L->twice = roots + stride;
    L->rank = L->twice + 4 * d;
    L->stride = stride;
    L->room = room;
    return 0;
}

#endif
#endif
