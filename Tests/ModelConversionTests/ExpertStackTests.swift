import Foundation
import ModelConversion
import QuantdTestSupport
import Testing

/// Per-expert tensors become one 3-D `*_exps` tensor per layer and kind; a checkpoint whose experts
/// do not match config.json is refused before anything is written, naming what is wrong.
@Suite struct ExpertStackTests {
    static func setting(_ key: String, to value: String?, in folder: String) throws {
        var config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        guard let line = config.split(separator: "\n").first(where: { $0.contains("\"\(key)\":") }) else {
            throw TestFailure("config.json has no \(key)")
        }
        let trailingComma = line.hasSuffix(",")
        let replacement = value.map { "  \"\(key)\": \($0)" + (trailingComma ? "," : "") } ?? ""
        config = config.replacingOccurrences(of: String(line), with: replacement)
        try config.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
    }

    static func error(_ folder: String) -> ConversionError? {
        do {
            _ = try ConversionPlan(input: folder, outputType: .fixed(.f16))
            return nil
        } catch {
            return error
        }
    }

    @Test func stackedShapesFollowTheExpertCount() throws {
        let plan = try ConversionPlan(input: try Fixtures.path("models/tiny-qwen3moe"), outputType: .fixed(.f16))
        let gate = try #require(plan.tensors.first { $0.name == "blk.0.ffn_gate_exps.weight" })
        let down = try #require(plan.tensors.first { $0.name == "blk.0.ffn_down_exps.weight" })
        #expect(gate.dimensions == [64, 64, 8])  // ne0 = hidden, ne1 = expert FFN, ne2 = experts
        #expect(down.dimensions == [64, 64, 8])
        #expect(gate.type == .f16)
        let router = try #require(plan.tensors.first { $0.name == "blk.0.ffn_gate_inp.weight" })
        #expect(router.type == .f32)  // routers stay F32, as the reference keeps them
    }

    @Test func fewerExpertsThanTheWeightsHold() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3moe")
        try Self.setting("num_experts", to: "7", in: folder)
        let error = try #require(Self.error(folder))
        guard case .tensor = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("expert 7"))
        #expect(error.description.contains("7 experts"))
    }

    @Test func moreExpertsThanTheWeightsHold() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3moe")
        try Self.setting("num_experts", to: "9", in: folder)
        let error = try #require(Self.error(folder))
        guard case .tensor = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("no tensor for expert 8"))
    }

    @Test func expertCountMissing() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-qwen3moe")
        try Self.setting("num_experts", to: nil, in: folder)
        // Qwen3MoeConfig's default (128) applies, as transformers gives it to the reference.
        let error = try #require(Self.error(folder))
        #expect(error.description.contains("expert 8") || error.description.contains("128"))
    }

    @Test func expertNames() {
        func name(_ n: String) -> String? {
            ExpertStacks.expertName(n).map { "\($0.0)#\($0.1)" }
        }
        #expect(name("model.layers.3.mlp.experts.12.up_proj.weight") == "model.layers.3.mlp.experts.up_proj.weight#12")
        #expect(name("model.layers.0.block_sparse_moe.experts.7.w3.weight") == "model.layers.0.block_sparse_moe.experts.w3.weight#7")
        #expect(name("model.layers.0.mlp.shared_expert.up_proj.weight") == nil)
        #expect(name("model.layers.0.mlp.experts.gate_up_proj") == nil)
        #expect(name("model.layers.0.mlp.experts.99999999999999999999.w1.weight") == nil)
    }
}
