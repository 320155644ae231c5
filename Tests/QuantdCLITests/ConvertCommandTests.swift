import Foundation
import QuantdTestSupport
import Testing

/// `quantd convert` as a process: output naming, exit statuses, messages. The conversions
/// themselves are checked against the reference in ModelConversionTests.
@Suite struct ConvertCommandTests {
    static let fixtures = TestSupport.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models").path

    @Test func folderOutputGetsTheReferenceFileName() throws {
        let temp = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-qwen2", "-o", temp.path, "--type", "q8_0")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: temp.file("Tiny-Qwen2-108K-Q8_0.gguf")))
        #expect(result.stdout.contains("qwen2 Q8_0"))
        let inspected = try TestSupport.quantd("inspect", temp.file("Tiny-Qwen2-108K-Q8_0.gguf"), "--verify")
        #expect(inspected.status == 0, "\(inspected.stderr)")
    }

    @Test func fileOutputAndAutoType() throws {
        let temp = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-llama3", "-o", temp.file("m.gguf"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("llama BF16"))
        // No progress line when stderr is not a terminal.
        #expect(result.stderr.isEmpty)
    }

    @Test func unsupportedArchitectureExits65() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = temp.file("model")
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/tiny-qwen3", toPath: folder)
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: "PhiForCausalLM")
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("convert", folder, "-o", temp.file("x.gguf"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("architecture 'PhiForCausalLM' is not supported natively (native: LlamaForCausalLM"), "\(result.stderr)")
        #expect(result.stderr.contains("--converter-fallback"), "says how to configure llama.cpp's converter: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: temp.file("x.gguf")))
    }

    @Test func loneSafetensorsAndMissingInput() throws {
        let temp = TemporaryFolder("cli-test")
        let lone = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-qwen2/model.safetensors", "-o", temp.file("x.gguf"))
        #expect(lone.status == 65)
        #expect(lone.stderr.contains("a lone .safetensors file"))
        let missing = try TestSupport.quantd("convert", temp.file("nothing-here"), "-o", temp.file("x.gguf"))
        #expect(missing.status == 66)
    }

    @Test func refusesToWriteIntoTheInputFolder() throws {
        let temp = TemporaryFolder("cli-test")
        let folder = temp.file("model")
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/tiny-qwen2", toPath: folder)
        let before = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let result = try TestSupport.quantd("convert", folder, "-o", folder)
        #expect(result.status == 65)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == before)
    }

    @Test func badTypeIsAUsageError() throws {
        let result = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-qwen2", "-o", "/tmp/x.gguf", "--type", "q4_x")
        #expect(result.status == 64)
        #expect(result.stderr.contains("'q4_x' is not a type or mix quantd knows"))
    }

    /// A mix other than the plain conversion types runs the pipeline on the folder: one pass, the
    /// converter's F16 quantized as llama-quantize would, artifacts and manifest in the folder.
    @Test func aMixRunsThePipelineOnTheFolder() throws {
        let temp = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-qwen2", "-o", temp.file("out"), "--type", "Q8_0")
        #expect(result.status == 0, "\(result.stderr)")
        // Q8_0 is a plain conversion type: one GGUF, as convert_hf_to_gguf.py --outtype q8_0 writes.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).count == 1)
        let mixed = try TestSupport.quantd("convert", "\(Self.fixtures)/tiny-qwen2", "-o", temp.file("mixed"), "--type", "Q4_K_M")
        #expect(mixed.status == 0, "\(mixed.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: temp.file("mixed")).sorted()
        #expect(files == ["manifest.json", "quality.svg", "tiny-qwen2-Q4_K_M.gguf"])
        let json = try TestSupport.json(try TestSupport.quantd("inspect", "--json", temp.file("mixed") + "/tiny-qwen2-Q4_K_M.gguf").stdout)
        #expect((json["metadata"] as? NSDictionary)?["general.file_type"] as? Int == 15)
    }
}
