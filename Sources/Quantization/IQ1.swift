/// IQ1_S and IQ1_M: groups of 8 weights from a codebook of ternary points (-1, 0, 1), shifted by
/// +-0.125 per block, with a 3-bit scale per 32 (S) or 16 (M) weights. Byte-identical to ggml's
/// quantize_row_iq1_s_impl / quantize_row_iq1_m_impl.
///
/// IQ1_S: d, qs[32] low index bits, qh u16[8] (3x3 high index bits, 3-bit scale, delta sign);
///        50 bytes per 256.
/// IQ1_M: qs[32], qh[16] (high index bits and delta signs per 8), scales u16[4] (3-bit scales;
///        the fp16 super-scale in the top nibbles); 56 bytes.
enum IQ1 {
    static let delta: Float = 0.125
    private static let xp: (Float, Float, Float) = (-1 + delta, delta, 1 + delta)
    private static let xm: (Float, Float, Float) = (-1 - delta, -delta, 1 - delta)
    static let groupMaxEpsS: Float = 1e-12
    static let groupMaxEpsM: Float = 1e-7

    @inline(__always)
    private static func pick(_ g: (Float, Float, Float), _ l: Int8) -> Float { l == 0 ? g.0 : l == 1 ? g.1 : g.2 }

    /// The order glibc's qsort puts the block's values in (ascending; the comparison calls
    /// equal values, and NaN against anything, equal). glibc 2.36 sorts arrays this small
    /// with a top-down merge sort that splits at n/2 and takes the left element on ties, so
    /// that is what runs here: ties keep index order, as in ggml's output.
    static func sortOrder(_ x: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Int32>, _ n: Int, tmp: UnsafeMutablePointer<Int32>) {
        if n <= 1 { return }
        let n1 = n / 2, n2 = n - n1
        sortOrder(x, a, n1, tmp: tmp)
        sortOrder(x, a + n1, n2, tmp: tmp)
        var i = 0, j = 0, k = 0
        while i < n1 && j < n2 {
            if !(x[Int(a[i])] > x[Int(a[n1 + j])]) {
                tmp[k] = a[i]
                i += 1
            } else {
                tmp[k] = a[n1 + j]
                j += 1
            }
            k += 1
        }
        while i < n1 {
            tmp[k] = a[i]
            i += 1
            k += 1
        }
        a.update(from: tmp, count: k)
    }

    /// The block's sort order into `a`: by rank where that applies (no NaN), else by the merge sort.
    @inline(__always)
    static func blockOrder(_ x: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Int32>, _ n: Int, tmp: UnsafeMutablePointer<Int32>) {
        if rankOrder(x, a, n) { return }
        for j in 0..<n { a[j] = Int32(j) }
        sortOrder(x, a, n, tmp: tmp)
    }

    /// The same order as sortOrder, by rank: element i goes after every smaller value and every
    /// equal one with a smaller index. That is what any stable sort gives when the comparison is
    /// a strict weak order, so it only applies without NaN and for `n` 16 or 32. A rank counts the
    /// values below and the equal ones (-0 and +0 compare equal) at smaller indices, for sixteen
    /// elements at once per float comparison.
    static func rankOrder(_ x: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Int32>, _ n: Int) -> Bool {
        typealias F16 = SIMD16<Float>
        typealias I16 = SIMD16<Int32>
        guard n == 16 || n == 32 else { return false }
        let raw = UnsafeRawPointer(x)
        let x0 = raw.loadUnaligned(as: F16.self)
        let x1 = n == 32 ? raw.loadUnaligned(fromByteOffset: 64, as: F16.self) : F16()
        if Lanes.anyLane((x0.lowHalf .!= x0.lowHalf) .| (x0.highHalf .!= x0.highHalf))
            || Lanes.anyLane((x1.lowHalf .!= x1.lowHalf) .| (x1.highHalf .!= x1.highHalf))
        {
            return false
        }
        let lane0 = I16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let lane1 = lane0 &+ 16
        var rank0 = I16(), rank1 = I16()
        for j in 0..<n {
            let xj = F16(repeating: x[j]), jv = I16(repeating: Int32(j))
            rank0 &-= unsafeBitCast((xj .< x0) .| ((xj .== x0) .& (jv .< lane0)), to: I16.self)
            if n == 32 { rank1 &-= unsafeBitCast((xj .< x1) .| ((xj .== x1) .& (jv .< lane1)), to: I16.self) }
        }
        for l in 0..<16 { a[Int(truncatingIfNeeded: rank0[l])] = Int32(l) }
        if n == 32 { for l in 0..<16 { a[Int(truncatingIfNeeded: rank1[l])] = Int32(16 + l) } }
        return true
    }

