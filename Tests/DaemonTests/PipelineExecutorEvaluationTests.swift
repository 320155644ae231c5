import Daemon
import Foundation
import Pipeline
import Synchronization
import Testing

/// The daemon's executor runs the whole job, the evaluate stage included: it reports the stage by
/// name while it runs, the published manifest carries the measurement, and the folder source's
/// F16 reference is held in memory: nothing is written to the scratch folder or published beside
/// the artifacts (a reference too large for memory goes to the scratch folder: EvaluationStageTests).
struct PipelineExecutorEvaluationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func evaluateStageReportsProgressAndFillsTheManifest() throws {
        let base = NSTemporaryDirectory() + "quantd-executor-eval-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        for folder in ["out", "scratch"] { try FileManager.default.createDirectory(atPath: base + "/" + folder, withIntermediateDirectories: true) }
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = EvaluationSettings(tokens: 128, ctx: 64)
        let stages = Mutex<[String]>([])
        let scratchUsed = Mutex(false)  // anything in the scratch folder while evaluating
        let request = JobRequest(
            id: "1", inputName: "tiny-llama3", inputPath: Self.root + "/Tests/ModelConversionTests/Fixtures/models/tiny-llama3",
            outputFolder: base + "/out", scratchFolder: base + "/scratch", threads: 2, attempt: 1,
            progress: { p in
                stages.withLock { if $0.last != p.stage { $0.append(p.stage) } }
                if p.stage == "evaluate", let files = try? FileManager.default.contentsOfDirectory(atPath: base + "/scratch"), !files.isEmpty {
                    scratchUsed.withLock { $0 = true }
                }
            })
        let executor = PipelineJobExecutor(config: config, version: "test")
        // The free-space check counts no F16 reference file: this folder's conversion fits in memory.
        let source = try ConvertedModelSource(folder: request.inputPath)
        #expect(try executor.plannedOutputBytes(for: request) == PlanReport.plannedBytes(config: config, source: source))
        #expect(EvaluationStage.scratchBytes(config: config, source: source) == 0)
        let outcome = try executor.run(request)
        #expect(stages.withLock { $0 } == ["quantize", "evaluate"])
        #expect(!scratchUsed.withLock { $0 }, "no F16 reference file was written")
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/out").sorted() == outcome.files.sorted())
        let manifest = try String(contentsOfFile: base + "/out/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"kld_mean\""), "\(manifest.prefix(400))")
    }
}
