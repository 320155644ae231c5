import Dispatch
import GGUF

/// `"rounding": "refined"`: blocks that ggml's quantizer has already written are improved in place,
/// still as standard blocks of the same type (any llama.cpp reads them), and a block is only
/// replaced when the new one has a lower importance-weighted squared error
/// `Σ w·(x − x̂)²` (w: the imatrix column weight, 1 without one). So the result is never worse than
/// ggml's bytes under that error, block by block.
///
/// For Q4_K and Q5_K (a super-block of eight sub-blocks, x̂ = d·sc_j·q − dmin·m_j) the search
/// alternates, from ggml's block:
/// - each sub-block's scale and min re-solved exactly: the weighted least-squares (a, b) for
///   x ≈ a·q − b with the current levels q, snapped to the 6-bit grid of d and dmin, and the
///   neighbouring grid points (±1 on sc and m) tried with the levels re-rounded for each;
/// - the super-block's d and dmin re-solved by least squares with the integer scales fixed,
///   rounded to fp16, the levels re-rounded;
/// - every level moved ±1 where that lowers the error once the sub-block's scale and min are
///   re-solved for the moved levels (one pass over the sub-block's worst-rounded weights).
/// Other types are left as ggml wrote them.
public enum RefinedRounding {
    public static func supports(_ type: GGMLType) -> Bool { type == .q4_K || type == .q5_K }

