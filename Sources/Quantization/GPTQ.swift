#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import GGUF
import Synchronization

/// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
/// Transformers", 2022) writing standard ggml blocks.
///
/// A weight matrix W (rows × n) is used as `y = W x`; over calibration inputs X the output error
/// of a quantized W̃ is ‖(W − W̃) Xᵀ‖² = Σ_rows e H eᵀ with H = XᵀX. GPTQ quantizes the columns in
/// order and, after each, moves the error it made onto the columns not yet quantized, in the
/// direction that H says undoes it best: with U the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), the
/// error of column j scaled by 1/U[j][j] is subtracted along row j of U.
///
/// ggml's types round a whole block (32 or 256 columns) with shared scales, so a block is rounded
/// when its first column comes up: the block's current (already corrected) weights go through the
/// type's own quantizer with the importance weights, the block is dequantized, and the columns'
/// errors are then fed forward one by one. Updates inside a group of columns are applied at once;
/// updates to the columns after the group are applied once per group (the "lazy batch" of the
/// paper), so the work is a matrix product rather than a column-by-column sweep.
public enum GPTQ {
    public enum FactorError: Error, CustomStringConvertible, Equatable {
        case notPositiveDefinite(columns: Int)
        case nonFinite

        public var description: String {
            switch self {
            case .notPositiveDefinite(let n):
                "the calibration Hessian (\(n) columns) stays singular even with 10× the damping; the calibration text is probably too short — use more chunks or a higher \"damp\""
            case .nonFinite:
                "the calibration Hessian holds a non-finite value; the model's activations overflowed on the calibration text"
            }
        }
    }

