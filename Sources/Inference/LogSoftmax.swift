import Foundation

/// Sums over one row of logits — a whole vocabulary, per scored position and per model — for
/// perplexity and KL divergence, in vectors: exp by `AttentionTile.exp` (within 1 ulp of expf),
/// sums in Double per lane. The scalar expf and Double exp per value they replace were ~7 % of an
/// evaluation's CPU time (SmolLM2, default pipeline, measured), more than its attention.
enum LogSoftmax {
    typealias Lane = AttentionTile.Lane
    typealias DoubleHalf = AttentionTile.DoubleHalf
    static let width = Lane.scalarCount

    /// log p(token): `logit[token] - max - log Σ exp(logit - max)`.
    static func logProbability(_ logits: UnsafePointer<Float>, count n: Int, token: Int) -> Double {
        let (maxLogit, _) = maximum(logits, count: n)
        return Double(logits[token] - maxLogit) - logSumExp(logits, count: n, max: maxLogit)
    }

    /// log Σ exp(x - max), the sum in double.
    static func logSumExp(_ x: UnsafePointer<Float>, count n: Int, max m: Float) -> Double {
        let raw = UnsafeRawPointer(x), vectorEnd = n / width * width
        let mv = Lane(repeating: m)
        var low = DoubleHalf(), high = DoubleHalf()
        var j = 0
        while j < vectorEnd {
            let e = AttentionTile.exp(raw.loadUnaligned(fromByteOffset: j * 4, as: Lane.self) - mv)
            low += DoubleHalf(e.lowHalf)
            high += DoubleHalf(e.highHalf)
            j += width
        }
        var sum = (low + high).sum()
        for t in vectorEnd..<n { sum += Double(expf(x[t] - m)) }
        return log(sum)
    }

    /// The largest value and its first index (ties go to the lowest index, as in llama-perplexity).
    static func maximum(_ x: UnsafePointer<Float>, count n: Int) -> (Float, Int) {
        let raw = UnsafeRawPointer(x), vectorEnd = n / width * width
        var m = x[0]
        if vectorEnd > 0 {
            var mv = Lane(repeating: -.infinity)
            var j = 0
            while j < vectorEnd {
                let v = raw.loadUnaligned(fromByteOffset: j * 4, as: Lane.self)
                mv.replace(with: v, where: v .> mv)
                j += width
            }
            m = AttentionTile.largest(mv)
        }
        for t in vectorEnd..<n where x[t] > m { m = x[t] }
        // The first index holding it: one more pass that stops there (usually early in cache).
        var index = 0
        while index < n && !(x[index] == m) { index += 1 }
        return (m, index < n ? index : 0)
    }

    /// KL(P ‖ Q) for P = softmax(r), Q = softmax(c), given their log-normalizers (max + logSumExp):
    /// Σ P·(log P − log Q), where log P − log Q = (r − c) + (zc − zr). P is exp(r − zr) by the vector
    /// exp, divided by its own sum, so the rounding of zr cancels; identical rows give exactly 0.
    static func divergence(reference r: UnsafePointer<Float>, candidate c: UnsafePointer<Float>, count n: Int,
                           referenceNormalizer zr: Double, candidateNormalizer zc: Double) -> Double {
        let rr = UnsafeRawPointer(r), cr = UnsafeRawPointer(c), vectorEnd = n / width * width
        let zf = Float(zr), offset = Float(zc - zr)
        let zv = Lane(repeating: zf), ov = Lane(repeating: offset)
        var weightedLow = DoubleHalf(), weightedHigh = DoubleHalf(), massLow = DoubleHalf(), massHigh = DoubleHalf()
        var j = 0
        while j < vectorEnd {
            let rv = rr.loadUnaligned(fromByteOffset: j * 4, as: Lane.self)
            let cv = cr.loadUnaligned(fromByteOffset: j * 4, as: Lane.self)
            let p = AttentionTile.exp(rv - zv)
            let w = p * ((rv - cv) + ov)
            weightedLow += DoubleHalf(w.lowHalf)
            weightedHigh += DoubleHalf(w.highHalf)
            massLow += DoubleHalf(p.lowHalf)
            massHigh += DoubleHalf(p.highHalf)
            j += width
        }
        var weighted = (weightedLow + weightedHigh).sum(), mass = (massLow + massHigh).sum()
        for t in vectorEnd..<n {
            let p = expf(r[t] - zf)
            weighted += Double(p * ((r[t] - c[t]) + offset))
            mass += Double(p)
        }
        return weighted / mass
    }
}
