/// The exhaustive split searches of IQ1_S and IQ1_M, eight values of the second split point
/// per SIMD lane. Each candidate's sums are the scalar ones bit for bit (same operations, same
/// order), and the running best is taken in ggml's order: a vector of candidates is checked
/// against the current best, and only when some candidate beats it is the chunk resolved,
/// either at once (IQ1_M, when the outcome is certain: `uniqueWinner`) or by walking the lanes
/// one by one, in order, with the scalar test (the test reads the best, which may change inside).
enum IQ1Lanes {
    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> F8 {
        UnsafeRawPointer(p).loadUnaligned(as: F8.self)
    }

    /// quantize_row_iq1_s_impl's search over splits (i1, i2) of 32 sorted values, shift + then
    /// shift - for each. `sumx`, `sumw` are the 33 prefix sums, readable up to index 40.
    @inline(__always)
    static func searchS(
        sumx: UnsafePointer<Float>, sumw: UnsafePointer<Float>, xp: (Float, Float, Float), xm: (Float, Float, Float),
        bestScore: inout Float, scale: inout Float, i1 best1: inout Int, i2 best2: inout Int, shift: inout Int8
    ) {
        let n = 32
        let lane = I8(0, 1, 2, 3, 4, 5, 6, 7)
        let sx0 = sumx[0], sw0 = sumw[0], sxn = sumx[n], swn = sumw[n]
        for i1 in 0...n {
            let a = sumx[i1] - sx0, aw = sumw[i1] - sw0
            let sxi1 = F8(repeating: sumx[i1]), swi1 = F8(repeating: sumw[i1])
            // the first terms, as each lane would compute them
            let pqx0 = a * xp.0, mqx0 = a * xm.0
            let pq20 = aw * xp.0 * xp.0, mq20 = aw * xm.0 * xm.0
            var i2 = i1
            while i2 <= n {
                let sx2 = load(sumx + i2), sw2 = load(sumw + i2)
                let b = sx2 - sxi1, c = F8(repeating: sxn) - sx2
                let bw = sw2 - swi1, cw = F8(repeating: swn) - sw2
                let qxP = F8(repeating: pqx0) + b * xp.1 + c * xp.2
                let q2P = F8(repeating: pq20) + bw * xp.1 * xp.1 + cw * xp.2 * xp.2
                let qxM = F8(repeating: mqx0) + b * xm.1 + c * xm.2
                let q2M = F8(repeating: mq20) + bw * xm.1 * xm.1 + cw * xm.2 * xm.2
                let valid = I8(repeating: Int32(n - i2)) .>= lane
                let best = F8(repeating: bestScore)
                let passP = (q2P .> 0) .& (qxP * qxP .> best * q2P)
                let passM = (q2M .> 0) .& (qxM * qxM .> best * q2M)
                if any(valid .& (passP .| passM)) {
                    for k in 0..<Swift.min(8, n - i2 + 1) {
                        if q2P[k] > 0 && qxP[k] * qxP[k] > bestScore * q2P[k] {
                            scale = qxP[k] / q2P[k]
                            bestScore = scale * qxP[k]
                            best1 = i1; best2 = i2 + k; shift = 1
                        }
                        if q2M[k] > 0 && qxM[k] * qxM[k] > bestScore * q2M[k] {
                            scale = qxM[k] / q2M[k]
                            bestScore = scale * qxM[k]
                            best1 = i1; best2 = i2 + k; shift = -1
                        }
                    }
                }
                i2 += 8
            }
        }
    }

