/// Q3_K's reference search (`make_q3_quants` with do_rmse) on SIMD lanes: eight sub-blocks per
/// group, two groups advanced in lockstep. Same per-lane operation sequence as ggml.
/// Per search: start from the absmax scale, then up to five sweeps of single-level coordinate
/// descent; a lane whose sweep changed nothing stops, as the scalar loop breaks (its state would
/// not change anyway).
extension Lanes {
    /// Two independent `make_q3_quants` searches (sub-blocks 0-7 and 8-15) advanced in lockstep. The
    /// coordinate descent is one long dependency chain per element; interleaving two groups
    /// keeps the FPU busy while each waits. Each lane's operations are unchanged.
    @inline(__always)
    static func makeQ3Pair(
        n: Int, nmax: Int32, xa: UnsafePointer<F8>, La: UnsafeMutablePointer<I8>,
        xb: UnsafePointer<F8>, Lb: UnsafeMutablePointer<I8>
    ) -> (F8, F8) {
        if n <= 16, allFinite(xa, n), allFinite(xb, n) {
            return withUnsafeTemporaryAllocation(of: F8.self, capacity: 96) { s in
                makeQ3PairFloat(n: n, nmax: nmax, xa: xa, La: La, xb: xb, Lb: Lb, scratch: s.baseAddress!)
            }
        }
        let zero = F8(repeating: 0)
        var maxA = zero, amaxA = zero, maxB = zero, amaxB = zero
        for i in 0..<n {
            let a = abs(xa[i]), b = abs(xb[i])
            let ba = a .> amaxA, bb = b .> amaxB
            amaxA.replace(with: a, where: ba)
            maxA.replace(with: xa[i], where: ba)
            amaxB.replace(with: b, where: bb)
            maxB.replace(with: xb[i], where: bb)
        }
        let eps = F8(repeating: Numerics.groupMaxEps)
        let degA = amaxA .< eps, degB = amaxB .< eps
        let fnmax = F8(repeating: Float(nmax))
        let iscaleA = negate(fnmax) / maxA, iscaleB = negate(fnmax) / maxB
        var slxA = zero, sl2A = zero, slxB = zero, sl2B = zero
        for i in 0..<n {
            let la = clamp(nearestInt(iscaleA * xa[i]), -nmax, nmax - 1)
            let lb = clamp(nearestInt(iscaleB * xb[i]), -nmax, nmax - 1)
            La[i] = la
            Lb[i] = lb
            let wa = xa[i] * xa[i], wb = xb[i] * xb[i]
            let fa = floatSigned(la), fb = floatSigned(lb)
            slxA += wa * xa[i] * fa
            sl2A += wa * fa * fa
            slxB += wb * xb[i] * fb
            sl2B += wb * fb * fb
        }
        var activeA = SIMDMask<I8>(repeating: true), activeB = SIMDMask<I8>(repeating: true)
        for _ in 0..<5 {
            var changedA = SIMDMask<I8>(repeating: false), changedB = SIMDMask<I8>(repeating: false)
            for i in 0..<n {
                step(xa[i], &La[i], &slxA, &sl2A, activeA, &changedA, nmax)
                step(xb[i], &Lb[i], &slxB, &sl2B, activeB, &changedB, nmax)
            }
            activeA .&= changedA
            activeB .&= changedB
            if !Lanes.anyLane(activeA .| activeB) { break }
        }
        let bias = I8(repeating: nmax)
        for i in 0..<n {
            La[i] = La[i] &+ bias
            Lb[i] = Lb[i] &+ bias
        }
        var scaleA = (slxA / sl2A).replacing(with: 0, where: .!(sl2A .> zero))
        var scaleB = (slxB / sl2B).replacing(with: 0, where: .!(sl2B .> zero))
        if Lanes.anyLane(degA) {
            for i in 0..<n { La[i].replace(with: 0, where: degA) }
            scaleA.replace(with: zero, where: degA)
        }
        if Lanes.anyLane(degB) {
            for i in 0..<n { Lb[i].replace(with: 0, where: degB) }
            scaleB.replace(with: zero, where: degB)
        }
        return (scaleA, scaleB)
    }

    /// One coordinate-descent update of element x (level L) in make_q3_quants.
    @inline(__always)
    private static func step(
        _ x: F8, _ L: inout I8, _ sumlx: inout F8, _ suml2: inout F8, _ active: SIMDMask<I8>,
        _ changed: inout SIMDMask<I8>, _ nmax: Int32
    ) {
        let zero = F8(repeating: 0)
        let w = x * x
        let li = floatSigned(L)
        var slx = sumlx - w * x * li
        var sl2 = suml2 - w * li * li
        let positive = slx .> zero
        let newL = clamp(nearestInt(x * sl2 / slx), -nmax, nmax - 1)
        let differs = newL .!= L
        let fl = floatSigned(newL)
        slx += w * x * fl
        sl2 += w * fl * fl
        let improves = (sl2 .> zero) .& (slx * slx * suml2 .> sumlx * sumlx * sl2)
        let update = active .& positive .& differs .& improves
        L.replace(with: newL, where: update)
        sumlx.replace(with: slx, where: update)
        suml2.replace(with: sl2, where: update)
        changed .|= update
    }
}

extension Lanes {
    /// makeQ3Pair with float-domain levels for finite groups (see KQuantLanesFloat.swift for
    /// why float levels are exact), built from the same steps as `makeQ3Quad`.
    @inline(__always)
    static func makeQ3PairFloat(
        n: Int, nmax: Int32, xa: UnsafePointer<F8>, La: UnsafeMutablePointer<I8>,
        xb: UnsafePointer<F8>, Lb: UnsafeMutablePointer<I8>, scratch: UnsafeMutablePointer<F8>
    ) -> (F8, F8) {
        let wA = scratch, wxA = scratch + n, LfA = scratch + 2 * n
        let wB = scratch + 3 * n, wxB = scratch + 4 * n, LfB = scratch + 5 * n
        var a = q3Start(n: n, nmax: nmax, x: xa, w: wA, wx: wxA, levels: LfA)
        var b = q3Start(n: n, nmax: nmax, x: xb, w: wB, wx: wxB, levels: LfB)
        for _ in 0..<5 {
            a.changed = SIMDMask(repeating: false)
            b.changed = a.changed
            for i in 0..<n {
                q3Step(&a, nmax: nmax, x: xa[i], w: wA[i], wx: wxA[i], level: LfA + i)
                q3Step(&b, nmax: nmax, x: xb[i], w: wB[i], wx: wxB[i], level: LfB + i)
            }
            a.active .&= a.changed
            b.active .&= b.changed
            if !anyLane(a.active .| b.active) { break }
        }
        return (q3Finish(a, n: n, nmax: nmax, levels: LfA, L: La), q3Finish(b, n: n, nmax: nmax, levels: LfB, L: Lb))
    }
}
