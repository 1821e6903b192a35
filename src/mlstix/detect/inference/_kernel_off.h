/* Part of _kernel.c (included there, not compiled on its own): the off-manifold test. */
#ifndef MLSTIX_KERNEL_OFF_H
#define MLSTIX_KERNEL_OFF_H

/* ---------------------------------------------------------------- off-manifold */

/* A point is off the manifold when every reference query of another owner is farther than
 * the fence: S(x, r) > limit for each, S the float64 sum of (x_j - r_j)^2 taken feature by
 * feature in order (IEEE comparison: a NaN sum is not beyond the fence). A point stops at the
 * first reference within the fence, and a reference is left as soon as its partial sum
 * passes the fence: for finite pairs each term is finite and >= 0 (float32 values squared in
 * float64 cannot overflow), so a partial sum never falls and one past the fence stays past
 * it. Pairs with a NaN or an infinity are summed to the end, one by one.
 *
 * The finite references are kept in groups of 8 side by side (feature-major, float64), so a
 * group's 8 in-order sums run in vector lanes: each lane is the scalar sum, bit for bit (a
 * subtraction, a multiplication and an addition per term, never fused: the build passes
 * -ffp-contract=off and the lanes are written without FMA). The search starts at the group
 * where the previous point found its reference: the verdict does not depend on the order. */

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

#define OFF_LANES 8

typedef struct {
    const double *groups; /* [group][feature][lane] */
    const int64_t *owners;  /* [group][lane] */
    const int64_t *present; /* [group][lane]: -1, or 0 for the lanes past the last query */
    Py_ssize_t count, d;
    double limit;
} OffGroups;

/* Whether one of the group's lanes of another owner than `owner` is within the fence. */
#define OFF_GROUP_BODY                                                                      \
    const double *g = w->groups + group * w->d * OFF_LANES;                                 \
    const int64_t *o = w->owners + group * OFF_LANES;                                       \
    v4i mine = {owner, owner, owner, owner};                                                \
    v4i oa, ob, pa, pb;                                                                     \
    memcpy(&oa, o, sizeof oa);                                                              \
    memcpy(&ob, o + 4, sizeof ob);                                                          \
    memcpy(&pa, w->present + group * OFF_LANES, sizeof pa);                                 \
    memcpy(&pb, w->present + group * OFF_LANES + 4, sizeof pb);                             \
    v4i live_a = (oa != mine) & pa, live_b = (ob != mine) & pb; /* -1: the lane counts */   \
    if (!((live_a[0] | live_a[1] | live_a[2] | live_a[3]) |                                 \
          (live_b[0] | live_b[1] | live_b[2] | live_b[3])))                                 \
        return 0;                                                                           \
    const v4d lim = {w->limit, w->limit, w->limit, w->limit};                               \
    v4d a = {0, 0, 0, 0}, b = a;                                                            \
    for (Py_ssize_t j = 0; j < w->d; j++) {                                                 \
        double xj = (double)x[j];                                                           \
        v4d xv = {xj, xj, xj, xj}, ra, rb;                                                  \
        memcpy(&ra, g + j * OFF_LANES, sizeof ra);                                          \
        memcpy(&rb, g + j * OFF_LANES + 4, sizeof rb);                                      \
        v4d ta = xv - ra, tb = xv - rb;                                                     \
        ta = ta * ta;                                                                       \
        tb = tb * tb;                                                                       \
        a = a + ta;                                                                         \
        b = b + tb;                                                                         \
        if ((j & 7) == 7) { /* every lane that counts past the fence: none can come back */ \
            v4i in_a = ~(a > lim) & live_a, in_b = ~(b > lim) & live_b;                     \
            if (!((in_a[0] | in_a[1] | in_a[2] | in_a[3]) |                                 \
                  (in_b[0] | in_b[1] | in_b[2] | in_b[3])))                                 \
                return 0;                                                                   \
        }                                                                                   \
    }                                                                                       \
    v4i in_a = ~(a > lim) & live_a, in_b = ~(b > lim) & live_b; /* (a NaN fence: in) */  \
    return ((in_a[0] | in_a[1] | in_a[2] | in_a[3]) | (in_b[0] | in_b[1] | in_b[2] | in_b[3])) != 0;

static int off_group(const OffGroups *w, Py_ssize_t group, const float *x, int64_t owner) {
    OFF_GROUP_BODY
}

#ifdef HAVE_AVX
__attribute__((target("avx"))) static int off_group_avx(const OffGroups *w, Py_ssize_t group,
                                                       const float *x, int64_t owner) {
    OFF_GROUP_BODY
}
#endif

