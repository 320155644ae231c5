import Foundation
import QuantdTestSupport
import Testing

/// `quantd convert`, `validate` and `inspect` with llama.cpp's converter as the fallback, run as a
/// process with the stand-in converters of Tests/PipelineTests/Fixtures/converter-standin (CI has no
/// llama.cpp): a folder of an architecture quantd does not convert natively.
@Suite struct ConverterFallbackCommandTests {
    static let standins = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures/converter-standin").path
    static let standin = standins + "/convert_hf_to_gguf.py"
    static let models = TestSupport.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models").path
    /// The SHA-256 of llama-quantize's Q8_0 of tiny-eval-f16.gguf (the stand-in's output), from
    /// Tests/PipelineTests/Fixtures/eval-expected.json.
    static var expectedQ8: String {
        get throws {
            let url = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures/eval-expected.json")
            let json = try TestSupport.json(String(contentsOf: url, encoding: .utf8))
            return try #require(((json["artifacts"] as? NSDictionary)?["Q8_0"] as? NSDictionary)?["sha256"] as? String)
        }
    }

    /// A copy of tiny-qwen3 whose config.json names `architecture`.
    static func folder(_ temp: TemporaryFolder, architecture: String = "OrionForCausalLM") throws -> String {
        let folder = temp.file("orion-tiny")
        try FileManager.default.copyItem(atPath: "\(models)/tiny-qwen3", toPath: folder)
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: architecture)
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        return folder
    }

    static func listing(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test func convertProducesArtifactsAndRecordsTheConverter() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = try Self.folder(temp)
        let before = Self.listing(folder)
        let out = temp.file("out")
        let result = try TestSupport.quantd("convert", folder, "-o", out, "--type", "Q8_0", "--eval-tokens", "256",
                                            "--converter-fallback", Self.standin, "--converter-python", "python3")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.listing(out) == ["manifest.json", "orion-tiny-Q8_0.gguf", "quality.svg"], "no scratch folder is left")
        #expect(Self.listing(folder) == before)
        let manifest = try TestSupport.json(String(contentsOfFile: out + "/manifest.json", encoding: .utf8))
        let converter = try #require(manifest["converter"] as? NSDictionary)
        #expect(converter["kind"] as? String == "fallback")
        #expect(converter["path"] as? String == Self.standin)
        #expect(converter["version"] as? String == "gguf-py 0.19.0")
        let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first)
        #expect(artifact["sha256"] as? String == (try Self.expectedQ8), "llama-quantize's Q8_0 of the converter's F16")
        #expect((manifest["evaluation"] as? NSDictionary)?["chunks"] as? Int == 1)
        let check = try TestSupport.quantd("inspect", out + "/orion-tiny-Q8_0.gguf", "--verify")
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func pipelineConverterSectionIsUsedAndTheCommandLineOverridesIt() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = try Self.folder(temp)
        // A relative path resolves against the pipeline file's folder.
        try FileManager.default.createDirectory(atPath: temp.file("conf/llama.cpp"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.standin, toPath: temp.file("conf/llama.cpp/convert_hf_to_gguf.py"))
        try FileManager.default.copyItem(atPath: Self.standins + "/../tiny-eval-f16.gguf", toPath: temp.file("conf/tiny-eval-f16.gguf"))
        try #"""
            {"version": 1, "converter": {"fallback": "llama.cpp/convert_hf_to_gguf.py"}, "evaluate": false,
             "schemes": [{"mix": "Q8_0"}, {"mix": "F16"}]}
            """#.write(toFile: temp.file("conf/pipeline.json"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("convert", folder, "-o", temp.file("out"), "--pipeline", temp.file("conf/pipeline.json"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.listing(temp.file("out")) == ["manifest.json", "orion-tiny-F16.gguf", "orion-tiny-Q8_0.gguf"])
        let manifest = try TestSupport.json(String(contentsOfFile: temp.file("out/manifest.json"), encoding: .utf8))
        let path = (manifest["converter"] as? NSDictionary)?["path"] as? String
        #expect(path?.hasSuffix("/conf/llama.cpp/convert_hf_to_gguf.py") == true, "\(path ?? "nil")")
        #expect((manifest["converter"] as? NSDictionary)?["version"] is NSNull, "no git checkout, no gguf-py beside it")
        // --converter-fallback replaces the pipeline's.
        let failing = try TestSupport.quantd("convert", folder, "-o", temp.file("out2"), "--pipeline", temp.file("conf/pipeline.json"),
                                             "--converter-fallback", Self.standins + "/failing_convert.py")
        #expect(failing.status == 65)
        #expect(failing.stderr.contains("failing_convert.py"), "\(failing.stderr)")
    }

    @Test func failingConverterGivesItsStatusAndStandardErrorAndLeavesNothing() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = try Self.folder(temp)
        let before = Self.listing(folder)
        let out = temp.file("out")
        let result = try TestSupport.quantd("convert", folder, "-o", out, "--type", "Q8_0",
                                            "--converter-fallback", Self.standins + "/failing_convert.py")
        #expect(result.status == 65)
        #expect(result.stderr.contains("failing_convert.py (run with python3) failed with exit status 3"), "\(result.stderr)")
        #expect(result.stderr.contains("| NotImplementedError: Architecture 'OrionForCausalLM' tensor 'model.extra' is not supported"),
                "\(result.stderr)")
        #expect(Self.listing(out).isEmpty, "\(Self.listing(out))")
        #expect(Self.listing(folder) == before)
    }

    @Test func usageErrorsOfTheFallback() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = try Self.folder(temp)
        let missing = try TestSupport.quantd("convert", folder, "-o", temp.file("out"), "--type", "Q8_0",
                                             "--converter-fallback", temp.file("nothing.py"))
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("nothing.py cannot be used"), "\(missing.stderr)")
        let noType = try TestSupport.quantd("convert", folder, "-o", temp.file("out"), "--converter-fallback", Self.standin)
        #expect(noType.status == 64)
        #expect(noType.stderr.contains("--type MIX or --pipeline FILE"), "\(noType.stderr)")
        let auto = try TestSupport.quantd("convert", folder, "-o", temp.file("out"), "--type", "auto", "--converter-fallback", Self.standin)
        #expect(auto.status == 64)
        let python = try TestSupport.quantd("convert", folder, "-o", temp.file("out"), "--type", "Q8_0",
                                            "--converter-fallback", Self.standin, "--converter-python", "quantd-no-such-python")
        #expect(python.status == 65)
        #expect(python.stderr.contains("could not be started with 'quantd-no-such-python'"), "\(python.stderr)")
        #expect(Self.listing(temp.file("out")).isEmpty)
    }

    @Test func validateChecksTheConverterSection() throws {
        let temp = TemporaryFolder("cli-test")
        try #"{"version": 1, "converter": {"fallback": "\#(Self.standin)", "python": "python3"}, "schemes": [{"mix": "Q8_0"}]}"#
            .write(toFile: temp.file("good.json"), atomically: true, encoding: .utf8)
        let good = try TestSupport.quantd("validate", temp.file("good.json"))
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("converter    fallback \(Self.standin) (run with python3)"), "\(good.stdout)")
        try #"{"version": 1, "converter": {"fallback": "missing/convert_hf_to_gguf.py"}, "schemes": [{"mix": "Q8_0"}]}"#
            .write(toFile: temp.file("missing.json"), atomically: true, encoding: .utf8)
        let missing = try TestSupport.quantd("validate", temp.file("missing.json"))
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("$.converter.fallback"), "\(missing.stderr)")
        #expect(missing.stderr.contains("\(temp.path)/missing/convert_hf_to_gguf.py"), "resolved against the file's folder: \(missing.stderr)")
        try #"{"version": 1, "converter": {"fallback": "c.py", "python": 3}, "schemes": [{"mix": "Q8_0"}]}"#
            .write(toFile: temp.file("typed.json"), atomically: true, encoding: .utf8)
        let typed = try TestSupport.quantd("validate", temp.file("typed.json"))
        #expect(typed.status == 65)
        #expect(typed.stderr.contains("$.converter.python must be a string"), "\(typed.stderr)")
    }

    @Test func inspectSaysWhoConvertsAFolder() throws {
        let cases: [(String, String)] = [("Qwen3ForCausalLM", "native"), ("OrionForCausalLM", "fallback"), ("NoSuchModelForCausalLM", "unknown")]
        for (architecture, expected) in cases {
            let temp = TemporaryFolder("cli-test")
            let folder = try Self.folder(temp, architecture: architecture)
            let human = try TestSupport.quantd("inspect", folder)
            #expect(human.status == 0, "\(human.stderr)")
            #expect(human.stdout.contains("conversion       \"\(expected)\""), "\(architecture): \(human.stdout.prefix(600))")
            let json = try TestSupport.quantd("inspect", "--json", folder)
            #expect(try TestSupport.json(json.stdout)["conversion"] as? String == expected, "\(architecture)")
        }
    }
}
