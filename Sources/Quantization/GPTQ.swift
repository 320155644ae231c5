import Dispatch
import GGUF

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
    public static func sweep(weights: UnsafeMutablePointer<Float>, rows: Int, columns n: Int, factor u: UnsafePointer<Float>,
                             blockWidth: Int, threads: Int, round: BlockRounder) {
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
                        let q = rounded[r * blockWidth + inBlock]
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
        sweep(weights: weights, rows: rows, columns: n, factor: u, blockWidth: block, threads: threads) { row, column, values, rounded in
            let y = out.pointer + row * rowBytes + (column / block) * type.bytesPerBlock
            Quantizer.quantizeRow(type, values, count: block, weights: qw.pointer.map { $0 + column }, into: y)
            Quantizer.dequantizeBlocks(type, UnsafeRawPointer(y), count: block, into: rounded)
        }
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
private final class TileCounter: @unchecked Sendable {
    private var next = 0
    private let lock = DispatchSemaphore(value: 1)

    func take(below limit: Int) -> Int? {
        lock.wait()
        defer { lock.signal() }
        guard next < limit else { return nil }
        next += 1
        return next - 1
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
