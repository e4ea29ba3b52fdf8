/* One dtype of the fused ConvAC forward; included by fused_forward.c with
 *   T      the scalar type,
 *   LANES  scalars per 64-byte vector,
 *   NAME   the exported function's name,
 *   VEC    the vector type's name.
 *
 * Layout.  Weights come packed per level as (nodes_l, fan_in_l, pad_l): a node's
 * transposed conv matrix with its output width r_l padded to pad_l, a multiple of LANES.
 * Activations of a block of samples live in two scratch buffers (sample, node, pad_l),
 * so a block's whole tree stays in cache while the features are read once, in order.
 * Padded lanes get input * 0 (zero unless an input is infinite); no later step reads
 * them, since every contraction runs over the true fan-in only.
 */

typedef T VEC __attribute__((vector_size(64)));

static inline VEC CAT(NAME, _load)(const T *p) { VEC v; memcpy(&v, p, sizeof v); return v; }
static inline void CAT(NAME, _store)(T *p, VEC v) { memcpy(p, &v, sizeof v); }

/* out[s][0:qpad] = sum_k in[s][k] * w[k][0:qpad] for ns <= BLOCK samples.
 * A full block keeps BLOCK accumulators in registers and loads each weight row once. */
static inline void CAT(NAME, _contract)(const T *const *in, int64_t ns, int64_t fan_in,
                                        const T *w, int64_t qpad, T *const *out)
{
    for (int64_t q = 0; q < qpad; q += LANES) {
        if (ns == BLOCK) {
            VEC acc[BLOCK];
            for (int s = 0; s < BLOCK; s++) acc[s] = (VEC){0};
            for (int64_t k = 0; k < fan_in; k++) {
                VEC row = CAT(NAME, _load)(w + k * qpad + q);
                for (int s = 0; s < BLOCK; s++) acc[s] += in[s][k] * row;
            }
            for (int s = 0; s < BLOCK; s++) CAT(NAME, _store)(out[s] + q, acc[s]);
        } else {
            for (int64_t s = 0; s < ns; s++) {
                VEC acc = (VEC){0};
                for (int64_t k = 0; k < fan_in; k++)
                    acc += in[s][k] * CAT(NAME, _load)(w + k * qpad + q);
                CAT(NAME, _store)(out[s] + q, acc);
            }
        }
    }
}

/* Returns 0, or -1 when scratch memory could not be allocated. */
int NAME(const T *features, int64_t batch, int64_t n_patches, int64_t n_channels,
         const int64_t *order, int64_t n_levels, const int64_t *windows,
         const int64_t *widths, const int64_t *pads, const int64_t *nodes,
         const T *const *weights, T *out, int64_t chunk, int n_threads)
{
    int64_t scratch = 0, max_pad = 0;
    for (int64_t l = 0; l <= n_levels; l++) {
        if (nodes[l] * pads[l] > scratch) scratch = nodes[l] * pads[l];
        if (pads[l] > max_pad) max_pad = pads[l];
    }
    const int64_t n_chunks = (batch + chunk - 1) / chunk;
    const int64_t n_outputs = widths[n_levels];
    int failed = 0;
#ifndef _OPENMP
    (void)n_threads; /* built without OpenMP: one thread */
#endif
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(|| : failed)
#endif
    {
        size_t act_bytes = (size_t)chunk * scratch * sizeof(T);
        size_t pool_bytes = (size_t)BLOCK * max_pad * sizeof(T);
        T *cur = aligned_alloc(64, (act_bytes + 63) / 64 * 64);
        T *nxt = aligned_alloc(64, (act_bytes + 63) / 64 * 64);
        T *pooled = aligned_alloc(64, (pool_bytes + 63) / 64 * 64);
        failed = !cur || !nxt || !pooled;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t c = 0; c < n_chunks; c++) {
            if (failed) continue;
            const int64_t b0 = c * chunk;
            const int64_t nb = b0 + chunk < batch ? chunk : batch - b0;
            const T *in[BLOCK];
            T *dst[BLOCK];
            T *a = cur, *b = nxt;
            /* level 0: the 1x1 conv of every patch, tree position p holds patch order[p] */
            for (int64_t p = 0; p < n_patches; p++) {
                for (int64_t s0 = 0; s0 < nb; s0 += BLOCK) {
                    const int64_t ns = nb - s0 < BLOCK ? nb - s0 : BLOCK;
                    for (int64_t s = 0; s < ns; s++) {
                        in[s] = features + ((b0 + s0 + s) * n_patches + order[p]) * n_channels;
                        dst[s] = a + ((s0 + s) * n_patches + p) * pads[0];
                    }
                    CAT(NAME, _contract)(in, ns, n_channels,
                                         weights[0] + p * n_channels * pads[0], pads[0], dst);
                }
            }
            /* levels 1..L: product pooling over each window, then the 1x1 conv */
            int64_t n = n_patches;
            for (int64_t l = 1; l <= n_levels; l++) {
                const int64_t win = windows[l - 1], fan_in = widths[l - 1];
                const int64_t in_pad = pads[l - 1], out_pad = pads[l], nn = nodes[l];
                for (int64_t j = 0; j < nn; j++) {
                    for (int64_t s0 = 0; s0 < nb; s0 += BLOCK) {
                        const int64_t ns = nb - s0 < BLOCK ? nb - s0 : BLOCK;
                        for (int64_t s = 0; s < ns; s++) {
                            const T *src = a + ((s0 + s) * n + j * win) * in_pad;
                            T *prod = pooled + s * max_pad;
                            for (int64_t k = 0; k < in_pad; k += LANES) {
                                VEC v = CAT(NAME, _load)(src + k);
                                for (int64_t t = 1; t < win; t++)
                                    v *= CAT(NAME, _load)(src + t * in_pad + k);
                                CAT(NAME, _store)(prod + k, v);
                            }
                            in[s] = prod;
                            dst[s] = b + ((s0 + s) * nn + j) * out_pad;
                        }
                        CAT(NAME, _contract)(in, ns, fan_in,
                                             weights[l] + j * fan_in * out_pad, out_pad, dst);
                    }
                }
                T *swap = a; a = b; b = swap;
                n = nn;
            }
            for (int64_t s = 0; s < nb; s++)
                memcpy(out + (b0 + s) * n_outputs, a + s * pads[n_levels],
                       (size_t)n_outputs * sizeof(T));
        }
        free(cur);
        free(nxt);
        free(pooled);
    }
    return failed ? -1 : 0;
}
