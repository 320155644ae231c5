// The scoring loop of the codebook quantizers' neighbour searches (IQ1, IQ2, IQ3), in C because it
// needs a variable lane permute (AVX-512 vpermps), which Swift's SIMD types cannot express.
//
// A neighbour list is scored at one scale: candidate c's distance is
//     d2(c) = sum over i of w[i] * (scale * value[level(c, i)] - x[i])^2,
// summed in ggml's order (d2 = 0, then each term added, i = 0, 1, ...), each term computed as ggml
// computes it: diff = scale * value - x[i]; term = (w[i] * diff) * diff. A coordinate's term takes
// one of at most 16 values (one per level), so those are computed once per call and each
// candidate's terms are picked from them: the same IEEE operations on the same operands as ggml's
// loop, so every distance is ggml's bit for bit. Compiled with -ffp-contract=off (no fused
// multiply-adds). Everything around it (the lists, their layout, the callers) is Swift: see
// Sources/Quantization/CodebookRows.swift.
#ifndef QUANTD_CODEBOOK_SEARCH_H
#define QUANTD_CODEBOOK_SEARCH_H

#include <stdint.h>

/// The first candidate (in list order) with the smallest distance below FLT_MAX, as ggml's
/// strict-< scan finds it; 0 when none is below (NaN or overflowing input, where ggml aborts).
/// `levels`: `groups` groups of 16 candidates; group g holds `coords` rows of 16 bytes, row i =
/// coordinate i's level of each of the 16 candidates (levels < 16). `values`: 16 floats, the value
/// of each level. `coords` is 4 or 8.
int32_t quantd_codebook_first_best(
    const uint8_t *levels, int32_t groups, int32_t coords, const float *x, const float *w, float scale,
    const float *values);

/// `quantd_codebook_first_best` for `n` lists of the same group (x, w): list k starts at group
/// `first[k]` of `levels`, has `groups[k]` groups and is scored at `scales[k]`; its winner's
/// position (counted from the list's first group) goes to `positions[k]`. The searches are
/// independent, so one call lets each one's final reduction overlap the next one's scoring.
void quantd_codebook_first_best_many(
    const uint8_t *levels, const int32_t *first, const int32_t *groups, const float *scales, int32_t n,
    int32_t coords, const float *x, const float *w, const float *values, int32_t *positions);

#endif
