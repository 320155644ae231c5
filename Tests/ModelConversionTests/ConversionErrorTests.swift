import Foundation
import ModelConversion
import QuantdTestSupport
import Safetensors
import Testing

/// Inputs that cannot be converted fail before any output exists, with a message that says what
/// and what to do.
@Suite struct ConversionErrorTests {
    static func error(_ input: String) -> ConversionError? {
        do {
            _ = try ConversionPlan(input: input, outputType: .auto)
            return nil
        } catch {
            return error
        }
    }

    @Test func loneSafetensorsNamesWhatIsMissing() throws {
        let file = try Fixtures.path("models/tiny-qwen2/model.safetensors")
        let error = try #require(Self.error(file))
        guard case .loneSafetensors = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("config.json"))
        #expect(error.description.contains("tokenizer"))
    }

    @Test func pickleOnlyFolderIsRefused() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen2")
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        _ = FileManager.default.createFile(atPath: folder + "/pytorch_model.bin", contents: Data([0x80, 0x02]))
        let error = try #require(Self.error(folder))
        guard case .folder(.pickleOnly) = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("safe_serialization=True"))
    }

    @Test func missingConfig() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3")
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        let error = try #require(Self.error(folder))
        guard case .folder(.config) = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("config.json"))
    }

    @Test func unsupportedArchitectureListsSupportedOnes() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3")
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: "GPT2LMHeadModel")
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let error = try #require(Self.error(folder))
        guard case .unsupportedArchitecture(_, let name, let supported) = error else { Issue.record("got \(error)"); return }
        #expect(name == "GPT2LMHeadModel")
        #expect(supported == Architecture.supportedNames)
        for arch in ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"] {
            #expect(error.description.contains(arch))
        }
    }

    @Test func unsupportedQuantizationMethod() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-llama-fp8")
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"quant_method\": \"fp8\"", with: "\"quant_method\": \"gptq\"")
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let error = try #require(Self.error(folder))
        guard case .config(_, let key, _) = error else { Issue.record("got \(error)"); return }
        #expect(key == "quantization_config.quant_method")
        #expect(error.description.contains("'gptq'"))
    }

    @Test func missingTokenizer() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-llama3")
        try FileManager.default.removeItem(atPath: folder + "/tokenizer.json")
        let error = try #require(Self.error(folder))
        guard case .tokenizer = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("tokenizer.json"))
    }

    @Test func failedConversionLeavesNoOutput() throws {
        let temp = TemporaryFolder("convert-test")
        let plan = try ConversionPlan(input: try Fixtures.path("models/tiny-qwen2"), outputType: .fixed(.f16))
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try Converter().run(plan, destination: temp.file("out.gguf")) { progress in
                if progress.tensorIndex == 3 { throw Stop() }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: temp.file("out.gguf")))
        #expect((try FileManager.default.contentsOfDirectory(atPath: temp.path)).isEmpty)
    }

    @Test func inputIsNotModified() throws {
        let input = try Fixtures.path("models/tiny-llama3")
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: input) {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: input + "/" + name))
            }
            return files
        }
        let before = try snapshot()
        let temp = TemporaryFolder("convert-test")
        try Converter().run(try ConversionPlan(input: input, outputType: .fixed(.q8_0)), destination: temp.file("o.gguf"))
        #expect(try snapshot() == before)
    }
}

/// Sizes in config.json that once crashed or hung the converter (an allocation sized by vocab_size,
/// a loop of head_dim / 2 steps, an overflowing head-count product): each is refused, naming the key.
@Suite struct HostileConfigTests {
    @Test(arguments: [("vocab_size", "4000000000"), ("vocab_size", "513"), ("head_dim", "10000000000"),
                      ("num_attention_heads", "4611686018427387904"), ("num_key_value_heads", "9223372036854775807"),
                      ("num_hidden_layers", "99999999999"), ("num_attention_heads", "-3")])
    func refusedNamingTheKey(key: String, value: String) throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-llama3")
        let path = folder + "/config.json"
        var config = try String(contentsOfFile: path, encoding: .utf8)
        let pattern = "\"\(key)\": "
        guard let range = config.range(of: pattern) else { throw TestFailure("no \(key)") }
        let end = config[range.upperBound...].firstIndex { $0 == "," || $0 == "\n" || $0 == "}" } ?? config.endIndex
        config.replaceSubrange(range.upperBound..<end, with: value)
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(ConversionErrorTests.error(folder))
        guard case .config(_, let named, _) = error else { Issue.record("got \(error)"); return }
        #expect(named == key)
    }
}