    /// The upper-triangular `U` (n × n, row-major, f32) with `UᵀU = (H + λI)⁻¹`, where
    /// λ = `damp` · mean(diag H) (the paper's dampening; a column never activated gets a diagonal of 1
    /// first, so it is rounded plainly and passes no error on). Computed in double precision. When
    /// H + λI is not positive definite the damping is raised tenfold, up to three times.
    ///
    /// With J the reversal of the column order and L the lower Cholesky factor of J(H + λI)J,
    /// `U = J L⁻¹ J`: (H + λI)⁻¹ = J L⁻ᵀ L⁻¹ J = (J L⁻¹ J)ᵀ (J L⁻¹ J), and J L⁻¹ J is upper
    /// triangular — one factorisation and one triangular inverse.
    public static func inverseFactor(hessian h: UnsafePointer<Float>, columns n: Int, damp: Double) throws(FactorError) -> [Float] {
        precondition(n > 0)
        var mean = 0.0
        for i in 0..<n {
            let d = Double(h[i * n + i])
            guard d.isFinite else { throw .nonFinite }
            mean += d
        }
        mean /= Double(n)
        if !(mean > 0) { mean = 1 }
        var lambda = damp * mean
        for _ in 0..<4 {
            // a = J (H + λI) J, with dead columns' diagonals set to 1.
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0...i {
                    var v = Double(h[(n - 1 - i) * n + (n - 1 - j)])
                    guard v.isFinite else { throw .nonFinite }
                    if i == j { v = (v == 0 ? 1 : v) + lambda }
                    a[i * n + j] = v
                }
            }
            if cholesky(&a, n: n) {
                let inverse = lowerInverse(a, n: n)
                var u = [Float](repeating: 0, count: n * n)
                for i in 0..<n {
                    for j in i..<n { u[i * n + j] = Float(inverse[(n - 1 - i) * n + (n - 1 - j)]) }
                }
                return u
            }
            lambda = max(lambda * 10, 1e-8)
        }
        throw .notPositiveDefinite(columns: n)
    }

    /// In-place lower Cholesky factor of the lower triangle of `a`; false when not positive definite.
    static func cholesky(_ a: inout [Double], n: Int) -> Bool {
        a.withUnsafeMutableBufferPointer { buffer -> Bool in
            let p = buffer.baseAddress!
            for i in 0..<n {
                let ri = p + i * n
                for j in 0...i {
                    let rj = p + j * n
                    var s = ri[j]
                    for k in 0..<j { s -= ri[k] * rj[k] }
                    if i == j {
                        guard s > 0, s.isFinite else { return false }
                        ri[i] = s.squareRoot()
                    } else {
                        ri[j] = s / rj[j]
                    }
                }
                for j in (i + 1)..<n { ri[j] = 0 }
            }
            return true
        }
    }

    /// L⁻¹ of a lower-triangular L, solved row by row (L X = I): each row of X is a combination of
    /// the rows above it, so the inner loop runs along contiguous rows.
    static func lowerInverse(_ l: [Double], n: Int) -> [Double] {
        var x = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { lb in
            x.withUnsafeMutableBufferPointer { xb in
                let lp = lb.baseAddress!, xp = xb.baseAddress!
                for i in 0..<n {
                    let xi = xp + i * n
                    xi[i] = 1
                    for k in 0..<i {
                        let c = lp[i * n + k]
                        if c == 0 { continue }
                        let xk = xp + k * n
                        for j in 0...k { xi[j] -= c * xk[j] }
                    }
                    let d = 1 / lp[i * n + i]
                    for j in 0...i { xi[j] *= d }
                }
            }
        }
        return x
    }

    /// Rounds one block of one row: `values` (the block's current weights, `blockWidth` of them,
    /// starting at column `column` of row `row`) → `rounded` (what the stored block dequantizes to).
    public typealias BlockRounder = @Sendable (_ row: Int, _ column: Int, _ values: UnsafePointer<Float>,
                                     _ rounded: UnsafeMutablePointer<Float>) -> Void

    /// The column sweep, independent of the number format: `weights` (rows × n, row-major) is
    /// overwritten with the rounded values; `round` is called once per block, in column order
    /// within each row, with the weights as corrected so far. Rows are independent (H is shared),
    /// so they are split between threads in tiles.
    /// Re-rounds one value inside a block already stored, keeping the block's scales: the stored
    /// code of `column` of `row` is set to the level nearest `value`, which is returned.
    public typealias LevelRounder = @Sendable (_ row: Int, _ column: Int, _ value: Float) -> Float

    public static func sweep(weights: UnsafeMutablePointer<Float>, rows: Int, columns n: Int, factor u: UnsafePointer<Float>,
                             blockWidth: Int, threads: Int, round: BlockRounder, reround: LevelRounder? = nil) {
        precondition(blockWidth > 0 && n % blockWidth == 0)
        // Lazy updates once per 128 columns or one block, whichever is wider.
        let group = max(blockWidth, (128 / blockWidth) * blockWidth)
        let tile = 8
        let tiles = (rows + tile - 1) / tile
        let shared = UncheckedPointers(w: weights, u: u)
        @Sendable func work(_ t: Int) {
            let r0 = t * tile, r1 = min(rows, r0 + tile)
            let count = r1 - r0
            let errors = UnsafeMutablePointer<Float>.allocate(capacity: tile * group)
            let rounded = UnsafeMutablePointer<Float>.allocate(capacity: tile * blockWidth)
            defer { errors.deallocate(); rounded.deallocate() }
            let w = shared.w, u = shared.u
            var g0 = 0
            while g0 < n {
                let g1 = min(n, g0 + group)
                for j in g0..<g1 {
                    let inBlock = j % blockWidth
                    if inBlock == 0 {
                        for r in 0..<count {
                            round(r0 + r, j, w + (r0 + r) * n + j, rounded + r * blockWidth)
                        }
                    }
                    let urow = u + j * n
                    let d = urow[j]
                    for r in 0..<count {
                        let row = w + (r0 + r) * n
                        var q = rounded[r * blockWidth + inBlock]
                        if let reround, inBlock > 0 { q = reround(r0 + r, j, row[j]) }
                        let e = (row[j] - q) / d
                        errors[r * group + (j - g0)] = e
                        row[j] = q
                        if e != 0 { axpy(-e, urow + j + 1, row + j + 1, count: g1 - j - 1) }
                    }
                }
                if g1 < n {
                    for g in g0..<g1 {
                        let urow = u + g * n + g1
                        for r in 0..<count {
                            let e = errors[r * group + (g - g0)]
                            if e != 0 { axpy(-e, urow, w + (r0 + r) * n + g1, count: n - g1) }
                        }
                    }
                }
                g0 = g1
            }
        }
        let workers = min(max(1, threads), tiles)
        if workers <= 1 {
            for t in 0..<tiles { work(t) }
        } else {
            let next = TileCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let t = next.take(below: tiles) { work(t) }
            }
        }
    }

    /// GPTQ into ggml blocks of `type`: `weights` (rows × n) are corrected in place and end up
    /// holding the dequantized result; `output` receives the rows' blocks, exactly
    /// `Quantizer.byteCount(type, rows:, rowLength: n)` bytes. `importance` (n values) is passed
    /// to the type's quantizer for each block, as for a plain row.
    public static func quantize(_ type: GGMLType, weights: UnsafeMutablePointer<Float>, rows: Int, columns n: Int,
                                factor u: UnsafePointer<Float>, importance: UnsafePointer<Float>?,
                                into output: UnsafeMutableRawBufferPointer, threads: Int) throws {
        _ = try Quantizer.validate(type, count: rows * n, rowLength: n,
                                   importance: importance.map { UnsafeBufferPointer(start: $0, count: n) },
                                   outputBytes: output.count)
        guard rows > 0, let base = output.baseAddress else { return }
        let block = type.blockSize
        let rowBytes = type.bytesPerBlock * (n / block)
        let qw = UncheckedOptional(pointer: Quantizer.usesImportanceWeights(type) ? importance : nil)
        let out = UncheckedRaw(pointer: base)
        guard let layout = BlockCodeLayout.of(type) else {
            sweep(weights: weights, rows: rows, columns: n, factor: u, blockWidth: block, threads: threads) { row, column, values, rounded in
                let y = out.pointer + row * rowBytes + (column / block) * type.bytesPerBlock
                Quantizer.quantizeRow(type, values, count: block, weights: qw.pointer.map { $0 + column }, into: y)
                Quantizer.dequantizeBlocks(type, UnsafeRawPointer(y), count: block, into: rounded)
            }
            return
        }
        // Each row's current block as an affine map per value (value = a·code + b), for re-rounding.
        let maps = UnsafeMutablePointer<Float>.allocate(capacity: rows * block * 2)
        defer { maps.deallocate() }
        let shared = UncheckedRaw(pointer: UnsafeMutableRawPointer(maps))
        sweep(weights: weights, rows: rows, columns: n, factor: u, blockWidth: block, threads: threads,
              round: { row, column, values, rounded in
                  let y = out.pointer + row * rowBytes + (column / block) * type.bytesPerBlock
                  Quantizer.quantizeRow(type, values, count: block, weights: qw.pointer.map { $0 + column }, into: y)
                  Quantizer.dequantizeBlocks(type, UnsafeRawPointer(y), count: block, into: rounded)
                  let map = shared.pointer.assumingMemoryBound(to: Float.self) + row * block * 2
                  layout.affineMap(type, block: y, into: map)
              },
              reround: { row, column, value in
                  let y = out.pointer + row * rowBytes + (column / block) * type.bytesPerBlock
                  let map = shared.pointer.assumingMemoryBound(to: Float.self) + row * block * 2
                  return layout.setNearest(value, column: column % block, map: map, block: y)
              })
    }

    /// Σ over rows of e H eᵀ, e = `a` − `b` row by row: the summed squared output error over the
    /// calibration inputs whose Gram matrix is `h` (n × n, symmetric).
    public static func outputError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, columns n: Int,
                                   hessian h: UnsafePointer<Float>, threads: Int) -> Double {
        // Rows in tiles of 8, so each row of H is read once per tile rather than once per row.
        let tile = 8
        let tiles = (rows + tile - 1) / tile
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: tiles)
        defer { sums.deallocate() }
        let shared = UncheckedErrorInputs(a: a, b: b, h: h, sums: sums)
        @Sendable func work(_ t: Int) {
            let r0 = t * tile, count = min(rows, r0 + tile) - r0
            let e = UnsafeMutablePointer<Float>.allocate(capacity: tile * n)
            defer { e.deallocate() }
            for r in 0..<count {
                for j in 0..<n { e[r * n + j] = shared.a[(r0 + r) * n + j] - shared.b[(r0 + r) * n + j] }
            }
            var total = 0.0
            for i in 0..<n {
                let hrow = shared.h + i * n
                for r in 0..<count where e[r * n + i] != 0 {
                    total += Double(e[r * n + i]) * Double(dot(hrow, e + r * n, count: n))
                }
            }
            shared.sums[t] = total
        }
        let workers = min(max(1, threads), tiles)
        if workers <= 1 {
            for t in 0..<tiles { work(t) }
        } else {
            let next = TileCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let t = next.take(below: tiles) { work(t) }
            }
        }
        var total = 0.0
        for t in 0..<tiles { total += sums[t] }
        return total
    }

    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var k = 0
        let va = SIMD8<Float>(repeating: a)
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        while k + 8 <= count {
            let vy = yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            let vx = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            yr.storeBytes(of: vy + va * vx, toByteOffset: k * 4, as: SIMD8<Float>.self)
            k += 8
        }
        while k < count {
            y[k] += a * x[k]
            k += 1
        }
    }

    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y)
        var k = 0
        while k + 8 <= count {
            acc += xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
                * yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            k += 8
        }
        var s = acc.sum()
        while k < count {
            s += x[k] * y[k]
            k += 1
        }
        return s
    }
}

