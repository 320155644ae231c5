import BinaryIO
import Foundation
import GGUF
import Inference
import JSON
import Pipeline
import Synchronization
import Testing

/// The `evaluate` stage: its pipeline.json key, and whole jobs on a tiny model whose numbers
/// llama-perplexity computed (Fixtures/eval-expected.json, made by scripts/pipeline/make_eval_fixture.py
/// with the oracle: llama-quantize's Q8_0 and Q4_0 of tiny-eval-f16.gguf, then llama-perplexity
/// --kl-divergence on the first 8 chunks of 64 tokens of the built-in text).
struct EvaluationStageTests {
    static let model = TestPaths.fixtures + "/tiny-eval-f16.gguf"

    @Test func evaluationIsOnByDefaultAndCanBeTurnedOffOrSized() throws {
        let schemes = #""schemes": [{"mix": "Q8_0"}]"#
        #expect(try parsePipeline(#"{"version": 1, \#(schemes)}"#).evaluation == EvaluationSettings(tokens: 256, ctx: 256, text: nil))
        #expect(PipelineConfig().evaluation == EvaluationSettings())
        #expect(try parsePipeline(#"{"version": 1, "evaluate": false, \#(schemes)}"#).evaluation == nil)
        #expect(try parsePipeline(#"{"version": 1, "evaluate": true, \#(schemes)}"#).evaluation == EvaluationSettings())
        let sized = try parsePipeline(#"{"version": 1, "evaluate": {"tokens": 4096, "ctx": 512, "text": "t.txt"}, \#(schemes)}"#)
        #expect(sized.evaluation == EvaluationSettings(tokens: 4096, ctx: 512, text: "t.txt"))
        // A smaller ctx alone keeps the default budget.
        #expect(try parsePipeline(#"{"version": 1, "evaluate": {"ctx": 128}, \#(schemes)}"#).evaluation?.tokens == 256)
        // A larger ctx alone gives one chunk of it.
        #expect(try parsePipeline(#"{"version": 1, "evaluate": {"ctx": 512}, \#(schemes)}"#).evaluation?.tokens == 512)
    }

    @Test func badEvaluateValuesNameTheirPath() {
        let cases: [(String, String, String)] = [
            (#""evaluate": "yes""#, "$.evaluate", "must be an object"),
            (#""evaluate": {"tokens": 100}"#, "$.evaluate.tokens", "less than one chunk of ctx 256"),
            (#""evaluate": {"ctx": 4}"#, "$.evaluate.ctx", "between 8"),
            (#""evaluate": {"text": ""}"#, "$.evaluate.text", "is empty"),
            (#""evaluate": {"token": 512}"#, "$.evaluate.token", "not a known key"),
        ]
        for (member, path, message) in cases {
            do {
                _ = try parsePipeline(#"{"version": 1, \#(member), "schemes": [{"mix": "Q8_0"}]}"#)
                Issue.record("accepted: \(member)")
            } catch {
                #expect(error.path == path, "\(error)")
                #expect(error.message.contains(message), "\(error)")
            }
        }
    }

    private func config(_ mixes: [QuantMix], evaluation: EvaluationSettings?) -> PipelineConfig {
        var config = PipelineConfig()
        config.schemes = mixes.map { PipelineConfig.Scheme(name: $0.rawValue, options: SchemeOptions(mix: $0)) }
        config.evaluation = evaluation
        return config
    }

    private func manifest(_ folder: String) throws -> JSONValue {
        try StrictJSON.parse(MappedFile.contents(of: folder + "/manifest.json"))
    }

    /// Same file, same text, same chunks as llama-perplexity: perplexity within 0.5%, KL divergence
    /// within 10% (llama.cpp stores the reference's log-probabilities as 16-bit values and quantizes
    /// activations in its own order; top-1 differs on near-ties).
    @Test func manifestRecordsLlamaPerplexityNumbers() throws {
        let expected = try StrictJSON.parse(MappedFile.contents(of: TestPaths.fixtures + "/eval-expected.json"))
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let job = PipelineJob(config: config([.q8_0, .q4_0], evaluation: EvaluationSettings(tokens: 512, ctx: 64)),
                              source: try GGUFTensorSource(path: Self.model), outputFolder: folder, baseName: "tiny", threads: 2)
        let progress = Mutex<[Int]>([])
        job.evaluationProgress = { p in progress.withLock { $0.append(p.passesDone) } }
        let result = try job.run()
        #expect(progress.withLock { $0 } == Array(1...24), "8 chunks × (source + 2 artifacts)")

        let m = try manifest(folder)
        let evaluation = try #require(m["evaluation"])
        #expect(evaluation["chunks"]?.intValue == 8 && evaluation["ctx"]?.intValue == 64 && evaluation["tokens"]?.intValue == 512)
        #expect(evaluation["scored_tokens"]?.intValue == 8 * 31)
        #expect(evaluation["text"]?.stringValue == EvaluationText.name)
        let sourcePPL = try #require(evaluation["source"]?["perplexity"]?.doubleValue)
        let llamaSourcePPL = try #require(expected["source_perplexity"]?.doubleValue)
        #expect(abs(sourcePPL / llamaSourcePPL - 1) < 0.005, "ours \(sourcePPL), llama-perplexity \(llamaSourcePPL)")
        #expect(m["timings"]?["evaluate"]?.doubleValue != nil)

        let artifacts = try #require(m["artifacts"]?.arrayValue)
        for (artifact, (mix, record)) in zip(artifacts, [("Q8_0", result.artifacts[0]), ("Q4_0", result.artifacts[1])]) {
            let reference = try #require(expected["artifacts"]?[mix])
            // The artifact is llama-quantize's file, so both tools measure the same model.
            #expect(record.sha256 == reference["sha256"]?.stringValue)
            let e = try #require(artifact["evaluation"])
            func value(_ key: String) throws -> (ours: Double, llama: Double) {
                (try #require(e[key]?.doubleValue), try #require(reference[key]?.doubleValue))
            }
            let ppl = try value("perplexity")
            #expect(abs(ppl.ours / ppl.llama - 1) < 0.005, "\(mix) perplexity: ours \(ppl.ours), llama-perplexity \(ppl.llama)")
            for key in ["kld_mean", "kld_median", "kld_p99"] {
                let v = try value(key)
                #expect(abs(v.ours / v.llama - 1) < 0.1, "\(mix) \(key): ours \(v.ours), llama-perplexity \(v.llama)")
            }
            let top1 = try value("top1_agreement")
            #expect(abs(top1.ours - top1.llama) < 0.03, "\(mix) top-1: ours \(top1.ours), llama-perplexity \(top1.llama)")
            // llama-perplexity prints RMS Δp in percent with 3 decimals: ±5e-6 absolute.
            let rms = try value("rms_delta_p")
            #expect(abs(rms.ours - rms.llama) < 1e-5 + 0.1 * rms.llama, "\(mix) RMS Δp: ours \(rms.ours), llama-perplexity \(rms.llama)")
            #expect(abs(try #require(e["perplexity_change_percent"]?.doubleValue) - (ppl.ours / sourcePPL - 1) * 100) < 1e-9)
        }
    }

    /// An architecture the forward pass does not run: the artifacts are made, the manifest says why
    /// they were not measured, and the job succeeds.
    @Test func unsupportedArchitectureIsSkippedWithTheReason() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let renamed = folder + "/tiny-gptneox.gguf"
        try Self.copy(Self.model, to: renamed, architecture: "gptneox")
        let out = folder + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let job = PipelineJob(config: config([.q8_0], evaluation: EvaluationSettings()), source: try GGUFTensorSource(path: renamed),
                              outputFolder: out, baseName: "tiny", threads: 2)
        let result = try job.run()
        #expect(result.artifacts.count == 1)
        let m = try manifest(out)
        let reason = try #require(m["evaluation"]?["skipped"]?.stringValue)
        #expect(reason == "no forward pass for gptneox", "\(reason)")
        #expect(m["artifacts"]?[0]?["evaluation"]?["skipped"]?.stringValue == reason)
    }

    /// One artifact that cannot be compared (another vocabulary) is skipped with its reason; the
    /// others are still measured.
    @Test func anArtifactThatCannotBeComparedIsSkippedAlone() throws {
        let other = TestPaths.repositoryRoot + "/Tests/InferenceTests/Fixtures/tiny-llama-f32.gguf"
        let reference = try LlamaModel(path: Self.model)
        let ids = [Int32](repeating: 5, count: 200)
        let report = try EvaluationStage.measure(reference: reference, artifacts: [other, Self.model], tokens: ids,
                                                 settings: EvaluationSettings(tokens: 128, ctx: 64), threads: 2)
        guard case .skipped(let reason)? = report.outcome(artifact: 0) else { Issue.record("not skipped"); return }
        #expect(reason.contains("256 tokens, the source's 600"), "\(reason)")
        guard case .measured(let r)? = report.outcome(artifact: 1) else { Issue.record("not measured"); return }
        #expect(r.kldMax.magnitude < 1e-12 && r.top1Agreement == 1, "the source against itself")
        #expect(report.chunks == 2 && report.scoredTokens == 62 && report.textTokens == 200)
    }

    @Test func turnedOffMeansNoEvaluationInTheManifest() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let job = PipelineJob(config: config([.q8_0], evaluation: nil), source: try GGUFTensorSource(path: Self.model),
                              outputFolder: folder, baseName: "tiny", threads: 2)
        let result = try job.run()
        #expect(result.evaluation == nil)
        let m = try manifest(folder)
        #expect(m["evaluation"] == nil && m["artifacts"]?[0]?["evaluation"] == nil && m["timings"]?["evaluate"] == nil)
    }

    /// A Hugging Face folder has no GGUF to compare with. Its converted F16 is held in memory
    /// (ReferenceModelTests); when that would be too large, the job writes it to a hidden file in the
    /// output folder for the stage and removes it when done — forced here with a limit of 0.
    @Test func folderSourceTooLargeForMemoryIsComparedThroughATemporaryF16File() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = try ConvertedModelSource(folder: TestPaths.repositoryRoot + "/Tests/ModelConversionTests/Fixtures/models/tiny-llama3")
        let job = PipelineJob(config: config([.q8_0], evaluation: EvaluationSettings(tokens: 128, ctx: 64)), source: source,
                              outputFolder: folder, baseName: "tiny", threads: 2)
        job.referenceMemoryLimit = 0
        let seen = Mutex<[String]>([])
        job.evaluationProgress = { _ in
            let hidden = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.hasPrefix(".quantd-reference-") } ?? []
            seen.withLock { $0 += hidden }
        }
        let result = try job.run()
        #expect(seen.withLock { $0.first?.hasSuffix(".f16.gguf") } == true, "the reference file existed while evaluating")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "left behind: \(left)")
        guard case .measured(let r)? = result.evaluation?.outcome(artifact: 0) else {
            Issue.record("not measured: \(String(describing: result.evaluation?.outcome(artifact: 0)))")
            return
        }
        #expect(r.scoredTokens == 2 * 31)
        #expect(r.kldMean > 0 && r.kldMean < 0.01, "Q8_0 of the same weights: \(r.kldMean)")
        #expect(r.reference.perplexity.isFinite && r.reference.perplexity > 1)
    }

    /// A job stopped while evaluating (the daemon shutting down) stops at the next forward pass and
    /// leaves no temporary reference behind.
    @Test func cancellingDuringEvaluationStopsTheJob() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = try ConvertedModelSource(folder: TestPaths.repositoryRoot + "/Tests/ModelConversionTests/Fixtures/models/tiny-llama3")
        let job = PipelineJob(config: config([.q8_0], evaluation: EvaluationSettings(tokens: 256, ctx: 64)), source: source,
                              outputFolder: folder, baseName: "tiny", threads: 2)
        job.referenceMemoryLimit = 0  // a temporary reference file, which must not be left behind
        let stop = Mutex(false), passes = Mutex(0)
        job.evaluationProgress = { _ in
            passes.withLock { $0 += 1 }
            stop.withLock { $0 = true }
        }
        job.isCancelled = { stop.withLock { $0 } }
        #expect(throws: PipelineError.cancelled) { try job.run() }
        #expect(passes.withLock { $0 } == 1, "stopped at the pass after the first")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".quantd-reference-") }.isEmpty)
    }

    /// The fixture with its architecture renamed (keys `llama.*` → `ARCH.*`), tensors unchanged.
    static func copy(_ path: String, to destination: String, architecture: String) throws {
        let file = try GGUFFile(path: path)
        var metadata = GGUFMetadata()
        for entry in file.metadata.entries {
            if entry.key == "general.architecture" {
                metadata["general.architecture"] = .string(architecture)
            } else if entry.key.hasPrefix("llama.") {
                metadata[architecture + entry.key.dropFirst(5)] = entry.value
            } else {
                metadata[entry.key] = entry.value
            }
        }
        let writer = try GGUFWriter(destination: destination, metadata: metadata, tensors: file.tensors.map {
            GGUFTensorPlan(name: $0.name, dimensions: $0.dimensions, type: $0.type)
        })
        for tensor in file.tensors { try writer.append(file.data(for: tensor)) }
        try writer.finish()
    }
}
