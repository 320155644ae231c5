import CInferenceVNNI
import GGUF
import Quantization

/// The weight types the integer matmul multiplies, and how each is laid out for it.
///
/// Every weight is `wscale[s][r] · code - wmin[s][r]` within a sub-block s of `subblockLength`
/// columns of row r, with an unsigned code (vpdpbusd multiplies unsigned by signed bytes): Q4_K's
/// are 0...15 and Q5_K's 0...31 as stored; Q4_0's stored 0...15, Q5_0's 0...31 and Q6_K's 0...63
/// stand for code - 8, - 16 and - 32, and Q8_0's signed bytes are stored + 128, the offset taken
/// out of the sum by starting it at -offset · Σ x. (Q5_0 and Q8_0 are llama.cpp's fallbacks for
/// Q4_K and Q6_K in rows that are not whole 256-blocks: most of SmolLM2's Q4_K_M.)
enum IntegerWeightLayout: Sendable {
    case q8_0, q4_0, q5_0, q4_1, q5_1, q4_K, q5_K, q6_K

    init?(type: GGMLType) {
        switch type.id {
        case GGMLType.q8_0.id: self = .q8_0
        case GGMLType.q4_0.id: self = .q4_0
        case GGMLType.q5_0.id: self = .q5_0
        case GGMLType.q4_1.id: self = .q4_1
        case GGMLType.q5_1.id: self = .q5_1
        case GGMLType.q4_K.id: self = .q4_K
        case GGMLType.q5_K.id: self = .q5_K
        case GGMLType.q6_K.id: self = .q6_K
        default: return nil
        }
    }

    /// Columns sharing one weight scale (and min).
    var subblockLength: Int { self == .q6_K ? 16 : 32 }
    var hasMins: Bool { self == .q4_K || self == .q5_K || self == .q4_1 || self == .q5_1 }
    /// The activation rounding ggml pairs with the type (its vec_dot_type).
    var rounding: ActivationRounding {
        switch self {
        case .q8_0, .q4_0, .q5_0, .q4_1, .q5_1: .q8_0
        case .q4_K, .q5_K, .q6_K: .q8_K
        }
    }
    /// What the stored unsigned code exceeds the true one by.
    var codeOffset: Int32 {
        switch self {
        case .q8_0: 128
        case .q6_K: 32
        case .q5_0: 16
        case .q4_0: 8
        case .q4_1, .q5_1, .q4_K, .q5_K: 0
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
        switch layout {
        case .q8_0: loadCodes(Q8_0Codes.self, weights, rowBytes: rowBytes, rows: count)
        case .q4_0: loadCodes(Q4_0Codes.self, weights, rowBytes: rowBytes, rows: count)
        case .q5_0: loadCodes(Q5_0Codes.self, weights, rowBytes: rowBytes, rows: count)
        case .q4_1: loadCodes(Q4_1Codes.self, weights, rowBytes: rowBytes, rows: count)
        case .q5_1: loadCodes(Q5_1Codes.self, weights, rowBytes: rowBytes, rows: count)
        case .q4_K: loadCodes(Q4_KCodes.self, weights, rowBytes: rowBytes, rows: count)
        case .q5_K: loadCodes(Q5_KCodes.self, weights, rowBytes: rowBytes, rows: count)
        case .q6_K: loadCodes(Q6_KCodes.self, weights, rowBytes: rowBytes, rows: count)
        }
        for r in 0..<count {
            let src = weights + r * rowBytes
            switch layout {
            case .q8_0: loadLegacyScales(src, row: r, blockBytes: 34)
            case .q4_0: loadLegacyScales(src, row: r, blockBytes: 18)
            case .q5_0: loadLegacyScales(src, row: r, blockBytes: 22)
            case .q4_1: loadLegacyScalesAndMins(src, row: r, blockBytes: 20)
            case .q5_1: loadLegacyScalesAndMins(src, row: r, blockBytes: 24)
            case .q4_K: loadQ4Q5_KScales(src, row: r, blockBytes: 144)
            case .q5_K: loadQ4Q5_KScales(src, row: r, blockBytes: 176)
            case .q6_K: loadQ6_KScales(src, row: r)
            }
        }
    }

    /// The codes of every row, 32 columns at a time (`D.codes(row, i)`: columns 32i..<32i+32 of the
    /// row at `row`), into the panel's layout: 16 rows' 64 columns as 16 vectors of 16 lanes of 4
    /// codes, transposed (lane = row) in registers and stored as 16 groups' half-panels. The scalar
    /// lane stores this replaces were most of the repacking time.
    @inline(__always)
    func loadCodes<D: CodeDecoder>(_: D.Type, _ weights: UnsafeRawPointer, rowBytes: Int, rows count: Int) {
        typealias Lanes = SIMD16<UInt32>
        let chunks = columns / 64
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 32) { buffer in
            var source = buffer.baseAddress!, target = source + 16
            for half in 0..<2 where 16 * half < count {
                let first = 16 * half, n = min(16, count - first)
                for c in 0..<chunks {
                    for i in 0..<16 {
                        if i < n {
                            let src = weights + (first + i) * rowBytes
                            source[i] = Lanes(lowHalf: D.codes(src, 2 * c), highHalf: D.codes(src, 2 * c + 1))
                        } else {
                            source[i] = Lanes()
                        }
                    }
                    // A 16 × 16 transpose: 4 rounds of even/odd unshuffles of row pairs (permutes).
                    for _ in 0..<4 {
                        for i in 0..<8 {
                            let pair = SIMD32(lowHalf: source[2 * i], highHalf: source[2 * i + 1])
                            target[i] = pair.evenHalf
                            target[i + 8] = pair.oddHalf
                        }
                        swap(&source, &target)
                    }
                    for g in 0..<16 {
                        codes.storeBytes(of: source[g], toByteOffset: (16 * c + g) * 128 + 64 * half, as: Lanes.self)
                    }
                }
            }
        }
        // Rows of 32-column blocks can end in half a chunk: those 8 groups lane by lane.
        if columns % 64 != 0 {
            for r in 0..<count {
                store(D.codes(weights + r * rowBytes, columns / 32 - 1), row: r, column: columns - 32)
            }
        }
    }

