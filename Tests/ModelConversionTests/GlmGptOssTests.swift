import Foundation
import GGUF
import ModelConversion
import QuantdTestSupport
import Testing

/// What the GLM and gpt-oss fixtures do not show by matching the reference: inputs the reference
/// would fail on are refused with a clear error, and the plan's shapes and names.
@Suite struct GlmGptOssTests {
    static func error(_ folder: String, type: OutputType = .f16) -> ConversionError? {
        do {
            _ = try ConversionPlan(input: folder, outputType: .fixed(type))
            return nil
        } catch {
            return error
        }
    }

    static func replace(_ old: String, with new: String, in file: String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        guard text.contains(old) else { throw TestFailure("\(file) has no \(old)") }
        try text.replacingOccurrences(of: old, with: new).write(toFile: file, atomically: true, encoding: .utf8)
    }

    /// Renames a tensor in a safetensors header to a name of the same length, so the file stays valid.
    static func renameTensor(_ old: String, to new: String, in file: String) throws {
        precondition(old.utf8.count == new.utf8.count)
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
        guard header.contains("\"\(old)\"") else { throw TestFailure("\(file) has no tensor \(old)") }
        let renamed = header.replacingOccurrences(of: "\"\(old)\"", with: "\"\(new)\"")
        data.replaceSubrange(8..<(8 + headerLength), with: Data(renamed.utf8))
        try data.write(to: URL(fileURLWithPath: file))
    }

    @Test func glmNeedsItsAddedTokens() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-glm4moe")
        try Self.replace("\"<|observation|>\"", with: "\"<|observe|>\"", in: folder + "/tokenizer.json")
        let error = try #require(Self.error(folder))
        guard case .tokenizer = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("<|observation|>"))
    }

    @Test func glmRopeDimensionIsThePartialFactorOfTheHead() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-glm4")
        // int(16 * 0.3) = 4 (Python truncates).
        try Self.replace("\"partial_rotary_factor\": 0.5", with: "\"partial_rotary_factor\": 0.3", in: folder + "/config.json")
        let plan = try ConversionPlan(input: folder, outputType: .fixed(.f16))
        #expect(plan.metadata["glm4.rope.dimension_count"] == .uint32(4))
    }

    @Test func nextNLayersBeyondTheConfigAreRefused() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-glm4moe")
        // Without num_nextn_predict_layers, layer 3 (the NextN layer) is past block_count, which
        // the reference's tensor map cannot name.
        try Self.replace("\"num_nextn_predict_layers\": 1", with: "\"num_nextn_predict_layers\": 0", in: folder + "/config.json")
        let error = try #require(Self.error(folder))
        guard case .tensor(_, let tensor, _) = error else { Issue.record("got \(error)"); return }
        #expect(tensor.hasPrefix("blk.3."))
        #expect(error.description.contains("num_nextn_predict_layers"))
    }

    @Test func gptOssExpertShapes() throws {
        for (model, type) in [("tiny-gptoss", GGMLType.f16), ("tiny-gptoss-mxfp4", .mxfp4)] {
            let plan = try ConversionPlan(input: try Fixtures.path("models/\(model)"), outputType: .fixed(.f16))
            for kind in ["gate", "up", "down"] {
                let weight = try #require(plan.tensors.first { $0.name == "blk.1.ffn_\(kind)_exps.weight" })
                #expect(weight.dimensions == [64, 64, 8])  // hidden = expert length = 64 in the fixture
                #expect(weight.type == type, "\(model) \(kind)")
                let bias = try #require(plan.tensors.first { $0.name == "blk.1.ffn_\(kind)_exps.bias" })
                #expect(bias.dimensions == [64, 8])
                #expect(bias.type == .f32)
            }
        }
    }

    @Test func mxfp4FileTypeAndName() throws {
        let folder = try Fixtures.path("models/tiny-gptoss-mxfp4")
        for (type, id, name) in [(OutputType.f32, UInt32(38), "MXFP4_MOE"), (.bf16, 38, "MXFP4_MOE"), (.q8_0, 7, "Q8_0")] {
            let plan = try ConversionPlan(input: folder, outputType: .fixed(type))
            #expect(plan.metadata["general.file_type"] == .uint32(id))
            // What convert_hf_to_gguf.py names its output with `--outfile DIR/`.
            #expect(plan.defaultFileName == "Tiny-Gptoss-Mxfp4-8x120K-\(name).gguf")
        }
    }

    @Test func mxfp4BlocksNeedTheirScales() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-gptoss-mxfp4")
        try Self.renameTensor("model.layers.1.mlp.experts.down_proj_scales", to: "model.layers.1.mlp.experts.down_proj_scalex",
                              in: folder + "/model.safetensors")
        let error = try #require(Self.error(folder))
        guard case .tensor(_, let tensor, _) = error else { Issue.record("got \(error)"); return }
        #expect(tensor == "model.layers.1.mlp.experts.down_proj_blocks")
        #expect(error.description.contains("down_proj_scales"))
    }

    @Test func mxfp4IsOnlyReadWhereTheArchitectureDoes() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3moe")
        try Self.replace("\"architectures\"", with: "\"quantization_config\": {\"quant_method\": \"mxfp4\"},\n  \"architectures\"",
                         in: folder + "/config.json")
        let error = try #require(Self.error(folder))
        guard case .config = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("mxfp4"))
    }
}