/// Hands out tile indices to the workers of one sweep.
private final class TileCounter: Sendable {
    private let next = Mutex(0)

    func take(below limit: Int) -> Int? {
        next.withLock { next in
            guard next < limit else { return nil }
            next += 1
            return next - 1
        }
    }
}

/// Pointers the sweep's workers share: each writes only its own rows.
private struct UncheckedPointers: @unchecked Sendable {
    let w: UnsafeMutablePointer<Float>
    let u: UnsafePointer<Float>
}

private struct UncheckedOptional: @unchecked Sendable {
    let pointer: UnsafePointer<Float>?
}

private struct UncheckedRaw: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}

private struct UncheckedErrorInputs: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let h: UnsafePointer<Float>
    let sums: UnsafeMutablePointer<Double>
}

/// How a block type stores its values, found by probing the type's own dequantizer: the bits that
/// are one value's code (flipping one changes exactly that value), each bit's weight in the code,
/// and so the code's range. With the block's scales fixed, every value is then a·code + b, a and b
/// read back by dequantizing the block with all codes cleared and with every code set to 1. A type
/// whose values are not affine in their code (the IQ4 lookup tables) has no layout, and GPTQ
/// rounds its blocks only when they start.
struct BlockCodeLayout: Sendable {
    struct Bit: Sendable {
        let byte: Int
        let mask: UInt8
        let weight: Int
    }

