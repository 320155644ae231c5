/// Chooses one option per item (a type per tensor) so that the summed cost (predicted KL
/// divergence) is smallest with the summed size within a budget: the multiple-choice knapsack,
/// solved exactly by dynamic programming over sizes counted in units of `unit` bytes.
///
/// Each option's size is rounded *up* to whole units and the budget *down*, so a solution the
/// table finds always fits the real budget in bytes; the rounding can only leave a little of the
/// budget unused (at most one unit per item).
public enum TypeAllocation {
    public struct Option: Sendable, Equatable {
        public var bytes: Int
        public var cost: Double
        public init(bytes: Int, cost: Double) {
            self.bytes = bytes
            self.cost = cost
        }
    }

    /// Index of the chosen option of every item, or nil when even the smallest options exceed the budget.
    /// `cells` bounds the table (items × budget units), which sets the unit.
    public static func solve(_ items: [[Option]], budget: Int, cells: Int = 8_000_000) -> [Int]? {
        guard budget >= 0, !items.isEmpty else { return items.isEmpty ? [] : nil }
        guard items.allSatisfy({ !$0.isEmpty }) else { return nil }
        let minimum = items.reduce(0) { $0 + ($1.map(\.bytes).min() ?? 0) }
        guard minimum <= budget else { return nil }
        let capacityUnits = max(1, cells / items.count)
        // budget / capacityUnits + 1 rather than a rounded-up division: a budget near Int.max must not overflow.
        let unit = budget <= capacityUnits ? 1 : budget / capacityUnits + 1
        let capacity = budget / unit
        let sizes = items.map { $0.map { $0.bytes / unit + ($0.bytes % unit == 0 ? 0 : 1) } }
        // A cost that is not a number (a probe that diverged) counts as the worst possible.
        let items = items.map { $0.map { Option(bytes: $0.bytes, cost: $0.cost.isFinite ? $0.cost : .greatestFiniteMagnitude / 1e6) } }
        let infinity = Double.infinity
        // best[c]: least cost of the items so far within c units; choice[i][c]: option taken.
        var best = [Double](repeating: 0, count: capacity + 1)
        var choice = [[UInt8]](repeating: [], count: items.count)
        var next = [Double](repeating: infinity, count: capacity + 1)
        for (i, options) in items.enumerated() {
            var chosen = [UInt8](repeating: UInt8.max, count: capacity + 1)
            for c in 0...capacity {
                var value = infinity
                var pick = UInt8.max
                for (k, option) in options.enumerated() where sizes[i][k] <= c {
                    let v = best[c - sizes[i][k]] + option.cost
                    if v < value {
                        value = v
                        pick = UInt8(k)
                    }
                }
                next[c] = value
                chosen[c] = pick
            }
            swap(&best, &next)
            choice[i] = chosen
        }
        guard best[capacity].isFinite else {
            // The rounded sizes did not fit where the exact ones would: the smallest options.
            let fallback = items.map { options in options.indices.min { options[$0].bytes < options[$1].bytes }! }
            return fallback
        }
        var picks = [Int](repeating: 0, count: items.count)
        var c = capacity
        for i in stride(from: items.count - 1, through: 0, by: -1) {
            let k = Int(choice[i][c])
            picks[i] = k
            c -= sizes[i][k]
        }
        return picks
    }
}
