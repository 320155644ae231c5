import JSON
import BinaryIO
import Foundation
import GGUF
import ModelConversion
import QuantdTestSupport
import Safetensors
import Testing

/// Converts the committed tiny models and compares every metadata key (type and value) and every
/// tensor (type, shape, SHA-256 of its bytes) with what llama.cpp's convert_hf_to_gguf.py wrote
/// for them (Fixtures/expected, made by scripts/convert/make_fixtures.sh).
@Suite struct ReferenceFixtureTests {
    static let models = ["tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2-spm", "tiny-gemma3", "tiny-phi3", "tiny-llama-fp8",
                         "tiny-bert", "tiny-qwen3moe", "tiny-qwen2moe", "tiny-mixtral", "tiny-olmoe", "tiny-deepseekv3", "tiny-olmo2",
                         "tiny-granite", "tiny-smollm3", "tiny-exaone4", "tiny-gemma2", "tiny-glm4", "tiny-glm4moe", "tiny-gptoss", "tiny-gptoss-mxfp4"]

    @Test(arguments: models, OutputType.allCases)
    func matchesReference(model: String, type: OutputType) throws {
        let expected = try Fixtures.json("expected/\(model).json")
        guard let expectedType = expected["types"]?[type.rawValue], let expectedMetadata = expected["metadata"]?.objectValue else {
            throw TestFailure("expected/\(model).json has no \(type.rawValue)")
        }
        let temp = TemporaryFolder("convert-test")
        let plan = try ConversionPlan(input: try Fixtures.path("models/\(model)"), outputType: .fixed(type))
        try Converter(threads: 2).run(plan, destination: temp.file("out.gguf"))
        let file = try GGUFFile(path: temp.file("out.gguf"))

        // Metadata: the same keys, each with the same type and value.
        var expectedKeys = Set(expectedMetadata.map(\.key))
        expectedKeys.insert("general.file_type")
        #expect(Set(file.metadata.entries.map(\.key)) == expectedKeys)
        #expect(file.metadata["general.file_type"] == .uint32(UInt32(expectedType["file_type"]?.intValue ?? -1)))
        for (key, want) in expectedMetadata {
            guard let got = file.metadata[key] else { continue }
            #expect(Self.matches(got, want), "\(model) \(type) \(key): ours \(String(describing: got).prefix(200)), reference \(want.serialized().prefix(200))")
        }

        // In the reference's order: llama-quantize keeps it, so it is part of the artifacts' bytes.
        let order = file.metadata.entries.map(\.key).filter { $0 != "general.file_type" }
        let expectedOrder = expected["key_order"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(order == expectedOrder, "\(model) \(type) key order")

        // Tensors: same set; each with the reference's type, shape and bytes.
        let wantTensors = expectedType["tensors"]?.objectValue ?? []
        #expect(Set(file.tensors.map(\.name)) == Set(wantTensors.map(\.key)))
        for tensor in file.tensors {
            guard let want = expectedType["tensors"]?[tensor.name] else { continue }
            #expect(tensor.type.name == want["type"]?.stringValue, "\(model) \(type) \(tensor.name) type")
            #expect(tensor.dimensions == (want["shape"]?.arrayValue?.compactMap(\.intValue) ?? []), "\(model) \(type) \(tensor.name) shape")
            #expect(SHA256Digest.hex(of: file.data(for: tensor)) == want["sha256"]?.stringValue, "\(model) \(type) \(tensor.name) bytes")
        }
        // Written in llama-quantize's order, not the reference's HF-name order.
        let names = file.tensors.map(\.name)
        #expect(names == names.sorted(by: TensorRules.precedes))
    }

    /// `{"type": "UINT32", "value": 2}` or `{"type": "ARRAY", "element": "STRING", "value": [...]}`.
    static func matches(_ value: GGUFValue, _ json: JSONValue) -> Bool {
        guard let typeName = json["type"]?.stringValue, let want = json["value"] else { return false }
        guard value.type.description == typeName else { return false }
        if case .array(let elementType, let values) = value {
            guard elementType.description == json["element"]?.stringValue, let items = want.arrayValue,
                  items.count == values.count else { return false }
            return zip(values, items).allSatisfy { scalarMatches($0, $1) }
        }
        return scalarMatches(value, want)
    }

    static func scalarMatches(_ value: GGUFValue, _ want: JSONValue) -> Bool {
        switch value {
        case .string(let s): return want.stringValue == s
        case .bool(let b): return want.boolValue == b
        // gguf-py reports FLOAT32 values widened to double: compare after narrowing.
        case .float32(let f): return want.doubleValue.map { Float($0) == f } ?? false
        case .float64(let d): return want.doubleValue == d
        default: return value.integerValue != nil && want.int64Value == value.integerValue
        }
    }
}
