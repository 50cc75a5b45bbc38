/* Per-step integer kernels of the wavefront coding loop (licodec/codec/steps.py).
 *
 * Each function does in one pass what the PyTorch path of fixed.py / engine.py does in
 * a dozen small tensor operations, with the same integer arithmetic (int64 here, exact
 * integer-valued float64 there), so both paths give identical values; the tests compare
 * them. The int8 matrix products stay in PyTorch (torch._int_mm). Loaded with ctypes;
 * the module init below only makes the file a valid extension module for setuptools.
 */
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ACT_BITS 12
#define ACT_LIMIT ((1LL << 23) - (1LL << 16))
#define LEAKY_INT 655 /* round(0.01 * 2**16) */
#define LEAKY_BITS 16

/* The interface's version: lc_constants reports it, steps.py refuses a build of another. */
#define KERNEL_ABI 2

/* Loops the compiler also builds for AVX-512 (x86-64-v4) and AVX2 (x86-64-v3), the best
 * the CPU has chosen when the library loads. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && __GNUC__ >= 11  /* ifunc: glibc */
#define LC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LC_CLONES
#endif

static const int64_t BALANCED[4] = {0, 127, 32639, 8355711}; /* largest |a| with d digits: 127 * (256**d - 1) / 255 */

static inline int64_t clamp_act(int64_t a) {
    return a > ACT_LIMIT ? ACT_LIMIT : (a < -ACT_LIMIT ? -ACT_LIMIT : a);
}

/* floor(a / 2**s) for s >= 0 (gcc: >> on negative int64 is arithmetic) */
static inline int64_t floor_shift(int64_t a, int s) { return a >> s; }

/* Gather the context rows of n positions: taps (n, T) padded-plane indices; planes
 * (2, P, M) int8 digit planes (low, high); flags (P) high digit nonzero. Writes rows
 * (d * n, T * M): block 0 the low digits, block 1 (if any tap has a high digit) the
 * high ones. Returns d (1 or 2). */
int64_t lc_gather(const int8_t *planes, const uint8_t *flags, int64_t P, int64_t M,
                  const int64_t *taps, int64_t n, int64_t T, int8_t *rows) {
    int64_t d = 1;
    for (int64_t k = 0; k < n * T; k++)
        if (flags[taps[k]]) { d = 2; break; }
    for (int64_t j = 0; j < d; j++) {
        const int8_t *plane = planes + j * P * M;
        int8_t *out = rows + j * n * T * M;
        for (int64_t k = 0; k < n * T; k++)
            memcpy(out + k * M, plane + taps[k] * M, (size_t)M);
    }
    return d;
}

/* Finish a 1x1 fixed-point layer and prepare the next one's input.
 *
 * p (d * n, O) int32: digit products (block j for digit j). acc = base + 2**in_shift *
 * sum_j 256**j p_j, base = bias[o] (+ extra[rows[i], o] when extra is given: a
 * precomputed share of the sum). The activation is clamp(floor(acc / 2**shifts[o]))
 * followed by act (0 none, 1 ReLU, 2 LeakyReLU(0.01)).
 *
 * next_shift >= 0: the activation is rounded to the next layer's input grid,
 * floor((a + 2**(s-1)) / 2**s) (or a itself for s = 0), and split into balanced
 * base-256 digits written to digits (d' * n, O) int8; returns d' (1..3), or -1 if out
 * of range. next_shift < 0: the activation is written to out (n, O) int64; returns 0.
 * tmp: n * O int64 scratch. Each pass over a row is a plain loop over o (compiled for
 * AVX-512 too where the compiler can: LC_CLONES), the same integers as one pass. */