    struct Scratch {
        let scales: UnsafeMutablePointer<Float>  // 16
        let weight: UnsafeMutablePointer<Float>  // 32
        let sumx: UnsafeMutablePointer<Float>  // 33, readable to 40 (the lane search reads past the end)
        let sumw: UnsafeMutablePointer<Float>  // 33, readable to 40
        let order: UnsafeMutablePointer<Int32>  // 32
        let tmp: UnsafeMutablePointer<Int32>  // 32
        let L: UnsafeMutablePointer<Int8>  // 32
        let shifts: UnsafeMutablePointer<Int8>  // 16
    }

    @inline(__always)
    static func withScratch(_ body: (Scratch) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 32 + 40 + 40) { f in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { o in
                withUnsafeTemporaryAllocation(of: Int8.self, capacity: 48) { b in
                    let fp = f.baseAddress!, op = o.baseAddress!, bp = b.baseAddress!
                    fp.initialize(repeating: 0, count: f.count)
                    body(Scratch(scales: fp, weight: fp + 16, sumx: fp + 48, sumw: fp + 88, order: op, tmp: op + 32,
                                 L: bp, shifts: bp + 32))
                }
            }
        }
    }

    /// Levels 0...2 of a block from the split of the sorted values at i1 and i2.
    @inline(__always)
    private static func assign(_ s: Scratch, n: Int, _ i1: Int, _ i2: Int) {
        for j in 0..<n { s.L[Int(s.order[j])] = j < i1 ? 0 : j < i2 ? 1 : 2 }
    }

    /// Snaps each group of 8 levels to the codebook (neighbour search with the group's shifted
    /// values) and refits the scale when a group moved. Returns the new scale.
    @inline(__always)
    private static func snap(
        _ t: IQ2Table, _ s: Scratch, xb: UnsafePointer<Float>, groups: Int, scale: Float,
        xx: (Int) -> (Float, Float, Float), index: UnsafeMutablePointer<Int>
    ) -> Float {
        var allOnGrid = true
        for k in 0..<groups {
            var u = 0
            for j in 0..<8 { u |= Int(s.L[8 * k + j]) << (2 * j) }
            if let e = t.lookup(u), e.index >= 0 {
                index[k] = e.index
            } else {
                allOnGrid = false
                if let e = t.lookup(u) {
                    index[k] = t.rows.bestNeighbour(
                        start: e.start, count: e.count, x: xb + 8 * k, w: s.weight + 8 * k, scale: scale,
                        values: xx(k).1 > 0 ? .iq1Plus : .iq1Minus, L: s.L + 8 * k)
                } else {
                    index[k] = 0
                }
            }
        }
        var scale = scale
        if !allOnGrid {
            var sumqx: Float = 0, sumq2: Float = 0
            for k in 0..<groups {
                let g = xx(k)
                for j in 0..<8 {
                    let w = s.weight[8 * k + j]
                    let q = pick(g, t.level(index[k], j))
                    sumqx += w * q * xb[8 * k + j]
                    sumq2 += w * q * q
                }
            }
            if sumqx > 0 && sumq2 > 0 { scale = sumqx / sumq2 }
        }
        return scale
    }

    // MARK: IQ1_S

    static func quantizeS(
        _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer
    ) {
        let t = IQ2Table.iq1s
        withScratch { s in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 4) { ib4 in
                let index = ib4.baseAddress!
                for ibl in 0..<(n / 256) {
                    superBlockS(t, x + 256 * ibl, qw: qw + 256 * ibl, into: y + 50 * ibl, s, index: index)
                }
            }
        }
    }

    @inline(__always)
    private static func superBlockS(
        _ t: IQ2Table, _ xbl: UnsafePointer<Float>, qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer,
        _ s: Scratch, index: UnsafeMutablePointer<Int>
    ) {
        y.zero(0, 50)
        var sumx2: Float = 0
        for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
        let sigma2 = 2 * sumx2 / 256
        var maxScale: Float = 0
        let weight = s.weight, sumx = s.sumx, sumw = s.sumw
        for ib in 0..<8 {
            let xb = xbl + 32 * ib
            let qwb = qw + 32 * ib
            for i in 0..<32 { weight[i] = qwb[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
            var max = abs(xb[0])
            for i in 1..<32 { max = max > abs(xb[i]) ? max : abs(xb[i]) }
            if max < groupMaxEpsS {
                s.scales[ib] = 0
                s.shifts[ib] = 1
                continue
            }
            blockOrder(xb, s.order, 32, tmp: s.tmp)
            sumx[0] = 0
            sumw[0] = 0
            for j in 0..<32 {
                let i = Int(s.order[j])
                sumx[j + 1] = sumx[j] + weight[i] * xb[i]
                sumw[j + 1] = sumw[j] + weight[i]
            }
            var bestScore = -Float.greatestFiniteMagnitude
            var scale = max
            var besti1 = -1, besti2 = -1, bestShift: Int8 = 0
            IQ1Lanes.searchS(sumx: sumx, sumw: sumw, xp: xp, xm: xm, bestScore: &bestScore, scale: &scale,
                             i1: &besti1, i2: &besti2, shift: &bestShift)
            if besti1 < 0 || besti2 < 0 || bestShift == 0 {
                s.scales[ib] = 0
                s.shifts[ib] = 1
                continue
            }
            assign(s, n: 32, besti1, besti2)
            if scale < 0 {
                for j in 0..<32 { s.L[j] = 2 - s.L[j] }
                scale = -scale
                bestShift = -bestShift
            }
            let xx = bestShift == 1 ? xp : xm
            scale = snap(t, s, xb: xb, groups: 4, scale: scale, xx: { _ in xx }, index: index)
            var h: UInt16 = 0
            for k in 0..<4 {
                y.storeU8(UInt8(truncatingIfNeeded: index[k]), at: 2 + 4 * ib + k)
                h |= UInt16(truncatingIfNeeded: index[k] >> 8) << UInt16(3 * k)
            }
            y.storeU16(h, at: 34 + 2 * ib)
            s.scales[ib] = scale
            s.shifts[ib] = bestShift
            maxScale = maxScale > scale ? maxScale : scale
        }
        if maxScale == 0 { return }
        let d = maxScale / 15
        y.storeU16(FP16.fromFloat(d * 1.125), at: 0)
        let id = 1 / d
        for ib in 0..<8 {
            var l = Swift.max(0, Swift.min(7, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1))))
            if s.shifts[ib] == -1 { l |= 8 }
            y.storeU16(UnsafeRawPointer(y).u16(34 + 2 * ib) | UInt16(l) << 12, at: 34 + 2 * ib)
        }
    }

    // MARK: IQ1_M

    static func quantizeM(
        _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        let t = IQ2Table.iq1s
        withScratch { s in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 4) { ib4 in
                let index = ib4.baseAddress!
                for ibl in 0..<(n / 256) {
                    superBlockM(t, x + 256 * ibl, qw: qw.map { $0 + 256 * ibl }, into: y + 56 * ibl, s, index: index)
                }
            }
        }
    }

    @inline(__always)
    private static func weightsM(
        _ xb: UnsafePointer<Float>, qw: UnsafePointer<Float>?, sigma2: Float, into weight: UnsafeMutablePointer<Float>
    ) {
        if let qw {
            for i in 0..<16 { weight[i] = qw[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
        } else {
            for i in 0..<16 { weight[i] = xb[i] * xb[i] }
        }
    }

    /// Shift pattern k: bit 1 set means the first 8 use the minus shift, bit 0 the second 8.
    @inline(__always)
    private static func shifted(_ k: Int, group: Int) -> (Float, Float, Float) {
        group == 0 ? (k < 2 ? xp : xm) : (k % 2 == 0 ? xp : xm)
    }

    @inline(__always)
    private static func superBlockM(
        _ t: IQ2Table, _ xbl: UnsafePointer<Float>, qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer,
        _ s: Scratch, index: UnsafeMutablePointer<Int>
    ) {
        y.zero(0, 56)
        var sumx2: Float = 0
        for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
        let sigma2 = 2 * sumx2 / 256
        var maxScale: Float = 0
        let weight = s.weight
        for ib in 0..<16 {
            let xb = xbl + 16 * ib
            weightsM(xb, qw: qw.map { $0 + 16 * ib }, sigma2: sigma2, into: weight)
            var max = abs(xb[0])
            for i in 1..<16 { max = max > abs(xb[i]) ? max : abs(xb[i]) }
            if max < groupMaxEpsM {
                s.scales[ib] = 0
                s.shifts[ib] = 0
                continue
            }
            blockOrder(xb, s.order, 16, tmp: s.tmp)
            var bestScore = -Float.greatestFiniteMagnitude
            var scale = max
            var besti1 = -1, besti2 = -1, bestK = -1
            IQ1Lanes.searchM(xb: xb, weight: weight, order: s.order, xp: xp, xm: xm, bestScore: &bestScore,
                             scale: &scale, i1: &besti1, i2: &besti2, k: &bestK)
            if besti1 < 0 || besti2 < 0 || bestK < 0 {
                s.scales[ib] = 0
                s.shifts[ib] = 0
                continue
            }
            assign(s, n: 16, besti1, besti2)
            if scale < 0 {
                for j in 0..<16 { s.L[j] = 2 - s.L[j] }
                scale = -scale
                bestK = 3 - bestK
            }
            let k = bestK
            scale = snap(t, s, xb: xb, groups: 2, scale: scale, xx: { shifted(k, group: $0) }, index: index)
            y.storeU8(UInt8(truncatingIfNeeded: index[0]), at: 2 * ib)
            y.storeU8(UInt8(truncatingIfNeeded: index[1]), at: 2 * ib + 1)
            y.storeU8(UInt8(truncatingIfNeeded: (index[0] >> 8) | ((index[1] >> 8) << 4)), at: 32 + ib)
            s.scales[ib] = scale
            s.shifts[ib] = Int8(bestK)
            maxScale = maxScale > scale ? maxScale : scale
        }
        if maxScale == 0 { return }
        var d = maxScale / 15
        let id = 1 / d
        var sumqx: Float = 0, sumq2: Float = 0
        let masks: [UInt8] = [0x00, 0x80, 0x08, 0x88]
        for ib in 0..<16 {
            let l = Swift.max(0, Swift.min(7, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1))))
            let so = 48 + 2 * (ib / 4)
            y.storeU16(UnsafeRawPointer(y).u16(so) | UInt16(l) << UInt16(3 * (ib % 4)), at: so)
            let shift = Int(s.shifts[ib])
            y.orU8(masks[shift], at: 32 + ib)
            let xb = xbl + 16 * ib
            weightsM(xb, qw: qw.map { $0 + 16 * ib }, sigma2: sigma2, into: weight)
            let qh = Int(y.load(fromByteOffset: 32 + ib, as: UInt8.self))
            let ls = Float(2 * l + 1)
            for k in 0..<2 {
                let g = shifted(shift, group: k)
                let gi = Int(y.load(fromByteOffset: 2 * ib + k, as: UInt8.self)) + ((qh << (8 - 4 * k)) & 0x700)
                for j in 0..<8 {
                    let w = weight[8 * k + j]
                    let q = pick(g, t.level(gi, j)) * ls
                    sumqx += w * q * xb[8 * k + j]
                    sumq2 += w * q * q
                }
            }
        }
        if sumq2 > 0 { d = sumqx / sumq2 }
        let bits = FP16.fromFloat(d * 1.1125)
        for k in 0..<4 {
            let so = 48 + 2 * k
            let nibble = (bits >> UInt16(4 * k)) & 0xF
            y.storeU16(UnsafeRawPointer(y).u16(so) | nibble << 12, at: so)
        }
    }
}
