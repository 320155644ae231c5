import Testing
@testable import Quantization

/// The vectorised IQ3 neighbour search (`IQ3Grid.bestNeighbourKey`) against ggml's
/// `iq3_find_best_neighbour` written out as a plain scalar scan over ggml's own tables
/// (Fixtures/iq3-tables.bin): for every off-grid tuple of both grids, the same winner, including
/// exact ties (the first candidate in ggml's list wins, also when the tied candidates sit in
/// different lanes and chunks of the vector search) and inputs with no finite distance.
@Suite struct IQ3NeighbourSearchTests {
    /// ggml's scan: distances in ggml's order, strict <, from FLT_MAX. Returns the winner's
    /// levels as a map key (nil when no distance is below FLT_MAX: ggml asserts there) and
    /// whether a later candidate in a later chunk of eight but an earlier lane ties with the winner
    /// (the case a per-lane search must resolve by candidate index, not by lane).
    static func ggmlWinner(
        _ t: IQ3Tests.GGMLTables, key: Int, x: [Float], w: [Float], scale: Float
    ) -> (key: Int?, crossChunkTie: Bool) {
        let offset = Int(-t.map[key] - 1)
        let n = Int(t.neighbours[offset])
        var d2s: [Float] = []
        var bestD2 = Float.greatestFiniteMagnitude
        var best = -1, bestJ = -1
        for j in 0..<n {
            let g = t.grid[Int(t.neighbours[offset + 1 + j])]
            var d2: Float = 0
            for i in 0..<4 {
                let q = Float(Int8(truncatingIfNeeded: g >> UInt32(8 * i)))
                let diff = scale * q - x[i]
                d2 += w[i] * diff * diff
            }
            d2s.append(d2)
            if d2 < bestD2 {
                bestD2 = d2
                best = Int(t.neighbours[offset + 1 + j])
                bestJ = j
            }
        }
        guard best >= 0 else { return (nil, false) }
        let crossChunkTie = (bestJ + 1..<n).contains { d2s[$0] == bestD2 && $0 / 8 > bestJ / 8 && $0 % 8 < bestJ % 8 }
        var levels = 0
        for i in 0..<4 { levels |= ((Int((t.grid[best] >> UInt32(8 * i)) & 0xFF) - 1) / 2) << (3 * i) }
        return (levels, crossChunkTie)
    }

    /// The first candidate of ggml's list for `key`, as a map key.
    static func firstCandidate(_ t: IQ3Tests.GGMLTables, key: Int) -> Int {
        let g = t.grid[Int(t.neighbours[Int(-t.map[key] - 1) + 1])]
        var levels = 0
        for i in 0..<4 { levels |= ((Int((g >> UInt32(8 * i)) & 0xFF) - 1) / 2) << (3 * i) }
        return levels
    }

    @Test(arguments: [256, 512])
    func matchesGGMLScanOnEveryOffGridTuple(_ size: Int) throws {
        let t = try #require(IQ3Tests.ggmlTables[size])
        let grid = size == 256 ? IQ3Grid.xxs : IQ3Grid.s
        var rng = SplitMix(seed: 20261208)
        func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.uniform() }
        var checked = 0, crossChunkTies = 0, multiChunk = 0
        for key in 0..<4096 where t.map[key] < 0 {
            let n = Int(t.neighbours[Int(-t.map[key] - 1)])
            if n > 8 { multiChunk += 1 }
            // The tuple's own levels, scaled, plus noise: realistic near-grid inputs.
            let scale = uniform(0.05, 0.5)
            let levels = (0..<4).map { Float(2 * ((key >> (3 * $0)) & 7) + 1) }
            var inputs: [(x: [Float], w: [Float], scale: Float)] = [
                (levels.map { $0 * scale + uniform(-scale, scale) }, (0..<4).map { _ in uniform(0, 3) }, scale),
                // Every distance 0: all candidates tie, the first wins.
                (levels.map { $0 * scale }, [0, 0, 0, 0], scale),
                // Equal magnitudes and weights: candidates that permute the same levels tie.
                ([1, 1, 1, 1].map { $0 * scale * 5 }, [1, 1, 1, 1], scale),
                // Scale 0: every distance is sum w * x^2, the same for all candidates.
                (levels, [0.5, 1, 2, 0.25], 0),
                // A NaN weight: no finite distance (ggml asserts; quantd takes the first candidate).
                (levels.map { $0 * scale }, [1, .nan, 1, 1], scale),
            ]
            // Integer-valued inputs make many distances exactly equal across the list.
            inputs.append(((0..<4).map { _ in Float(Int(uniform(0, 16))) }, [1, 1, 1, 1], 1))
            for input in inputs {
                let ggml = Self.ggmlWinner(t, key: key, x: input.x, w: input.w, scale: input.scale)
                let expected = ggml.key ?? Self.firstCandidate(t, key: key)
                let got = input.x.withUnsafeBufferPointer { x in
                    input.w.withUnsafeBufferPointer { w in
                        grid.bestNeighbourKey(
                            entry: grid.entry[key], x: x.baseAddress!, w: w.baseAddress!, scale: input.scale)
                    }
                }
                #expect(got == expected, "grid \(size), tuple \(key), x \(input.x), w \(input.w), scale \(input.scale)")
                if ggml.crossChunkTie { crossChunkTies += 1 }
                checked += 1
            }
        }
        #expect(checked == 6 * (4096 - size))
        #expect(multiChunk > 0)
        #expect(crossChunkTies > 0)
    }
}
