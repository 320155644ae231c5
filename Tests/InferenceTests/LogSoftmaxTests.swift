import Foundation
@testable import Inference
import Testing

/// The vectorized sums over a row of logits against the plain Double loops they replaced: these
/// feed every perplexity and KL divergence quantd reports.
struct LogSoftmaxTests {
    /// A row of `n` logits spread like a language model's (a few large, most far below the max),
    /// deterministic, with a duplicated maximum to check that the first index wins.
    static func row(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        var x = (0..<n).map { _ in 12 * next() - 8 + (next() < 0.01 ? 10 : 0) }
        let top = x.indices.max { x[$0] < x[$1] }!
        x[min(n - 1, top + 3)] = x[top]
        return x
    }

    @Test(arguments: [1, 15, 16, 49152, 49155])
    func sumsMatchTheDoubleLoops(n: Int) {
        let r = Self.row(n, seed: 7), c = Self.row(n, seed: 7).enumerated().map { $1 + Float($0 % 5) * 0.05 - 0.1 }
        let largest = r.max()!, firstMax = r.firstIndex(of: largest)!
        let (m, index) = LogSoftmax.maximum(r, count: n)
        #expect(m == largest && index == firstMax)
        let exact = { (x: [Float], m: Float) in log(x.reduce(0.0) { $0 + Foundation.exp(Double($1 - m)) }) }
        let lse = LogSoftmax.logSumExp(r, count: n, max: m)
        #expect(abs(lse - exact(r, m)) < 1e-6, "\(lse) vs \(exact(r, m))")

        let mc = c.max()!
        let zr = Double(m) + exact(r, m), zc = Double(mc) + exact(c, mc)
        var kl = 0.0
        for j in 0..<n {
            let lp = Double(r[j]) - zr, lq = Double(c[j]) - zc
            kl += Foundation.exp(lp) * (lp - lq)
        }
        let fast = LogSoftmax.divergence(reference: r, candidate: c, count: n, referenceNormalizer: zr, candidateNormalizer: zc)
        #expect(abs(fast - kl) <= 1e-5 * kl + 1e-12, "\(fast) vs \(kl)")
        if n > 1 { #expect(kl > 1e-4, "the rows differ, so the divergence is not ~0") }
        #expect(LogSoftmax.divergence(reference: r, candidate: r, count: n, referenceNormalizer: zr, candidateNormalizer: zr) == 0)
    }
}
