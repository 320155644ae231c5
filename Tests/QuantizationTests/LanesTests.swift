import Testing
@testable import Quantization

/// The SIMD eight-sub-block search must agree bit for bit with the scalar ggml transcription.
@Test func lanesMatchScalar() {
    var s: UInt64 = 99
    var x = [Float](repeating: 0, count: 256)
    for i in 0..<256 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; x[i] = Float(Int(s % 2001) - 1000) / 1000 * 0.05 }
    var w = x.map { abs($0) + 0.01 }
    var xT = [F8](repeating: .zero, count: 32), wT = xT
    for i in 0..<32 { for j in 0..<8 { xT[i][j] = x[32*j+i]; wT[i][j] = w[32*j+i] } }
    var LT = [I8](repeating: .zero, count: 32), LauxT = LT
    let r = Lanes.makeQKX(n: 32, nmax: 15, x: xT, w: wT, L: &LT, Laux: &LauxT, rmin: -1, rdelta: 0.1, nstep: 20, useMad: false, variant3: false)
    for j in 0..<8 {
        var L = [UInt8](repeating: 0, count: 32), Laux = L
        var mn: Float = 0
        let sc = x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in
            ScaleSearch.makeQKX2(n: 32, nmax: 15, x: xp.baseAddress! + 32*j, weights: wp.baseAddress! + 32*j, L: &L, theMin: &mn, Laux: &Laux, rmin: -1, rdelta: 0.1, nstep: 20, useMad: false) } }
        #expect(sc.bitPattern == r.scale[j].bitPattern, "lane \(j) scale \(sc) vs \(r.scale[j])")
        #expect(mn.bitPattern == r.theMin[j].bitPattern, "lane \(j) min \(mn) vs \(r.theMin[j])")
        #expect(L == (0..<32).map { UInt8(LT[$0][j]) }, "lane \(j) L")
    }
    _ = w.count; w[0] = 0
}