    /// Refines `blocks` (rows of `rowLength` values of `type`, quantized from `rows`) in place.
    /// `importance`: one weight per column, or nil (unit weights). Types without a refinement are
    /// left unchanged. Rows are spread over `threads`; the result does not depend on the count.
    public static func refine(
        _ type: GGMLType, rows: UnsafeBufferPointer<Float>, rowLength: Int, importance: UnsafeBufferPointer<Float>?,
        blocks: UnsafeMutableRawBufferPointer, threads: Int
    ) throws {
        guard supports(type) else { return }
        let nrows = try Quantizer.validate(type, count: rows.count, rowLength: rowLength, importance: importance,
                                           outputBytes: blocks.count)
        guard nrows > 0, let x = rows.baseAddress, let y = blocks.baseAddress else { return }
        let bits = type == .q4_K ? 4 : 5
        let rowBytes = type.bytesPerBlock * (rowLength / 256)
        let job = RefineJob(x: x, y: y, w: importance?.baseAddress)
        let workers = max(1, min(threads, nrows))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var r = worker
            while r < nrows {
                for ib in 0..<(rowLength / 256) {
                    refineQK45(bits: bits, x: job.x + r * rowLength + ib * 256, weights: job.w.map { $0 + ib * 256 },
                               block: job.y + r * rowBytes + ib * type.bytesPerBlock)
                }
                r += workers
            }
        }
    }

    private struct RefineJob: @unchecked Sendable {
        let x: UnsafePointer<Float>
        let y: UnsafeMutableRawPointer
        let w: UnsafePointer<Float>?
    }

    /// A Q4_K/Q5_K super-block in decoded form.
    struct QK45Block {
        var d: UInt16
        var dmin: UInt16
        var sc = [Int32](repeating: 0, count: 8)
        var m = [Int32](repeating: 0, count: 8)
        var q = [Int32](repeating: 0, count: 256)
    }

    static func decode(bits: Int, _ yb: UnsafeRawPointer) -> QK45Block {
        var b = QK45Block(d: yb.u16(0), dmin: yb.u16(2))
        for j in 0..<8 {
            let (s, m) = QK45.scaleMin(j, yb + QK45.scalesOffset)
            b.sc[j] = Int32(s)
            b.m[j] = Int32(m)
        }
        var u1: UInt8 = 1, u2: UInt8 = 2
        let qs = bits == 4 ? 16 : 48
        for j in 0..<4 {
            for l in 0..<32 {
                let byte = yb.u8(qs + 32 * j + l)
                var lo = Int32(byte & 0xF), hi = Int32(byte >> 4)
                if bits == 5 {
                    if yb.u8(16 + l) & u1 != 0 { lo += 16 }
                    if yb.u8(16 + l) & u2 != 0 { hi += 16 }
                }
                b.q[64 * j + l] = lo
                b.q[64 * j + 32 + l] = hi
            }
            u1 <<= 2
            u2 <<= 2
        }
        return b
    }

    static func encode(bits: Int, _ b: QK45Block, into yb: UnsafeMutableRawPointer) {
        yb.storeU16(b.d, at: 0)
        yb.storeU16(b.dmin, at: 2)
        let s = yb + QK45.scalesOffset
        s.zero(0, 12)
        for j in 0..<8 { QK45.packScaleMin(j, UInt8(b.sc[j]), UInt8(b.m[j]), s) }
        if bits == 4 {
            for j in 0..<4 {
                for l in 0..<32 { yb.storeU8(UInt8(b.q[64 * j + l] | (b.q[64 * j + l + 32] << 4)), at: 16 + 32 * j + l) }
            }
        } else {
            yb.zero(16, 32)
            var m1: UInt8 = 1, m2: UInt8 = 2
            for j in 0..<4 {
                for l in 0..<32 {
                    var l1 = b.q[64 * j + l], l2 = b.q[64 * j + l + 32]
                    if l1 > 15 { l1 -= 16; yb.orU8(m1, at: 16 + l) }
                    if l2 > 15 { l2 -= 16; yb.orU8(m2, at: 16 + l) }
                    yb.storeU8(UInt8(l1 | (l2 << 4)), at: 48 + 32 * j + l)
                }
                m1 <<= 2
                m2 <<= 2
            }
        }
    }

    /// The weighted squared error of sub-block j as the dequantizer computes its values
    /// (`d·sc` and `dmin·m` in single precision, then `a·q − b`).
    @inline(__always)
    static func subBlockError(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, q: UnsafePointer<Int32>,
                              d: Float, dmin: Float, sc: Int32, m: Int32) -> Double {
        let a = d * Float(sc), b = dmin * Float(m)
        var e = 0.0
        for i in 0..<32 {
            let diff = Double(x[i] - (a * Float(q[i]) - b))
            e += Double(w?[i] ?? 1) * diff * diff
        }
        return e
    }

    /// Levels nearest to x for fixed (a, b), clamped to 0...nmax.
    @inline(__always)
    static func round(_ x: UnsafePointer<Float>, a: Float, b: Float, nmax: Int32, into q: UnsafeMutablePointer<Int32>) {
        guard a > 0 else {
            for i in 0..<32 { q[i] = 0 }
            return
        }
        for i in 0..<32 {
            let l = Int32(((x[i] + b) / a).rounded(.toNearestOrEven))
            q[i] = min(nmax, max(0, l))
        }
    }

    /// Weighted least squares for x ≈ a·q − b over 32 values; nil when q is constant.
    static func solve(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, q: UnsafePointer<Int32>) -> (a: Double, b: Double)? {
        var sw = 0.0, sq = 0.0, sqq = 0.0, sx = 0.0, sqx = 0.0
        for i in 0..<32 {
            let wi = Double(w?[i] ?? 1), qi = Double(q[i]), xi = Double(x[i])
            sw += wi; sq += wi * qi; sqq += wi * qi * qi; sx += wi * xi; sqx += wi * qi * xi
        }
        let det = sw * sqq - sq * sq
        guard det > 1e-20 * max(1, sw * sqq) else { return nil }
        let a = (sw * sqx - sq * sx) / det
        let c = (sqq * sx - sq * sqx) / det  // x ≈ a q + c, so b = −c
        return (a, -c)
    }

    /// Best sub-block (sc, m, levels) near the least-squares optimum for the current levels;
    /// returns its error and writes the levels when it beats `current`.
    static func improveSubBlock(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, q: UnsafeMutablePointer<Int32>,
                                d: Float, dmin: Float, sc: inout Int32, m: inout Int32, nmax: Int32, current: Double) -> Double {
        var best = current
        guard d > 0, let (a, b) = solve(x, w, q: q) else { return best }
        let sc0 = Int32((a / Double(d)).rounded()), m0 = dmin > 0 ? Int32((b / Double(dmin)).rounded()) : 0
        var trial = [Int32](repeating: 0, count: 32)
        for ds in -1...1 {
            for dm in -1...1 {
                let s = min(63, max(0, sc0 + Int32(ds))), mm = min(63, max(0, m0 + Int32(dm)))
                if dmin <= 0 && mm != 0 { continue }
                trial.withUnsafeMutableBufferPointer { t in
                    round(x, a: d * Float(s), b: dmin * Float(mm), nmax: nmax, into: t.baseAddress!)
                    let e = subBlockError(x, w, q: t.baseAddress!, d: d, dmin: dmin, sc: s, m: mm)
                    if e < best {
                        best = e
                        sc = s
                        m = mm
                        q.update(from: t.baseAddress!, count: 32)
                    }
                }
            }
        }
        return best
    }

    static func blockError(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ b: QK45Block) -> Double {
        let d = FP16.toFloat(b.d), dmin = FP16.toFloat(b.dmin)
        var e = 0.0
        b.q.withUnsafeBufferPointer { q in
            for j in 0..<8 {
                e += subBlockError(x + 32 * j, w.map { $0 + 32 * j }, q: q.baseAddress! + 32 * j, d: d, dmin: dmin,
                                   sc: b.sc[j], m: b.m[j])
            }
        }
        return e
    }

    static func refineQK45(bits: Int, x: UnsafePointer<Float>, weights w: UnsafePointer<Float>?,
                           block yb: UnsafeMutableRawPointer) {
        let nmax: Int32 = (1 << Int32(bits)) - 1
        let original = decode(bits: bits, yb)
        guard FP16.toFloat(original.d).isFinite, FP16.toFloat(original.dmin).isFinite else { return }
        for i in 0..<256 where !x[i].isFinite { return }
        let start = blockError(x, w, original)
        var best = original, bestError = start
        var b = original
        for _ in 0..<3 {
            // Sub-block scales and mins for the current levels, then ±1 level moves.
            var d = FP16.toFloat(b.d), dmin = FP16.toFloat(b.dmin)
            b.q.withUnsafeMutableBufferPointer { qb in
                for j in 0..<8 {
                    let xj = x + 32 * j, wj = w.map { $0 + 32 * j }, qj = qb.baseAddress! + 32 * j
                    var e = subBlockError(xj, wj, q: qj, d: d, dmin: dmin, sc: b.sc[j], m: b.m[j])
                    e = improveSubBlock(xj, wj, q: qj, d: d, dmin: dmin, sc: &b.sc[j], m: &b.m[j], nmax: nmax, current: e)
                    e = levelMoves(xj, wj, q: qj, d: d, dmin: dmin, sc: &b.sc[j], m: &b.m[j], nmax: nmax, current: e)
                }
            }
            // The super-block's d and dmin for the integer scales, then the levels re-rounded.
            if let (nd, ndmin) = solveSuper(x, w, b) {
                var t = b
                t.d = FP16.fromFloat(nd)
                t.dmin = FP16.fromFloat(ndmin)
                d = FP16.toFloat(t.d)
                dmin = FP16.toFloat(t.dmin)
                if d.isFinite, dmin.isFinite, d >= 0, dmin >= 0 {
                    t.q.withUnsafeMutableBufferPointer { qb in
                        for j in 0..<8 {
                            round(x + 32 * j, a: d * Float(t.sc[j]), b: dmin * Float(t.m[j]), nmax: nmax, into: qb.baseAddress! + 32 * j)
                        }
                    }
                    if blockError(x, w, t) < blockError(x, w, b) { b = t }
                }
            }
            let e = blockError(x, w, b)
            if e < bestError {
                best = b
                bestError = e
            } else {
                break
            }
        }
        if bestError < start { encode(bits: bits, best, into: yb) }
    }

    /// Least squares for d and dmin with the integer scales, mins and levels fixed:
    /// x ≈ d·(sc_j q) − dmin·m_j over the whole super-block.
    static func solveSuper(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ b: QK45Block) -> (Float, Float)? {
        var suu = 0.0, svv = 0.0, suv = 0.0, sux = 0.0, svx = 0.0
        for j in 0..<8 {
            for i in 0..<32 {
                let k = 32 * j + i
                let wi = Double(w?[k] ?? 1)
                let u = Double(b.sc[j] * b.q[k]), v = -Double(b.m[j]), xi = Double(x[k])
                suu += wi * u * u; svv += wi * v * v; suv += wi * u * v; sux += wi * u * xi; svx += wi * v * xi
            }
        }
        let det = suu * svv - suv * suv
        if svv == 0 {
            guard suu > 0 else { return nil }
            return (Float(sux / suu), 0)
        }
        guard det > 1e-20 * max(1, suu * svv) else { return nil }
        let d = (svv * sux - suv * svx) / det
        let dmin = (suu * svx - suv * sux) / det
        guard d > 0, dmin >= 0, d < 65504, dmin < 65504 else { return nil }
        return (Float(d), Float(dmin))
    }

    /// ±1 moves of the levels whose rounding was closest to the midpoint, each kept only when the
    /// sub-block's error, with scale and min re-solved for the moved levels, goes down.
    static func levelMoves(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, q: UnsafeMutablePointer<Int32>,
                           d: Float, dmin: Float, sc: inout Int32, m: inout Int32, nmax: Int32, current: Double) -> Double {
        var best = current
        let a = d * Float(sc), b = dmin * Float(m)
        guard a > 0 else { return best }
        // The weights with the largest rounding residual, in units of a level.
        var order = (0..<32).map { i -> (Int, Float) in
            let r = (x[i] + b) / a - Float(q[i])
            return (i, r)
        }
        order.sort { abs($0.1) > abs($1.1) }
        var trial = [Int32](repeating: 0, count: 32)
        for (i, r) in order.prefix(8) {
            let step: Int32 = r > 0 ? 1 : -1
            let moved = q[i] + step
            guard moved >= 0, moved <= nmax else { continue }
            trial.withUnsafeMutableBufferPointer { t in
                t.baseAddress!.update(from: q, count: 32)
                t[i] = moved
                guard let (na, nb) = solve(x, w, q: t.baseAddress!) else { return }
                let s = min(63, max(0, Int32((na / Double(d)).rounded())))
                let mm = dmin > 0 ? min(63, max(0, Int32((nb / Double(dmin)).rounded()))) : 0
                let e = subBlockError(x, w, q: t.baseAddress!, d: d, dmin: dmin, sc: s, m: mm)
                if e < best {
                    best = e
                    sc = s
                    m = mm
                    q.update(from: t.baseAddress!, count: 32)
                }
            }
        }
        return best
    }
}
