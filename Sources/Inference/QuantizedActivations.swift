import CInferenceVNNI

/// A matmul's activations as the integer matmul reads them: each token's row as int8 codes, and per
/// sub-block of the weight type (`IntegerWeightLayout.subblockLength` columns) the activation
/// block's scale, the start of the integer sum, and the scaled code sum for types with mins.
///
/// The codes and scales are exactly those of `ActivationRounding` (ggml's quantize_row_q8_0 and
/// quantize_row_q8_K, the same functions): code · scale is the rounded activation the f32 path uses.
struct QuantizedActivations {
    let codes: UnsafeMutablePointer<Int8>
    let subblocks: UnsafeMutablePointer<quantd_vnni_subblock>

    /// Quantizes `tokens` rows of `columns` values, split among the threads by token rows.
    init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, layout: IntegerWeightLayout, threads: Int) {
        let perRow = columns / layout.subblockLength
        codes = .allocate(capacity: tokens * columns)
        subblocks = .allocate(capacity: tokens * perRow)
        let (codes, subblocks) = (codes, subblocks)
        ContiguousSplit.run(tokens, workers: min(threads, tokens / 16)) { rows in
            for t in rows {
                Self.quantizeRow(x + t * columns, columns: columns, layout: layout,
                                 codes: codes + t * columns, subblocks: subblocks + t * perRow)
            }
        }
    }

    func deallocate() {
        codes.deallocate()
        subblocks.deallocate()
    }

    /// One token's row.
    static func quantizeRow(
        _ x: UnsafePointer<Float>, columns: Int, layout: IntegerWeightLayout, codes: UnsafeMutablePointer<Int8>,
        subblocks: UnsafeMutablePointer<quantd_vnni_subblock>
    ) {
        let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(codes)
        let start = -layout.codeOffset
        switch layout.rounding {
        case .q8_0:
            // Q8_0 blocks are the sub-blocks: 32 values, scale d rounded to F16. (ggml pairs Q4_1/Q5_1
            // with Q8_1, the same codes and d plus d·Σ codes rounded to F16; we keep that sum in F32.)
            for b in 0..<(columns / 32) {
                let (id, dh) = ActivationRounding.q8_0Scales(x + 32 * b)
                var sum = SIMD8<Float>()
                for o in stride(from: 128 * b, to: 128 * b + 128, by: 32) {
                    let q = ActivationRounding.q8_0Codes(src.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), inverse: id)
                    dst.storeBytes(of: bytes(q), toByteOffset: o / 4, as: SIMD8<Int8>.self)
                    sum += q
                }
                subblocks[b] = subblock(sum: sum.sum(), scale: dh, start: start, hasMins: layout.hasMins)
            }
        default:
            // Q8_K: 256-value blocks with an F32 scale; sums per sub-block (16 or 32 values).
            let length = layout.subblockLength
            for b in 0..<(columns / 256) {
                let iscale = ActivationRounding.q8_KInverseScale(x + 256 * b)
                let d = iscale.map { 1 / $0 } ?? 0
                for s in 0..<(256 / length) {
                    var sum = SIMD8<Float>()
                    let first = 4 * (256 * b + length * s)
                    for o in stride(from: first, to: first + 4 * length, by: 32) {
                        let v = src.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                        let q = iscale.map { ActivationRounding.q8_KCodes(v, inverse: $0) } ?? SIMD8()
                        dst.storeBytes(of: bytes(q), toByteOffset: o / 4, as: SIMD8<Int8>.self)
                        sum += q
                    }
                    subblocks[b * (256 / length) + s] = subblock(sum: sum.sum(), scale: d, start: start,
                                                                 hasMins: layout.hasMins)
                }
            }
        }
    }

    /// A sub-block's entry from the sum of its codes (an exact integer in a Float). A non-finite sum
    /// (a NaN activation, whose code is meaningless) makes the scale NaN, so the outputs are NaN as
    /// the f32 path's would be.
    @inline(__always)
    static func subblock(sum: Float, scale: Float, start: Int32, hasMins: Bool) -> quantd_vnni_subblock {
        guard sum.isFinite else { return quantd_vnni_subblock(start: 0, scale: .nan, minScale: .nan, unused: 0) }
        return quantd_vnni_subblock(start: start * Int32(sum), scale: scale, minScale: hasMins ? scale * sum : 0,
                                    unused: 0)
    }

    /// Integer-valued floats in -128...127 to int8: adding 1.5·2²³ puts the integer in the low
    /// mantissa bits (two's complement), whose low byte is the code — no trapping conversion.
    @inline(__always)
    static func bytes(_ q: SIMD8<Float>) -> SIMD8<Int8> {
        let bits = unsafeBitCast(q + SIMD8(repeating: 12_582_912), to: SIMD8<UInt32>.self)
        return unsafeBitCast(SIMD8<UInt8>(truncatingIfNeeded: bits), to: SIMD8<Int8>.self)
    }
}
