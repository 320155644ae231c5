import BinaryIO
import Foundation
import Pipeline
import Testing
@testable import Daemon

/// The daemon with llama.cpp's converter as the fallback (the stand-in converters of
/// Tests/PipelineTests/Fixtures/converter-standin; CI has no llama.cpp): a folder of an architecture
/// quantd does not convert natively, dropped into the inbox, ends in out/ with its artifacts and
/// manifest, or in failed/ with the converter's error. In DaemonIntegrationTests' serialized suite
/// (one inotify session per process).
extension DaemonIntegrationTests {
    static let standins = DaemonHarness.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures/converter-standin").path

    /// Writes ROOT/pipeline.json with the fallback `script` and returns the executor for it.
    private func executor(_ harness: DaemonHarness, script: String) throws -> PipelineJobExecutor {
        let file = harness.root + "/pipeline.json"
        try #"""
            {"version": 1, "converter": {"fallback": "\#(script)", "python": "python3"},
             "evaluate": {"tokens": 128, "ctx": 64}, "schemes": [{"mix": "Q8_0"}]}
            """#.write(toFile: file, atomically: true, encoding: .utf8)
        return PipelineJobExecutor(config: try PipelineConfig.load(file: file), version: "test")
    }

    /// tiny-qwen3 with an architecture llama.cpp's converter registers and quantd does not convert.
    private func dropFallbackFolder(_ harness: DaemonHarness) throws {
        try harness.dropByRename("orion-tiny") { path in
            try FileManager.default.copyItem(
                atPath: DaemonHarness.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-qwen3").path,
                toPath: path)
            let config = try String(contentsOfFile: path + "/config.json", encoding: .utf8)
            try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: "OrionForCausalLM")
                .write(toFile: path + "/config.json", atomically: true, encoding: .utf8)
        }
    }

    @Test func fallbackFolderEndsInOutWithArtifactsAndManifest() throws {
        let harness = DaemonHarness()
        try harness.start(try executor(harness, script: Self.standins + "/convert_hf_to_gguf.py"))
        defer { try? harness.stop() }
        try dropFallbackFolder(harness)
        try harness.waitFor("orion-tiny published", timeout: 60) { harness.list(harness.folder.out) == ["orion-tiny"] }
        #expect(harness.list(harness.folder.out + "/orion-tiny") == ["manifest.json", "orion-tiny-Q8_0.gguf", "quality.svg"])
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: harness.folder.out + "/orion-tiny/manifest.json"))) as? [String: Any]
        let converter = manifest?["converter"] as? [String: Any]
        #expect(converter?["kind"] as? String == "fallback")
        #expect(converter?["path"] as? String == Self.standins + "/convert_hf_to_gguf.py")
        // llama-quantize's Q8_0 of the stand-in's F16 (Tests/PipelineTests/Fixtures/eval-expected.json).
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.standins + "/../eval-expected.json")))
        let q8 = (((expected as? [String: Any])?["artifacts"] as? [String: Any])?["Q8_0"] as? [String: Any])?["sha256"] as? String
        let artifact = (manifest?["artifacts"] as? [[String: Any]])?.first
        #expect(q8 != nil && artifact?["sha256"] as? String == q8)
        #expect((manifest?["evaluation"] as? [String: Any])?["chunks"] as? Int == 2)
        try harness.waitFor("work/ emptied") { harness.list(harness.folder.work).isEmpty }
        #expect(harness.list(harness.folder.done + "/orion-tiny").contains("model.safetensors"))
        #expect(harness.ledger().map(\.state) == [.done])
    }

    @Test func failingFallbackConverterSendsTheFolderToFailed() throws {
        let harness = DaemonHarness()
        try harness.start(try executor(harness, script: Self.standins + "/failing_convert.py"))
        defer { try? harness.stop() }
        try dropFallbackFolder(harness)
        try harness.waitFor("orion-tiny failed", timeout: 60) { harness.list(harness.folder.failed) == ["orion-tiny"] }
        #expect(harness.list(harness.folder.out).isEmpty)
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/orion-tiny/error.json"))) as? [String: Any]
        let error = report?["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "bad_input")
        let message = error?["message"] as? String ?? ""
        #expect(message.contains("failing_convert.py (run with python3) failed with exit status 3"), "\(message)")
        #expect(message.contains("NotImplementedError"), "\(message)")
        try harness.waitFor("work/ emptied") { harness.list(harness.folder.work).isEmpty }
    }
}

/// The free-space check before a fallback job: the converter has not run, so its tensors are not
/// known; the estimate counts the F16 file (2 bytes a parameter) and each artifact at most as large.
@Suite struct ConverterFallbackPlanningTests {
    @Test func plannedBytesOfAFallbackFolderAndRefusalWithoutAConverter() throws {
        let base = NSTemporaryDirectory() + "quantd-fallback-plan-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let folder = base + "/orion-tiny"
        try FileManager.default.copyItem(
            atPath: DaemonHarness.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-qwen3").path,
            toPath: folder)
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: "OrionForCausalLM")
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let request = JobRequest(id: "1", inputName: "orion-tiny", inputPath: folder, outputFolder: base, scratchFolder: base,
                                 threads: 1, attempt: 1)
        // tiny-qwen3 holds 131,520 parameters (the element counts of its safetensors header's 24 tensors).
        let parameters = 131_520
        var pipeline = PipelineConfig.single(mix: .q8_0)
        pipeline.schemes.append(PipelineConfig.Scheme(name: "F32", options: SchemeOptions(mix: .f32)))
        pipeline.converter = ConverterSettings(fallback: "/nonexistent/convert_hf_to_gguf.py")
        #expect(try PipelineJobExecutor(config: pipeline, version: "t").plannedOutputBytes(for: request) == parameters * (2 + 2 + 4))
        pipeline.converter = nil
        #expect(throws: ConverterFallbackError.self) { try PipelineJobExecutor(config: pipeline, version: "t").plannedOutputBytes(for: request) }
    }
}
