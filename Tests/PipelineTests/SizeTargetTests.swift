import BinaryIO
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GGUF
import JSON
import Pipeline
import Testing

/// Size-target schemes: their pipeline.json keys, the exact allocation, and whole jobs on the
/// evaluate stage's tiny model, whose llama-quantize Q4_0 is known (Fixtures/eval-expected.json).
struct SizeTargetTests {
    static let model = TestPaths.fixtures + "/tiny-eval-f16.gguf"

    @Test func sizeTargetSchemesParse() throws {
        let config = try parsePipeline(#"""
        {"version": 1, "schemes": [
          {"name": "small", "target": {"size_of": "Q3_K_M"}, "types": ["Q3_K", "Q4_K", "Q6_K"], "rounding": "refined"},
          {"name": "bpw", "target": {"bpw": 3.9}},
          {"name": "bytes", "target": {"bytes": 1000000}, "mix": "Q4_K_S"},
          {"name": "plain", "mix": "Q4_K_M", "rounding": "refined"}
        ]}
        """#)
        let s = config.schemes
        #expect(s[0].options.sizeTarget == SizeTargetSettings(target: .sizeOf(.q3_K_M), types: [.q3_K, .q4_K, .q6_K]))
        #expect(s[0].options.mix == .q3_K_M && s[0].options.rounding == .refined)
        #expect(s[1].options.sizeTarget?.target == .bitsPerWeight(3.9) && s[1].options.sizeTarget?.types == SizeTarget.defaultTypes)
        #expect(s[2].options.sizeTarget?.target == .bytes(1_000_000) && s[2].options.mix == .q4_K_S)
        #expect(s[3].options.sizeTarget == nil && s[3].options.rounding == .refined)
        #expect(try parsePipeline(#"{"version": 1, "schemes": [{"mix": "Q8_0"}]}"#).schemes[0].options.rounding == .ggml)
    }

    @Test func badSizeTargetsNameTheirPath() {
        let cases: [(String, String, String)] = [
            (#"{"target": {}}"#, "$.schemes[0].target", "exactly one of"),
            (#"{"target": {"size_of": "Q4_K_M", "bpw": 4}}"#, "$.schemes[0].target", "exactly one of"),
            (#"{"target": {"size_of": "F16"}}"#, "$.schemes[0].target.size_of", "not a quantized mix"),
            (#"{"target": {"bpw": 100}}"#, "$.schemes[0].target.bpw", "between 0.5 and 32"),
            (#"{"target": {"bytes": -1}}"#, "$.schemes[0].target.bytes", "must be between 1"),
            (#"{"target": {"size": 3}}"#, "$.schemes[0].target.size", "not a known key"),
            (#"{"target": {"bpw": 4}, "types": ["IQ2_XXS"]}"#, "$.schemes[0].types[0]", "not a type a size target can choose"),
            (#"{"target": {"bpw": 4}, "types": []}"#, "$.schemes[0].types", "is empty"),
            (#"{"target": {"bpw": 4}, "pure": true}"#, "$.schemes[0].target", "cannot go with"),
            (#"{"mix": "Q4_K_M", "types": ["Q4_K"]}"#, "$.schemes[0].types", "belongs to a size target"),
            (#"{"mix": "Q4_K_M", "rounding": "best"}"#, "$.schemes[0].rounding", "not a rounding"),
            (#"{"name": "x"}"#, "$.schemes[0].mix", "is required"),
        ]
        for (scheme, path, message) in cases {
            do {
                _ = try parsePipeline(#"{"version": 1, "schemes": [\#(scheme)]}"#)
                Issue.record("accepted: \(scheme)")
            } catch {
                #expect(error.path == path, "\(scheme): \(error)")
                #expect(error.message.contains(message), "\(scheme): \(error)")
            }
        }
    }

    /// The dynamic programme against every combination of a small instance: never over budget, and
    /// the least cost within it (up to the unit rounding, here none: the budget fits the table).
    @Test func allocationIsExactOnSmallInstances() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let items = (0..<5).map { _ in
                (0..<3).map { _ in TypeAllocation.Option(bytes: Int.random(in: 1...40, using: &generator), cost: Double.random(in: 0...1, using: &generator)) }
            }
            let budget = Int.random(in: 30...150, using: &generator)
            var best = Double.infinity
            func search(_ i: Int, _ bytes: Int, _ cost: Double) {
                guard bytes <= budget else { return }
                if i == items.count { best = min(best, cost); return }
                for o in items[i] { search(i + 1, bytes + o.bytes, cost + o.cost) }
            }
            search(0, 0, 0)
            let picks = TypeAllocation.solve(items, budget: budget)
            if best.isInfinite {
                #expect(picks == nil)
                continue
            }
            let chosen = try #require(picks)
            let bytes = zip(items, chosen).reduce(0) { $0 + $1.0[$1.1].bytes }
            let cost = zip(items, chosen).reduce(0.0) { $0 + $1.0[$1.1].cost }
            #expect(bytes <= budget)
            #expect(abs(cost - best) < 1e-9, "dp \(cost), exhaustive \(best)")
        }
        // Extreme budgets and costs that are not numbers neither overflow nor crash.
        #expect(TypeAllocation.solve([[.init(bytes: 10, cost: 1), .init(bytes: 20, cost: 0)]], budget: Int.max) == [1])
        #expect(TypeAllocation.solve([[.init(bytes: 10, cost: .nan), .init(bytes: 20, cost: 1)]], budget: 30) == [1])
        #expect(TypeAllocation.solve([[.init(bytes: 10, cost: 1)]], budget: -5) == nil)
        // A coarse table (few cells) still never exceeds the budget.
        let items = (0..<50).map { i in [TypeAllocation.Option(bytes: 1000 + i, cost: 2), TypeAllocation.Option(bytes: 3000 + 7 * i, cost: 1)] }
        let picks = try #require(TypeAllocation.solve(items, budget: 120_000, cells: 500))
        #expect(zip(items, picks).reduce(0) { $0 + $1.0[$1.1].bytes } <= 120_000)
    }

    private func manifest(_ folder: String) throws -> JSONValue {
        try StrictJSON.parse(MappedFile.contents(of: folder + "/manifest.json"))
    }

    /// A size-of-Q4_0 job: the companion Q4_0 is llama-quantize's file (its SHA-256 from the
    /// fixture), the size-target artifact is never larger, its plan and verification are in the
    /// manifest, and quality.svg is a well-formed SVG document beside it.
    @Test func sizeOfTargetStaysWithinTheNamedMixAndIsVerified() throws {
        let expected = try StrictJSON.parse(MappedFile.contents(of: TestPaths.fixtures + "/eval-expected.json"))
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try parsePipeline(#"""
        {"version": 1, "evaluate": {"tokens": 256, "ctx": 64},
         "schemes": [{"name": "st", "target": {"size_of": "Q4_0"}, "types": ["Q4_0", "Q5_0", "Q8_0"], "sensitivity_tokens": 64}]}
        """#)
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 2)
        let result = try job.run()
        let record = try #require(result.sizeTargets.first)
        #expect(record.comparedWith == "Q4_0" && record.companionAdded)
        let named = try #require(expected["artifacts"]?["Q4_0"]?["sha256"]?.stringValue)
        let namedBytes = try #require(record.plan.namedMixBytes)
        #expect(record.plan.plannedBytes <= namedBytes && record.plan.budgetBytes == namedBytes)
        // The named mix's own plan is one the allocation could choose, so the chosen one predicts no worse.
        let predictedNamed = try #require(record.plan.predictedNamedMixKLD)
        #expect(record.plan.predictedKLD <= predictedNamed * (1 + 1e-9), "\(record.plan.predictedKLD) vs \(predictedNamed)")
        #expect(record.plan.probes > 1)
        let st = try #require(result.artifacts.first { $0.scheme == "st" })
        #expect(st.bytes == record.plan.plannedBytes, "the layout the planner predicted is the file written")
        #expect(st.bytes <= namedBytes)
        #expect(record.measuredKLD != nil && record.measuredNamedMixKLD != nil && record.beatsNamedMix != nil)
        if let companion = result.artifacts.first(where: { $0.scheme == "Q4_0" }) {
            #expect(companion.sha256 == named && companion.bytes == namedBytes)
            #expect(record.beatsNamedMix == false)
        } else {
            #expect(record.beatsNamedMix == true)
            #expect(!FileManager.default.fileExists(atPath: folder + "/tiny-Q4_0.gguf"))
        }

        let m = try manifest(folder)
        let artifact = try #require(m["artifacts"]?.arrayValue?.first { $0["scheme"]?.stringValue == "st" })
        #expect(artifact["method"]?.stringValue == "size target" && artifact["departs_from_llama_cpp"]?.boolValue == true)
        let plan = try #require(artifact["plan"])
        #expect(plan["target"]?["size_of"]?.stringValue == "Q4_0")
        #expect(plan["predicted_kld"]?.doubleValue != nil && plan["measured_kld"]?.doubleValue != nil)
        #expect(plan["named_mix"]?["measured_kld"]?.doubleValue != nil)
        // Every quantized tensor's type is one of the scheme's (or the mix's own, e.g. its output tensor's).
        for tensor in artifact["tensors"]?.arrayValue ?? [] {
            let type = tensor["type"]?.stringValue ?? ""
            #expect(["F32", "F16", "Q4_0", "Q5_0", "Q8_0", "Q6_K"].contains(type), "\(type)")
        }

        let svg = try String(contentsOfFile: folder + "/" + QualityChart.fileName, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "quality.svg is well-formed XML: \(String(describing: parser.parserError))")
    }

    /// examples/quality.json, the recommended pipeline, runs as it is with only its target changed
    /// (the tiny model's rows of 64 take no k-quant, so the target is Q4_0's size).
    @Test func theQualityExampleRunsWithOnlyTheTargetChanged() throws {
        let path = TestPaths.repositoryRoot + "/examples/quality.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let example = try PipelineConfig.parse(Array(text.utf8), file: path)
        #expect(example.schemes.allSatisfy { if case .sizeOf? = $0.options.sizeTarget?.target { true } else { false } })
        let changed = text.replacingOccurrences(of: #""size_of": "Q4_K_M""#, with: #""size_of": "Q4_0""#)
        #expect(changed != text)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try PipelineConfig.parse(Array(changed.utf8), file: folder + "/quality.json")
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 2)
        let result = try job.run()
        let record = try #require(result.sizeTargets.first)
        #expect(record.plan.plannedBytes <= record.plan.budgetBytes)
        #expect(record.beatsNamedMix != nil)
        // The recommended pipeline also runs GPTQ, kept on whichever matrices it improves.
        #expect(result.artifacts.first?.method.hasPrefix("size target") == true)
        #expect(result.weightCalibration != nil, "the gptq stage ran")
    }

    @Test func aBudgetBelowTheSmallestTypesIsAClearError() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try parsePipeline(#"{"version": 1, "schemes": [{"name": "tiny", "target": {"bytes": 1000}}]}"#)
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 2)
        #expect {
            try job.run()
        } throws: { error in
            "\(error)".contains("the target allows 1000 bytes, but the smallest file")
        }
    }

    @Test func paretoFrontKeepsOnlyUndominatedPoints() {
        let points = [
            QualityChart.Point(label: "a", bytes: 100, kld: 0.5, isNamedMix: true),
            QualityChart.Point(label: "b", bytes: 120, kld: 0.6, isNamedMix: false),
            QualityChart.Point(label: "c", bytes: 150, kld: 0.2, isNamedMix: false),
            QualityChart.Point(label: "d", bytes: 90, kld: 0.9, isNamedMix: true),
        ]
        #expect(QualityChart.paretoFront(points) == [3, 0, 2])
    }
}
