import Dispatch

/// Collects, for chosen weight matrices, H = Σ x xᵀ over every input row x of the forward pass:
/// the Gram matrix of the calibration activations, whose diagonal is the importance matrix's sums.
/// GPTQ and AWQ measure a quantized matrix's output error with it (‖(W − W̃)Xᵀ‖² = Σ e H eᵀ).
///
/// Matrices that multiply the same input (q/k/v after the attention norm, gate/up after the FFN
/// norm) share one H: when a wanted matrix's first input is the very buffer, of the same shape,
/// that the previous matmul of its layer read, it is recorded as an alias of that one. H is f32,
/// `columns²` values per distinct input, summed chunk by chunk; only the upper triangle is
/// accumulated and `matrix(for:)` mirrors it. Expert matmuls (`observeExperts`) are not collected.
public final class HessianCollector: ActivationObserver {
    public final class Entry: @unchecked Sendable {
        public let columns: Int
        public fileprivate(set) var tokens = 0
        /// columns × columns, row-major; symmetric once `finish()` has run.
        public let values: UnsafeMutablePointer<Float>
        /// Σ |x| per column (AWQ's activation magnitude is its mean).
        public fileprivate(set) var absoluteSums: [Float]

        init(columns: Int) {
            self.columns = columns
            values = .allocate(capacity: columns * columns)
            values.initialize(repeating: 0, count: columns * columns)
            absoluteSums = [Float](repeating: 0, count: columns)
        }

        deinit { values.deallocate() }
    }

    public let threads: Int
    private let wants: (String) -> Bool
    private var entries: [String: Entry] = [:]
    private var aliases: [String: String] = [:]
    private var previous: (name: String, input: UnsafePointer<Float>, rows: Int, columns: Int)?
    private var scratch: UnsafeMutablePointer<Float>?
    private var scratchCapacity = 0
    /// The first matrix whose sums stopped being finite.
    public private(set) var nonFiniteTensor: String?

    public init(threads: Int = 1, wants: @escaping (String) -> Bool) {
        self.threads = max(1, threads)
        self.wants = wants
    }

    deinit { scratch?.deallocate() }

    /// The matrices collected (aliases included).
    public var names: [String] { Array(entries.keys) + Array(aliases.keys) }

    /// The name whose entry `name` shares (itself when it has its own).
    public func leader(of name: String) -> String { aliases[name] ?? name }

    /// H for `name`, or nil when it was never observed.
    public func matrix(for name: String) -> Entry? { entries[leader(of: name)] }

    /// Mirrors the accumulated upper triangles; call once the passes are done.
    public func finish() {
        for entry in entries.values {
            let n = entry.columns, h = entry.values
            for i in 0..<n {
                for j in 0..<i { h[i * n + j] = h[j * n + i] }
            }
        }
    }

    public func observe(weight: String, input: UnsafePointer<Float>, rows: Int, columns: Int) {
        defer { previous = (weight, input, rows, columns) }
        guard rows > 0, columns > 0, wants(weight) else { return }
        if aliases[weight] != nil { return }
        if entries[weight] == nil, let p = previous, p.input == input, p.rows == rows, p.columns == columns,
           Self.layer(of: p.name) == Self.layer(of: weight), entries[leader(of: p.name)] != nil {
            aliases[weight] = leader(of: p.name)
            return
        }
        let entry = entries[weight] ?? {
            let made = Entry(columns: columns)
            entries[weight] = made
            return made
        }()
        guard entry.columns == columns else { return }
        accumulate(input, rows: rows, into: entry)
        entry.absoluteSums.withUnsafeMutableBufferPointer { sums in
            for t in 0..<rows {
                for j in 0..<columns { sums[j] += abs(input[t * columns + j]) }
            }
        }
        entry.tokens += rows
        if nonFiniteTensor == nil, !(0..<columns).allSatisfy({ entry.values[$0 * columns + $0].isFinite }) {
            nonFiniteTensor = weight
        }
    }

    public func observeExperts(weight: String, input: UnsafePointer<Float>, tokens: Int, columns: Int, inputsPerToken: Int,
                               selected: UnsafePointer<Int32>, used: Int, experts: Int) {
        previous = nil
    }