/* The exact sum of one pair, to the end (NaN and infinities as IEEE makes them). */
static double off_exact(const float *x, const float *r, Py_ssize_t d) {
    double s = 0.0;
    for (Py_ssize_t j = 0; j < d; j++) {
        double t = (double)x[j] - (double)r[j];
        s += t * t;
    }
    return s;
}

static int row_finite(const float *x, Py_ssize_t d) {
    int ok = 1;
    for (Py_ssize_t j = 0; j < d; j++) ok &= fabsf(x[j]) <= FLT_MAX;
    return ok;
}

static PyObject *kernel_off(PyObject *self, PyObject *args) {
    PyObject *o[5];
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOdO:off", &o[0], &o[1], &o[2], &o[3], &limit, &o[4]))
        return NULL;
    static const char *names[5] = {"points", "owners", "reference", "reference_owners", "out"};
    static const char kinds[5] = {'f', 'q', 'f', 'q', '?'};
    static const int dims[5] = {2, 1, 2, 1, 1};
    Py_buffer b[5];
    int taken = 0;
    PyObject *result = NULL;
    double *groups = NULL;
    int64_t *group_owners = NULL;
    Py_ssize_t *odd = NULL;
    for (; taken < 5; taken++)
        if (take(o[taken], &b[taken], names[taken], kinds[taken], dims[taken], taken == 4) < 0)
            goto out;
    Py_ssize_t n = b[0].shape[0], d = b[0].shape[1], m = b[2].shape[0];
    if (b[2].shape[1] != d || b[1].shape[0] != n || b[4].shape[0] != n || b[3].shape[0] != m) {
        PyErr_SetString(PyExc_ValueError,
                        "points and reference need the same columns; owners and out one per "
                        "point, reference_owners one per reference query");
        goto out;
    }
    const float *points = b[0].buf, *reference = b[2].buf;
    const int64_t *owners = b[1].buf, *ref_owners = b[3].buf;
    unsigned char *far = b[4].buf;
    Py_ssize_t count = (m + OFF_LANES - 1) / OFF_LANES;
    groups = PyMem_Calloc((size_t)(count * d * OFF_LANES) + 1, sizeof(double));
    group_owners = PyMem_Calloc(2 * (size_t)(count * OFF_LANES) + 1, sizeof(int64_t));
    odd = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));
    if (groups == NULL || group_owners == NULL || odd == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS;
    /* finite references side by side in groups; the others (odd) summed one by one */
    Py_ssize_t lane = 0, odds = 0;
    for (Py_ssize_t r = 0; r < m; r++) {
        const float *ref = reference + r * d;
        if (!row_finite(ref, d)) {
            odd[odds++] = r;
            continue;
        }
        double *g = groups + (lane / OFF_LANES) * d * OFF_LANES + lane % OFF_LANES;
        for (Py_ssize_t j = 0; j < d; j++) g[j * OFF_LANES] = (double)ref[j];
        group_owners[lane] = ref_owners[r];
        group_owners[count * OFF_LANES + lane++] = -1; /* present (the rest stay 0) */
    }
    Py_ssize_t used = (lane + OFF_LANES - 1) / OFF_LANES;
    OffGroups w = {groups, group_owners, group_owners + count * OFF_LANES, used, d, limit};
    int avx = 0;
#ifdef HAVE_AVX
    avx = isa() >= 1;
#endif
    Py_ssize_t last = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *x = points + i * d;
        int64_t owner = owners[i];
        int near = 0;
        if (!row_finite(x, d)) { /* every pair to the end */
            for (Py_ssize_t r = 0; r < m && !near; r++)
                near = ref_owners[r] != owner && !(off_exact(x, reference + r * d, d) > limit);
            far[i] = (unsigned char)!near;
            continue;
        }
        for (Py_ssize_t t = 0; t < odds && !near; t++)
            near = ref_owners[odd[t]] != owner &&
                   !(off_exact(x, reference + odd[t] * d, d) > limit);
        for (Py_ssize_t t = 0; t < used && !near; t++) {
            Py_ssize_t group = last + t < used ? last + t : last + t - used;
#ifdef HAVE_AVX
            near = avx ? off_group_avx(&w, group, x, owner) : off_group(&w, group, x, owner);
#else
            near = off_group(&w, group, x, owner);
#endif
            if (near) last = group;
        }
        far[i] = (unsigned char)!near;
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
out:
    PyMem_Free(groups);
    PyMem_Free(group_owners);
    PyMem_Free(odd);
    for (int i = 0; i < taken; i++) PyBuffer_Release(&b[i]);
    return result;
}

#endif
