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
    public mutating func add(reference: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
        let n = Swift.min(reference.count, reconstructed.count)
        guard n > 0, let r = reference.baseAddress, let q = reconstructed.baseAddress else { return }
        var se: Double = 0, sr: Double = 0, sq: Double = 0, d: Double = 0, mx = maxAbsError
        for i in 0..<n {
            let a = Double(r[i]), b = Double(q[i])
            let e = b - a
            se += e * e
            sr += a * a
            sq += b * b
            d += a * b
            let ae = abs(e)
            if ae > mx || ae.isNaN { mx = ae }
        }
        count += n
        sumSquaredError += se
        sumSquaredReference += sr
        sumSquaredReconstructed += sq
        dot += d
        maxAbsError = mx
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