    /// quantize_row_iq1_m_impl's search over splits of 16 sorted values with four shift
    /// patterns (each half of the block + or -), from prefix sums kept per half.
    @inline(__always)
    static func searchM(
        xb: UnsafePointer<Float>, weight: UnsafePointer<Float>, order: UnsafePointer<Int32>,
        xp: (Float, Float, Float), xm: (Float, Float, Float),
        bestScore: inout Float, scale: inout Float, i1 best1: inout Int, i2 best2: inout Int, k bestK: inout Int
    ) {
        let n = 16
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 32 + 64) { buf in
            let px0 = buf.baseAddress!, px1 = px0 + 32, pw0 = px0 + 64, pw1 = px0 + 96, lanes = px0 + 128
            px0[0] = 0; px1[0] = 0; pw0[0] = 0; pw1[0] = 0
            // Branch-free (the half a sorted value comes from is random): the other half's sum
            // gets +0, which leaves it as it is (these sums start at +0 and so are never -0).
            var sx0: Float = 0, sx1: Float = 0, sw0: Float = 0, sw1: Float = 0
            for j in 0..<n {
                let i = Int(order[j])
                let t = weight[i] * xb[i], w = weight[i]
                let first = i < n / 2
                sx0 += first ? t : 0; sx1 += first ? 0 : t
                sw0 += first ? w : 0; sw1 += first ? 0 : w
                px0[j + 1] = sx0; px1[j + 1] = sx1
                pw0[j + 1] = sw0; pw1[j + 1] = sw1
            }
            for j in (n + 1)..<32 { px0[j] = 0; px1[j] = 0; pw0[j] = 0; pw1[j] = 0 }
            let p2 = xp.2, m2 = xm.2
            let cp1 = xp.0 * xp.0 - xp.1 * xp.1, cp2 = xp.1 * xp.1 - xp.2 * xp.2
            let cm1 = xm.0 * xm.0 - xm.1 * xm.1, cm2 = xm.1 * xm.1 - xm.2 * xm.2
            let tP0 = F8(repeating: px0[n] * p2), tM0 = F8(repeating: px0[n] * m2)
            let tP1 = F8(repeating: px1[n] * p2), tM1 = F8(repeating: px1[n] * m2)
            let wP0 = pw0[n] * p2 * p2, wM0 = pw0[n] * m2 * m2
            let wP1 = pw1[n] * p2 * p2, wM1 = pw1[n] * m2 * m2
            let lane = I8(0, 1, 2, 3, 4, 5, 6, 7)
            for i1 in 0...n {
                let a0 = F8(repeating: px0[i1]), a1 = F8(repeating: px1[i1])
                let hP0 = F8(repeating: wP0 + pw0[i1] * cp1), hM0 = F8(repeating: wM0 + pw0[i1] * cm1)
                let hP1 = F8(repeating: wP1 + pw1[i1] * cp1), hM1 = F8(repeating: wM1 + pw1[i1] * cm1)
                var i2 = i1
                while i2 <= n {
                    let s0 = a0 + load(px0 + i2), s1 = a1 + load(px1 + i2)
                    let v0 = load(pw0 + i2), v1 = load(pw1 + i2)
                    let qxP0 = tP0 - s0, qxM0 = tM0 - s0, qxP1 = tP1 - s1, qxM1 = tM1 - s1
                    let q2P0 = hP0 + v0 * cp2, q2M0 = hM0 + v0 * cm2
                    let q2P1 = hP1 + v1 * cp2, q2M1 = hM1 + v1 * cm2
                    let qx = (qxP0 + qxP1, qxP0 + qxM1, qxM0 + qxP1, qxM0 + qxM1)
                    let q2 = (q2P0 + q2P1, q2P0 + q2M1, q2M0 + q2P1, q2M0 + q2M1)
                    let valid = I8(repeating: Int32(n - i2)) .>= lane
                    let best = F8(repeating: bestScore)
                    let pass = ((q2.0 .> 0) .& (qx.0 * qx.0 .> best * q2.0)) .| ((q2.1 .> 0) .& (qx.1 * qx.1 .> best * q2.1))
                        .| ((q2.2 .> 0) .& (qx.2 * qx.2 .> best * q2.2)) .| ((q2.3 .> 0) .& (qx.3 * qx.3 .> best * q2.3))
                    if Lanes.anyLane(valid .& pass) {
                        // Pattern k's sums at 16k (qx) and 16k + 8 (q2).
                        let raw = UnsafeMutableRawPointer(lanes)
                        raw.storeBytes(of: qx.0, as: F8.self)
                        raw.storeBytes(of: q2.0, toByteOffset: 32, as: F8.self)
                        raw.storeBytes(of: qx.1, toByteOffset: 64, as: F8.self)
                        raw.storeBytes(of: q2.1, toByteOffset: 96, as: F8.self)
                        raw.storeBytes(of: qx.2, toByteOffset: 128, as: F8.self)
                        raw.storeBytes(of: q2.2, toByteOffset: 160, as: F8.self)
                        raw.storeBytes(of: qx.3, toByteOffset: 192, as: F8.self)
                        raw.storeBytes(of: q2.3, toByteOffset: 224, as: F8.self)
                        let count = Swift.min(8, n - i2 + 1)
                        let won = uniqueWinner(lanes, count: count, best: bestScore)
                        if won >= 0 {
                            let l = won >> 2, k = won & 3
                            let sqx = lanes[16 * k + l], sq2 = lanes[16 * k + 8 + l]
                            scale = sqx / sq2
                            bestScore = scale * sqx
                            best1 = i1; best2 = i2 + l; bestK = k
                        } else {
                            for l in 0..<count {
                                for k in 0..<4 {
                                    let sqx = lanes[16 * k + l], sq2 = lanes[16 * k + 8 + l]
                                    if sq2 > 0 && sqx * sqx > bestScore * sq2 {
                                        scale = sqx / sq2
                                        bestScore = scale * sqx
                                        best1 = i1; best2 = i2 + l; bestK = k
                                    }
                                }
                            }
                        }
                    }
                    i2 += 8
                }
            }
        }
    }

    /// The chunk's outcome without walking it, when that outcome is certain: the winning
    /// candidate's bit (4 lane + pattern), or -1 when the caller must walk the chunk. `lanes` holds
    /// pattern k's qx at 16k and q2 at 16k + 8, for the first `count` lanes; `b0` is the best
    /// before the chunk.
    ///
    /// ggml tests the candidates in order (lane l, then pattern k) against the running best and,
    /// on a pass, sets scale = qx/q2 and best = scale*qx (`sb`). A candidate that fails against b0
    /// fails against any larger best (q2 > 0, rounding is monotone). Among the ones that pass,
    /// let M be the largest sb. If exactly one has sb within a factor 1 - 2^-16 of M, and b0 is
    /// below that band, the walk ends on that one: each sb is qx^2/q2 within 3 ulp and each test
    /// compares qx^2 with best*q2 within 2 ulp, so a margin of 2^-16 (~500 ulp) decides every test
    /// the walk can meet the way the real numbers do (the winner passes against any best the
    /// walk holds before it, everything after it fails against M, which is above b0). The range
    /// checks (q2 of every candidate with q2 > 0, sb of the passing ones, M) keep the products
    /// the tests compare normal, or far below M * q2, so that the ulp bounds hold; near-ties,
    /// extreme values and NaN go to the walk.
    @inline(never)
    private static func uniqueWinner(_ lanes: UnsafePointer<Float>, count: Int, best b0: Float) -> Int {
        let raw = UnsafeRawPointer(lanes)
        let valid = I8(repeating: Int32(count)) .> I8(0, 1, 2, 3, 4, 5, 6, 7)
        let best = F8(repeating: b0)
        let lo = F8(repeating: 0x1p-60), hi = F8(repeating: 0x1p60)
        let qx0 = raw.loadUnaligned(as: F8.self), q20 = raw.loadUnaligned(fromByteOffset: 32, as: F8.self)
        let qx1 = raw.loadUnaligned(fromByteOffset: 64, as: F8.self), q21 = raw.loadUnaligned(fromByteOffset: 96, as: F8.self)
        let qx2 = raw.loadUnaligned(fromByteOffset: 128, as: F8.self), q22 = raw.loadUnaligned(fromByteOffset: 160, as: F8.self)
        let qx3 = raw.loadUnaligned(fromByteOffset: 192, as: F8.self), q23 = raw.loadUnaligned(fromByteOffset: 224, as: F8.self)
        let p0 = valid .& (q20 .> 0) .& (qx0 * qx0 .> best * q20), p1 = valid .& (q21 .> 0) .& (qx1 * qx1 .> best * q21)
        let p2 = valid .& (q22 .> 0) .& (qx2 * qx2 .> best * q22), p3 = valid .& (q23 .> 0) .& (qx3 * qx3 .> best * q23)
        let v0 = qx0 / q20 * qx0, v1 = qx1 / q21 * qx1, v2 = qx2 / q22 * qx2, v3 = qx3 / q23 * qx3
        // Every candidate the walk could let pass (q2 > 0) has q2 in range, every passing one sb.
        let far0 = (q20 .> 0) .& ((q20 .< lo) .| (q20 .> hi)), far1 = (q21 .> 0) .& ((q21 .< lo) .| (q21 .> hi))
        let far2 = (q22 .> 0) .& ((q22 .< lo) .| (q22 .> hi)), far3 = (q23 .> 0) .& ((q23 .< lo) .| (q23 .> hi))
        let over = (p0 .& .!(v0 .<= hi)) .| (p1 .& .!(v1 .<= hi)) .| (p2 .& .!(v2 .<= hi)) .| (p3 .& .!(v3 .<= hi))
        if Lanes.anyLane((valid .& (far0 .| far1 .| far2 .| far3)) .| over) { return -1 }
        // sb where the candidate passes, 0 elsewhere (passing sb are >= 0).
        let zero = F8()
        let m0 = zero.replacing(with: v0, where: p0), m1 = zero.replacing(with: v1, where: p1)
        let m2 = zero.replacing(with: v2, where: p2), m3 = zero.replacing(with: v3, where: p3)
        let m = Lanes.hmax(Lanes.maxF(Lanes.maxF(m0, m1), Lanes.maxF(m2, m3)))
        guard m >= 0x1p-60, b0 < m * (1 - 0x1p-15) else { return -1 }
        let t = F8(repeating: m * (1 - 0x1p-16))
        let n0 = m0 .>= t, n1 = m1 .>= t, n2 = m2 .>= t, n3 = m3 .>= t
        // Minus the number of candidates in the band, per lane, then in all.
        let c = unsafeBitCast(n0, to: I8.self) &+ unsafeBitCast(n1, to: I8.self)
            &+ unsafeBitCast(n2, to: I8.self) &+ unsafeBitCast(n3, to: I8.self)
        let c4 = c.lowHalf &+ c.highHalf, c2 = c4.lowHalf &+ c4.highHalf
        guard c2[0] &+ c2[1] == -1 else { return -1 }
        for l in 0..<8 where c[l] != 0 {
            return 4 * l + (n0[l] ? 0 : n1[l] ? 1 : n2[l] ? 2 : 3)
        }
        return -1
    }
}
