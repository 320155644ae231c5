/// The original ggml 4- and 5-bit formats (32 weights per block): Q4_0, Q4_1, Q5_0, Q5_1.
///
/// Without importance weights ggml uses the simple `quantize_row_*_ref` rounding; with them
/// it searches the scale (Q4_0/Q5_0: `make_qx_quants`, Q4_1/Q5_1: `make_qkx3_quants`) with
/// weights qw[j] * sqrt(sigma2 + x[j]^2), where sigma2 is the mean square of the whole ROW.
enum LegacyQuants {
    // MARK: symmetric (Q4_0, Q5_0)

    /// `bits` is 4 or 5. Block layout: d (fp16) [qh (4 bytes) for 5 bits] qs (16 bytes).
    static func quantizeSymmetric(
        bits: Int, _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?,
        into y: UnsafeMutableRawPointer
    ) {
        let blockBytes = bits == 4 ? 18 : 22
        let qsOffset = bits == 4 ? 2 : 6
        let half = Float(1 << (bits - 1))  // 8 or 16
        let maxQ = Int32((1 << bits) - 1)  // 15 or 31
        let nb = count / 32
        if let qw {
            let sigma2 = rowSigma2(x, count)
            let grouped = nb / 8 * 8
            // Groups of eight blocks run as the eight lanes of one search; the tail one by one.
            withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lf in
                withUnsafeTemporaryAllocation(of: I8.self, capacity: 32) { li in
                    let xT = lf.baseAddress!, wT = xT + 32, LT = li.baseAddress!
                    let s2 = F8(repeating: sigma2)
                    for g in stride(from: 0, to: grouped, by: 8) {
                        for j in 0..<32 {
                            xT[j] = Lanes.gather(x + 32 * g, j, stride: 32)
                            wT[j] = Lanes.gather(qw + 32 * g, j, stride: 32) * Lanes.sqrt(s2 + xT[j] * xT[j])
                        }
                        let d = Lanes.makeQX(n: 32, nmax: Int32(half), x: xT, w: wT, L: LT)
                        for k in 0..<8 {
                            let yb = y + (g + k) * blockBytes
                            yb.storeU16(FP16.fromFloat(d[k]), at: 0)
                            var qh: UInt32 = 0
                            for j in 0..<16 {
                                let l0 = UInt8(truncatingIfNeeded: LT[j][k]), l1 = UInt8(truncatingIfNeeded: LT[j + 16][k])
                                yb.storeU8((l0 & 0x0F) | ((l1 & 0x0F) << 4), at: qsOffset + j)
                                qh |= UInt32((l0 & 0x10) >> 4) << UInt32(j)
                                qh |= UInt32((l1 & 0x10) >> 4) << UInt32(j + 16)
                            }
                            if bits == 5 { yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self) }
                        }
                    }
                }
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { weight in
                withUnsafeTemporaryAllocation(of: Int8.self, capacity: 32) { L in
                    for ib in grouped..<nb {
                        let xb = x + 32 * ib
                        let wb = qw + 32 * ib
                        for j in 0..<32 { weight[j] = wb[j] * Numerics.sqrtf(sigma2 + xb[j] * xb[j]) }
                        let d = ScaleSearch.makeQX(
                            n: 32, nmax: Int32(half), x: xb, L: L.baseAddress!, weights: weight.baseAddress!)
                        let yb = y + ib * blockBytes
                        yb.storeU16(FP16.fromFloat(d), at: 0)
                        var qh: UInt32 = 0
                        for j in 0..<16 {
                            let l0 = UInt8(bitPattern: L[j]), l1 = UInt8(bitPattern: L[j + 16])
                            yb.storeU8((l0 & 0x0F) | ((l1 & 0x0F) << 4), at: qsOffset + j)
                            qh |= UInt32((l0 & 0x10) >> 4) << UInt32(j)
                            qh |= UInt32((l1 & 0x10) >> 4) << UInt32(j + 16)
                        }
                        if bits == 5 { yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self) }
                    }
                }
            }
            return
        }
        // Eight blocks at a time: their scales and inverse scales as vectors, so the divisions
        // of different blocks overlap instead of each block waiting for its own.
        // (max / -half == max * (-1 / half) exactly: half is a power of two.)
        var d8 = F8(), id8 = F8()
        for ib in 0..<nb {
            let xb = x + 32 * ib
            let lane = ib & 7
            if lane == 0 {
                var maxes = F8()
                for k in 0..<Swift.min(8, nb - ib) { maxes[k] = LegacyLanes.signedAbsMax32(x + 32 * (ib + k)).max }
                d8 = maxes * F8(repeating: -1 / half)
                id8 = (1 / d8).replacing(with: 0, where: d8 .== 0)
            }
            let d = d8[lane], id = id8[lane]
            let yb = y + ib * blockBytes
            yb.storeU16(FP16.fromFloat(d), at: 0)
            var qh: UInt32 = 0
            let offset = half + 0.5
            if quantizeSymmetricFast(xb, id: id, offset: offset, maxQ: maxQ, bits: bits, yb, qsOffset) { continue }
            for j in 0..<16 {
                // C: MIN(maxQ, (int8_t)(x*id + offset)) stored into a uint8_t.
                let q0 = Int32(Int8(bitPattern: Numerics.truncToByte(xb[j] * id + offset)))
                let q1 = Int32(Int8(bitPattern: Numerics.truncToByte(xb[j + 16] * id + offset)))
                let l0 = UInt8(truncatingIfNeeded: Swift.min(maxQ, q0))
                let l1 = UInt8(truncatingIfNeeded: Swift.min(maxQ, q1))
                if bits == 4 {
                    yb.storeU8(l0 | (l1 << 4), at: qsOffset + j)
                } else {
                    yb.storeU8((l0 & 0x0F) | ((l1 & 0x0F) << 4), at: qsOffset + j)
                    qh |= UInt32((l0 & 0x10) >> 4) << UInt32(j)
                    qh |= UInt32((l1 & 0x10) >> 4) << UInt32(j + 16)
                }
            }
            if bits == 5 { yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self) }
        }
    }

    // MARK: with minimum (Q4_1, Q5_1)

    /// Block layout: d, m (fp16) [qh (4 bytes) for 5 bits] qs (16 bytes).
    static func quantizeAffine(
        bits: Int, _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?,
        into y: UnsafeMutableRawPointer
    ) {
        let blockBytes = bits == 4 ? 20 : 24
        let qsOffset = bits == 4 ? 4 : 8
        let nmax = Int32((1 << bits) - 1)
        let nb = count / 32
        if let qw {
            let sigma2 = rowSigma2(x, count)
            let grouped = nb / 8 * 8
            // Groups of eight blocks run as the eight lanes of one search; the tail one by one.
            withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lf in
                withUnsafeTemporaryAllocation(of: I8.self, capacity: 64) { li in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { lb in
                        let xT = lf.baseAddress!, wT = xT + 32, LT = li.baseAddress!, LauxT = LT + 32
                        let L = lb.baseAddress!
                        let s2 = F8(repeating: sigma2)
                        for g in stride(from: 0, to: grouped, by: 8) {
                            for j in 0..<32 {
                                xT[j] = Lanes.gather(x + 32 * g, j, stride: 32)
                                wT[j] = Lanes.gather(qw + 32 * g, j, stride: 32) * Lanes.sqrt(s2 + xT[j] * xT[j])
                            }
                            let found = Lanes.makeQKX(
                                n: 32, nmax: nmax, x: xT, w: wT, L: LT, Laux: LauxT,
                                rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false, variant3: true)
                            for k in 0..<8 {
                                let yb = y + (g + k) * blockBytes
                                yb.storeU16(FP16.fromFloat(found.scale[k]), at: 0)
                                yb.storeU16(FP16.fromFloat(-found.theMin[k]), at: 2)
                                for j in 0..<32 { L[j] = UInt8(truncatingIfNeeded: LT[j][k]) }
                                packAffine(bits: bits, L, yb, qsOffset)
                            }
                        }
                    }
                }
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { weight in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { L in
                    let l = L.baseAddress!
                    for ib in grouped..<nb {
                        let xb = x + 32 * ib
                        let wb = qw + 32 * ib
                        for j in 0..<32 { weight[j] = wb[j] * Numerics.sqrtf(sigma2 + xb[j] * xb[j]) }
                        var min: Float = 0
                        let d = ScaleSearch.makeQKX3(
                            n: 32, nmax: nmax, x: xb, weights: weight.baseAddress!, L: l, theMin: &min,
                            Laux: l + 32, rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false)
                        let yb = y + ib * blockBytes
                        yb.storeU16(FP16.fromFloat(d), at: 0)
                        yb.storeU16(FP16.fromFloat(-min), at: 2)
                        packAffine(bits: bits, l, yb, qsOffset)
                    }
                }
            }
            return
        }
        // Eight blocks at a time: scales and inverse scales as vectors (see quantizeSymmetric).
        var d8 = F8(), id8 = F8(), min8 = F8()
        for ib in 0..<nb {
            let xb = x + 32 * ib
            let lane = ib & 7
            if lane == 0 {
                var maxes = F8()
                for k in 0..<Swift.min(8, nb - ib) {
                    let (lo, hi) = LegacyLanes.minMax32(x + 32 * (ib + k))
                    min8[k] = lo
                    maxes[k] = hi
                }
                d8 = (maxes - min8) / F8(repeating: Float(nmax))
                id8 = (1 / d8).replacing(with: 0, where: d8 .== 0)
            }
            let d = d8[lane], id = id8[lane], min = min8[lane]
            let yb = y + ib * blockBytes
            yb.storeU16(FP16.fromFloat(d), at: 0)
            yb.storeU16(FP16.fromFloat(min), at: 2)
            if quantizeAffineFast(xb, min: min, id: id, bits: bits, yb, qsOffset) { continue }
            var qh: UInt32 = 0
            for j in 0..<16 {
                let b0 = Numerics.truncToByte((xb[j] - min) * id + 0.5)
                let b1 = Numerics.truncToByte((xb[j + 16] - min) * id + 0.5)
                if bits == 4 {
                    // C: MIN(15, (int8_t)v) into uint8_t.
                    let l0 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(Int8(bitPattern: b0))))
                    let l1 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(Int8(bitPattern: b1))))
                    yb.storeU8(l0 | (l1 << 4), at: qsOffset + j)
                } else {
                    // Q5_1 has no clamp: (uint8_t)v.
                    yb.storeU8((b0 & 0x0F) | ((b1 & 0x0F) << 4), at: qsOffset + j)
                    qh |= UInt32((b0 & 0x10) >> 4) << UInt32(j)
                    qh |= UInt32((b1 & 0x10) >> 4) << UInt32(j + 16)
                }
            }
            if bits == 5 { yb.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self) }
        }
    }

    @inline(__always)
    private static func packAffine(bits: Int, _ L: UnsafePointer<UInt8>, _ yb: UnsafeMutableRawPointer, _ qsOffset: Int) {
        var qh: UInt32 = 0
        for j in 0..<16 {
            let l0 = L[j], l1 = L[j + 16]
            if bits == 4 {
                yb.storeU8(l0 | (l1 << 4), at: qsOffset + j)
            } else {
                yb.storeU8((l0 & 0x0F) | ((l1 & 0x0F) << 4), at: qsOffset + j)
                qh |= UInt32((l0 & 0x10) >> 4) << UInt32(j)
                qh |= UInt32((l1 & 0x10) >> 4) << UInt32(j + 16)
            }
        }
        if bits == 5 { yb.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self) }
    }

    /// Vector rounding of one Q4_0/Q5_0 block when all values are in the safe range.
    @inline(__always)
    private static func quantizeSymmetricFast(
        _ xb: UnsafePointer<Float>, id: Float, offset: Float, maxQ: Int32, bits: Int,
        _ yb: UnsafeMutableRawPointer, _ qsOffset: Int
    ) -> Bool {
        let p = UnsafeRawPointer(xb)
        var v = (F8.zero, F8.zero, F8.zero, F8.zero)
        let vid = F8(repeating: id), voff = F8(repeating: offset)
        v.0 = p.loadUnaligned(fromByteOffset: 0, as: F8.self) * vid + voff
        v.1 = p.loadUnaligned(fromByteOffset: 32, as: F8.self) * vid + voff
        v.2 = p.loadUnaligned(fromByteOffset: 64, as: F8.self) * vid + voff
        v.3 = p.loadUnaligned(fromByteOffset: 96, as: F8.self) * vid + voff
        guard LegacyLanes.inRange(v.0), LegacyLanes.inRange(v.1), LegacyLanes.inRange(v.2),
            LegacyLanes.inRange(v.3)
        else { return false }
        let top = I8(repeating: maxQ)
        var l = (I8.zero, I8.zero, I8.zero, I8.zero)
        l.0 = Lanes.minimum(LegacyLanes.truncSmall(v.0), top)
        l.1 = Lanes.minimum(LegacyLanes.truncSmall(v.1), top)
        l.2 = Lanes.minimum(LegacyLanes.truncSmall(v.2), top)
        l.3 = Lanes.minimum(LegacyLanes.truncSmall(v.3), top)
        LegacyLanes.storeNibbles(l.0, l.2, yb, at: qsOffset)
        LegacyLanes.storeNibbles(l.1, l.3, yb, at: qsOffset + 8)
        if bits == 5 {
            let qh = withUnsafePointer(to: &l) { $0.withMemoryRebound(to: I8.self, capacity: 4) { LegacyLanes.highBits($0) } }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
        return true
    }

    /// Vector rounding of one Q4_1/Q5_1 block when all values are in the safe range.
    @inline(__always)
    private static func quantizeAffineFast(
        _ xb: UnsafePointer<Float>, min: Float, id: Float, bits: Int, _ yb: UnsafeMutableRawPointer, _ qsOffset: Int
    ) -> Bool {
        let p = UnsafeRawPointer(xb)
        let vid = F8(repeating: id), vmin = F8(repeating: min), half = F8(repeating: 0.5)
        var v = (F8.zero, F8.zero, F8.zero, F8.zero)
        v.0 = (p.loadUnaligned(fromByteOffset: 0, as: F8.self) - vmin) * vid + half
        v.1 = (p.loadUnaligned(fromByteOffset: 32, as: F8.self) - vmin) * vid + half
        v.2 = (p.loadUnaligned(fromByteOffset: 64, as: F8.self) - vmin) * vid + half
        v.3 = (p.loadUnaligned(fromByteOffset: 96, as: F8.self) - vmin) * vid + half
        guard LegacyLanes.inRange(v.0), LegacyLanes.inRange(v.1), LegacyLanes.inRange(v.2),
            LegacyLanes.inRange(v.3)
        else { return false }
        // Q4_1 clamps with MIN(15, ...); Q5_1 has no clamp (levels stay within 0...31 here).
        let top = I8(repeating: bits == 4 ? 15 : 255)
        var l = (I8.zero, I8.zero, I8.zero, I8.zero)
        l.0 = Lanes.minimum(LegacyLanes.truncSmall(v.0), top)
        l.1 = Lanes.minimum(LegacyLanes.truncSmall(v.1), top)
        l.2 = Lanes.minimum(LegacyLanes.truncSmall(v.2), top)
        l.3 = Lanes.minimum(LegacyLanes.truncSmall(v.3), top)
        LegacyLanes.storeNibbles(l.0, l.2, yb, at: qsOffset)
        LegacyLanes.storeNibbles(l.1, l.3, yb, at: qsOffset + 8)
        if bits == 5 {
            let qh = withUnsafePointer(to: &l) { $0.withMemoryRebound(to: I8.self, capacity: 4) { LegacyLanes.highBits($0) } }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        return true
    }

    /// Mean square of the whole row, summed in order.
    @inline(__always)
    static func rowSigma2(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Float = 0
        for j in 0..<n { s += x[j] * x[j] }
        return s / Float(n)
    }

    // MARK: dequantize

    static func dequantize(
        bits: Int, affine: Bool, _ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>
    ) {
        // One loop per format with nothing but the block's scale inside, so LLVM vectorizes it.
        switch (bits, affine) {
        case (4, false): dequantizeBlocks(y, count, x, blockBytes: 18, qs: 2) { q, _, _, d, _ in Float(q - 8) * d }
        case (5, false): dequantizeBlocks(y, count, x, blockBytes: 22, qs: 6) { q, qh, shift, d, _ in
            Float((q | Int32(truncatingIfNeeded: (qh >> shift) << 4) & 0x10) - 16) * d }
        case (4, true): dequantizeBlocks(y, count, x, blockBytes: 20, qs: 4) { q, _, _, d, m in Float(q) * d + m }
        default: dequantizeBlocks(y, count, x, blockBytes: 24, qs: 8) { q, qh, shift, d, m in
            Float(q | Int32(truncatingIfNeeded: (qh >> shift) << 4) & 0x10) * d + m }
        }
    }

    /// Calls `value(nibble, qh, bit index of its high bit, d, m)` for the 32 values of every block
    /// (d at byte 0, m at 2 for the affine formats, qh before qs for the 5-bit ones).
    @inline(__always)
    private static func dequantizeBlocks(
        _ y: UnsafeRawPointer, _ count: Int, _ x: UnsafeMutablePointer<Float>, blockBytes: Int, qs: Int,
        _ value: (Int32, UInt32, UInt32, Float, Float) -> Float
    ) {
        for ib in 0..<(count / 32) {
            let yb = y + ib * blockBytes
            let d = yb.half(0)
            let m: Float = qs >= 4 && blockBytes != 22 ? yb.half(2) : 0
            let qh: UInt32 = qs >= 6 ? yb.u32(qs - 4) : 0
            let out = x + ib * 32
            for j in 0..<16 {
                let q = Int32(yb.load(fromByteOffset: qs + j, as: UInt8.self))
                out[j] = value(q & 0xF, qh, UInt32(j), d, m)
                out[j + 16] = value(q >> 4, qh, UInt32(j + 16), d, m)
            }
        }
    }
}
