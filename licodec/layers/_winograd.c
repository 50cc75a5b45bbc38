/* Winograd F(4x4, 3x3) input and output transforms (licodec/layers/winograd.py).
 *
 * Each fuses what the PyTorch form does in a copy, a matrix product and a scatter: the
 * input transform reads 6x6 tiles straight from the padded (rows, cols, K) input and writes
 * V (36, tiles, K); the output transform reads the products M (36, tiles, K), applies
 * A^T m A and writes each 4x4 block where it belongs in the output (strides
 * given by the caller: a pixel shuffle for a transposed convolution). Channels are the
 * innermost loop (contiguous on both sides), in chunks the compiler vectorises. A call
 * covers tiles [first, last) of a band, so callers may split a band between threads.
 * Loaded with ctypes; float32 in the same order of operations as written, so the result
 * does not depend on how the tiles are split.
 */
#include <Python.h>
#include <stdint.h>

/* Eight channels at a time (GCC's vector extension: one AVX register, or two SSE ones). */
typedef float v8 __attribute__((vector_size(32), aligned(4)));

/* AVX2 + FMA where the CPU has them (chosen at load time), SSE2 elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LC_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define LC_CLONES
#endif

/* B^T applied to six values. */
#define BT6(o, d) do {                                                                  \
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                            \
    o[1] = -4.0f * d[1] - 4.0f * d[2] + d[3] + d[4];                                    \
    o[2] = 4.0f * d[1] - 4.0f * d[2] - d[3] + d[4];                                     \
    o[3] = -2.0f * d[1] - d[2] + 2.0f * d[3] + d[4];                                    \
    o[4] = 2.0f * d[1] - d[2] - 2.0f * d[3] + d[4];                                     \
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];                                            \
} while (0)

/* A^T applied to six values. */
#define AT6(o, m) do {                                                                  \
    v8 a_ = m[1] + m[2], b_ = m[1] - m[2], c_ = m[3] + m[4], e_ = m[3] - m[4];           \
    o[0] = m[0] + a_ + c_;                                                              \
    o[1] = b_ + 2.0f * e_;                                                              \
    o[2] = a_ + 4.0f * c_;                                                              \
    o[3] = b_ + 8.0f * e_ + m[5];                                                       \
} while (0)

/* pad: (rows, cols, K) float32, K a multiple of 8; tile (r, c) of the band reads rows
 * 4(t0 + r) .. +6, columns 4c .. +6. V: (36, ntiles, K), point x*6 + y. Tiles [first, last). */
LC_CLONES void lc_wino_in(const float *pad, int64_t cols, int64_t K, int64_t t0, int64_t tw, int64_t ntiles,
                          int64_t first, int64_t last, float *V) {
    for (int64_t tile = first; tile < last; tile++) {
        int64_t r = t0 + tile / tw, c = tile % tw;
        const float *src = pad + (4 * r * cols + 4 * c) * K;
        float *dst = V + tile * K;
        for (int64_t k = 0; k < K; k += 8) {
            v8 d[6][6], t[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) d[i][j] = *(const v8 *)(src + (i * cols + j) * K + k);
            for (int i = 0; i < 6; i++) BT6(t[i], d[i]);  /* along the columns: t[i][y] */
            for (int y = 0; y < 6; y++) {                  /* then the rows: u[x][y] */
                v8 col[6], u[6];
                for (int i = 0; i < 6; i++) col[i] = t[i][y];
                BT6(u, col);
                for (int x = 0; x < 6; x++) *(v8 *)(dst + (x * 6 + y) * ntiles * K + k) = u[x];
            }
        }
    }
}

/* M: (36, ntiles, K). Output element (tile (r, c) of the band, u, v, channel k) goes to
 * out + (t0 + r) * s_r + u * s_u + c * s_c + v * s_v + koff[k / G] + k % G: G channels per
 * group (a multiple of 8), K / G groups (the pixel-shuffle phases of a transposed
 * convolution, else one). */
LC_CLONES void lc_wino_out(const float *M, int64_t K, int64_t t0, int64_t tw, int64_t ntiles, int64_t first, int64_t last,
                           float *out, int64_t s_r, int64_t s_u, int64_t s_c, int64_t s_v, int64_t G, const int64_t *koff) {
    for (int64_t tile = first; tile < last; tile++) {
        int64_t r = t0 + tile / tw, c = tile % tw;
        const float *src = M + tile * K;
        for (int64_t k = 0; k < K; k += 8) {
            v8 m[6][6], t[6][4];
            for (int x = 0; x < 6; x++)
                for (int y = 0; y < 6; y++) m[x][y] = *(const v8 *)(src + (x * 6 + y) * ntiles * K + k);
            for (int x = 0; x < 6; x++) AT6(t[x], m[x]);  /* along y: t[x][v] */
            float *base = out + r * s_r + c * s_c + koff[k / G] + k % G;
            for (int v = 0; v < 4; v++) {                  /* then x: o[u][v] */
                v8 col[6], o[4];
                for (int x = 0; x < 6; x++) col[x] = t[x][v];
                AT6(o, col);
                for (int u = 0; u < 4; u++) *(v8 *)(base + u * s_u + v * s_v) = o[u];
            }
        }
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_winograd", "ctypes-loaded kernels (see winograd.py)", -1, NULL};

PyMODINIT_FUNC PyInit__winograd(void) { return PyModule_Create(&module); }
