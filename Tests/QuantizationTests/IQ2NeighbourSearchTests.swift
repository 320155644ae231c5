import Testing
@testable import Quantization

/// The codebook neighbour search (`IQ2Table.rows`, the C scoring loop over CodebookRows) against
/// ggml's iq2_find_best_neighbour / iq1_find_best_neighbour2 written out as their scalar scan
/// here, over the lists that IQ2GoldenTests.neighbourTablesMatchGGML checks against ggml's own
/// tables: for every point off each codebook, the same winner (levels) for random, tied and
/// non-finite inputs, with IQ2's values and IQ1's two shifted ones.
@Suite struct IQ2NeighbourSearchTests {
    /// ggml's scan: d2 = sum w_i * diff * diff, diff = scale * q - x_i (q = values[l]), the first
    /// neighbour with d2 < the best so far, starting from FLT_MAX. nil when none (ggml aborts).
    static func ggmlBest(
        _ t: IQ2Table, start: Int, count: Int, x: [Float], w: [Float], scale: Float, values: [Float]
    ) -> Int? {
        var best: Float = .greatestFiniteMagnitude
        var found: Int?
        for k in 0..<count {
            let j = Int(t.neighbours[start + k])
            var d2: Float = 0
            for i in 0..<8 {
                let q = values[Int(t.level(j, i))]
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
            // A negative weight (a hostile importance matrix): negative distances.
            (x, [-1] + w.dropFirst(), 0.8),
        ]
    }

    @Test(arguments: ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S+", "IQ1_S-"])
    func searchIsGGMLsScan(_ name: String) throws {
        let tables = ["IQ2_XXS": IQ2Table.iq2xxs, "IQ2_XS": IQ2Table.iq2xs, "IQ2_S": IQ2Table.iq2s,
                      "IQ1_S+": IQ2Table.iq1s, "IQ1_S-": IQ2Table.iq1s]
        let t = try #require(tables[name])
        let d = IQ1.delta
        let (values, levelValues): ([Float], LevelValues) =
            name == "IQ1_S+" ? ([-1 + d, d, 1 + d], .iq1Plus)
            : name == "IQ1_S-" ? ([-1 - d, -d, 1 - d], .iq1Minus) : ([1, 3, 5], .iq2)
        var points = 0, longLists = 0
        for u in 0..<IQ2Table.mapSize where (0..<8).allSatisfy({ (u >> (2 * $0)) & 3 <= 2 }) {
            guard let list = t.list(u) else { continue }
            points += 1
            if list.count > 16 { longLists += 1 }
            for (x, w, scale) in Self.inputs(seed: UInt64(u)) {
                let expected = Self.ggmlBest(t, start: list.start, count: list.count, x: x, w: w, scale: scale,
                                             values: values) ?? Int(t.neighbours[list.start])
                var levels = [Int8](repeating: -1, count: 8)
                let index = x.withUnsafeBufferPointer { xb in
                    w.withUnsafeBufferPointer { wb in
                        levels.withUnsafeMutableBufferPointer { lb in
                            t.rows.bestNeighbour(start: list.start, count: list.count, x: xb.baseAddress!,
                                                 w: wb.baseAddress!, scale: scale, values: levelValues, L: lb.baseAddress!)
                        }
                    }
                }
                let want = (0..<8).map { t.level(expected, $0) }
                if levels != want || index != expected {
                    Issue.record("\(name) point \(u) scale \(scale): \(levels) (\(index)) != ggml's \(want) (\(expected))")
                    return
                }
            }
        }
        // Every off-codebook point was searched, and lists of more than one group were among them.
        #expect(points == 6561 - t.gridSize)
        #expect(longLists > (name.hasPrefix("IQ2_S") ? 0 : 100))
    }
}
