#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Running error statistics of a reconstruction against its f32 reference.
///
/// Sums are kept in Double; accumulators of parts (rows, tensors) merge exactly, and the
/// parallel quantizer merges per-row partials in row order so the figures do not depend on the
/// thread count.
public struct ErrorAccumulator: Sendable, Equatable {
    public private(set) var count: Int = 0
    /// Sum of (reconstructed - reference)^2.
    public private(set) var sumSquaredError: Double = 0
    /// Sum of reference^2.
    public private(set) var sumSquaredReference: Double = 0
    /// Sum of reconstructed^2.
    public private(set) var sumSquaredReconstructed: Double = 0
    /// Sum of reference * reconstructed.
    public private(set) var dot: Double = 0
    /// Largest |reconstructed - reference|.
    public private(set) var maxAbsError: Double = 0

    public init() {}

    /// Adds `reference.count` pairs.
    ///
    /// The figures are statistics, not bytes that must match ggml, so the summation order is
    /// ours to choose. Chunks of 256 values are summed in eight float lanes (products of two
    /// floats rounded once, a chunk's sum of 32 lane terms rounded a few times: relative error
    /// ~1e-7, far below any digit the metrics are read to) and each chunk's sums are added in
    /// double. A chunk whose float sums could have lost range (overflow to infinity, or squares
    /// under ~1e-30 that float flushes toward zero) is summed again in double, so huge, tiny and
    /// non-finite values are measured as exactly as before. This keeps the metrics a small
    /// fraction of even the cheapest quantizer's time.
    public mutating func add(reference: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
        let n = Swift.min(reference.count, reconstructed.count)
        guard n > 0, let r = reference.baseAddress, let q = reconstructed.baseAddress else { return }
        let chunk = 256
        var i = 0
        var mxS = maxAbsError
        var nan = maxAbsError.isNaN
        while i + 8 <= n {
            let end = Swift.min(n, i + chunk) & ~7
            var se = SIMD8<Float>(), sr = SIMD8<Float>(), sq = SIMD8<Float>(), d = SIMD8<Float>()
            var mx = SIMD8<Float>(), mn = SIMD8<Float>()
            var j = i
            let rp = UnsafeRawPointer(r), qp = UnsafeRawPointer(q)
            while j < end {
                let a = rp.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                let b = qp.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                let e = b - a
                se += e * e
                sr += a * a
                sq += b * b
                d += a * b
                // Largest and smallest signed error: maxps and minps, no abs (NaN is never
                // selected; it shows in the sum of squares instead).
                mx = Lanes.maxF(e, mx)
                mn = Lanes.minF(e, mn)
                j += 8
            }
            let seC = Self.sum(se), srC = Self.sum(sr), sqC = Self.sum(sq)
            let magnitude = srC + sqC
            if seC.isFinite && srC.isFinite && sqC.isFinite && (magnitude >= 1e-30 || Self.allZero(r + i, q + i, end - i)) {
                sumSquaredError += seC
                sumSquaredReference += srC
                sumSquaredReconstructed += sqC
                dot += Self.sum(d)
                var m = Double(-Self.minLane(mn))
                let top = Double(Self.maxLane(mx))
                if top > m { m = top }
                if m > mxS { mxS = m }
                count += end - i
            } else {
                addExactly(r + i, q + i, end - i, max: &mxS, nan: &nan)
            }
            i = end
        }
        if i < n { addExactly(r + i, q + i, n - i, max: &mxS, nan: &nan) }
        maxAbsError = nan ? .nan : mxS
    }

    /// The double-precision sums of `n` pairs, one at a time (tails and out-of-range chunks).
    private mutating func addExactly(
        _ r: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int, max mxS: inout Double, nan: inout Bool
    ) {
        var seS = 0.0, srS = 0.0, sqS = 0.0, dS = 0.0
        for i in 0..<n {
            let a = Double(r[i]), b = Double(q[i])
            let e = b - a
            seS += e * e
            srS += a * a
            sqS += b * b
            dS += a * b
            let ae = Swift.abs(e)
            if ae.isNaN { nan = true } else if ae > mxS { mxS = ae }
        }
        count += n
        sumSquaredError += seS
        sumSquaredReference += srS
        sumSquaredReconstructed += sqS
        dot += dS
    }

    @inline(__always)
    private static func sum(_ v: SIMD8<Float>) -> Double {
        let h = v.lowHalf + v.highHalf
        return Double(h[0]) + Double(h[1]) + Double(h[2]) + Double(h[3])
    }

    @inline(__always)
    private static func maxLane(_ v: SIMD8<Float>) -> Float {
        var m = v[0]
        for k in 1..<8 where v[k] > m { m = v[k] }
        return m
    }

    @inline(__always)
    private static func minLane(_ v: SIMD8<Float>) -> Float {
        var m = v[0]
        for k in 1..<8 where v[k] < m { m = v[k] }
        return m
    }

    /// True when every value of both runs is +-0 (an all-zero chunk needs no double pass).
    private static func allZero(_ r: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Bool {
        var bits: UInt32 = 0
        for i in 0..<n { bits |= (r[i].bitPattern | q[i].bitPattern) & 0x7fff_ffff }
        return bits == 0
    }

    /// Combines two accumulators (for example, the rows of a tensor, or the tensors of a model).
    public mutating func merge(_ other: ErrorAccumulator) {
        count += other.count
        sumSquaredError += other.sumSquaredError
        sumSquaredReference += other.sumSquaredReference
        sumSquaredReconstructed += other.sumSquaredReconstructed
        dot += other.dot
        if other.maxAbsError > maxAbsError || other.maxAbsError.isNaN { maxAbsError = other.maxAbsError }
    }

    /// Root mean squared error.
    public var rmse: Double { count > 0 ? (sumSquaredError / Double(count)).squareRoot() : 0 }

    /// RMSE relative to the reference's RMS (0 when both are zero, infinity when only the reference is).
    public var relativeRMSE: Double {
        if sumSquaredReference == 0 { return sumSquaredError == 0 ? 0 : .infinity }
        return (sumSquaredError / sumSquaredReference).squareRoot()
    }

    /// Signal-to-noise ratio in decibels (infinity for an exact reconstruction).
    public var snrDB: Double {
        if sumSquaredError == 0 { return .infinity }
        return 10 * log10(sumSquaredReference / sumSquaredError)
    }

    /// Cosine similarity of the two vectors (1 when both are zero).
    public var cosineSimilarity: Double {
        let denom = (sumSquaredReference * sumSquaredReconstructed).squareRoot()
        if denom == 0 { return sumSquaredReference == sumSquaredReconstructed ? 1 : 0 }
        return dot / denom
    }
}
