import Dispatch

/// What llama-imatrix collects (`tools/imatrix/imatrix.cpp`, `IMatrixCollector::collect_imatrix`):
/// for every weight matrix whose name starts with `blk.` — and `output.weight` when asked
/// (`--process-output`) — the sum over all tokens of each input column's squared activation, and
/// the number of tokens summed.
///
/// The sums are single precision and added token by token in the order of the chunk, as
/// llama.cpp accumulates them (`acc[j] += x[j] * x[j]` into a `std::vector<float>`), so with the
/// same activations they are llama-imatrix's sums. Threads split the columns: each column is
/// still summed by one thread in token order, so the result does not depend on the thread count.
/// Accumulators are allocated once per tensor, on its first matmul.
///
/// An MoE layer's expert matmuls (`GGML_OP_MUL_MAT_ID`) are summed per expert, as llama-imatrix
/// does: slot by slot of the routing (each token's first choice, then its second, ...), token by
/// token within a slot, each activation added to the sums of the expert it was routed to, whose
/// count goes up by one.
public final class ImatrixCollector: ActivationObserver {
    /// One tensor's statistics, as written to `NAME.in_sum2` and `NAME.counts`: for a dense matrix
    /// one row of sums and one count; for an expert tensor (`*_exps`) one row of sums and one count
    /// per expert, expert after expert.
    public struct Entry: Equatable, Sendable {
        public let name: String
        /// `columns × experts` sums, expert-major.
        public let sums: [Float]
        /// Activations summed, one count per expert (one for a dense matrix).
        public let counts: [Int]

        public init(name: String, sums: [Float], counts: [Int]) {
            self.name = name
            self.sums = sums
            self.counts = counts
        }

        /// A dense matrix's entry.
        public init(name: String, sums: [Float], count: Int) {
            self.init(name: name, sums: sums, counts: [count])
        }

        /// Activations summed over all experts (a dense matrix's token count).
        public var count: Int { counts.reduce(0, +) }
    }

    /// Collect `output.weight` too (only an untied output has that name; a tied one is
    /// `token_embd.weight` and is never collected, as in llama.cpp).
    public let includesOutput: Bool
    public let threads: Int
    private var accumulators: [String: Accumulator] = [:]
    /// The first tensor whose sums stopped being finite (llama-imatrix aborts on it).
    public private(set) var nonFiniteTensor: String?

    public init(includesOutput: Bool = false, threads: Int = 1) {
        self.includesOutput = includesOutput
        self.threads = max(1, threads)
    }

    deinit {
        for accumulator in accumulators.values { accumulator.sums.deallocate() }
    }

    public func collects(_ weight: String) -> Bool {
        weight.hasPrefix("blk.") || (includesOutput && weight == "output.weight")
    }

    public func observe(weight: String, input: UnsafePointer<Float>, rows: Int, columns: Int) {
        guard rows > 0, collects(weight) else { return }
        let accumulator = accumulator(weight, columns: columns, experts: 1)
        Self.addSquares(input, rows: rows, columns: columns, into: accumulator.sums, threads: threads)
        accumulator.counts[0] += rows
        if nonFiniteTensor == nil {
            for j in 0..<columns where !accumulator.sums[j].isFinite {
                nonFiniteTensor = weight
                break
            }
        }
    }