    /// Stores row r's 32 codes of columns k0..<k0+32 (8 words of 4) in their 8 lanes.
    @inline(__always)
    func store(_ words: CodeWords, row r: Int, column k0: Int) {
        var o = k0 / 4 * 128 + 4 * r
        for i in 0..<8 {
            codes.storeBytes(of: words[i], toByteOffset: o, as: UInt32.self)
            o += 128
        }
    }

    /// An F16 scale as a float (one instruction with F16C; exact either way).
    @inline(__always)
    static func half(_ p: UnsafeRawPointer) -> Float {
        #if INFERENCE_FMA && arch(x86_64)
        Float(Float16(bitPattern: p.loadUnaligned(as: UInt16.self)))
        #else
        FP16.toFloat(p.loadUnaligned(as: UInt16.self))
        #endif
    }

    /// Q8_0/Q4_0/Q5_0: one F16 scale at the start of each 32-column block.
    func loadLegacyScales(_ src: UnsafeRawPointer, row r: Int, blockBytes: Int) {
        for b in 0..<(columns / 32) { scales[b * Self.rows + r] = Self.half(src + blockBytes * b) }
    }

    /// Q4_1/Q5_1: F16 d and m at the start of each 32-column block; a weight is d·code + m, so the
    /// min subtracted is -m.
    func loadLegacyScalesAndMins(_ src: UnsafeRawPointer, row r: Int, blockBytes: Int) {
        let mins = self.mins!
        for b in 0..<(columns / 32) {
            scales[b * Self.rows + r] = Self.half(src + blockBytes * b)
            mins[b * Self.rows + r] = -Self.half(src + blockBytes * b + 2)
        }
    }

    /// Q4_K/Q5_K: d·scale and dmin·min per 32 columns.
    func loadQ4Q5_KScales(_ src: UnsafeRawPointer, row r: Int, blockBytes: Int) {
        let mins = self.mins!
        for b in 0..<(columns / 256) {
            let block = src + blockBytes * b
            let d = Self.half(block), dmin = Self.half(block + 2)
            for s in 0..<8 {
                let (sc, m) = QK45.scaleMin(s, block + 4)
                scales[(8 * b + s) * Self.rows + r] = d * Float(sc)
                mins[(8 * b + s) * Self.rows + r] = dmin * Float(m)
            }
        }
    }

    /// Q6_K: d·scale per 16 columns.
    func loadQ6_KScales(_ src: UnsafeRawPointer, row r: Int) {
        for b in 0..<(columns / 256) {
            let block = src + 210 * b
            let d = Self.half(block + 208)
            for s in 0..<16 {
                let sc = Int8(bitPattern: block.load(fromByteOffset: 192 + s, as: UInt8.self))
                scales[(16 * b + s) * Self.rows + r] = d * Float(sc)
            }
        }
    }
}

/// Unsigned codes of 32 columns of a row of one weight type (see `IntegerWeightLayout`), as 8
/// words of 4 codes (the panel's lanes). Bytes are handled as words: Swift's SIMD32<UInt8> has no
/// vector bitwise operators (`|`, `&`, `^` and byte shifts compile to a loop over lanes, checked
/// with -emit-assembly; they were most of the repacking time), SIMD8<UInt32>'s do, and masks keep
/// the word shifts within bytes.
protocol CodeDecoder {
    /// Columns 32i..<32i+32 of the row at `row`.
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> SIMD8<UInt32>
}

typealias CodeWords = SIMD8<UInt32>
let lowNibbles: UInt32 = 0x0F0F_0F0F

/// Q8_0 (34 bytes per 32: F16 d, 32 signed codes): codes + 128.
enum Q8_0Codes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords {
        row.loadUnaligned(fromByteOffset: 34 * i + 2, as: CodeWords.self) ^ 0x8080_8080
    }
}

/// Q4_0 (18 bytes per 32: F16 d, 16 bytes of nibbles: columns 0-15 low, 16-31 high): codes 0...15
/// standing for code - 8.
enum Q4_0Codes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords { nibbleCodes(row + 18 * i + 2) }
}

