import Foundation
import GGUF
import JSON
import Pipeline
import Testing

/// The planner against llama-quantize itself: for three models and every named mix (and, on the
/// padded model, with an importance matrix), the type of every tensor must be the one
/// `llama-quantize --dry-run` chose. Fixture made by scripts/pipeline/make_mix_fixture.py.
struct MixPlannerTests {
    struct ModelCase {
        var name: String
        var model: ModelHyperparameters
        var tensors: [PlannedTensorSource]
        var mixes: [(String, [String])]
        var mixesWithImatrix: [(String, [String])]
    }

    static let cases: [ModelCase] = {
        guard let url = Bundle.module.url(forResource: "Fixtures/llama-quantize-mixes", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let json = try? StrictJSON.parse([UInt8](data)),
              let models = json["models"]?.objectValue else { return [] }
        return models.compactMap { name, entry -> ModelCase? in
            guard let arch = entry["architecture"]?.stringValue, let meta = entry["metadata"],
                  let layers = meta["block_count"]?.intValue, let heads = meta["attention.head_count"]?.intValue,
                  let tensors = entry["tensors"]?.arrayValue else { return nil }
            let model = ModelHyperparameters(architecture: arch, layerCount: layers, headCount: heads,
                                             headCountKV: meta["attention.head_count_kv"]?.intValue ?? heads,
                                             expertCount: meta["expert_count"]?.intValue ?? 0)
            let sources = tensors.compactMap { item -> PlannedTensorSource? in
                guard let name = item[0]?.stringValue, let dims = item[1]?.arrayValue?.compactMap(\.intValue) else { return nil }
                // Norms are F32 and the rest F16 in these converter outputs.
                let significant = dims.lastIndex { $0 > 1 }.map { $0 + 1 } ?? 1
                return PlannedTensorSource(name: name, dimensions: dims, type: significant < 2 ? .f32 : .f16)
            }
            func mixes(_ key: String) -> [(String, [String])] {
                (entry[key]?.objectValue ?? []).map { ($0.key, $0.value.arrayValue?.compactMap(\.stringValue) ?? []) }
            }
            return ModelCase(name: name, model: model, tensors: sources, mixes: mixes("mixes"),
                             mixesWithImatrix: mixes("mixes_imatrix"))
        }
    }()

    @Test func fixtureLoaded() {
        #expect(Self.cases.count == 3)
        #expect(Self.cases.allSatisfy { $0.mixes.count == 22 })
    }

    @Test(arguments: Self.cases.map(\.name))
    func everyMixMatchesLlamaQuantize(model name: String) throws {
        let testCase = try #require(Self.cases.first { $0.name == name })
        for (imatrix, mixes) in [(false, testCase.mixes), (true, testCase.mixesWithImatrix)] {
            for (mixName, expected) in mixes {
                var options = SchemeOptions(mix: try #require(QuantMix(name: mixName)))
                options.hasImportanceMatrix = imatrix
                let ordered = TensorTypePlanner.quantizeOrder(testCase.tensors, name: \.name)
                #expect(ordered.map(\.name) == testCase.tensors.map(\.name), "llama-quantize's tensor order")
                let planned = try TensorTypePlanner.plan(ordered, model: testCase.model, options: options).map(\.name)
                let wrong = zip(ordered, zip(planned, expected)).filter { $1.0 != $1.1 }
                #expect(wrong.isEmpty, "\(name) \(mixName)\(imatrix ? " +imatrix" : ""): \(wrong.count) tensors differ, first: \(wrong.prefix(3).map { "\($0.0.name) ours \($0.1.0) llama.cpp \($0.1.1)" })")
            }
        }
    }

    @Test func rulesOverrideAndFirstMatchWins() throws {
        let tensors = [PlannedTensorSource(name: "blk.0.attn_v.weight", dimensions: [256, 256], type: .f16),
                       PlannedTensorSource(name: "blk.0.ffn_up.weight", dimensions: [256, 512], type: .f16)]
        var options = SchemeOptions(mix: .q4_K_M)
        options.rules = [try TensorTypeRule(pattern: "attn_v", type: .q8_0), try TensorTypeRule(pattern: "attn", type: .q2_K)]
        let model = ModelHyperparameters(architecture: "llama", layerCount: 1, headCount: 4, headCountKV: 4)
        #expect(try TensorTypePlanner.plan(tensors, model: model, options: options) == [.q8_0, .q4_K])
        #expect(throws: PlanError.self) { try TensorTypeRule(pattern: "([", type: .q8_0) }
    }

    @Test func fallbackForRowsThatAreNotABlockMultiple() throws {
        let odd = PlannedTensorSource(name: "w.weight", dimensions: [576, 4], type: .f16)
        let options = { (mix: QuantMix) in var o = SchemeOptions(mix: mix); o.pure = true; return o }
        let model = ModelHyperparameters(architecture: "llama", layerCount: 1, headCount: 1, headCountKV: 1)
        #expect(try TensorTypePlanner.plan([odd], model: model, options: options(.q4_K_M)) == [.q5_0])
        #expect(try TensorTypePlanner.plan([odd], model: model, options: options(.q6_K)) == [.q8_0])
        let tiny = PlannedTensorSource(name: "w.weight", dimensions: [40, 4], type: .f16)
        #expect(try TensorTypePlanner.plan([tiny], model: model, options: options(.q4_K_M)) == [.f16])
    }
}
