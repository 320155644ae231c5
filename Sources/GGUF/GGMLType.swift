/// The one table of ggml tensor types: id, llama.cpp name, elements per block, bytes per block.
///
/// Every other size computation derives from this table. Ids follow `enum ggml_type` in
/// llama.cpp's `ggml.h`; ids that ggml removed are listed in `removedTypeIDs` so a file that
/// uses one gets a precise error instead of a lookup of an unknown slot.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    /// The id stored in GGUF tensor infos.
    public let id: UInt32
    /// The name llama.cpp prints (`ggml_type_name`), upper case as gguf-py spells it.
    public let name: String
    /// Elements per block (1 for plain scalar types).
    public let blockSize: Int
    /// Bytes one block occupies.
    public let bytesPerBlock: Int

    public var description: String { name }

    /// Bits stored per weight, including the block's scales.
    public var bitsPerWeight: Double { Double(bytesPerBlock * 8) / Double(blockSize) }

    /// True for the block-quantized types (everything that is not a plain scalar).
    public var isQuantized: Bool { blockSize > 1 }

    public static let f32 = GGMLType(id: 0, name: "F32", blockSize: 1, bytesPerBlock: 4)
    public static let f16 = GGMLType(id: 1, name: "F16", blockSize: 1, bytesPerBlock: 2)
    public static let q4_0 = GGMLType(id: 2, name: "Q4_0", blockSize: 32, bytesPerBlock: 18)
    public static let q4_1 = GGMLType(id: 3, name: "Q4_1", blockSize: 32, bytesPerBlock: 20)
    public static let q5_0 = GGMLType(id: 6, name: "Q5_0", blockSize: 32, bytesPerBlock: 22)
    public static let q5_1 = GGMLType(id: 7, name: "Q5_1", blockSize: 32, bytesPerBlock: 24)
    public static let q8_0 = GGMLType(id: 8, name: "Q8_0", blockSize: 32, bytesPerBlock: 34)
    public static let q8_1 = GGMLType(id: 9, name: "Q8_1", blockSize: 32, bytesPerBlock: 36)
    public static let q2_K = GGMLType(id: 10, name: "Q2_K", blockSize: 256, bytesPerBlock: 84)
    public static let q3_K = GGMLType(id: 11, name: "Q3_K", blockSize: 256, bytesPerBlock: 110)
    public static let q4_K = GGMLType(id: 12, name: "Q4_K", blockSize: 256, bytesPerBlock: 144)
    public static let q5_K = GGMLType(id: 13, name: "Q5_K", blockSize: 256, bytesPerBlock: 176)
    public static let q6_K = GGMLType(id: 14, name: "Q6_K", blockSize: 256, bytesPerBlock: 210)
    public static let q8_K = GGMLType(id: 15, name: "Q8_K", blockSize: 256, bytesPerBlock: 292)
    public static let iq2_XXS = GGMLType(id: 16, name: "IQ2_XXS", blockSize: 256, bytesPerBlock: 66)
    public static let iq2_XS = GGMLType(id: 17, name: "IQ2_XS", blockSize: 256, bytesPerBlock: 74)
    public static let iq3_XXS = GGMLType(id: 18, name: "IQ3_XXS", blockSize: 256, bytesPerBlock: 98)
    public static let iq1_S = GGMLType(id: 19, name: "IQ1_S", blockSize: 256, bytesPerBlock: 50)
    public static let iq4_NL = GGMLType(id: 20, name: "IQ4_NL", blockSize: 32, bytesPerBlock: 18)
    public static let iq3_S = GGMLType(id: 21, name: "IQ3_S", blockSize: 256, bytesPerBlock: 110)
    public static let iq2_S = GGMLType(id: 22, name: "IQ2_S", blockSize: 256, bytesPerBlock: 82)
    public static let iq4_XS = GGMLType(id: 23, name: "IQ4_XS", blockSize: 256, bytesPerBlock: 136)
    public static let i8 = GGMLType(id: 24, name: "I8", blockSize: 1, bytesPerBlock: 1)
    public static let i16 = GGMLType(id: 25, name: "I16", blockSize: 1, bytesPerBlock: 2)
    public static let i32 = GGMLType(id: 26, name: "I32", blockSize: 1, bytesPerBlock: 4)
    public static let i64 = GGMLType(id: 27, name: "I64", blockSize: 1, bytesPerBlock: 8)
    public static let f64 = GGMLType(id: 28, name: "F64", blockSize: 1, bytesPerBlock: 8)
    public static let iq1_M = GGMLType(id: 29, name: "IQ1_M", blockSize: 256, bytesPerBlock: 56)
    public static let bf16 = GGMLType(id: 30, name: "BF16", blockSize: 1, bytesPerBlock: 2)
    public static let tq1_0 = GGMLType(id: 34, name: "TQ1_0", blockSize: 256, bytesPerBlock: 54)
    public static let tq2_0 = GGMLType(id: 35, name: "TQ2_0", blockSize: 256, bytesPerBlock: 66)
    public static let mxfp4 = GGMLType(id: 39, name: "MXFP4", blockSize: 32, bytesPerBlock: 17)
    public static let nvfp4 = GGMLType(id: 40, name: "NVFP4", blockSize: 64, bytesPerBlock: 36)
    public static let q1_0 = GGMLType(id: 41, name: "Q1_0", blockSize: 128, bytesPerBlock: 18)
    public static let q2_0 = GGMLType(id: 42, name: "Q2_0", blockSize: 64, bytesPerBlock: 18)

    /// Every type ggml defines today, in id order.
    public static let all: [GGMLType] = [
        .f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
        .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq4_NL, .iq3_S, .iq2_S, .iq4_XS, .i8, .i16,
        .i32, .i64, .f64, .iq1_M, .bf16, .tq1_0, .tq2_0, .mxfp4, .nvfp4, .q1_0, .q2_0,
    ]

    /// Ids ggml once used and removed (Q4_2, Q4_3, the Q4_0_x_y and IQ4_NL_x_y repacks).
    /// GGUF files may not contain them; ggml refuses them too.
    public static let removedTypeIDs: Set<UInt32> = [4, 5, 31, 32, 33, 36, 37, 38]

    private static let byID: [UInt32: GGMLType] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.id, $0) })
    private static let byName: [String: GGMLType] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The type with this id, or nil when the id is removed or unknown.
    public init?(id: UInt32) {
        guard let type = GGMLType.byID[id] else { return nil }
        self = type
    }

    /// The type with this llama.cpp name (case-insensitive), or nil.
    public init?(name: String) {
        guard let type = GGMLType.byName[name.uppercased()] else { return nil }
        self = type
    }

    private init(id: UInt32, name: String, blockSize: Int, bytesPerBlock: Int) {
        self.id = id
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
    }

    /// Bytes taken by `elements` values of this type, or nil when the count is not a whole number
    /// of blocks or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }
}
