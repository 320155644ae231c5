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
public final class ImatrixCollector: ActivationObserver {
    /// One tensor's statistics, as written to `NAME.in_sum2` and `NAME.counts`.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let sums: [Float]
        public let count: Int

        public init(name: String, sums: [Float], count: Int) {
            self.name = name
            self.sums = sums
            self.count = count
        }
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
        let accumulator: Accumulator
        if let existing = accumulators[weight] {
            // A matrix is always multiplied with the same input width; llama-imatrix exits on a mismatch.
            precondition(existing.columns == columns, "\(weight): activations of \(columns) columns after \(existing.columns)")
            accumulator = existing
        } else {
            accumulator = Accumulator(columns: columns)
            accumulators[weight] = accumulator
        }
        Self.addSquares(input, rows: rows, columns: columns, into: accumulator.sums, threads: threads)
        accumulator.count += rows
        if nonFiniteTensor == nil {
            for j in 0..<columns where !accumulator.sums[j].isFinite {
                nonFiniteTensor = weight
                break
            }
        }
    }

    /// The statistics so far, sorted by tensor name (llama-imatrix's file order).
    public var entries: [Entry] {
        accumulators.sorted { $0.key < $1.key }.map { name, a in
            Entry(name: name, sums: Array(UnsafeBufferPointer(start: a.sums, count: a.columns)), count: a.count)
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

/// One tensor's running sums (allocated once, zeroed) and token count.
private final class Accumulator {
    let columns: Int
    let sums: UnsafeMutablePointer<Float>
    var count = 0

    init(columns: Int) {
        self.columns = columns
        sums = UnsafeMutablePointer<Float>.allocate(capacity: columns)
        sums.initialize(repeating: 0, count: columns)
    }
}

/// Pointers shared by the column workers, which write disjoint columns.
private struct SharedBuffers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let sums: UnsafeMutablePointer<Float>
}
