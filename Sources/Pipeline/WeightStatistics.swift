/// Per-tensor statistics of the source weights (the `weight-stats` calibration stage): they
/// explain quantization error (heavy tails and outliers are what low-bit types lose).
public struct WeightStatistics: Sendable, Equatable {
    public private(set) var count = 0
    private var sum = 0.0, sumSquares = 0.0, sumCubes = 0.0, sumFourth = 0.0
    public private(set) var absMax = 0.0

    public init() {}

    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var s = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, m = absMax
        for v in values {
            let x = Double(v)
            let x2 = x * x
            s += x; s2 += x2; s3 += x2 * x; s4 += x2 * x2
            m = max(m, abs(x))
        }
        sum += s; sumSquares += s2; sumCubes += s3; sumFourth += s4; absMax = m
        count += values.count
    }

    public var mean: Double { count > 0 ? sum / Double(count) : 0 }
    public var standardDeviation: Double {
        guard count > 0 else { return 0 }
        return max(0, sumSquares / Double(count) - mean * mean).squareRoot()
    }

    /// Excess kurtosis (0 for a normal distribution; large for heavy tails).
    public var excessKurtosis: Double {
        guard count > 0 else { return 0 }
        let n = Double(count), mu = mean
        let m2 = sumSquares / n - mu * mu
        guard m2 > 0 else { return 0 }
        let m4 = sumFourth / n - 4 * mu * sumCubes / n + 6 * mu * mu * sumSquares / n - 3 * mu * mu * mu * mu
        return m4 / (m2 * m2) - 3
    }
}

/// Counts values further than six standard deviations from the mean, in a second look at the
/// same slabs once mean and deviation are known.
public struct OutlierCounter: Sendable {
    public let mean: Double
    public let threshold: Double
    public private(set) var outliers = 0

    public init(statistics: WeightStatistics) {
        mean = statistics.mean
        threshold = 6 * statistics.standardDeviation
    }

    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var n = 0
        for v in values where abs(Double(v) - mean) > threshold { n += 1 }
        outliers += n
    }
}
