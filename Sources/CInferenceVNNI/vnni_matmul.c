#include "CInferenceVNNI.h"

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#include <string.h>

/// Tokens per register tile: 2·T int32 sums, 2·T float totals, 2 weight, 2 scale and 2 min vectors
/// of the 32 registers. 6 measured as fast as 8 (which spills) and ~4 % faster than 4 (SmolLM2 Q4_K_M).
#define TILE_TOKENS 6
_Static_assert(TILE_TOKENS <= 8, "the caller's partial buffer holds 8 tokens' outputs");

/// The panel times `T` consecutive tokens. `G` groups of 4 columns per sub-block, `hasMin` for
/// types with mins; all three constant after inlining, so the arrays live in registers.
static inline __attribute__((always_inline)) void tile(
    const int T, const int G, const int hasMin, const uint8_t *codes, const float *scales, const float *mins,
    int64_t subblocks, const int8_t *x, int64_t columns, const quantd_vnni_subblock *xs, float *y, int64_t ldy)
{
    __m512 total[TILE_TOKENS][2];
    for (int t = 0; t < T; t++) {
        total[t][0] = _mm512_setzero_ps();
        total[t][1] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < subblocks; s++) {
        __m512i sum[TILE_TOKENS][2];
        for (int t = 0; t < T; t++) {
            sum[t][0] = _mm512_set1_epi32(xs[t * subblocks + s].start);
            sum[t][1] = sum[t][0];
        }
        const uint8_t *c = codes + s * G * 128;
        const int8_t *xg = x + s * G * 4;
        for (int g = 0; g < G; g++) {
            const __m512i w0 = _mm512_load_si512((const void *)(c + g * 128));
            const __m512i w1 = _mm512_load_si512((const void *)(c + g * 128 + 64));
            for (int t = 0; t < T; t++) {
                int32_t four;
                memcpy(&four, xg + t * columns + 4 * g, 4);
                const __m512i b = _mm512_set1_epi32(four);
                sum[t][0] = _mm512_dpbusd_epi32(sum[t][0], w0, b);
                sum[t][1] = _mm512_dpbusd_epi32(sum[t][1], w1, b);
            }
        }
        const __m512 s0 = _mm512_load_ps(scales + s * 32), s1 = _mm512_load_ps(scales + s * 32 + 16);
        for (int t = 0; t < T; t++) {
            const __m512 d = _mm512_set1_ps(xs[t * subblocks + s].scale);
            total[t][0] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum[t][0]), s0), d, total[t][0]);
            total[t][1] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum[t][1]), s1), d, total[t][1]);
        }
        if (hasMin) {
            const __m512 m0 = _mm512_load_ps(mins + s * 32), m1 = _mm512_load_ps(mins + s * 32 + 16);
            for (int t = 0; t < T; t++) {
                const __m512 ms = _mm512_set1_ps(xs[t * subblocks + s].minScale);
                total[t][0] = _mm512_fnmadd_ps(m0, ms, total[t][0]);
                total[t][1] = _mm512_fnmadd_ps(m1, ms, total[t][1]);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        _mm512_storeu_ps(y + t * ldy, total[t][0]);
        _mm512_storeu_ps(y + t * ldy + 16, total[t][1]);
    }
}

/// All tokens against one panel: whole tiles, then one token at a time (same arithmetic per lane).
static inline __attribute__((always_inline)) void panel(
    const int G, const int hasMin, const uint8_t *codes, const float *scales, const float *mins, int64_t columns,
    const int8_t *x, const quantd_vnni_subblock *xs, int64_t tokens, float *y, int64_t ldy, int64_t rowCount,
    float *partial)
{
    const int64_t subblocks = columns / (4 * G);
    const int full = rowCount == QUANTD_VNNI_PANEL_ROWS;
    int64_t t = 0;
    for (; t + TILE_TOKENS <= tokens; t += TILE_TOKENS) {
        const int8_t *xt = x + t * columns;
        const quantd_vnni_subblock *st = xs + t * subblocks;
        if (full) {
            tile(TILE_TOKENS, G, hasMin, codes, scales, mins, subblocks, xt, columns, st, y + t * ldy, ldy);
        } else {
            tile(TILE_TOKENS, G, hasMin, codes, scales, mins, subblocks, xt, columns, st, partial, 32);
            for (int j = 0; j < TILE_TOKENS; j++) memcpy(y + (t + j) * ldy, partial + j * 32, rowCount * sizeof(float));
        }
    }
    for (; t < tokens; t++) {
        const int8_t *xt = x + t * columns;
        const quantd_vnni_subblock *st = xs + t * subblocks;
        if (full) {
            tile(1, G, hasMin, codes, scales, mins, subblocks, xt, columns, st, y + t * ldy, ldy);
        } else {
            tile(1, G, hasMin, codes, scales, mins, subblocks, xt, columns, st, partial, 32);
            memcpy(y + t * ldy, partial, rowCount * sizeof(float));
        }
    }
}

void quantd_vnni_panel(const uint8_t *codes, const float *scales, const float *mins, int64_t columns,
                       int64_t subblockLength, const int8_t *x, const quantd_vnni_subblock *xs, int64_t tokens,
                       float *y, int64_t ldy, int64_t rowCount, float *partial)
{
    if (subblockLength == 16) {
        if (mins) panel(4, 1, codes, scales, mins, columns, x, xs, tokens, y, ldy, rowCount, partial);
        else panel(4, 0, codes, scales, mins, columns, x, xs, tokens, y, ldy, rowCount, partial);
    } else {
        if (mins) panel(8, 1, codes, scales, mins, columns, x, xs, tokens, y, ldy, rowCount, partial);
        else panel(8, 0, codes, scales, mins, columns, x, xs, tokens, y, ldy, rowCount, partial);
    }
}

#else
#include <stdlib.h>

// Built without VNNI (portable or non-AVX-512 builds): Swift does not call this (no INFERENCE_VNNI).
void quantd_vnni_panel(const uint8_t *codes, const float *scales, const float *mins, int64_t columns,
                       int64_t subblockLength, const int8_t *x, const quantd_vnni_subblock *xs, int64_t tokens,
                       float *y, int64_t ldy, int64_t rowCount, float *partial)
{
    abort();
}
#endif
