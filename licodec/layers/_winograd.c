/* Winograd F(4x4, 3x3) input and output transforms (licodec/layers/polyphase.py).
 *
 * Each fuses what the PyTorch form does in a copy, a matrix product and a scatter: the
 * input transform reads 6x6 tiles straight from the layer's input (zero padding and a
 * strided convolution's space-to-depth in its addressing) and writes
 * V (36, tiles, K); the output transform reads the products M (36, tiles, K), applies
 * A^T m A and writes each 4x4 block where it belongs in the output (strides
 * given by the caller: a pixel shuffle for a transposed convolution). Channels are the
 * innermost loop (contiguous on both sides), eight at a time. A call covers a band of
 * tiles. Loaded with ctypes; float32, each tile computed alone.
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

/* x: the 3x3 form's input, rows x cols positions of K channels in G-channel groups (G a
 * multiple of 8): channel k of position (p, q) at x + p * s_row + q * s_col + goff[k / G] + k % G
 * (a channels-last tensor; for a strided convolution's space-to-depth the groups are the
 * four 2x2 phases). Zero outside (the 3x3 form's padding of 1). Tile (r, c) of the band
 * reads positions 4(t0 + r) - 1 .. +6, 4c - 1 .. +6 (tile = r * tw + c). V: (36, ntiles, K),
 * point x*6 + y. */
LC_CLONES void lc_wino_in(const float *x, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, int64_t G,
                          const int64_t *goff, int64_t K, int64_t t0, int64_t tw, int64_t ntiles, float *V) {
    const v8 zero = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t tile = 0; tile < ntiles; tile++) {
        int64_t r = t0 + tile / tw, c = tile % tw;
        const float *src[36];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                int64_t p = 4 * r + i - 1, q = 4 * c + j - 1;
                src[i * 6 + j] = (p >= 0 && p < rows && q >= 0 && q < cols) ? x + p * s_row + q * s_col : NULL;
            }
        float *dst = V + tile * K;
        for (int64_t k = 0; k < K; k += 8) {
            int64_t off = goff[k / G] + k % G;
            v8 d[6][6], t[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    const float *a = src[i * 6 + j];
                    d[i][j] = a ? *(const v8 *)(a + off) : zero;
                }
            for (int i = 0; i < 6; i++) BT6(t[i], d[i]);  /* along the columns: t[i][y] */
            for (int y = 0; y < 6; y++) {                  /* then the rows: u[x][y] */
                v8 col[6], u[6];
                for (int i = 0; i < 6; i++) col[i] = t[i][y];
                BT6(u, col);
                for (int x_ = 0; x_ < 6; x_++) *(v8 *)(dst + (x_ * 6 + y) * ntiles * K + k) = u[x_];
            }
        }
    }
}

/* M: (36, ntiles, K). Output element (tile (r, c) of the band, u, v, channel k) goes to
 * out + (t0 + r) * s_r + u * s_u + c * s_c + v * s_v + koff[k / G] + k % G: G channels per
 * group (a multiple of 8), K / G groups (the pixel-shuffle phases of a transposed
 * convolution, else one). */
LC_CLONES void lc_wino_out(const float *M, int64_t K, int64_t t0, int64_t tw, int64_t ntiles, float *out,
                           int64_t s_r, int64_t s_u, int64_t s_c, int64_t s_v, int64_t G, const int64_t *koff) {
    for (int64_t tile = 0; tile < ntiles; tile++) {
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
