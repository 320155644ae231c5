import CInferenceVNNI
import GGUF
import Quantization

/// The weight types the integer matmul multiplies, and how each is laid out for it.
///
/// Every weight is `wscale[s][r] · code - wmin[s][r]` within a sub-block s of `subblockLength`
/// columns of row r, with an unsigned code (vpdpbusd multiplies unsigned by signed bytes): Q4_K's
/// are 0...15 and Q5_K's 0...31 as stored; Q6_K's stored 0...63 stand for code - 32 and Q8_0's
/// signed bytes are stored + 128, the offset taken out of the sum by starting it at -offset · Σ x.
enum IntegerWeightLayout: Sendable {
    case q8_0, q4_K, q5_K, q6_K

    init?(type: GGMLType) {
        switch type.id {
        case GGMLType.q8_0.id: self = .q8_0
        case GGMLType.q4_K.id: self = .q4_K
        case GGMLType.q5_K.id: self = .q5_K
        case GGMLType.q6_K.id: self = .q6_K
        default: return nil
        }
    }

    /// Columns sharing one weight scale (and min).
    var subblockLength: Int { self == .q6_K ? 16 : 32 }
    var hasMins: Bool { self == .q4_K || self == .q5_K }
    /// The activation rounding ggml pairs with the type (its vec_dot_type).
    var rounding: ActivationRounding { self == .q8_0 ? .q8_0 : .q8_K }
    /// What the stored unsigned code exceeds the true one by.
    var codeOffset: Int32 {
        switch self {
        case .q8_0: 128
        case .q6_K: 32
        case .q4_K, .q5_K: 0
        }
    }
}

/// A panel of `MatMul`'s width (32 rows) repacked for `quantd_vnni_panel`: for every 4 columns, the
/// 32 rows' 4 codes side by side (one 32-bit lane per row, so a vpdpbusd lane sums one output row),
/// then per sub-block the 32 rows' scales and mins as floats. One per matmul worker, reused.
struct IntegerWeightPanel {
    static let rows = Int(QUANTD_VNNI_PANEL_ROWS)
    let codes: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float>
    let mins: UnsafeMutablePointer<Float>?
    let columns: Int
    let layout: IntegerWeightLayout

    init(columns: Int, layout: IntegerWeightLayout) {
        self.columns = columns
        self.layout = layout
        let subblocks = columns / layout.subblockLength
        codes = .allocate(byteCount: Self.rows * columns, alignment: 64)
        scales = UnsafeMutableRawPointer.allocate(byteCount: 4 * Self.rows * subblocks, alignment: 64)
            .bindMemory(to: Float.self, capacity: Self.rows * subblocks)
        mins = layout.hasMins
            ? UnsafeMutableRawPointer.allocate(byteCount: 4 * Self.rows * subblocks, alignment: 64)
                .bindMemory(to: Float.self, capacity: Self.rows * subblocks)
            : nil
    }

    func deallocate() {
        codes.deallocate()
        scales.deallocate()
        mins?.deallocate()
    }

    /// Repacks `count` (at most 32) rows of `rowBytes` bytes at `weights`; the panel's other rows get
    /// zero codes and scales.
    func load(_ weights: UnsafeRawPointer, rowBytes: Int, rows count: Int) {
        let subblocks = columns / layout.subblockLength
        if count < Self.rows {
            codes.initializeMemory(as: UInt8.self, repeating: 0, count: Self.rows * columns)
            scales.initialize(repeating: 0, count: Self.rows * subblocks)
            mins?.initialize(repeating: 0, count: Self.rows * subblocks)
        }
        for r in 0..<count {
            let src = weights + r * rowBytes
            switch layout {
            case .q8_0: loadQ8_0(src, row: r)
            case .q4_K, .q5_K: loadQ4Q5_K(src, row: r, high: layout == .q5_K)
            case .q6_K: loadQ6_K(src, row: r)
            }
        }
    }

    /// Stores row r's 32 codes of columns k0..<k0+32 as 8 lanes of 4 codes.
    @inline(__always)
    func store(_ v: SIMD32<UInt8>, row r: Int, column k0: Int) {
        let words = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        var o = k0 / 4 * 128 + 4 * r
        for i in 0..<8 {
            codes.storeBytes(of: words[i], toByteOffset: o, as: UInt32.self)
            o += 128
        }
    }

