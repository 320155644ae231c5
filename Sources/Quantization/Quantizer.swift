import GGUF

/// What went wrong when asking for a quantization; every case says what to change.
public enum QuantizationError: Error, Equatable, CustomStringConvertible {
    case quantizeUnsupported(GGMLType)
    case dequantizeUnsupported(GGMLType)
    case rowLengthNotMultipleOfBlock(GGMLType, rowLength: Int)
    case inputNotWholeRows(count: Int, rowLength: Int)
    case importanceLengthMismatch(expected: Int, actual: Int)
    case outputSizeMismatch(expected: Int, actual: Int)
    case countNotWholeBlocks(GGMLType, count: Int)
    case inputSizeMismatch(expected: Int, actual: Int)
    case importanceRequired(GGMLType)

    public var description: String {
        switch self {
        case .quantizeUnsupported(let t):
            return "quantizing to \(t) is not supported (see Quantizer.supportsQuantize); pick another type"
        case .dequantizeUnsupported(let t):
            return "dequantizing \(t) is not supported (see Quantizer.supportsDequantize)"
        case .rowLengthNotMultipleOfBlock(let t, let n):
            return "row length \(n) is not a multiple of \(t)'s block size \(t.blockSize); use a type with a smaller block"
        case .inputNotWholeRows(let c, let n):
            return "\(c) input values are not a whole number of rows of \(n)"
        case .importanceLengthMismatch(let e, let a):
            return "importance weights have \(a) values but rows have \(e); the imatrix entry does not match this tensor"
        case .outputSizeMismatch(let e, let a):
            return "output buffer has \(a) bytes but \(e) are needed"
        case .countNotWholeBlocks(let t, let c):
            return "\(c) values are not a whole number of \(t) blocks of \(t.blockSize)"
        case .inputSizeMismatch(let e, let a):
            return "input has \(a) bytes but \(e) are expected"
        case .importanceRequired(let t):
            return "\(t) requires an importance matrix (without one the result is garbage, and llama-quantize refuses too); supply an imatrix"
        }
    }
}

/// ggml block formats: Float rows in, blocks out (and back), byte-identical to llama.cpp's
/// `ggml_quantize_chunk` (which uses the `_impl` searches when importance weights are given and
/// `quantize_row_*_ref` otherwise) and to its `dequantize_row_*` functions.
public enum Quantizer {
    private static let quantizable: Set<UInt32> = [
        GGMLType.f32.id, GGMLType.f16.id, GGMLType.bf16.id,
        GGMLType.q4_0.id, GGMLType.q4_1.id, GGMLType.q5_0.id, GGMLType.q5_1.id, GGMLType.q8_0.id,
        GGMLType.q2_K.id, GGMLType.q3_K.id, GGMLType.q4_K.id, GGMLType.q5_K.id, GGMLType.q6_K.id,
        GGMLType.iq4_NL.id, GGMLType.iq4_XS.id, GGMLType.tq1_0.id, GGMLType.tq2_0.id,
        GGMLType.mxfp4.id, GGMLType.nvfp4.id, GGMLType.q1_0.id, GGMLType.q2_0.id,
        GGMLType.iq3_XXS.id, GGMLType.iq3_S.id,
        GGMLType.iq2_XXS.id, GGMLType.iq2_XS.id, GGMLType.iq2_S.id, GGMLType.iq1_S.id, GGMLType.iq1_M.id,
    ]
    private static let dequantizeOnly: Set<UInt32> = [
        GGMLType.q8_K.id,
    ]
    /// Types ggml cannot quantize without importance weights (ggml_quantize_requires_imatrix).
    private static let requiresImportance: Set<UInt32> = [GGMLType.iq2_XXS.id, GGMLType.iq2_XS.id, GGMLType.iq1_S.id]
    /// Types whose ggml quantizer reads importance weights; the others ignore them.
    private static let usesImportance: Set<UInt32> = [
        GGMLType.q4_0.id, GGMLType.q4_1.id, GGMLType.q5_0.id, GGMLType.q5_1.id,
        GGMLType.q2_K.id, GGMLType.q3_K.id, GGMLType.q4_K.id, GGMLType.q5_K.id, GGMLType.q6_K.id,
        GGMLType.iq4_NL.id, GGMLType.iq4_XS.id, GGMLType.iq3_XXS.id, GGMLType.iq3_S.id,
        GGMLType.iq2_XXS.id, GGMLType.iq2_XS.id, GGMLType.iq2_S.id, GGMLType.iq1_S.id, GGMLType.iq1_M.id,
    ]

    public static func supportsQuantize(_ type: GGMLType) -> Bool { quantizable.contains(type.id) }

    public static func supportsDequantize(_ type: GGMLType) -> Bool {
        quantizable.contains(type.id) || dequantizeOnly.contains(type.id)
    }

    /// True when `importance` changes the output for this type.
    public static func usesImportanceWeights(_ type: GGMLType) -> Bool { usesImportance.contains(type.id) }

    /// True when quantizing to this type needs importance weights.
    public static func requiresImportanceWeights(_ type: GGMLType) -> Bool { requiresImportance.contains(type.id) }

