import Foundation
import GGUF
import Testing
@testable import Quantization

/// Reader for Fixtures/golden.bin, written by scripts/quant/make_golden.py from llama.cpp's ggml.
struct Golden {
    struct Input {
        var name: String
        var rows: Int
        var rowLength: Int
        var values: [Float]
        var importance: [Float]
    }
    struct QuantCase {
        var input: Int
        var type: GGMLType
        var withImportance: Bool
        var bytes: [UInt8]
        var dequantized: [Float]
    }
    struct DequantCase {
        var type: GGMLType
        var count: Int
        var bytes: [UInt8]
        var expected: [Float]
    }

    var inputs: [Input] = []
    var quantCases: [QuantCase] = []
    var dequantCases: [DequantCase] = []

    /// The committed fixture, or the file named by QUANTD_GOLDEN (a larger set made locally
    /// with make_golden.py --scale N, for deeper checks when the oracle is installed).
    static let shared: Golden = {
        if let path = ProcessInfo.processInfo.environment["QUANTD_GOLDEN"],
            let data = FileManager.default.contents(atPath: path)
        {
            return Golden(data: [UInt8](data))
        }
        guard let url = Bundle.module.url(forResource: "golden", withExtension: "bin", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { return Golden() }
        return Golden(data: [UInt8](data))
    }()

    /// The IQ3 fixture (golden-iq3.bin, made by make_golden.py --types IQ3_XXS,IQ3_S), or the
    /// file named by QUANTD_GOLDEN_IQ3.
    static let iq3: Golden = load(resource: "golden-iq3", environment: "QUANTD_GOLDEN_IQ3")

    static func load(resource: String, environment: String) -> Golden {
        if let path = ProcessInfo.processInfo.environment[environment],
            let data = FileManager.default.contents(atPath: path)
        {
            return Golden(data: [UInt8](data))
        }
        guard let url = Bundle.module.url(forResource: resource, withExtension: "bin", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { return Golden() }
        return Golden(data: [UInt8](data))
    }

    init() {}

    init(data: [UInt8]) {
        var p = 0
        func u32() -> Int {
            defer { p += 4 }
            return Int(data[p]) | Int(data[p + 1]) << 8 | Int(data[p + 2]) << 16 | Int(data[p + 3]) << 24
        }
        func bytes(_ n: Int) -> [UInt8] {
            defer { p += n }
            return Array(data[p..<(p + n)])
        }
        func floats(_ n: Int) -> [Float] {
            (0..<n).map { _ in Float(bitPattern: UInt32(u32())) }
        }
        guard data.count > 8, Array(data[0..<4]) == Array("QGLD".utf8) else { return }
        p = 4
        _ = u32()
        for _ in 0..<u32() {
            let name = String(decoding: bytes(u32()), as: UTF8.self)
            let rows = u32(), n = u32()
            inputs.append(Input(name: name, rows: rows, rowLength: n, values: floats(rows * n), importance: floats(n)))
        }
        for _ in 0..<u32() {
            let input = u32(), typeID = u32(), wi = u32()
            let q = bytes(u32())
            let deq = floats(u32())
            guard let t = GGMLType(id: UInt32(typeID)) else { continue }
            quantCases.append(QuantCase(input: input, type: t, withImportance: wi != 0, bytes: q, dequantized: deq))
        }
        for _ in 0..<u32() {
            let typeID = u32(), count = u32()
            let raw = bytes(u32())
            let expected = floats(count)
            guard let t = GGMLType(id: UInt32(typeID)) else { continue }
            dequantCases.append(DequantCase(type: t, count: count, bytes: raw, expected: expected))
        }
    }
}

/// Index of the first differing element, or nil.
func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
    if a.count != b.count { return min(a.count, b.count) }
    return zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
}

/// Exact float comparison by bit pattern (so NaN payloads and -0 count).
func bitsEqual(_ a: [Float], _ b: [Float]) -> Int? {
    firstMismatch(a.map(\.bitPattern), b.map(\.bitPattern))
}

/// Quantizes each case's input with quantd and compares the bytes with ggml's; where the case
/// also holds ggml's dequantization of those bytes, compares quantd's bit for bit.
func expectQuantizeCasesMatchGGML(_ cases: [Golden.QuantCase], of golden: Golden, type: GGMLType) throws {
    for c in cases {
        let input = golden.inputs[c.input]
        var out = [UInt8](repeating: 0xAA, count: c.bytes.count)
        try input.values.withUnsafeBufferPointer { x in
            try input.importance.withUnsafeBufferPointer { qw in
                try out.withUnsafeMutableBytes { y in
                    try Quantizer.quantize(
                        type, rows: x, rowLength: input.rowLength, importance: c.withImportance ? qw : nil, into: y)
                }
            }
        }
        let mismatch = firstMismatch(out, c.bytes)
        #expect(mismatch == nil, "\(type.name) \(input.name) imatrix=\(c.withImportance): first differing byte \(mismatch ?? -1)")
        if !c.dequantized.isEmpty {
            var deq = [Float](repeating: .nan, count: input.values.count)
            try c.bytes.withUnsafeBytes { y in
                try deq.withUnsafeMutableBufferPointer { x in
                    try Quantizer.dequantize(type, y, count: input.values.count, into: x)
                }
            }
            let dm = bitsEqual(deq, c.dequantized)
            #expect(dm == nil, "\(type.name) \(input.name) dequantize: first differing value \(dm ?? -1)")
        }
    }
}