    /// `blk.N.` of a tensor name (nil for the non-layer tensors).
    static func layer(of name: String) -> Substring? {
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return rest[..<dot]
    }

    /// Upper triangle of H += XᵀX. X is transposed first (columns × tokens, tokens padded to a
    /// multiple of 8, columns to a multiple of 4, with zeros) so each H entry is a contiguous dot
    /// product; 4 × 4 tiles of H are summed at once in vector registers.
    private func accumulate(_ x: UnsafePointer<Float>, rows: Int, into entry: Entry) {
        let n = entry.columns
        let t8 = (rows + 7) & ~7
        let n4 = (n + 3) & ~3
        let needed = n4 * t8
        if needed > scratchCapacity {
            scratch?.deallocate()
            scratch = .allocate(capacity: needed)
            scratchCapacity = needed
        }
        let xt = scratch!
        xt.initialize(repeating: 0, count: needed)
        for t in 0..<rows {
            let row = x + t * n
            for j in 0..<n { xt[j * t8 + t] = row[j] }
        }
        let tiles = n4 / 4
        let shared = HessianBuffers(xt: xt, h: entry.values)
        @Sendable func tileRow(_ bi: Int) {
            let xt = shared.xt, h = shared.h
            let raw = UnsafeRawPointer(xt)
            for bj in bi..<tiles {
                var c00 = SIMD8<Float>.zero, c01 = SIMD8<Float>.zero, c02 = SIMD8<Float>.zero, c03 = SIMD8<Float>.zero
                var c10 = SIMD8<Float>.zero, c11 = SIMD8<Float>.zero, c12 = SIMD8<Float>.zero, c13 = SIMD8<Float>.zero
                var c20 = SIMD8<Float>.zero, c21 = SIMD8<Float>.zero, c22 = SIMD8<Float>.zero, c23 = SIMD8<Float>.zero
                var c30 = SIMD8<Float>.zero, c31 = SIMD8<Float>.zero, c32 = SIMD8<Float>.zero, c33 = SIMD8<Float>.zero
                let ai = bi * 4 * t8 * 4, bjo = bj * 4 * t8 * 4, stride = t8 * 4
                var off = 0
                while off < stride {
                    let a0 = raw.loadUnaligned(fromByteOffset: ai + off, as: SIMD8<Float>.self)
                    let a1 = raw.loadUnaligned(fromByteOffset: ai + stride + off, as: SIMD8<Float>.self)
                    let a2 = raw.loadUnaligned(fromByteOffset: ai + 2 * stride + off, as: SIMD8<Float>.self)
                    let a3 = raw.loadUnaligned(fromByteOffset: ai + 3 * stride + off, as: SIMD8<Float>.self)
                    let b0 = raw.loadUnaligned(fromByteOffset: bjo + off, as: SIMD8<Float>.self)
                    let b1 = raw.loadUnaligned(fromByteOffset: bjo + stride + off, as: SIMD8<Float>.self)
                    let b2 = raw.loadUnaligned(fromByteOffset: bjo + 2 * stride + off, as: SIMD8<Float>.self)
                    let b3 = raw.loadUnaligned(fromByteOffset: bjo + 3 * stride + off, as: SIMD8<Float>.self)
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3
                    off += 32
                }
                let sums: [[SIMD8<Float>]] = [[c00, c01, c02, c03], [c10, c11, c12, c13], [c20, c21, c22, c23], [c30, c31, c32, c33]]
                for r in 0..<4 {
                    let i = bi * 4 + r
                    guard i < n else { continue }
                    for c in 0..<4 {
                        let j = bj * 4 + c
                        guard j < n, j >= i else { continue }
                        h[i * n + j] += sums[r][c].sum()
                    }
                }
            }
        }
        let workers = rows * n < (1 << 14) ? 1 : min(threads, tiles)
        if workers <= 1 {
            for bi in 0..<tiles { tileRow(bi) }
        } else {
            // Tile rows shrink towards the bottom of the triangle: dealt out round-robin.
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var bi = w
                while bi < tiles {
                    tileRow(bi)
                    bi += workers
                }
            }
        }
    }
}

private struct HessianBuffers: @unchecked Sendable {
    let xt: UnsafeMutablePointer<Float>
    let h: UnsafeMutablePointer<Float>
}
