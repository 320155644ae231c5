/// Q3_K's reference search on four groups of eight sub-blocks (two super-blocks) in lockstep:
/// the coordinate descent is a long dependency chain per element, so more independent groups
/// keep the FPU busy. Same float-domain levels and guards as makeQ3PairFloat; non-finite input
/// falls back to two pair searches, which give the same results.
typealias Q3Groups = (UnsafePointer<F8>, UnsafePointer<F8>, UnsafePointer<F8>, UnsafePointer<F8>)
typealias Q3Levels = (UnsafeMutablePointer<I8>, UnsafeMutablePointer<I8>, UnsafeMutablePointer<I8>,
                      UnsafeMutablePointer<I8>)

extension Lanes {
    @inline(__always)
    static func makeQ3Quad(n: Int, nmax: Int32, x: Q3Groups, L: Q3Levels) -> (F8, F8, F8, F8) {
        guard n <= 16, allFinite(x.0, n), allFinite(x.1, n), allFinite(x.2, n), allFinite(x.3, n) else {
            let (a, b) = makeQ3Pair(n: n, nmax: nmax, xa: x.0, La: L.0, xb: x.1, Lb: L.1)
            let (c, d) = makeQ3Pair(n: n, nmax: nmax, xa: x.2, La: L.2, xb: x.3, Lb: L.3)
            return (a, b, c, d)
        }
        return withUnsafeTemporaryAllocation(of: F8.self, capacity: 12 * 16) { s in
            makeQ3QuadFloat(n: n, nmax: nmax, x: x, L: L, scratch: s.baseAddress!)
        }
    }