    /// Q8_0 (34 bytes per 32: F16 d, 32 signed codes): codes + 128, scale d.
    func loadQ8_0(_ src: UnsafeRawPointer, row r: Int) {
        for b in 0..<(columns / 32) {
            let block = src + 34 * b
            let q = block.loadUnaligned(fromByteOffset: 2, as: SIMD32<UInt8>.self)
            store(q ^ SIMD32(repeating: 0x80), row: r, column: 32 * b)
            scales[b * Self.rows + r] = FP16.toFloat(block.loadUnaligned(as: UInt16.self))
        }
    }

    /// Q4_K (144 bytes per 256: F16 d and dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles)
    /// and Q5_K (176: the same with 32 bytes of fifth bits before the nibbles). 64 columns per 32
    /// bytes of nibbles: low nibbles first, then high; the fifth bits of pair j are bits 2j, 2j+1.
    func loadQ4Q5_K(_ src: UnsafeRawPointer, row r: Int, high: Bool) {
        let blockBytes = high ? 176 : 144, nibbles = high ? 48 : 16
        let mins = self.mins!
        for b in 0..<(columns / 256) {
            let block = src + blockBytes * b
            let d = FP16.toFloat(block.loadUnaligned(as: UInt16.self))
            let dmin = FP16.toFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let fifth = high ? block.loadUnaligned(fromByteOffset: 16, as: SIMD32<UInt8>.self) : SIMD32()
            for j in 0..<4 {
                let q = block.loadUnaligned(fromByteOffset: nibbles + 32 * j, as: SIMD32<UInt8>.self)
                var low = q & 0x0F, upper = q &>> 4
                if high {
                    low |= ((fifth &>> UInt8(2 * j)) & 1) &<< 4
                    upper |= ((fifth &>> UInt8(2 * j + 1)) & 1) &<< 4
                }
                store(low, row: r, column: 256 * b + 64 * j)
                store(upper, row: r, column: 256 * b + 64 * j + 32)
            }
            for s in 0..<8 {
                let (sc, m) = QK45.scaleMin(s, block + 4)
                scales[(8 * b + s) * Self.rows + r] = d * Float(sc)
                mins[(8 * b + s) * Self.rows + r] = dmin * Float(m)
            }
        }
    }

    /// Q6_K (210 bytes per 256: 128 of low nibbles, 64 of high bit pairs, 16 signed scales, F16 d),
    /// codes 0...63 standing for code - 32. Per 128 columns: 64 bytes of nibbles (columns 0-31 and
    /// 64-95 in the low and high nibbles of the first 32, 32-63 and 96-127 in the next 32) and 32
    /// bytes of bit pairs (bits 2m, 2m+1 for the m-th 32 columns).
    func loadQ6_K(_ src: UnsafeRawPointer, row r: Int) {
        for b in 0..<(columns / 256) {
            let block = src + 210 * b
            let d = FP16.toFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
            for n in 0..<2 {
                let ql0 = block.loadUnaligned(fromByteOffset: 64 * n, as: SIMD32<UInt8>.self)
                let ql1 = block.loadUnaligned(fromByteOffset: 64 * n + 32, as: SIMD32<UInt8>.self)
                let qh = block.loadUnaligned(fromByteOffset: 128 + 32 * n, as: SIMD32<UInt8>.self)
                let k0 = 256 * b + 128 * n
                store((ql0 & 0x0F) | ((qh & 3) &<< 4), row: r, column: k0)
                store((ql1 & 0x0F) | (((qh &>> 2) & 3) &<< 4), row: r, column: k0 + 32)
                store((ql0 &>> 4) | (((qh &>> 4) & 3) &<< 4), row: r, column: k0 + 64)
                store((ql1 &>> 4) | ((qh &>> 6) &<< 4), row: r, column: k0 + 96)
            }
            for s in 0..<16 {
                let sc = Int8(bitPattern: block.load(fromByteOffset: 192 + s, as: UInt8.self))
                scales[(16 * b + s) * Self.rows + r] = d * Float(sc)
            }
        }
    }
}
