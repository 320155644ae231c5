import Testing
@testable import Quantization

/// The IQ2 neighbour search over the compact lists (`bestNeighbourQ`) against ggml's
/// iq2_find_best_neighbour written out as its scalar scan here, over the lists that
/// IQ2GoldenTests.neighbourTablesMatchGGML checks against ggml's own tables: for every point off
/// each codebook, the same winner (levels) for random, tied and non-finite inputs.
@Suite struct IQ2CompactSearchTests {
    /// ggml's scan: d2 = sum w_i * diff * diff, diff = scale * q - x_i (q = 2l+1), the first
    /// neighbour with d2 < the best so far, starting from FLT_MAX. nil when none (ggml aborts).
    static func ggmlBest(_ t: IQ2Table, start: Int, count: Int, x: [Float], w: [Float], scale: Float) -> Int? {
        var best: Float = .greatestFiniteMagnitude
        var found: Int?
        for k in 0..<count {
            let j = Int(t.neighbours[start + k])
            var d2: Float = 0
            for i in 0..<8 {
                let q = Float(2 * Int(t.level(j, i)) + 1)
                let diff = scale * q - x[i]
                d2 += w[i] * diff * diff
            }
            if d2 < best {
                best = d2
                found = j
            }
        }
        return found
    }

    static func inputs(seed: UInt64) -> [(x: [Float], w: [Float], scale: Float)] {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float((state >> 40) % 1000) / 1000
        }
        let x = (0..<8).map { _ in 4 * next() }, w = (0..<8).map { _ in next() + 0.01 }
        return [
            (x, w, 0.5 + next()),
            // Every neighbour at the same distance from a point where all values tie: the
            // first in list order wins.
            ([Float](repeating: 3, count: 8), [Float](repeating: 1, count: 8), 1),
            // Few distinct coordinates: many exact ties between neighbours.
            ((0..<8).map { Float($0 % 2) * 2 + 2 }, [Float](repeating: 0.5, count: 8), 1),
            // Zero weights: every d2 is 0, the first neighbour wins.
            (x, [Float](repeating: 0, count: 8), 0.7),
            // NaN in the point: no d2 below FLT_MAX (ggml aborts); the first neighbour.
            ([.nan] + x.dropFirst(), w, 0.9),
            // Huge values: every d2 overflows to infinity.
            ([Float](repeating: 3e38, count: 8), w, 1e-30),
        ]
    }

    @Test(arguments: ["IQ2_XXS", "IQ2_XS", "IQ2_S"])
    func compactSearchIsGGMLsScan(_ name: String) throws {
        let t = try #require(["IQ2_XXS": IQ2Table.iq2xxs, "IQ2_XS": IQ2Table.iq2xs, "IQ2_S": IQ2Table.iq2s][name])
        var points = 0, longLists = 0
        for u in 0..<IQ2Table.mapSize where (0..<8).allSatisfy({ (u >> (2 * $0)) & 3 <= 2 }) {
            guard let list = t.list(u) else { continue }
            let compact = try #require(t.lookupCompact(u))
            #expect(compact.index < 0 && compact.groups == (list.count + 15) / 16)
            points += 1
            if list.count > 16 { longLists += 1 }
            for (x, w, scale) in Self.inputs(seed: UInt64(u)) {
                let expected = Self.ggmlBest(t, start: list.start, count: list.count, x: x, w: w, scale: scale)
                    ?? Int(t.neighbours[list.start])
                var levels = [Int8](repeating: -1, count: 8)
                x.withUnsafeBufferPointer { xb in
                    w.withUnsafeBufferPointer { wb in
                        levels.withUnsafeMutableBufferPointer { lb in
                            t.bestNeighbourQ(group: compact.group, groups: compact.groups, x: xb.baseAddress!,
                                             w: wb.baseAddress!, scale: scale, L: lb.baseAddress!)
                        }
                    }
                }
                let want = (0..<8).map { t.level(expected, $0) }
                if levels != want {
                    Issue.record("\(name) point \(u) scale \(scale): \(levels) != ggml's \(want) (entry \(expected))")
                    return
                }
            }
        }
        // Every off-codebook point was searched, and lists of more than one vector were among them.
        #expect(points == 6561 - t.gridSize)
        #expect(longLists > 100)
    }

    /// The IQ1 codebook's values are not 2l+1: it has no compact lists, and the lookup says so.
    @Test func iq1HasNoCompactLists() {
        let t = IQ2Table.iq1s
        var off = 0
        for u in 0..<IQ2Table.mapSize where (0..<8).allSatisfy({ (u >> (2 * $0)) & 3 <= 2 }) && t.list(u) != nil {
            off += 1
            #expect(t.lookupCompact(u) == nil)
        }
        #expect(off == 6561 - t.gridSize)
    }
}
