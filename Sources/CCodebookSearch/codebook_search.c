#include "CCodebookSearch.h"

#include <float.h>
#include <stddef.h>

#if defined(__AVX512F__)
#include <immintrin.h>

static inline __attribute__((always_inline)) int32_t first_best(
    const int C, const uint8_t *levels, int32_t groups, const float *x, const float *w, float scale,
    const float *values)
{
    // Term table of coordinate i: lane v = (w[i] * (scale * value[v] - x[i])) * (scale * value[v] - x[i]).
    const __m512 sq = _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_loadu_ps(values));
    __m512 terms[8];
    for (int i = 0; i < C; i++) {
        const __m512 diff = _mm512_sub_ps(sq, _mm512_set1_ps(x[i]));
        terms[i] = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(w[i]), diff), diff);
    }
    __m512 best = _mm512_set1_ps(FLT_MAX);
    __m512i position = _mm512_set1_epi32(INT32_MAX);
    __m512i current = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (int32_t g = 0; g < groups; g++) {
        const uint8_t *row = levels + (size_t)g * C * 16;
        __m512 d2 = _mm512_setzero_ps();
        for (int i = 0; i < C; i++) {
            const __m512i level = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + 16 * i)));
            d2 = _mm512_add_ps(d2, _mm512_permutexvar_ps(level, terms[i]));
        }
        // Per lane: the smallest score and the first position reaching it (NaN never compares less).
        const __mmask16 better = _mm512_cmp_ps_mask(d2, best, _CMP_LT_OQ);
        best = _mm512_mask_mov_ps(best, better, d2);
        position = _mm512_mask_mov_epi32(position, better, current);
        current = _mm512_add_epi32(current, sixteen);
    }
    // Lanes never hold NaN (they start at FLT_MAX and only take smaller scores). With weights >= 0
    // every score is >= +0, and non-negative floats order as their bit patterns do: the winner is
    // then the smallest 64-bit (score bits, position) pair, one reduction instead of two.
    const __m512i bits = _mm512_castps_si512(best);
    if (_mm512_movepi32_mask(bits) == 0) {
        const __m512i pairs = _mm512_min_epu64(
            _mm512_unpacklo_epi32(position, bits), _mm512_unpackhi_epi32(position, bits));
        const int32_t first = (int32_t)(uint32_t)_mm512_reduce_min_epu64(pairs);
        return first == INT32_MAX ? 0 : first;
    }
    // Negative scores (negative importance weights): the smallest score, then the earliest
    // position among the lanes holding it.
    const float smallest = _mm512_reduce_min_ps(best);
    const __mmask16 at = _mm512_cmp_ps_mask(best, _mm512_set1_ps(smallest), _CMP_EQ_OQ);
    const int32_t first = _mm512_mask_reduce_min_epi32(at, position);
    return first == INT32_MAX ? 0 : first;
}

int32_t quantd_codebook_first_best(
    const uint8_t *levels, int32_t groups, int32_t coords, const float *x, const float *w, float scale,
    const float *values)
{
    return coords == 8 ? first_best(8, levels, groups, x, w, scale, values)
                       : first_best(4, levels, groups, x, w, scale, values);
}

void quantd_codebook_first_best_many(
    const uint8_t *levels, const int32_t *first, const int32_t *groups, const float *scales, int32_t n,
    int32_t coords, const float *x, const float *w, const float *values, int32_t *positions)
{
    if (coords == 8) {
        for (int32_t k = 0; k < n; k++)
            positions[k] = first_best(8, levels + (size_t)first[k] * 8 * 16, groups[k], x, w, scales[k], values);
    } else {
        for (int32_t k = 0; k < n; k++)
            positions[k] = first_best(4, levels + (size_t)first[k] * 4 * 16, groups[k], x, w, scales[k], values);
    }
}

#else

// Any other CPU: ggml's scalar scan over the same layout.
int32_t quantd_codebook_first_best(
    const uint8_t *levels, int32_t groups, int32_t coords, const float *x, const float *w, float scale,
    const float *values)
{
    float best = FLT_MAX;
    int32_t first = -1;
    for (int32_t c = 0; c < groups * 16; c++) {
        const uint8_t *row = levels + (size_t)(c / 16) * coords * 16 + c % 16;
        float d2 = 0;
        for (int i = 0; i < coords; i++) {
            const float diff = scale * values[row[16 * i] & 15] - x[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) {
            best = d2;
            first = c;
        }
    }
    return first < 0 ? 0 : first;
}

void quantd_codebook_first_best_many(
    const uint8_t *levels, const int32_t *first, const int32_t *groups, const float *scales, int32_t n,
    int32_t coords, const float *x, const float *w, const float *values, int32_t *positions)
{
    for (int32_t k = 0; k < n; k++)
        positions[k] = quantd_codebook_first_best(
            levels + (size_t)first[k] * coords * 16, groups[k], coords, x, w, scales[k], values);
}

#endif
