import Foundation
import GGUF
import JSON
import Pipeline
import Testing

/// The planner against llama-quantize on many architectures — mixture-of-experts (qwen3moe,
/// qwen2moe, mixtral, olmoe, deepseek2, glm4moe with an MTP block, gpt-oss incl. MXFP4 experts,
/// qwen3next, qwen35moe), dense and hybrid ones, and synthetic files for the size- and
/// architecture-specific rules (70B-sized llama/qwen2/jais2, 8 experts, falcon, fused MLA
/// `attn_kv_b`, nanbeige loops, unusual names and row lengths): for every named mix, with and
/// without an importance matrix, each tensor's type must be the one `llama-quantize --dry-run`
/// chose, and where llama-quantize refused a mix the planner must refuse it too; on four models
/// also with `--output-tensor-type`, `--token-embedding-type`, `--leave-output-tensor`, `--pure`
/// and `--tensor-type` rules. Planned from the recorded headers alone. Fixture: scripts/pipeline/make_arch_mix_fixture.py.
struct ArchMixPlannerTests {
    struct ModelCase: Sendable {
        var name: String
        var metadata: GGUFMetadata
        var tensors: [PlannedTensorSource]
        var expected: [(mix: String, imatrix: Bool, types: String)]
        /// Runs with llama-quantize's other options: (its arguments, our options, its types).
        var variants: [(args: String, options: SchemeOptions, types: String)]
    }

    /// llama-quantize's command-line options as the planner's; nil for one it does not know.
    static func options(mix: String, args: [String]) -> SchemeOptions? {
        guard let mix = QuantMix(name: mix) else { return nil }
        var options = SchemeOptions(mix: mix)
        var rest = args[...]
        while let arg = rest.popFirst() {
            switch arg {
            case "--output-tensor-type": options.outputTensorType = rest.popFirst().flatMap { GGMLType(name: $0.uppercased()) }
            case "--token-embedding-type": options.tokenEmbeddingType = rest.popFirst().flatMap { GGMLType(name: $0.uppercased()) }
            case "--leave-output-tensor": options.quantizeOutputTensor = false
            case "--pure": options.pure = true
            case "--imatrix": options.hasImportanceMatrix = rest.popFirst() != nil
            case "--tensor-type":
                // PATTERN=TYPE, split at the first "="; llama-quantize lowercases the pattern
                guard let rule = rest.popFirst(), let equals = rule.firstIndex(of: "="),
                      let type = GGMLType(name: rule[rule.index(after: equals)...].uppercased()),
                      let compiled = try? TensorTypeRule(pattern: rule[..<equals].lowercased(), type: type) else { return nil }
                options.rules.append(compiled)
            default: return nil
            }
        }
        return options
    }