LC_CLONES
int64_t lc_layer(const int32_t *p, int64_t d, int64_t n, int64_t O, int64_t in_shift,
                 const int64_t *bias, const int64_t *shifts,
                 const int64_t *extra, const int64_t *rows, int64_t act, int64_t next_shift,
                 int64_t *tmp, int8_t *digits, int64_t *out) {
    int64_t lo = 0, hi = 0;
    int64_t *dst = next_shift < 0 ? out : tmp;
    const int64_t scale = 1LL << in_shift;
    const int64_t half = next_shift > 0 ? (1LL << (next_shift - 1)) : 0, ns = next_shift > 0 ? next_shift : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t *row = dst + i * O;
        const int32_t *p0 = p + i * O;
        for (int64_t o = 0; o < O; o++) row[o] = p0[o];
        for (int64_t j = 1; j < d; j++) {
            const int32_t *pj = p + (j * n + i) * O;
            const int64_t f = 1LL << (8 * j);
            for (int64_t o = 0; o < O; o++) row[o] += (int64_t)pj[o] * f;
        }
        const int64_t *ex = extra ? extra + rows[i] * O : NULL;
        if (ex)
            for (int64_t o = 0; o < O; o++) row[o] = bias[o] + row[o] * scale + ex[o];
        else
            for (int64_t o = 0; o < O; o++) row[o] = bias[o] + row[o] * scale;
        for (int64_t o = 0; o < O; o++) row[o] = clamp_act(row[o] >> shifts[o]);
        if (act == 1)
            for (int64_t o = 0; o < O; o++) row[o] = row[o] > 0 ? row[o] : 0;
        else if (act == 2)
            for (int64_t o = 0; o < O; o++) {
                int64_t b = (row[o] * LEAKY_INT) >> LEAKY_BITS;
                row[o] = row[o] > b ? row[o] : b;
            }
        for (int64_t o = 0; o < O; o++) {
            int64_t a = (row[o] + half) >> ns;
            row[o] = a;
            lo = a < lo ? a : lo;
            hi = a > hi ? a : hi;
        }
    }
    if (next_shift < 0) return 0;
    int64_t m = -lo > hi ? -lo : hi, dn = 1;
    while (dn <= 3 && m > BALANCED[dn]) dn++;
    if (dn > 3) return -1;
    for (int64_t k = 0; k < n * O; k++) {
        int64_t rest = tmp[k];
        for (int64_t j = 0; j < dn - 1; j++) {
            int64_t h = floor_shift(rest + 128, 8);
            digits[j * n * O + k] = (int8_t)(rest - 256 * h);
            rest = h;
        }
        digits[(dn - 1) * n * O + k] = (int8_t)rest;
    }
    return dn;
}

/* Gaussian entropy parameters (n, P) int64 -> scale-table index (n, M) and mu (n, M).
 * With means, P = 2M: sigma = params[:, :M], mu = params[:, M:]; else P = M, mu = 0.
 * sigma is lower-bounded by sigma_min; index = #{thresholds <= sigma} (ascending
 * thresholds): counted over all of them for a table of up to 128 scales (a plain loop
 * over the row, which vectorises), else by binary search. */
LC_CLONES
void lc_gaussian(const int64_t *params, int64_t n, int64_t M, int64_t use_means, int64_t sigma_min,
                 const int64_t *thresholds, int64_t T, int64_t *index, int64_t *mu) {
    int64_t P = use_means ? 2 * M : M;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *sig = params + i * P;
        int64_t *idx = index + i * M;
        if (T <= 128) {
            for (int64_t c = 0; c < M; c++) idx[c] = 0;
            for (int64_t t = 0; t < T; t++) {
                const int64_t th = thresholds[t];
                for (int64_t c = 0; c < M; c++) {
                    int64_t s = sig[c] < sigma_min ? sigma_min : sig[c];
                    idx[c] += th <= s;
                }
            }
        } else {
            for (int64_t c = 0; c < M; c++) {
                int64_t s = sig[c] < sigma_min ? sigma_min : sig[c];
                int64_t a = 0, b = T; /* first threshold > s */
                while (a < b) {
                    int64_t h = (a + b) >> 1;
                    if (thresholds[h] <= s) a = h + 1; else b = h;
                }
                idx[c] = a;
            }
        }
        for (int64_t c = 0; c < M; c++) mu[i * M + c] = use_means ? sig[M + c] : 0;
    }
}

/* Decoded symbols around mu -> y_hat = sym * 2**ACT_BITS + mu, written to rows here[i] of
 * y_hat (H * W, M) float64, and to the context planes at padded positions flat[i]: the
 * value rounded to the context grid (2**ctx_shift coarser), as two balanced int8 digits,
 * with the position's high-digit flag. Returns -1 if a symbol is out of range. */
int64_t lc_store(const int64_t *sym, const int64_t *mu, int64_t n, int64_t M,
                 const int64_t *here, const int64_t *flat, int64_t ctx_shift,
                 double *y_hat, int8_t *planes, uint8_t *flags, int64_t P) {
    for (int64_t k = 0; k < n * M; k++)
        if (sym[k] >= (1LL << 30) || sym[k] <= -(1LL << 30)) return -1;
    for (int64_t i = 0; i < n; i++) {
        double *y = y_hat + here[i] * M;
        int8_t *low = planes + flat[i] * M, *high = planes + (P + flat[i]) * M;
        uint8_t any = 0;
        for (int64_t c = 0; c < M; c++) {
            int64_t v = sym[i * M + c] * (1LL << ACT_BITS) + mu[i * M + c];
            y[c] = (double)v;
            int64_t q = clamp_act(v);
            if (ctx_shift > 0) q = floor_shift(q + (1LL << (ctx_shift - 1)), (int)ctx_shift);
            int64_t h = floor_shift(q + 128, 8);
            low[c] = (int8_t)(q - 256 * h);
            high[c] = (int8_t)h;
            any |= (h != 0);
        }
        flags[flat[i]] = any;
    }
    return 0;
}

