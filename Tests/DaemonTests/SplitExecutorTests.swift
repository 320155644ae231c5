import Daemon
import Foundation
import GGUF
import Pipeline
import QuantdTestSupport
import Testing

/// The daemon's pipeline executor with a split stage: every file of the set is reported for
/// publication, and nothing else is in the output folder.
struct SplitExecutorTests {
    static let root = Repository.root

    @Test func everyFileOfASplitArtifactIsPublished() throws {
        let base = NSTemporaryDirectory() + "quantd-executor-split-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        let claimed = base + "/work/3/input/tiny-llama-f32.gguf"
        for folder in ["work/3/input", "work/3/out", "work/3/tmp"] {
            try FileManager.default.createDirectory(atPath: base + "/" + folder, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: Self.root + "/Tests/InferenceTests/Fixtures/tiny-llama-f32.gguf", toPath: claimed)
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = nil
        config.split = .maxTensors(8)
        let request = JobRequest(id: "3", inputName: "tiny-llama-f32.gguf", inputPath: claimed, outputFolder: base + "/work/3/out",
                                 scratchFolder: base + "/work/3/tmp", threads: 1, attempt: 1)
        let outcome = try PipelineJobExecutor(config: config, version: "test").run(request)
        #expect(outcome.files.sorted() == ["manifest.json"] + (1...3).map { "tiny-llama-Q8_0-0000\($0)-of-00003.gguf" })
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/work/3/out").sorted() == outcome.files.sorted())
        let set = try GGUFSplitSet(firstFile: base + "/work/3/out/tiny-llama-Q8_0-00001-of-00003.gguf")
        #expect(set.tensors.count == 21)
    }
}