    static let cases: [ModelCase] = {
        guard let data = FileManager.default.contents(atPath: TestPaths.fixtures + "/llama-quantize-arch-mixes.json"),
              let json = try? StrictJSON.parse([UInt8](data)), let models = json["models"]?.objectValue else { return [] }
        return models.compactMap { name, entry -> ModelCase? in
            guard let meta = entry["metadata"]?.objectValue, let tensors = entry["tensors"]?.arrayValue else { return nil }
            var metadata = GGUFMetadata()
            for (key, value) in meta {
                if let text = value.stringValue {
                    metadata[key] = .string(text)
                } else if let number = value.int64Value, let count = UInt32(exactly: number) {
                    metadata[key] = .uint32(count)
                } else if let list = value.arrayValue {
                    metadata[key] = .array(.uint32, list.compactMap { $0.int64Value.flatMap(UInt32.init(exactly:)) }.map { .uint32($0) })
                }
            }
            let sources = tensors.compactMap { item -> PlannedTensorSource? in
                guard let name = item[0]?.stringValue, let dims = item[1]?.arrayValue?.compactMap(\.intValue),
                      let typeName = item[2]?.stringValue, let type = GGMLType(name: typeName) else { return nil }
                return PlannedTensorSource(name: name, dimensions: dims, type: type)
            }
            guard sources.count == tensors.count else { return nil }
            var expected: [(String, Bool, String)] = []
            let plain = entry["mixes"]?.objectValue ?? []
            for (mix, types) in plain { expected.append((mix, false, types.stringValue ?? "")) }
            // "=": llama-quantize chose the same types as without a matrix.
            for (mix, types) in entry["mixes_imatrix"]?.objectValue ?? [] {
                let text = types.stringValue ?? ""
                expected.append((mix, true, text == "=" ? plain.first { $0.key == mix }?.value.stringValue ?? "" : text))
            }
            var variants: [(String, SchemeOptions, String)] = []
            for variant in entry["variants"]?.arrayValue ?? [] {
                let args = variant["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard let mix = variant["mix"]?.stringValue, let types = variant["types"]?.stringValue,
                      let options = options(mix: mix, args: args) else { return nil }
                variants.append(("\(mix) \(args.joined(separator: " "))", options, types))
            }
            return ModelCase(name: name, metadata: metadata, tensors: sources, expected: expected, variants: variants)
        }
    }()

    @Test func fixtureCoversTheMixtureOfExpertsFamilies() {
        let names = Set(Self.cases.map(\.name))
        for family in ["qwen3moe", "qwen2moe", "mixtral", "olmoe", "deepseekv3", "glm4moe", "gptoss", "gptoss-mxfp4"] {
            #expect(names.contains("\(family)-h256"), "\(family)")
        }
        #expect(Self.cases.allSatisfy { $0.expected.count == 2 * QuantMix.allCases.count })
        #expect(Self.cases.filter { !$0.variants.isEmpty }.count == 4)
    }

    @Test(arguments: Self.cases.map(\.name))
    func everyMixMatchesLlamaQuantize(model name: String) throws {
        let testCase = try #require(Self.cases.first { $0.name == name })
        let model = try ModelHyperparameters(metadata: testCase.metadata)
        let ordered = TensorTypePlanner.quantizeOrder(testCase.tensors, name: \.name)
        #expect(ordered.map(\.name) == testCase.tensors.map(\.name), "llama-quantize's tensor order")
        var runs = try testCase.expected.map { mixName, imatrix, expected in
            var options = SchemeOptions(mix: try #require(QuantMix(name: mixName), "\(mixName)"))
            options.hasImportanceMatrix = imatrix
            return ("\(name) \(mixName)\(imatrix ? " +imatrix" : "")", options, expected)
        }
        runs += testCase.variants.map { ("\(name) \($0.args)", $0.options, $0.types) }
        for (label, options, expected) in runs {
            if expected.hasPrefix("!") {
                #expect(throws: PlanError.self, "\(label): llama-quantize refused it (\(expected.dropFirst()))") {
                    try TensorTypePlanner.plan(ordered, model: model, options: options)
                }
                continue
            }
            let planned = try TensorTypePlanner.plan(ordered, model: model, options: options).map(\.name)
            let want = expected.split(separator: " ").map(String.init)
            #expect(planned.count == want.count, "\(label)")
            let wrong = zip(ordered, zip(planned, want)).filter { $1.0 != $1.1 }
            #expect(wrong.isEmpty, "\(label): \(wrong.count) tensors differ, first: \(wrong.prefix(4).map { "\($0.0.name) ours \($0.1.0) llama.cpp \($0.1.1)" })")
        }
    }

    @Test func damagedLayerMetadataIsAClearError() {
        var metadata = GGUFMetadata([GGUFKeyValue("general.architecture", .string("qwen3moe")),
                                     GGUFKeyValue("qwen3moe.block_count", .uint32(0))])
        #expect(throws: PlanError.self) { try ModelHyperparameters(metadata: metadata) }
        metadata["qwen3moe.block_count"] = .uint64(UInt64.max)
        #expect(throws: PlanError.self) { try ModelHyperparameters(metadata: metadata) }
        metadata["qwen3moe.block_count"] = .uint32(2)
        metadata["qwen3moe.nextn_predict_layers"] = .uint32(3)
        #expect(throws: PlanError.self) { try ModelHyperparameters(metadata: metadata) }
    }

    /// With experts, llama-quantize takes an ffn tensor's layer from its name; a name whose
    /// number is past the model's layers is refused, as llama-quantize refuses it.
    @Test func expertTensorOutsideTheLayersIsRefused() {
        let model = ModelHyperparameters(architecture: "qwen3moe", layerCount: 2, headCount: 4, headCountKV: 2, expertCount: 4)
        let tensor = PlannedTensorSource(name: "blk.2.ffn_down_exps.weight", dimensions: [256, 256, 4], type: .f16)
        #expect(throws: PlanError.badLayer(tensor: "blk.2.ffn_down_exps.weight", layerCount: 2)) {
            try TensorTypePlanner.plan([tensor], model: model, options: SchemeOptions(mix: .q4_K_M))
        }
    }
}