    /// Bytes that `rows` rows of `rowLength` values take in `type`.
    public static func byteCount(_ type: GGMLType, rows: Int, rowLength: Int) throws -> Int {
        guard rowLength > 0, rowLength % type.blockSize == 0 else {
            throw QuantizationError.rowLengthNotMultipleOfBlock(type, rowLength: rowLength)
        }
        let (elements, o1) = rows.multipliedReportingOverflow(by: rowLength)
        guard !o1, let bytes = type.byteCount(elements: elements) else {
            throw QuantizationError.inputNotWholeRows(count: rows, rowLength: rowLength)
        }
        return bytes
    }

    /// Quantizes `rows.count / rowLength` rows. `importance` (one weight per column, as in a
    /// llama.cpp imatrix) selects ggml's importance-weighted search for the types that have one.
    /// `into` must be exactly `byteCount(type, rows:, rowLength:)` bytes.
    public static func quantize(
        _ type: GGMLType, rows: UnsafeBufferPointer<Float>, rowLength: Int,
        importance: UnsafeBufferPointer<Float>?, into output: UnsafeMutableRawBufferPointer
    ) throws {
        let nrows = try validate(type, count: rows.count, rowLength: rowLength, importance: importance,
                                 outputBytes: output.count)
        guard nrows > 0, let x = rows.baseAddress, let y = output.baseAddress else { return }
        let rowBytes = type.bytesPerBlock * (rowLength / type.blockSize)
        let qw = usesImportance.contains(type.id) ? importance?.baseAddress : nil
        for r in 0..<nrows {
            quantizeRow(type, x + r * rowLength, count: rowLength, weights: qw, into: y + r * rowBytes)
        }
    }

    /// Checks arguments; returns the number of rows.
    static func validate(
        _ type: GGMLType, count: Int, rowLength: Int, importance: UnsafeBufferPointer<Float>?, outputBytes: Int
    ) throws -> Int {
        guard supportsQuantize(type) else { throw QuantizationError.quantizeUnsupported(type) }
        guard rowLength > 0, rowLength % type.blockSize == 0 else {
            throw QuantizationError.rowLengthNotMultipleOfBlock(type, rowLength: rowLength)
        }
        guard count % rowLength == 0 else {
            throw QuantizationError.inputNotWholeRows(count: count, rowLength: rowLength)
        }
        if let importance, importance.count != rowLength {
            throw QuantizationError.importanceLengthMismatch(expected: rowLength, actual: importance.count)
        }
        if importance == nil && requiresImportance.contains(type.id) {
            throw QuantizationError.importanceRequired(type)
        }
        let nrows = count / rowLength
        let expected = try byteCount(type, rows: nrows, rowLength: rowLength)
        guard expected == outputBytes else {
            throw QuantizationError.outputSizeMismatch(expected: expected, actual: outputBytes)
        }
        return nrows
    }

    /// The kernel dispatch for one row (no checks; `count` is a multiple of the block size).
    @inline(__always)
    static func quantizeRow(
        _ type: GGMLType, _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>?,
        into y: UnsafeMutableRawPointer
    ) {
        switch type.id {
        case GGMLType.f32.id: y.copyMemory(from: x, byteCount: 4 * n)
        case GGMLType.f16.id: for i in 0..<n { y.storeU16(FP16.fromFloat(x[i]), at: 2 * i) }
        case GGMLType.bf16.id: for i in 0..<n { y.storeU16(BF16.fromFloat(x[i]), at: 2 * i) }
        case GGMLType.q8_0.id: Q8_0.quantize(x, count: n, into: y)
        case GGMLType.q4_0.id: LegacyQuants.quantizeSymmetric(bits: 4, x, count: n, weights: qw, into: y)
        case GGMLType.q5_0.id: LegacyQuants.quantizeSymmetric(bits: 5, x, count: n, weights: qw, into: y)
        case GGMLType.q4_1.id: LegacyQuants.quantizeAffine(bits: 4, x, count: n, weights: qw, into: y)
        case GGMLType.q5_1.id: LegacyQuants.quantizeAffine(bits: 5, x, count: n, weights: qw, into: y)
        case GGMLType.q2_K.id: Q2_K.quantize(x, count: n, weights: qw, into: y)
        case GGMLType.q3_K.id: Q3_K.quantize(x, count: n, weights: qw, into: y)
        case GGMLType.q4_K.id: QK45.quantize(bits: 4, x, count: n, weights: qw, into: y)
        case GGMLType.q5_K.id: QK45.quantize(bits: 5, x, count: n, weights: qw, into: y)
        case GGMLType.q6_K.id: Q6_K.quantize(x, count: n, weights: qw, into: y)
        case GGMLType.iq4_NL.id: IQ4.quantizeNL(x, count: n, weights: qw, into: y)
        case GGMLType.iq4_XS.id: IQ4.quantizeXS(x, count: n, weights: qw, into: y)
        case GGMLType.tq1_0.id: Ternary.quantizeTQ1(x, count: n, into: y)
        case GGMLType.tq2_0.id: Ternary.quantizeTQ2(x, count: n, into: y)
        case GGMLType.mxfp4.id: FP4.quantizeMXFP4(x, count: n, into: y)
        case GGMLType.nvfp4.id: FP4.quantizeNVFP4(x, count: n, into: y)
        case GGMLType.q1_0.id: LowBitQuants.quantizeQ1_0(x, count: n, into: y)
        case GGMLType.q2_0.id: LowBitQuants.quantizeQ2_0(x, count: n, into: y)
        case GGMLType.iq3_XXS.id: IQ3.quantizeXXS(x, count: n, weights: qw, into: y)
        case GGMLType.iq3_S.id: IQ3.quantizeS(x, count: n, weights: qw, into: y)
        case GGMLType.iq2_XXS.id: if let qw { IQ2.quantizeXXS(x, count: n, weights: qw, into: y) }
        case GGMLType.iq2_XS.id: if let qw { IQ2.quantizeXS(x, count: n, weights: qw, into: y) }
        case GGMLType.iq2_S.id: IQ2.quantizeS(x, count: n, weights: qw, into: y)
        case GGMLType.iq1_S.id: if let qw { IQ1.quantizeS(x, count: n, weights: qw, into: y) }
        case GGMLType.iq1_M.id: IQ1.quantizeM(x, count: n, weights: qw, into: y)
        default: break  // unreachable: validate() refused the type
        }
    }

