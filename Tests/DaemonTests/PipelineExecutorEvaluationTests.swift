import Daemon
import Foundation
import Pipeline
import Synchronization
import Testing

/// The daemon's executor runs the whole job, the evaluate stage included: it reports the stage by
/// name while it runs, the published manifest carries the measurement, and the folder source's
/// temporary F16 reference goes to the job's scratch folder, never into what is published.
struct PipelineExecutorEvaluationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func evaluateStageReportsProgressAndFillsTheManifest() throws {
        let base = NSTemporaryDirectory() + "quantd-executor-eval-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        for folder in ["out", "scratch"] { try FileManager.default.createDirectory(atPath: base + "/" + folder, withIntermediateDirectories: true) }
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = EvaluationSettings(tokens: 128, ctx: 64)
        let stages = Mutex<[String]>([])
        let scratchUsed = Mutex(false)
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
        // The free-space check counts the F16 reference too (the folder's F16 conversion).
        let source = try ConvertedModelSource(folder: request.inputPath)
        let f16 = source.tensors.reduce(0) { $0 + $1.elementCount * ($1.type == .f32 ? 4 : 2) }
        #expect(try executor.plannedOutputBytes(for: request) == PlanReport.plannedBytes(config: config, source: source) + f16)
        let outcome = try executor.run(request)
        #expect(stages.withLock { $0 } == ["quantize", "evaluate"])
        #expect(scratchUsed.withLock { $0 }, "the F16 reference was written to the scratch folder")
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/out").sorted() == outcome.files.sorted())
        let manifest = try String(contentsOfFile: base + "/out/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"kld_mean\""), "\(manifest.prefix(400))")
    }
}
