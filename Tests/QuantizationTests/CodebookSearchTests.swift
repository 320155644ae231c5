import CCodebookSearch
import Testing

/// The C scoring loop of the codebook searches against ggml's neighbour scan written out plainly
/// (iq2_find_best_neighbour's loop: d2 = 0, d2 += w * diff * diff per coordinate in order, the first
/// candidate with the smallest d2 below FLT_MAX by strict <; ggml aborts where none is, the
/// kernel answers 0). The golden tests check the quantizers' bytes against libggml; this checks
/// the kernel alone on the cases those rarely reach: exact ties, NaN, overflow, 4 and 8 coordinates.
struct CodebookSearchTests {
    /// ggml's scan over the kernel's layout.
    static func scan(
        _ rows: [UInt8], count: Int, coords: Int, x: [Float], w: [Float], scale: Float, values: [Float]
    ) -> Int32 {
        var best = Float.greatestFiniteMagnitude
        var first: Int32 = -1
        for c in 0..<count {
            var d2: Float = 0
            for i in 0..<coords {
                let level = Int(rows[(c / 16) * coords * 16 + 16 * i + c % 16])
                let diff = scale * values[level] - x[i]
                let term = w[i] * diff
                d2 += term * diff
            }
            if d2 < best {
                best = d2
                first = Int32(c)
            }
        }
        return first < 0 ? 0 : first
    }

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func unit() -> Float { Float(next() % 2_000_001) / 1_000_000 - 1 }
    }

    static func check(coords: Int, levels: Int, groups: Int, seed: UInt64, edit: (inout [Float], inout [Float], inout Float) -> Void = { _, _, _ in }) -> (kernel: Int32, scan: Int32) {
        var g = Generator(state: seed)
        var rows = (0..<(groups * coords * 16)).map { _ in UInt8(g.next() % UInt64(levels)) }
        // Copy some candidates onto others so that exact ties occur at different positions.
        for _ in 0..<4 {
            let a = Int(g.next() % UInt64(groups * 16)), b = Int(g.next() % UInt64(groups * 16))
            for i in 0..<coords {
                rows[(b / 16) * coords * 16 + 16 * i + b % 16] = rows[(a / 16) * coords * 16 + 16 * i + a % 16]
            }
        }
        var values = [Float](repeating: 0, count: 16)
        for l in 0..<levels { values[l] = Float(2 * l + 1) }
        var x = (0..<coords).map { _ in abs(g.unit()) * Float(2 * levels) }
        var w = (0..<coords).map { _ in abs(g.unit()) + 0.01 }
        var scale = abs(g.unit()) + 0.5
        edit(&x, &w, &scale)
        let kernel = rows.withUnsafeBufferPointer { r in
            quantd_codebook_first_best(r.baseAddress!, Int32(groups), Int32(coords), x, w, scale, values)
        }
        return (kernel, scan(rows, count: groups * 16, coords: coords, x: x, w: w, scale: scale, values: values))
    }

    @Test(arguments: [(8, 3), (4, 8)])
    func kernelIsGGMLsScan(coords: Int, levels: Int) {
        for seed in 1...400 {
            let r = Self.check(coords: coords, levels: levels, groups: 1 + Int(seed % 4), seed: UInt64(seed) &* 0x9E37_79B9)
            #expect(r.kernel == r.scan, "seed \(seed): kernel \(r.kernel), scan \(r.scan)")
        }
    }

    @Test func identicalCandidatesGoToTheFirst() {
        // Every candidate the same: all scores equal, so position 0.
        let rows = [UInt8](repeating: 1, count: 2 * 8 * 16)
        let values: [Float] = [1, 3, 5] + [Float](repeating: 0, count: 13)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8], w = [Float](repeating: 1, count: 8)
        #expect(quantd_codebook_first_best(rows, 2, 8, x, w, 0.7, values) == 0)
    }

    @Test func noFiniteScoreGivesPositionZero() {
        let nan = Self.check(coords: 8, levels: 3, groups: 2, seed: 7) { x, _, _ in x[3] = .nan }
        #expect(nan.kernel == 0 && nan.scan == 0)
        let huge = Self.check(coords: 8, levels: 3, groups: 2, seed: 8) { _, w, _ in w[0] = 3e38 }
        #expect(huge.kernel == huge.scan)
        let infinite = Self.check(coords: 4, levels: 8, groups: 1, seed: 9) { _, _, scale in scale = .infinity }
        #expect(infinite.kernel == 0 && infinite.scan == 0)
    }
}
