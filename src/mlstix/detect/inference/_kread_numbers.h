/* The columnar reader's number readers (included by _kread.c): one JSON number, and one value
 * of a CSV row of them, as _kread.c's header describes (Clinger's exact case inline, CPython's
 * PyOS_string_to_double beyond it). */

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
static __attribute__((noinline)) int read_number_general(const char **at, const char *end,
                                                         double *out) {
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

#if defined(__SSE2__)
#include <emmintrin.h>

/* A row of whole numbers of one to three digits (no sign, no leading zero, no blank), such as
 * pixel values, all at once: the commas found 16 bytes at a time, each value between two of
 * them taken by its length without a branch on it. The count of values stored into out (as
 * float32, their exact value, as row_value and the cast make of them), or -1 when the row is
 * not such a row or holds more than `room` values (row_value then reads it). The two bytes
 * after `end` must be readable (a JSON string's closing quote and what follows it). */
static Py_ssize_t small_whole_numbers(const char *p, const char *end, float *out,
                                      Py_ssize_t room) {
    const __m128i zero = _mm_set1_epi8('0' - 1 - 128), nine = _mm_set1_epi8('9' - 128),
                  flip = _mm_set1_epi8((char)0x80), comma = _mm_set1_epi8(',');
    Py_ssize_t count = 0, size = end - p;
    const char *value = p;
    for (Py_ssize_t at = 0; at < size; at += 16) {
        unsigned valid, commas;
        if (size - at >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + at));
            __m128i shifted = _mm_xor_si128(v, flip); /* unsigned order as signed */
            __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(shifted, zero),
                                          _mm_cmpgt_epi8(_mm_add_epi8(nine, _mm_set1_epi8(1)),
                                                         shifted));
            __m128i is_comma = _mm_cmpeq_epi8(v, comma);
            valid = (unsigned)_mm_movemask_epi8(_mm_or_si128(digit, is_comma));
            commas = (unsigned)_mm_movemask_epi8(is_comma);
            if (valid != 0xFFFFu) return -1;
        } else {
            valid = commas = 0;
            for (Py_ssize_t i = 0; i < size - at; i++) {
                char c = p[at + i];
                if (c == ',') commas |= 1u << i;
                else if (!is_digit(c)) return -1;
            }
        }
        while (commas) {
            const char *stop = p + at + __builtin_ctz(commas);
            commas &= commas - 1;
            Py_ssize_t length = stop - value;
            if (length < 1 || length > 3 || (length > 1 && *value == '0') || count >= room)
                return -1;
            unsigned a = (unsigned)(value[0] - '0'), b = (unsigned)(value[1] - '0'),
                     c = (unsigned)(value[2] - '0');
            unsigned two = a * 10 + b, three = two * 10 + c;
            out[count++] = (float)(length == 1 ? a : length == 2 ? two : three);
            value = stop + 1;
        }
    }
    Py_ssize_t length = end - value; /* the last value */
    if (length < 1 || length > 3 || (length > 1 && *value == '0') || count >= room) return -1;
    unsigned a = (unsigned)(value[0] - '0'), b = (unsigned)(value[1] - '0'),
             c = (unsigned)(value[2] - '0');
    unsigned two = a * 10 + b, three = two * 10 + c;
    out[count++] = (float)(length == 1 ? a : length == 2 ? two : three);
    return count;
}
#endif