    /// The type can be dequantized, `count` is whole blocks, `bytes` holds exactly those blocks
    /// and `output` has room for them; otherwise the error that says which.
    static func checkDequantize(
        _ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        guard supportsDequantize(type) else { throw QuantizationError.dequantizeUnsupported(type) }
        guard count >= 0, let expected = type.byteCount(elements: count) else {
            throw QuantizationError.countNotWholeBlocks(type, count: count)
        }
        guard bytes.count == expected else {
            throw QuantizationError.inputSizeMismatch(expected: expected, actual: bytes.count)
        }
        guard output.count >= count else {
            throw QuantizationError.outputSizeMismatch(expected: count, actual: output.count)
        }
    }

    /// Dequantizes `count` values (a whole number of blocks) from `bytes` into `output`.
    public static func dequantize(
        _ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        try checkDequantize(type, bytes, count: count, into: output)
        guard count > 0, let y = bytes.baseAddress, let x = output.baseAddress else { return }
        dequantizeBlocks(type, y, count: count, into: x)
    }

    @inline(__always)
    static func dequantizeBlocks(_ type: GGMLType, _ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        switch type.id {
        case GGMLType.f32.id: UnsafeMutableRawPointer(x).copyMemory(from: y, byteCount: 4 * n)
        case GGMLType.f16.id: FP16.toFloats(y, count: n, into: x)
        case GGMLType.bf16.id: for i in 0..<n { x[i] = BF16.toFloat(y.u16(2 * i)) }
        case GGMLType.q8_0.id: Q8_0.dequantize(y, count: n, into: x)
        case GGMLType.q4_0.id: LegacyQuants.dequantize(bits: 4, affine: false, y, count: n, into: x)
        case GGMLType.q5_0.id: LegacyQuants.dequantize(bits: 5, affine: false, y, count: n, into: x)
        case GGMLType.q4_1.id: LegacyQuants.dequantize(bits: 4, affine: true, y, count: n, into: x)
        case GGMLType.q5_1.id: LegacyQuants.dequantize(bits: 5, affine: true, y, count: n, into: x)
        case GGMLType.q2_K.id: Q2_K.dequantize(y, count: n, into: x)
        case GGMLType.q3_K.id: Q3_K.dequantize(y, count: n, into: x)
        case GGMLType.q4_K.id: QK45.dequantize(bits: 4, y, count: n, into: x)
        case GGMLType.q5_K.id: QK45.dequantize(bits: 5, y, count: n, into: x)
        case GGMLType.q6_K.id: Q6_K.dequantize(y, count: n, into: x)
        case GGMLType.iq4_NL.id: IQ4.dequantizeNL(y, count: n, into: x)
        case GGMLType.iq4_XS.id: IQ4.dequantizeXS(y, count: n, into: x)
        case GGMLType.tq1_0.id: Ternary.dequantizeTQ1(y, count: n, into: x)
        case GGMLType.tq2_0.id: Ternary.dequantizeTQ2(y, count: n, into: x)
        case GGMLType.mxfp4.id: FP4.dequantizeMXFP4(y, count: n, into: x)
        case GGMLType.nvfp4.id: FP4.dequantizeNVFP4(y, count: n, into: x)
        case GGMLType.q1_0.id: LowBitQuants.dequantizeQ1_0(y, count: n, into: x)
        case GGMLType.q2_0.id: LowBitQuants.dequantizeQ2_0(y, count: n, into: x)
        case GGMLType.q8_K.id: LowBitQuants.dequantizeQ8_K(y, count: n, into: x)
        default: IQDequant.dequantize(type, y, count: n, into: x)
        }
    }
}