    @inline(__always)
    static func makeQ3QuadFloat(
        n: Int, nmax: Int32, x: Q3Groups, L: Q3Levels, scratch: UnsafeMutablePointer<F8>
    ) -> (F8, F8, F8, F8) {
        let zero = F8(repeating: 0)
        let magic = F8(repeating: 12582912.0), limit = F8(repeating: 4_000_000)
        let fnmax = F8(repeating: Float(nmax))
        let lo = Float(-nmax), hi = Float(nmax - 1)

        let xA = x.0, wA = scratch + 0 * n, wxA = scratch + 1 * n, LfA = scratch + 2 * n
        var maxA = zero, amaxA = zero
        for i in 0..<n {
            let a = abs(xA[i])
            let b = a .> amaxA
            amaxA.replace(with: a, where: b)
            maxA.replace(with: xA[i], where: b)
            wA[i] = xA[i] * xA[i]
            wxA[i] = wA[i] * xA[i]
        }
        let degA = amaxA .< F8(repeating: Numerics.groupMaxEps)
        let iscaleA = negate(fnmax) / maxA
        var slxA = zero, sl2A = zero
        for i in 0..<n {
            let fl = clampF((iscaleA * xA[i] + magic) - magic, lo, hi)
            LfA[i] = fl
            slxA += wxA[i] * fl
            sl2A += wA[i] * fl * fl
        }
        var activeA = .!degA

        let xB = x.1, wB = scratch + 3 * n, wxB = scratch + 4 * n, LfB = scratch + 5 * n
        var maxB = zero, amaxB = zero
        for i in 0..<n {
            let a = abs(xB[i])
            let b = a .> amaxB
            amaxB.replace(with: a, where: b)
            maxB.replace(with: xB[i], where: b)
            wB[i] = xB[i] * xB[i]
            wxB[i] = wB[i] * xB[i]
        }
        let degB = amaxB .< F8(repeating: Numerics.groupMaxEps)
        let iscaleB = negate(fnmax) / maxB
        var slxB = zero, sl2B = zero
        for i in 0..<n {
            let fl = clampF((iscaleB * xB[i] + magic) - magic, lo, hi)
            LfB[i] = fl
            slxB += wxB[i] * fl
            sl2B += wB[i] * fl * fl
        }
        var activeB = .!degB

        let xC = x.2, wC = scratch + 6 * n, wxC = scratch + 7 * n, LfC = scratch + 8 * n
        var maxC = zero, amaxC = zero
        for i in 0..<n {
            let a = abs(xC[i])
            let b = a .> amaxC
            amaxC.replace(with: a, where: b)
            maxC.replace(with: xC[i], where: b)
            wC[i] = xC[i] * xC[i]
            wxC[i] = wC[i] * xC[i]
        }
        let degC = amaxC .< F8(repeating: Numerics.groupMaxEps)
        let iscaleC = negate(fnmax) / maxC
        var slxC = zero, sl2C = zero
        for i in 0..<n {
            let fl = clampF((iscaleC * xC[i] + magic) - magic, lo, hi)
            LfC[i] = fl
            slxC += wxC[i] * fl
            sl2C += wC[i] * fl * fl
        }
        var activeC = .!degC

        let xD = x.3, wD = scratch + 9 * n, wxD = scratch + 10 * n, LfD = scratch + 11 * n
        var maxD = zero, amaxD = zero
        for i in 0..<n {
            let a = abs(xD[i])
            let b = a .> amaxD
            amaxD.replace(with: a, where: b)
            maxD.replace(with: xD[i], where: b)
            wD[i] = xD[i] * xD[i]
            wxD[i] = wD[i] * xD[i]
        }
        let degD = amaxD .< F8(repeating: Numerics.groupMaxEps)
        let iscaleD = negate(fnmax) / maxD
        var slxD = zero, sl2D = zero
        for i in 0..<n {
            let fl = clampF((iscaleD * xD[i] + magic) - magic, lo, hi)
            LfD[i] = fl
            slxD += wxD[i] * fl
            sl2D += wD[i] * fl * fl
        }
        var activeD = .!degD

        for _ in 0..<5 {
            var changedA = SIMDMask<I8>(repeating: false), changedB = SIMDMask<I8>(repeating: false)
            var changedC = SIMDMask<I8>(repeating: false), changedD = SIMDMask<I8>(repeating: false)
            for i in 0..<n {
                do {
                    let xi = xA[i], w = wA[i], wx = wxA[i]
                    let li = LfA[i]
                    var slx = slxA - wx * li
                    var sl2 = sl2A - w * li * li
                    let positive = slx .> zero
                    let v = xi * sl2 / slx
                    let newL: F8
                    if allLanes((abs(v) .< limit) .| .!(positive .& activeA)) {
                        newL = clampF((v + magic) - magic, lo, hi)
                    } else {
                        newL = floatSigned(clamp(nearestInt(v), -nmax, nmax - 1))
                    }
                    let differs = newL .!= li
                    slx += wx * newL
                    sl2 += w * newL * newL
                    let improves = (sl2 .> zero) .& (slx * slx * sl2A .> slxA * slxA * sl2)
                    let update = activeA .& positive .& differs .& improves
                    LfA[i].replace(with: newL, where: update)
                    slxA.replace(with: slx, where: update)
                    sl2A.replace(with: sl2, where: update)
                    changedA .|= update
                }
                do {
                    let xi = xB[i], w = wB[i], wx = wxB[i]
                    let li = LfB[i]
                    var slx = slxB - wx * li
                    var sl2 = sl2B - w * li * li
                    let positive = slx .> zero
                    let v = xi * sl2 / slx
                    let newL: F8
                    if allLanes((abs(v) .< limit) .| .!(positive .& activeB)) {
                        newL = clampF((v + magic) - magic, lo, hi)
                    } else {
                        newL = floatSigned(clamp(nearestInt(v), -nmax, nmax - 1))
                    }
                    let differs = newL .!= li
                    slx += wx * newL
                    sl2 += w * newL * newL
                    let improves = (sl2 .> zero) .& (slx * slx * sl2B .> slxB * slxB * sl2)
                    let update = activeB .& positive .& differs .& improves
                    LfB[i].replace(with: newL, where: update)
                    slxB.replace(with: slx, where: update)
                    sl2B.replace(with: sl2, where: update)
                    changedB .|= update
                }
                do {
                    let xi = xC[i], w = wC[i], wx = wxC[i]
                    let li = LfC[i]
                    var slx = slxC - wx * li
                    var sl2 = sl2C - w * li * li
                    let positive = slx .> zero
                    let v = xi * sl2 / slx
                    let newL: F8
                    if allLanes((abs(v) .< limit) .| .!(positive .& activeC)) {
                        newL = clampF((v + magic) - magic, lo, hi)
                    } else {
                        newL = floatSigned(clamp(nearestInt(v), -nmax, nmax - 1))
                    }
                    let differs = newL .!= li
                    slx += wx * newL
                    sl2 += w * newL * newL
                    let improves = (sl2 .> zero) .& (slx * slx * sl2C .> slxC * slxC * sl2)
                    let update = activeC .& positive .& differs .& improves
                    LfC[i].replace(with: newL, where: update)
                    slxC.replace(with: slx, where: update)
                    sl2C.replace(with: sl2, where: update)
                    changedC .|= update
                }
                do {
                    let xi = xD[i], w = wD[i], wx = wxD[i]
                    let li = LfD[i]
                    var slx = slxD - wx * li
                    var sl2 = sl2D - w * li * li
                    let positive = slx .> zero
                    let v = xi * sl2 / slx
                    let newL: F8
                    if allLanes((abs(v) .< limit) .| .!(positive .& activeD)) {
                        newL = clampF((v + magic) - magic, lo, hi)
                    } else {
                        newL = floatSigned(clamp(nearestInt(v), -nmax, nmax - 1))
                    }
                    let differs = newL .!= li
                    slx += wx * newL
                    sl2 += w * newL * newL
                    let improves = (sl2 .> zero) .& (slx * slx * sl2D .> slxD * slxD * sl2)
                    let update = activeD .& positive .& differs .& improves
                    LfD[i].replace(with: newL, where: update)
                    slxD.replace(with: slx, where: update)
                    sl2D.replace(with: sl2, where: update)
                    changedD .|= update
                }
            }
            activeA .&= changedA
            activeB .&= changedB
            activeC .&= changedC
            activeD .&= changedD
            if !anyLane(activeA .| activeB .| activeC .| activeD) { break }
        }
        for i in 0..<n { L.0[i] = intLevel(LfA[i] + fnmax) }
        var scaleA = (slxA / sl2A).replacing(with: 0, where: .!(sl2A .> zero))
        if anyLane(degA) {
            for i in 0..<n { L.0[i].replace(with: 0, where: degA) }
            scaleA.replace(with: zero, where: degA)
        }
        for i in 0..<n { L.1[i] = intLevel(LfB[i] + fnmax) }
        var scaleB = (slxB / sl2B).replacing(with: 0, where: .!(sl2B .> zero))
        if anyLane(degB) {
            for i in 0..<n { L.1[i].replace(with: 0, where: degB) }
            scaleB.replace(with: zero, where: degB)
        }
        for i in 0..<n { L.2[i] = intLevel(LfC[i] + fnmax) }
        var scaleC = (slxC / sl2C).replacing(with: 0, where: .!(sl2C .> zero))
        if anyLane(degC) {
            for i in 0..<n { L.2[i].replace(with: 0, where: degC) }
            scaleC.replace(with: zero, where: degC)
        }
        for i in 0..<n { L.3[i] = intLevel(LfD[i] + fnmax) }
        var scaleD = (slxD / sl2D).replacing(with: 0, where: .!(sl2D .> zero))
        if anyLane(degD) {
            for i in 0..<n { L.3[i].replace(with: 0, where: degD) }
            scaleD.replace(with: zero, where: degD)
        }
        return (scaleA, scaleB, scaleC, scaleD)
    }
}