    let width: Int
    let bytesPerBlock: Int
    /// Per value of the block: its code bits, the negative (sign) bit first, then by falling weight.
    let bits: [[Bit]]
    let lowest: [Int]
    let highest: [Int]

    private static let cache = LayoutCache()

    static func of(_ type: GGMLType) -> BlockCodeLayout? {
        cache.layout(type) { probe(type) }
    }

    static func probe(_ type: GGMLType) -> BlockCodeLayout? {
        let width = type.blockSize, size = type.bytesPerBlock
        guard width > 1, size > 0 else { return nil }
        // A block of spread-out values, so every scale is non-zero and codes vary.
        let x = (0..<width).map { Float(sin(Double($0) * 1.7 + 0.3)) * (1 + Float($0 % 7) / 3) }
        var base = [UInt8](repeating: 0, count: size)
        var v0 = [Float](repeating: 0, count: width), v = v0
        x.withUnsafeBufferPointer { xb in
            base.withUnsafeMutableBytes { Quantizer.quantizeRow(type, xb.baseAddress!, count: width, weights: nil, into: $0.baseAddress!) }
        }
        func decode(_ bytes: [UInt8], into out: inout [Float]) {
            bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { Quantizer.dequantizeBlocks(type, b.baseAddress!, count: width, into: $0.baseAddress!) } }
        }
        decode(base, into: &v0)
        var found = [[(byte: Int, mask: UInt8, delta: Float)]](repeating: [], count: width)
        var codeBits = 0
        for byte in 0..<size {
            for k in 0..<8 {
                var flipped = base
                flipped[byte] ^= UInt8(1 << k)
                decode(flipped, into: &v)
                let changed = (0..<width).filter { v[$0] != v0[$0] }
                guard changed.count == 1, let j = changed.first, v[j].isFinite else { continue }
                let set = base[byte] & UInt8(1 << k) != 0
                found[j].append((byte, UInt8(1 << k), set ? v0[j] - v[j] : v[j] - v0[j]))
                codeBits += 1
            }
        }
        guard codeBits > 0, found.allSatisfy({ !$0.isEmpty }) else { return nil }
        var bits: [[Bit]] = []
        var lowest: [Int] = [], highest: [Int] = []
        for j in 0..<width {
            // The code's lowest bit has weight +1; a negative scale flips the sign of every delta.
            guard let unit = found[j].min(by: { abs($0.delta) < abs($1.delta) })?.delta, unit != 0 else { return nil }
            var column: [Bit] = []
            for f in found[j] {
                let ratio = f.delta / unit
                let weight = Int(ratio.rounded())
                guard abs(ratio - Float(weight)) < 1e-3, weight != 0, abs(weight).nonzeroBitCount == 1 else { return nil }
                column.append(Bit(byte: f.byte, mask: f.mask, weight: weight))
            }
            column.sort { ($0.weight < 0 ? Int.max : $0.weight) > ($1.weight < 0 ? Int.max : $1.weight) }
            bits.append(column)
            lowest.append(column.filter { $0.weight < 0 }.reduce(0) { $0 + $1.weight })
            highest.append(column.filter { $0.weight > 0 }.reduce(0) { $0 + $1.weight })
        }
        let layout = BlockCodeLayout(width: width, bytesPerBlock: size, bits: bits, lowest: lowest, highest: highest)
        // Affine in the code for every value: checked at both ends and in between.
        var map = [Float](repeating: 0, count: 2 * width)
        base.withUnsafeMutableBytes { b in map.withUnsafeMutableBufferPointer { layout.affineMap(type, block: b.baseAddress!, into: $0.baseAddress!) } }
        for trial in 0..<3 {
            var bytes = base
            var codes = [Int](repeating: 0, count: width)
            for j in 0..<width {
                codes[j] = trial == 0 ? lowest[j] : trial == 1 ? highest[j] : lowest[j] + (j * 7919) % (highest[j] - lowest[j] + 1)
                bytes.withUnsafeMutableBytes { layout.setCode(codes[j], column: j, block: $0.baseAddress!) }
            }
            decode(bytes, into: &v)
            for j in 0..<width {
                let expected = map[2 * j] * Float(codes[j]) + map[2 * j + 1]
                guard abs(v[j] - expected) <= 1e-5 * max(1, abs(expected)) else { return nil }
            }
        }
        return layout
    }

    @inline(__always)
    func setCode(_ code: Int, column: Int, block: UnsafeMutableRawPointer) {
        var rest = code
        for bit in bits[column] {
            let on = bit.weight < 0 ? rest < 0 : rest >= bit.weight
            let byte = block.load(fromByteOffset: bit.byte, as: UInt8.self)
            block.storeBytes(of: on ? byte | bit.mask : byte & ~bit.mask, toByteOffset: bit.byte, as: UInt8.self)
            if on { rest -= bit.weight }
        }
    }

    /// a and b of every value of a stored block (`map[2j]`, `map[2j + 1]`); the block is left as it was.
    func affineMap(_ type: GGMLType, block: UnsafeMutableRawPointer, into map: UnsafeMutablePointer<Float>) {
        let saved = [UInt8](UnsafeRawBufferPointer(start: block, count: bytesPerBlock))
        let values = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { values.deallocate() }
        for j in 0..<width { setCode(0, column: j, block: block) }
        Quantizer.dequantizeBlocks(type, UnsafeRawPointer(block), count: width, into: values)
        for j in 0..<width { map[2 * j + 1] = values[j] }
        for j in 0..<width { setCode(1, column: j, block: block) }
        Quantizer.dequantizeBlocks(type, UnsafeRawPointer(block), count: width, into: values)
        for j in 0..<width { map[2 * j] = values[j] - map[2 * j + 1] }
        saved.withUnsafeBytes { block.copyMemory(from: $0.baseAddress!, byteCount: bytesPerBlock) }
    }

    /// Stores the code whose value is nearest `value` and returns that value.
    @inline(__always)
    func setNearest(_ value: Float, column j: Int, map: UnsafePointer<Float>, block: UnsafeMutableRawPointer) -> Float {
        let a = map[2 * j], b = map[2 * j + 1]
        guard a != 0, a.isFinite else {
            return a * Float(currentCode(column: j, block: block)) + b
        }
        let code = min(highest[j], max(lowest[j], Int(((value - b) / a).rounded())))
        setCode(code, column: j, block: block)
        return a * Float(code) + b
    }

    func currentCode(column: Int, block: UnsafeRawPointer) -> Int {
        bits[column].reduce(0) { $0 + (block.load(fromByteOffset: $1.byte, as: UInt8.self) & $1.mask != 0 ? $1.weight : 0) }
    }
}

/// Probed layouts, once per type per process.
private final class LayoutCache: Sendable {
    private let layouts = Mutex<[UInt32: BlockCodeLayout?]>([:])

    func layout(_ type: GGMLType, make: () -> BlockCodeLayout?) -> BlockCodeLayout? {
        layouts.withLock { layouts in
            if let known = layouts[type.id] { return known }
            let made = make()
            layouts[type.id] = made
            return made
        }
    }
}