/* Exact int8 matrix product: out (n, O) int32 = a (n, K) int8 @ W, given wt = W transposed
 * as int16 (O, Kp), Kp = K rounded up to a multiple of 16, zero-padded; a16 (n, Kp) int16
 * is scratch. Every product of an int8 digit (|a| <= 128) and an int8 weight (|w| <= 127)
 * and every sum (|sum| <= K * 128 * 127 < 2**31 for K < 2**17) is an exact int32, in any
 * order: the same integers as torch._int_mm and fixed.py's float32 blocks. With AVX2
 * (vpmaddwd: two int16 products summed into int32) where the CPU has it, plain C
 * elsewhere. Tiles: 32 rows (in L2), two columns of wt (in L1) against four rows at a
 * time; the weights pass once per tile, not once per row. simd = 0: plain C even where
 * AVX2 is (for the tests). Returns 0. */
#define MM_TILE 32

static void mm_plain(const int16_t *a, const int16_t *wt, int32_t *out, int64_t n, int64_t kp, int64_t o) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < o; j++) {
            const int16_t *x = a + i * kp, *w = wt + j * kp;
            int32_t s = 0;
            for (int64_t k = 0; k < kp; k++) s += (int32_t)x[k] * w[k];
            out[i * o + j] = s;
        }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LC_AVX2 1

__attribute__((target("avx2"))) static inline int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#define LD(ptr) _mm256_loadu_si256((const __m256i *)(ptr))
#define MADD(acc, x, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))

__attribute__((target("avx2"))) static void mm_avx2(const int16_t *a, const int16_t *wt, int32_t *out,
                                                    int64_t n, int64_t kp, int64_t o) {
    for (int64_t t = 0; t < n; t += MM_TILE) {
        int64_t t_end = t + MM_TILE < n ? t + MM_TILE : n;
        for (int64_t j = 0; j < o; j += 2) {
            int64_t pair = j + 1 < o;
            const int16_t *w0 = wt + j * kp, *w1 = wt + (j + pair) * kp; /* a lone last column twice */
            int64_t i = t;
            for (; i + 4 <= t_end; i += 4) {
                const int16_t *x0 = a + i * kp, *x1 = x0 + kp, *x2 = x1 + kp, *x3 = x2 + kp;
                __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
                for (int64_t k = 0; k < kp; k += 16) {
                    __m256i u = LD(w0 + k), v = LD(w1 + k), x;
                    x = LD(x0 + k); MADD(s00, x, u); MADD(s01, x, v);
                    x = LD(x1 + k); MADD(s10, x, u); MADD(s11, x, v);
                    x = LD(x2 + k); MADD(s20, x, u); MADD(s21, x, v);
                    x = LD(x3 + k); MADD(s30, x, u); MADD(s31, x, v);
                }
                out[i * o + j] = hsum8(s00); out[(i + 1) * o + j] = hsum8(s10);
                out[(i + 2) * o + j] = hsum8(s20); out[(i + 3) * o + j] = hsum8(s30);
                if (pair) {
                    out[i * o + j + 1] = hsum8(s01); out[(i + 1) * o + j + 1] = hsum8(s11);
                    out[(i + 2) * o + j + 1] = hsum8(s21); out[(i + 3) * o + j + 1] = hsum8(s31);
                }
            }
            for (; i < t_end; i++) {
                const int16_t *x0 = a + i * kp;
                __m256i s0 = _mm256_setzero_si256(), s1 = s0;
                for (int64_t k = 0; k < kp; k += 16) {
                    __m256i x = LD(x0 + k);
                    MADD(s0, x, LD(w0 + k)); MADD(s1, x, LD(w1 + k));
                }
                out[i * o + j] = hsum8(s0);
                if (pair) out[i * o + j + 1] = hsum8(s1);
            }
        }
    }
}
#endif

int64_t lc_mm(const int8_t *a, int64_t n, int64_t K, const int16_t *wt, int64_t kp, int64_t o,
              int16_t *a16, int32_t *out, int64_t simd) {
    for (int64_t i = 0; i < n; i++) {
        int16_t *r = a16 + i * kp;
        for (int64_t k = 0; k < K; k++) r[k] = a[i * K + k];
        for (int64_t k = K; k < kp; k++) r[k] = 0;
    }
#ifdef LC_AVX2
    if (simd && __builtin_cpu_supports("avx2")) {
        mm_avx2(a16, wt, out, n, kp, o);
        return 0;
    }
#endif
    mm_plain(a16, wt, out, n, kp, o);
    return 0;
}

/* The arithmetic constants above, for steps.py to check against fixed.py's at load time:
 * ACT_BITS, ACT_LIMIT, LEAKY_INT, LEAKY_BITS, BALANCED[1..3]. */
void lc_constants(int64_t *out) {
    out[0] = ACT_BITS;
    out[1] = ACT_LIMIT;
    out[2] = LEAKY_INT;
    out[3] = LEAKY_BITS;
    out[4] = BALANCED[1];
    out[5] = BALANCED[2];
    out[6] = BALANCED[3];
    out[7] = KERNEL_ABI;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_steps", "ctypes-loaded kernels (see steps.py)", -1, NULL};

PyMODINIT_FUNC PyInit__steps(void) { return PyModule_Create(&module); }
