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
    /// Four lanes of double-precision partial sums: the figures are statistics, not bytes that
    /// must match ggml, so the summation order is ours to choose, and the lanes let the metrics
    /// keep up with the cheap quantizers (Q4_0, Q8_0) instead of doubling their cost.
    public mutating func add(reference: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
        let n = Swift.min(reference.count, reconstructed.count)
        guard n > 0, let r = reference.baseAddress, let q = reconstructed.baseAddress else { return }
        typealias D4 = SIMD4<Double>
        var se = D4(), sr = D4(), sq = D4(), d = D4(), mx = D4(repeating: 0)
        var nan = false
        let lanes = n / 4 * 4
        var i = 0
        while i < lanes {
            let a = D4(Double(r[i]), Double(r[i + 1]), Double(r[i + 2]), Double(r[i + 3]))
            let b = D4(Double(q[i]), Double(q[i + 1]), Double(q[i + 2]), Double(q[i + 3]))
            let e = b - a
            se += e * e
            sr += a * a
            sq += b * b
            d += a * b
            let ae = e.replacing(with: -e, where: e .< 0)
            nan = nan || any(ae .!= ae)
            // A select, not pointwiseMax: the generic one is not specialized here and costs a call.
            mx.replace(with: ae, where: ae .> mx)
            i += 4
        }
        var seS = se.sum(), srS = sr.sum(), sqS = sq.sum(), dS = d.sum(), mxS = Swift.max(maxAbsError, Swift.max(Swift.max(mx[0], mx[1]), Swift.max(mx[2], mx[3])))
        while i < n {
            let a = Double(r[i]), b = Double(q[i])
            let e = b - a
            seS += e * e
            srS += a * a
            sqS += b * b
            dS += a * b
            let ae = abs(e)
            if ae.isNaN { nan = true } else if ae > mxS { mxS = ae }
            i += 1
        }
        count += n
        sumSquaredError += seS
        sumSquaredReference += srS
        sumSquaredReconstructed += sqS
        dot += dS
        maxAbsError = nan || maxAbsError.isNaN ? .nan : mxS
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
