/* Fused CPU forward of a convolutional arithmetic circuit (convac.fused_forward).
 *
 * The torch forward reads the (batch, N, M) features one node at a time and writes every
 * level out to memory; this pass instead keeps a chunk of samples' whole tree in cache
 * and vectorises each 1x1 conv over output channels, BLOCK samples at a time.
 * Built by convac/fused_forward.py with the host's C compiler (OpenMP when available).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* the 64-byte vector helpers are static and inlined: no ABI is exposed */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define BLOCK 8 /* samples whose accumulators share one weight row load */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

int convac_abi_version(void) { return 1; }

#define T float
#define LANES 16
#define NAME convac_forward_f32
#define VEC convac_vec_f32
#include "fused_forward_impl.h"
#undef T
#undef LANES
#undef NAME
#undef VEC

#define T double
#define LANES 8
#define NAME convac_forward_f64
#define VEC convac_vec_f64
#include "fused_forward_impl.h"
