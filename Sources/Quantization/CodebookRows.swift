import CCodebookSearch

/// An IQ2Table's neighbour lists laid out for `quantd_codebook_first_best` (the C scoring loop):
/// per list, groups of 16 candidates (the last candidate repeated to fill the last group: an
/// equal score at a later position never wins), each group 8 rows of 16 level bytes. A value of
/// pointers to storage that is never freed (the tables are static, built once): passing one
/// around costs no reference counting in the quantizers' loops.
struct CodebookRows: @unchecked Sendable {
    /// The level rows of all lists, group after group.
    private let rows: UnsafeMutablePointer<UInt8>
    /// The codebook index of each candidate slot, in the same order, and its 8 levels (byte i =
    /// level i): the winner's levels without a second lookup.
    private let entries: UnsafeMutablePointer<UInt16>
    private let entryLevels: UnsafeMutablePointer<UInt64>
    /// List start / 8 (IQ2Table's starts are multiples of 8) -> that list's first group here.
    private let firstGroup: UnsafeMutablePointer<Int32>

    /// The lists of an IQ2Table: per list its start in `neighbours` and its length; `levels`
    /// per codebook entry (byte i = level i).
    init(listStart: [Int32], listCount: [Int32], neighbours: [UInt16], levels: [UInt64]) {
        var rowBytes: [UInt8] = [], slots: [UInt16] = []
        var first = [Int32](repeating: 0, count: neighbours.count / 8 + 1)
        for (start, count) in zip(listStart, listCount) {
            let start = Int(start), count = Int(count)
            first[start / 8] = Int32(slots.count / 16)
            let padded = (count + 15) / 16 * 16
            let list = (0..<padded).map { Int(neighbours[start + Swift.min($0, count - 1)]) }
            for g in stride(from: 0, to: padded, by: 16) {
                for i in 0..<8 {
                    for k in 0..<16 { rowBytes.append(UInt8(truncatingIfNeeded: levels[list[g + k]] >> UInt64(8 * i))) }
                }
                for k in 0..<16 { slots.append(UInt16(list[g + k])) }
            }
        }
        rows = .allocate(capacity: Swift.max(rowBytes.count, 1))
        rows.initialize(from: rowBytes, count: rowBytes.count)
        entries = .allocate(capacity: Swift.max(slots.count, 1))
        entries.initialize(from: slots, count: slots.count)
        entryLevels = .allocate(capacity: Swift.max(slots.count, 1))
        entryLevels.initialize(from: slots.map { levels[Int($0)] }, count: slots.count)
        firstGroup = .allocate(capacity: first.count)
        firstGroup.initialize(from: first, count: first.count)
    }

    /// ggml's iq2_find_best_neighbour (IQ2 codebooks, `values` = `.iq2`) and
    /// iq1_find_best_neighbour2 (IQ1, the block's shifted values) for the list at (`start`,
    /// `count`) as IQ2Table.lookup gives it: the codebook index of the neighbour with the smallest
    /// sum w_i (scale q_i - x_i)^2, q_i = values[level i], the first in list order on ties.
    /// Writes its 8 levels to L.
    @inline(__always)
    func bestNeighbour(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float,
        values: LevelValues = .iq2, L: UnsafeMutablePointer<Int8>
    ) -> Int {
        let group = Int(firstGroup[start / 8])
        let position = quantd_codebook_first_best(
            rows + 128 * group, Int32((count + 15) / 16), 8, x, w, scale, values.pointer)
        let slot = 16 * group + Int(position)
        UnsafeMutableRawPointer(L).storeBytes(of: entryLevels[slot], as: UInt64.self)
        return Int(entries[slot])
    }

    /// Queued searches of one group of 8 (at most one per trial scale), run by one call: the
    /// searches are independent, so each one's final reduction overlaps the next one's scoring
    /// (short lists, as IQ2_S's, are bound by that reduction's latency otherwise).
    struct Batch {
        let first: UnsafeMutablePointer<Int32>
        let groups: UnsafeMutablePointer<Int32>
        let scales: UnsafeMutablePointer<Float>
        let positions: UnsafeMutablePointer<Int32>
        /// The caller's tag of each search (its trial).
        let tags: UnsafeMutablePointer<Int32>
        var count = 0
        static let capacity = 32

        static func with(_ body: (inout Batch) -> Void) {
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 4 * capacity) { i in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity) { f in
                    let p = i.baseAddress!
                    var b = Batch(first: p, groups: p + capacity, scales: f.baseAddress!, positions: p + 2 * capacity,
                                  tags: p + 3 * capacity)
                    body(&b)
                }
            }
        }
    }

    /// Queues the search of the list at (`start`, `count`) at `scale`.
    @inline(__always)
    func add(_ batch: inout Batch, start: Int, count listCount: Int, scale: Float, tag: Int) {
        batch.first[batch.count] = firstGroup[start / 8]
        batch.groups[batch.count] = Int32((listCount + 15) / 16)
        batch.scales[batch.count] = scale
        batch.tags[batch.count] = Int32(tag)
        batch.count += 1
    }

    /// Runs the queued searches of one group (magnitudes x, weights w, IQ2 values); winner k's
    /// 8 levels are then `winnerLevels(batch, k)`.
    @inline(__always)
    func run(_ batch: Batch, x: UnsafePointer<Float>, w: UnsafePointer<Float>) {
        quantd_codebook_first_best_many(
            rows, batch.first, batch.groups, batch.scales, Int32(batch.count), 8, x, w, LevelValues.iq2.pointer,
            batch.positions)
    }

    @inline(__always)
    func winnerLevels(_ batch: Batch, _ k: Int) -> UInt64 {
        entryLevels[16 * Int(batch.first[k]) + Int(batch.positions[k])]
    }
}

/// The value each level stands for in a neighbour search's distance, as the scoring loop reads it
/// (16 floats, the unused ones 0).
struct LevelValues: @unchecked Sendable {
    let pointer: UnsafePointer<Float>

    init(_ values: [Float]) {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        p.initialize(repeating: 0, count: 16)
        for (l, v) in values.enumerated() { p[l] = v }
        pointer = UnsafePointer(p)
    }

    /// The IQ2 codebooks: 2l + 1.
    static let iq2 = LevelValues([1, 3, 5])
    /// IQ1's levels with the block's shift: (l - 1) + shift, exactly ggml's x_p and x_m.
    static let iq1Plus = LevelValues([-1 + IQ1.delta, IQ1.delta, 1 + IQ1.delta])
    static let iq1Minus = LevelValues([-1 - IQ1.delta, -IQ1.delta, 1 - IQ1.delta])
}
