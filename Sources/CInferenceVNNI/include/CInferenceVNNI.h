// The integer matmul's register tile, in C because Swift cannot reach AVX-512 VNNI's vpdpbusd:
// Swift's SIMD types have no widening byte multiply-add, and LLVM only pattern-matches one out of a
// scalar reduction (an xmm vpdpbusd among byte extractions, checked with swiftc -O -emit-assembly).
// Everything around the tile (activation quantization, weight repacking, threads) is Swift: see
// Sources/Inference/IntegerMatMul.swift. Built with VNNI only when Package.swift finds avx512_vnni
// in /proc/cpuinfo (INFERENCE_VNNI); otherwise the functions are absent stubs and never called.
#ifndef QUANTD_INFERENCE_VNNI_H
#define QUANTD_INFERENCE_VNNI_H

#include <stdint.h>

/// Rows per weight panel: two 16-lane vectors, one output row per 32-bit lane.
#define QUANTD_VNNI_PANEL_ROWS 32

/// One sub-block (16 or 32 consecutive columns) of one token's quantized activations.
typedef struct {
    /// The integer sum starts here: the correction for weight codes stored with an offset
    /// (-offset · Σ activation codes of the sub-block), so the sum is that of the true codes.
    int32_t start;
    /// The activation block's scale (Q8_0's fp16 d, Q8_K's d).
    float scale;
    /// scale · Σ activation codes of the sub-block, for weight types with mins (Q4_K, Q5_K).
    float minScale;
    int32_t unused;
} quantd_vnni_subblock;

/// y[t][r] = Σ_s scale(t,s) · (wscale[s][r] · (start(t,s) + Σ_{k in s} codes[r][k] · x[t][k]))
///                         - wmin[s][r] · minScale(t,s)
/// for t < tokens and r < rowCount, summed over sub-blocks s in order, integer within a
/// sub-block. Weight panel (64-byte aligned): `codes` has columns/4 groups of 32 rows × 4
/// consecutive unsigned codes; `scales` and `mins` (NULL for types without mins) have
/// QUANTD_VNNI_PANEL_ROWS floats per sub-block. Activations: `x` is tokens × columns signed codes
/// (row stride `columns`), `xs` tokens × (columns / subblockLength) sub-blocks. `y` has row stride
/// `ldy`; `partial` holds QUANTD_VNNI_PANEL_ROWS × 8 floats for a panel cut short (rowCount < 32).
/// subblockLength is 16 or 32. Each output is computed in the same order whatever `tokens` and
/// `rowCount` are, so it does not depend on which other outputs are computed.
void quantd_vnni_panel(const uint8_t *codes, const float *scales, const float *mins, int64_t columns,
                       int64_t subblockLength, const int8_t *x, const quantd_vnni_subblock *xs, int64_t tokens,
                       float *y, int64_t ldy, int64_t rowCount, float *partial);

#endif
