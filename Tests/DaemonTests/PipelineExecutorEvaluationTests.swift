import Daemon
import Foundation
import Pipeline
import QuantdTestSupport
import Synchronization
import Testing

/// The daemon's executor runs the whole job, the evaluate stage included: it reports the stage by
/// name while it runs, the published manifest carries the measurement, and the folder source's
/// F16 reference is held in memory: nothing is written to the scratch folder or published beside
/// the artifacts (a reference too large for memory goes to the scratch folder: EvaluationStageTests).
struct PipelineExecutorEvaluationTests {
    static let root = Repository.root

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

    /// The manifest names the input where the user dropped it (`ROOT/inbox/NAME/...`), not the claimed
    /// copy the job read under `ROOT/work/ID/input/`.
    @Test func manifestNamesTheInputAsDropped() throws {
        let base = NSTemporaryDirectory() + "quantd-executor-sources-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let claimed = base + "/work/7/input/tiny-llama3"
        try FileManager.default.createDirectory(atPath: base + "/work/7/input", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/Tests/ModelConversionTests/Fixtures/models/tiny-llama3", toPath: claimed)
        for folder in ["work/7/out", "work/7/tmp"] {
            try FileManager.default.createDirectory(atPath: base + "/" + folder, withIntermediateDirectories: true)
        }
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = nil
        let request = JobRequest(id: "7", inputName: "tiny-llama3", inputPath: claimed, outputFolder: base + "/work/7/out",
                                 scratchFolder: base + "/work/7/tmp", threads: 1, attempt: 1)
        _ = try PipelineJobExecutor(config: config, version: "test").run(request)
        let data = try Data(contentsOf: URL(fileURLWithPath: base + "/work/7/out/manifest.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = (manifest["sources"] as? [[String: Any]] ?? []).compactMap { $0["file"] as? String }
        #expect(!files.isEmpty)
        #expect(files.allSatisfy { $0.hasPrefix(base + "/inbox/tiny-llama3/") }, "\(files)")
        #expect(files.contains(base + "/inbox/tiny-llama3/config.json"))
    }
}
