/*
 * Fused message kernel of deepaw-nb's fast probe kernel (CPU).
 *
 * Why hand-written: the torch path computes, per tile of edges, T = Y @ A[src] (a skinny
 * product whose cost is writing T), then T *= w, then index_add_ into the probe sums: three
 * passes over ~39,000 numbers per edge for the published model.  No library offers this
 * gather -> contract -> scale -> segment-sum as one loop (e3nn and cuEquivariance's CPU path
 * run it as separate torch operations), so it is written here once, in plain C that the
 * compiler vectorises, and built on the user's machine (deepaw_nb/kernels/fused_c.py).
 *
 * Layouts (float32, C order; one degree group of one layer, one tile of n edges).  Columns
 * are cut into blocks of BLOCK (each block inside one slot of plan.py, the last block of a
 * slot zero-padded), and every operand is stored block-major, so that everything one block
 * touches is a few contiguous pages (row-major sums missed the TLB on every edge):
 *   A: (blocks, atoms, K, BLOCK)  per-atom tables
 *   W: (weight blocks, n, BLOCK)  the tile's radial weights of the group
 *   M: (blocks, probes, BLOCK)    the probe sums, accumulated (+=)
 *   Y: (n, K) rows y_stride apart (a column slice of the edge harmonics)
 * Contract: M[b, dst[e], j] += W[block_weights[b], e, j] * sum_k Y[e, k] * A[b, src[e], k, j]
 * Any src order is correct; runs of equal src are fast: one atom's block of A is loaded into
 * registers once and serves all of that atom's consecutive edges.
 */
#include <stdint.h>

#define BLOCK 32 /* columns per block: 4 AVX2 / 2 AVX-512 vectors */

/* One block, one run of edges with the same atom; K is a compile-time constant in the
 * specialised copies below, so the atom's block (K x BLOCK) can live in vector registers. */
static inline void atom_run(int64_t lo, int64_t hi, const int64_t K, const float *a,
                            const float *w_block, const float *Y, int64_t y_stride,
                            const int64_t *dst, float *m_block)
{
    float a_reg[9][BLOCK];
    for (int64_t k = 0; k < K; ++k)
        for (int j = 0; j < BLOCK; ++j) a_reg[k][j] = a[k * BLOCK + j];
    for (int64_t e = lo; e < hi; ++e) {
        const float *y = Y + e * y_stride;
        const float *w = w_block + e * BLOCK;
        float t[BLOCK];
        for (int j = 0; j < BLOCK; ++j) t[j] = y[0] * a_reg[0][j];
        for (int64_t k = 1; k < K; ++k) {
            const float yk = y[k];
            for (int j = 0; j < BLOCK; ++j) t[j] += yk * a_reg[k][j];
        }
        float *m = m_block + dst[e] * BLOCK;
        for (int j = 0; j < BLOCK; ++j) m[j] += t[j] * w[j];
    }
}

static inline void block_sums(int64_t n, const int64_t K, const float *a_block,
                              const float *w_block, const float *Y, int64_t y_stride,
                              const int64_t *src, const int64_t *dst, float *m_block)
{
    int64_t e = 0;
    while (e < n) {
        const int64_t atom = src[e], lo = e;
        while (e < n && src[e] == atom) ++e;
        atom_run(lo, e, K, a_block + atom * K * BLOCK, w_block, Y, y_stride, dst, m_block);
    }
}

void deepaw_fused_messages(int64_t n, int64_t K, int64_t atoms, int64_t blocks,
                           const float *Y, int64_t y_stride, const int64_t *src,
                           const int64_t *dst, const float *A, const float *W,
                           const int64_t *block_weights, float *M, int64_t probes)
{
    if (K < 1 || K > 9) return; /* edge degrees 0..4 only; the caller checks */
    for (int64_t b = 0; b < blocks; ++b) {
        const float *a = A + b * atoms * K * BLOCK;
        const float *w = W + block_weights[b] * n * BLOCK;
        float *m = M + b * probes * BLOCK;
        /* Edge degrees l = 0..4 give K = 1, 3, 5, 7, 9 harmonics per group. */
        switch (K) {
        case 1: block_sums(n, 1, a, w, Y, y_stride, src, dst, m); break;
        case 3: block_sums(n, 3, a, w, Y, y_stride, src, dst, m); break;
        case 5: block_sums(n, 5, a, w, Y, y_stride, src, dst, m); break;
        case 7: block_sums(n, 7, a, w, Y, y_stride, src, dst, m); break;
        case 9: block_sums(n, 9, a, w, Y, y_stride, src, dst, m); break;
        default: block_sums(n, K, a, w, Y, y_stride, src, dst, m);
        }
    }
}

/*
 * Radial weights of one tile from a cubic Hermite table (radial_table.py), replacing the
 * radial MLP's output product (100 multiply-adds per weight) by 3 multiply-adds per weight
 * on a table that stays in cache.  Why hand-written: the table lookup, the polynomial and the
 * block-major write are one pass here; as torch operations they are ~10 passes over the
 * tile's weights, no faster than the product they replace.
 *   T: (weight blocks, intervals, 4, BLOCK)  coefficients c0..c3 of each interval
 *   r: (n,) edge lengths in Å;  interval i = floor(r / step), t = r / step - i (clamped)
 *   W: (weight blocks, n, BLOCK)  out: c0 + t (c1 + t (c2 + t c3))
 */
void deepaw_radial_table_weights(int64_t n, int64_t weight_blocks, int64_t intervals,
                                 const float *T, const float *r, double inv_step, float *W)
{
    for (int64_t b = 0; b < weight_blocks; ++b) {
        const float *table = T + b * intervals * 4 * BLOCK;
        float *w_block = W + b * n * BLOCK;
        for (int64_t e = 0; e < n; ++e) {
            const double x = (double)r[e] * inv_step;
            int64_t i = (int64_t)x;
            if (i < 0) i = 0;
            if (i > intervals - 1) i = intervals - 1;
            const float t = (float)(x - (double)i);
            const float *c = table + i * 4 * BLOCK;
            float *w = w_block + e * BLOCK;
            for (int j = 0; j < BLOCK; ++j)
                w[j] = c[j] + t * (c[BLOCK + j] + t * (c[2 * BLOCK + j] + t * c[3 * BLOCK + j]));
        }
    }
}