/// Q5_0 (22 bytes per 32: F16 d, 32 fifth bits, nibbles as Q4_0's): codes 0...31 standing for
/// code - 16.
enum Q5_0Codes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords { fiveBitCodes(row + 22 * i + 2) }
}

/// Q4_1 (20 bytes per 32: F16 d and m, nibbles as Q4_0's): codes 0...15.
enum Q4_1Codes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords { nibbleCodes(row + 20 * i + 4) }
}

/// Q5_1 (24 bytes per 32: F16 d and m, then Q5_0's bits and nibbles): codes 0...31.
enum Q5_1Codes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords { fiveBitCodes(row + 24 * i + 4) }
}

/// Q4_0's and Q4_1's 16 bytes of nibbles (columns 0-15 low, 16-31 high), as codes 0...15.
@inline(__always)
func nibbleCodes(_ p: UnsafeRawPointer) -> CodeWords {
    let q = p.loadUnaligned(as: SIMD4<UInt32>.self)
    return CodeWords(lowHalf: q & lowNibbles, highHalf: (q &>> 4) & lowNibbles)
}

/// Q5_0's and Q5_1's 32 fifth bits followed by 16 bytes of nibbles, as codes 0...31.
@inline(__always)
func fiveBitCodes(_ p: UnsafeRawPointer) -> CodeWords {
    // Bit l of the 32 for column l, as 16 in byte l: per 8 bits, the byte repeated 8 times, bit l
    // kept in byte l, and + 0x7F carries any kept bit into the byte's top bit.
    let h = p.loadUnaligned(as: UInt32.self)
    @inline(__always) func spread(_ byte: UInt32) -> UInt64 {
        let kept = (UInt64(byte & 0xFF) &* 0x0101_0101_0101_0101) & 0x8040_2010_0804_0201
        return ((kept &+ 0x7F7F_7F7F_7F7F_7F7F) & 0x8080_8080_8080_8080) &>> 3
    }
    let fifth = unsafeBitCast(SIMD4<UInt64>(spread(h), spread(h >> 8), spread(h >> 16), spread(h >> 24)),
                              to: CodeWords.self)
    return nibbleCodes(p + 4) | fifth
}

/// Q4_K (144 bytes per 256: F16 d and dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles):
/// 64 columns per 32 bytes of nibbles, low nibbles first.
enum Q4_KCodes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords {
        let q = row.loadUnaligned(fromByteOffset: 144 * (i / 8) + 16 + 32 * ((i % 8) / 2), as: CodeWords.self)
        return (i % 2 == 1 ? q &>> 4 : q) & lowNibbles
    }
}

/// Q5_K (176 bytes per 256: Q4_K's with 32 bytes of fifth bits before the nibbles): the fifth bit
/// of the i-th 32 columns of a block is bit i of each byte.
enum Q5_KCodes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords {
        let block = row + 176 * (i / 8)
        let q = block.loadUnaligned(fromByteOffset: 48 + 32 * ((i % 8) / 2), as: CodeWords.self)
        let fifth = block.loadUnaligned(fromByteOffset: 16, as: CodeWords.self)
        // The bit kept in each byte, moved to the byte's top bit by + 0x7F on the low 7 bits (no
        // carry out of the byte) or'ed with bit 7 itself, then down to 16.
        let kept = fifth & ((UInt32(1) << UInt32(i % 8)) &* 0x0101_0101)
        let top = (((kept & 0x7F7F_7F7F) &+ 0x7F7F_7F7F) | kept) & 0x8080_8080
        return ((i % 2 == 1 ? q &>> 4 : q) & lowNibbles) | (top &>> 3)
    }
}

/// Q6_K (210 bytes per 256: 128 of low nibbles, 64 of high bit pairs, 16 signed scales, F16 d):
/// codes 0...63 standing for code - 32. Per 128 columns: 64 bytes of nibbles (columns 0-31 and
/// 64-95 in the low and high nibbles of the first 32, 32-63 and 96-127 in the next 32) and 32 bytes
/// of bit pairs (bits 2m, 2m+1 for the m-th 32 columns).
enum Q6_KCodes: CodeDecoder {
    @inline(__always)
    static func codes(_ row: UnsafeRawPointer, _ i: Int) -> CodeWords {
        let block = row + 210 * (i / 8)
        let n = (i % 8) / 4, m = i % 4
        let ql = block.loadUnaligned(fromByteOffset: 64 * n + 32 * (m % 2), as: CodeWords.self)
        let qh = block.loadUnaligned(fromByteOffset: 128 + 32 * n, as: CodeWords.self)
        switch m {
        case 0: return (ql & lowNibbles) | ((qh & 0x0303_0303) &<< 4)
        case 1: return (ql & lowNibbles) | ((qh & 0x0C0C_0C0C) &<< 2)
        case 2: return ((ql &>> 4) & lowNibbles) | (qh & 0x3030_3030)
        default: return ((ql &>> 4) & lowNibbles) | ((qh & 0xC0C0_C0C0) &>> 2)
        }
    }
}
