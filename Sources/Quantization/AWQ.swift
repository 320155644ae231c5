#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM Compression and
/// Acceleration", 2023) as a change of variables that leaves the float model's function alone.
///
/// A matrix W that reads the output of an RMS norm with weight g computes W (n(x) ⊙ g). With a
/// positive scale s per input channel, W' = W · diag(s) and g' = g ⊘ s compute exactly the same
/// thing, but W' is rounded differently: channels with large activations (large s) get larger
/// weights, so the type's rounding step is relatively smaller on them, where an error costs the
/// most. The scale is s = m^α (m: the channel's mean |activation|), normalised so that
/// max(s)·min(s) = 1; α is searched on the calibration activations.
public enum AWQ {
    /// s_j = max(m_j, 1e-4)^α / √(max·min), as the reference implementation normalises it.
    public static func scales(meanMagnitude m: [Float], alpha: Double) -> [Float] {
        guard alpha != 0, !m.isEmpty else { return [Float](repeating: 1, count: m.count) }
        var s = m.map { Float(pow(Double(max($0.isFinite ? $0 : 0, 1e-4)), alpha)) }
        let hi = s.max() ?? 1, lo = s.min() ?? 1
        let norm = (hi * lo).squareRoot()
        if norm > 0, norm.isFinite { for j in s.indices { s[j] /= norm } }
        return s
    }

    /// W · diag(s): column j of every row times s_j (`weights`: rows × s.count, row-major).
    public static func scaleColumns(_ weights: UnsafeMutablePointer<Float>, rows: Int, by s: [Float]) {
        let n = s.count
        for r in 0..<rows {
            let row = weights + r * n
            for j in 0..<n { row[j] *= s[j] }
        }
    }

    /// W · diag(1/s): undoes `scaleColumns` (a rounded W' back in the original variables).
    public static func unscaleColumns(_ weights: UnsafeMutablePointer<Float>, rows: Int, by s: [Float]) {
        let n = s.count
        for r in 0..<rows {
            let row = weights + r * n
            for j in 0..<n { row[j] /= s[j] }
        }
    }

    /// The norm's weights with the scale divided out: g ⊘ s.
    public static func foldedNorm(_ g: [Float], scales s: [Float]) -> [Float] {
        zip(g, s).map { $0 / $1 }
    }
}