    public func observeExperts(
        weight: String, input: UnsafePointer<Float>, tokens: Int, columns: Int, inputsPerToken: Int,
        selected: UnsafePointer<Int32>, used: Int, experts: Int
    ) {
        guard tokens > 0, used > 0, collects(weight) else { return }
        let accumulator = accumulator(weight, columns: columns, experts: experts)
        var touched = [Bool](repeating: false, count: experts)
        for slot in 0..<used {
            for t in 0..<tokens {
                let expert = Int(selected[t * used + slot])
                // The forward pass routes only to experts it has; a wrong id would be its bug.
                precondition(expert >= 0 && expert < experts, "\(weight): expert \(expert) of \(experts)")
                touched[expert] = true
                accumulator.counts[expert] += 1
            }
        }
        let shared = SharedBuffers(x: input, sums: accumulator.sums)
        let selection = UncheckedSendable(selected)
        let workers = tokens * used * columns < (1 << 16) ? 1 : min(threads, max(1, columns / 64))
        let perWorker = ((columns + workers - 1) / workers + 7) & ~7
        let run: @Sendable (Int) -> Void = { w in
            let lo = min(columns, w * perWorker), hi = min(columns, lo + perWorker)
            guard lo < hi else { return }
            for slot in 0..<used {
                for t in 0..<tokens {
                    let expert = Int(selection.value[t * used + slot])
                    let row = shared.x + (t * inputsPerToken + slot % inputsPerToken) * columns
                    ImatrixCollector.addSquares(row, rows: 1, stride: columns, columns: lo..<hi,
                                                into: shared.sums + expert * columns)
                }
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
        if nonFiniteTensor == nil {
            for e in 0..<experts where touched[e] {
                if (0..<columns).contains(where: { !accumulator.sums[e * columns + $0].isFinite }) {
                    nonFiniteTensor = weight
                    break
                }
            }
        }
    }

    /// The tensor's accumulator, made on its first matmul.
    private func accumulator(_ weight: String, columns: Int, experts: Int) -> Accumulator {
        if let existing = accumulators[weight] {
            // A matrix is always multiplied with the same input width; llama-imatrix exits on a mismatch.
            precondition(existing.columns == columns && existing.experts == experts,
                         "\(weight): activations of \(columns) columns × \(experts) after \(existing.columns) × \(existing.experts)")
            return existing
        }
        let accumulator = Accumulator(columns: columns, experts: experts)
        accumulators[weight] = accumulator
        return accumulator
    }

    /// The statistics so far, sorted by tensor name (llama-imatrix's file order).
    public var entries: [Entry] {
        accumulators.sorted { $0.key < $1.key }.map { name, a in
            Entry(name: name, sums: Array(UnsafeBufferPointer(start: a.sums, count: a.columns * a.experts)), counts: a.counts)
        }
    }

    /// `sums[j] += x[r][j]²` for every row r in order; columns split between threads in blocks of 8.
    static func addSquares(_ x: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>,
                           threads: Int) {
        // Below this many values a thread costs more to start than the work it takes.
        let workers = rows * columns < (1 << 16) ? 1 : min(threads, max(1, columns / 64))
        let shared = SharedBuffers(x: x, sums: sums)
        let perWorker = ((columns + workers - 1) / workers + 7) & ~7
        let run: @Sendable (Int) -> Void = { w in
            let lo = min(columns, w * perWorker), hi = min(columns, lo + perWorker)
            addSquares(shared.x, rows: rows, stride: columns, columns: lo..<hi, into: shared.sums)
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }

    @inline(__always)
    static func addSquares(_ x: UnsafePointer<Float>, rows: Int, stride: Int, columns: Range<Int>,
                           into sums: UnsafeMutablePointer<Float>) {
        let lo = columns.lowerBound, hi = columns.upperBound
        let hi8 = lo + ((hi - lo) & ~7)
        let s = UnsafeMutableRawPointer(sums)
        for r in 0..<rows {
            let row = x + r * stride
            let p = UnsafeRawPointer(row)
            var j = lo
            while j < hi8 {
                let v = p.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                let acc = s.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                // Product then sum, two roundings, as ggml's scalar loop compiles without FMA.
                s.storeBytes(of: acc + v * v, toByteOffset: j * 4, as: SIMD8<Float>.self)
                j += 8
            }
            while j < hi {
                sums[j] += row[j] * row[j]
                j += 1
            }
        }
    }
}

/// One tensor's running sums (allocated once, zeroed; `columns` per expert) and counts.
private final class Accumulator {
    let columns: Int
    let experts: Int
    let sums: UnsafeMutablePointer<Float>
    var counts: [Int]

    init(columns: Int, experts: Int) {
        self.columns = columns
        self.experts = experts
        sums = UnsafeMutablePointer<Float>.allocate(capacity: columns * experts)
        sums.initialize(repeating: 0, count: columns * experts)
        counts = [Int](repeating: 0, count: experts)
    }
}

/// Pointers shared by the column workers, which write disjoint columns.
private struct SharedBuffers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let sums: UnsafeMutablePointer<Float>
}
