import BinaryIO
import Foundation
import GGUF
import JSON
import Pipeline
import QuantdTestSupport
import Testing

/// The fallback to llama.cpp's convert_hf_to_gguf.py for folders quantd does not convert natively,
/// run with the stand-in converters of Fixtures/converter-standin (CI has no llama.cpp): the real
/// converter's call, its failures, what the manifest records, and the stages that need a forward pass.
struct ConverterFallbackTests {
    static let standins = TestPaths.fixtures + "/converter-standin"
    static let standin = standins + "/convert_hf_to_gguf.py"
    static let nativeFolder = TestPaths.repositoryRoot + "/Tests/ModelConversionTests/Fixtures/models/tiny-qwen3"
    /// An architecture llama.cpp's converter registers and quantd does not convert itself.
    static let fallbackArchitecture = "OrionForCausalLM"

    /// A copy of a native fixture folder whose config.json names `architecture` instead.
    static func folder(in parent: String, architecture: String = fallbackArchitecture) throws -> String {
        let folder = parent + "/orion-tiny"
        try FileManager.default.copyItem(atPath: nativeFolder, toPath: folder)
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "Qwen3ForCausalLM", with: architecture)
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        return folder
    }

    static func listing(_ folder: String) throws -> [String: Int] {
        var files: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            files[name] = (try FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? Int) ?? -1
        }
        return files
    }

    private func parse(_ text: String, file: String = "/pipelines/p.json") throws(ConfigError) -> PipelineConfig {
        try PipelineConfig.parse(Array(text.utf8), file: file)
    }

    // MARK: pipeline.json

    @Test func converterSectionIsParsedAndResolvedAgainstThePipelineFolder() throws {
        let schemes = #""schemes": [{"mix": "Q8_0"}]"#
        #expect(try parse(#"{"version": 1, \#(schemes)}"#).converter == nil)
        let relative = try #require(try parse(#"{"version": 1, "converter": {"fallback": "llama.cpp/convert_hf_to_gguf.py"}, \#(schemes)}"#).converter)
        #expect(relative.python == "python3")
        #expect(relative.scriptPath == "/pipelines/llama.cpp/convert_hf_to_gguf.py")
        let absolute = try #require(try parse(#"{"version": 1, "converter": {"fallback": "/opt/l/convert_hf_to_gguf.py", "python": "/venv/bin/python"}, \#(schemes)}"#).converter)
        #expect(absolute.scriptPath == "/opt/l/convert_hf_to_gguf.py" && absolute.python == "/venv/bin/python")
    }

    @Test func badConverterSectionsNameTheirPath() {
        let cases: [(String, String, String)] = [
            (#""converter": "convert_hf_to_gguf.py""#, "$.converter", "must be an object"),
            (#""converter": {}"#, "$.converter.fallback", "is required"),
            (#""converter": {"fallback": 3}"#, "$.converter.fallback", "must be a string"),
            (#""converter": {"fallback": ""}"#, "$.converter.fallback", "is empty"),
            (#""converter": {"fallback": "c.py", "python": ["python3"]}"#, "$.converter.python", "must be a string"),
            (#""converter": {"fallback": "c.py", "python": ""}"#, "$.converter.python", "is empty"),
            (#""converter": {"fallback": "c.py", "pyhton": "python3"}"#, "$.converter.pyhton", "not a known key"),
        ]
        for (member, path, message) in cases {
            do {
                _ = try parse(#"{"version": 1, \#(member), "schemes": [{"mix": "Q8_0"}]}"#)
                Issue.record("accepted: \(member)")
            } catch {
                #expect(error.path == path, "\(member): \(error)")
                #expect(error.message.contains(message), "\(member): \(error)")
            }
        }
    }

    @Test func checkScriptFindsMissingScripts() throws {
        #expect(throws: Never.self) { try ConverterSettings(fallback: Self.standin).checkScript() }
        #expect(throws: ConverterFallbackError.self) { try ConverterSettings(fallback: Self.standins + "/nothing.py").checkScript() }
        #expect(throws: ConverterFallbackError.self) { try ConverterSettings(fallback: Self.standins).checkScript() }
    }

    // MARK: who converts what

    @Test func conversionSupportComesFromBothConverters() {
        #expect(ConversionSupport(architecture: "LlamaForCausalLM") == .native)
        #expect(ConversionSupport(architecture: "Qwen3ForCausalLM") == .native)
        #expect(ConversionSupport(architecture: Self.fallbackArchitecture) == .fallback)
        #expect(ConversionSupport(architecture: "NoSuchModelForCausalLM") == .unknown)
        // Names llama.cpp's converter registers (conversion/llama.py, qwen.py, lfm2.py): the generated
        // list holds text models and leaves projectors (model_arch MMPROJ) out.
        for name in ["LlamaForCausalLM", "Qwen3ForCausalLM", "Lfm2ForCausalLM", "Qwen3NextForCausalLM"] {
            #expect(LlamaCppConverterArchitectures.names.contains(name), "\(name)")
        }
    }

    @Test func aFolderTheFallbackWouldConvertIsRefusedWithoutOne() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        #expect(ModelInput.kind(of: folder) == .fallbackFolder(architecture: Self.fallbackArchitecture))
        #expect(ModelInput.kind(of: Self.nativeFolder) == .nativeFolder)
        do {
            _ = try ModelInput.open(path: folder, converter: nil, scratchFolder: temp)
            Issue.record("opened without a converter")
        } catch let error as ConverterFallbackError {
            let text = error.description
            #expect(text.contains("architecture '\(Self.fallbackArchitecture)' is not supported natively"), "\(text)")
            #expect(text.contains("LlamaForCausalLM, LLaMAForCausalLM"), "lists the native ones: \(text)")
            #expect(text.contains(#""converter": {"fallback": "PATH/convert_hf_to_gguf.py"}"#), "\(text)")
            #expect(text.contains("--converter-fallback"), "\(text)")
        }
    }

    // MARK: running the converter

    @Test func theConverterWritesTheF16IntoTheScratchFolderOnly() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        let scratch = temp + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let before = try Self.listing(folder)
        var source: FallbackConvertedSource? = try FallbackConvertedSource(
            folder: folder, architecture: Self.fallbackArchitecture, settings: ConverterSettings(fallback: Self.standin), scratchFolder: scratch)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch) == [ConverterFallback.outputName],
                "only the F16 file stays while the source lives (no logs)")
        #expect(source?.record == .fallback(path: Self.standin, version: "gguf-py 0.19.0"))
        #expect(source?.metadata["general.architecture"]?.stringValue == "llama")
        #expect(source?.files.contains(folder + "/model.safetensors") == true)
        source = nil
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "the F16 file goes with the source")
        #expect(try Self.listing(folder) == before, "the input folder is never modified")
    }

    @Test func aFailingConverterIsNamedWithItsStatusAndStandardError() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        let scratch = temp + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let script = Self.standins + "/failing_convert.py"
        do {
            _ = try ConverterFallback(settings: ConverterSettings(fallback: script)).convert(folder: folder, scratchFolder: scratch)
            Issue.record("the failing converter succeeded")
        } catch let error as ConverterFallbackError {
            guard case .failed(let python, let named, let status, let stderr) = error else { Issue.record("\(error)"); return }
            #expect(python == "python3" && named == script && status == "exit status 3")
            #expect(stderr.last == "NotImplementedError: Architecture 'OrionForCausalLM' tensor 'model.extra' is not supported")
            #expect(error.description.contains("\(script) (run with python3) failed with exit status 3"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "the partial output and logs are removed")
    }

    @Test func aConverterThatWritesNoGGUFOrCannotStartIsAnError() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        do {
            _ = try FallbackConvertedSource(folder: folder, architecture: Self.fallbackArchitecture,
                                            settings: ConverterSettings(fallback: Self.standins + "/garbage_convert.py"), scratchFolder: temp)
            Issue.record("accepted a file that is not a GGUF")
        } catch let error as ConverterFallbackError {
            guard case .invalidOutput = error else { Issue.record("\(error)"); return }
            #expect(error.description.contains("not a GGUF file"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: temp + "/" + ConverterFallback.outputName))
        do {
            _ = try ConverterFallback(settings: ConverterSettings(fallback: Self.standin, python: "quantd-no-such-python"))
                .convert(folder: folder, scratchFolder: temp)
            Issue.record("started a python that does not exist")
        } catch let error as ConverterFallbackError {
            guard case .cannotStart(let python, _, _) = error else { Issue.record("\(error)"); return }
            #expect(python == "quantd-no-such-python")
        }
    }

    /// A cancelled job (the daemon stopping) stops the converter and leaves nothing behind.
    @Test func cancellingStopsTheConverter() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        let scratch = temp + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let start = Date()
        #expect(throws: PipelineError.cancelled) {
            _ = try ConverterFallback(settings: ConverterSettings(fallback: Self.standins + "/slow_convert.py"))
                .convert(folder: folder, scratchFolder: scratch, isCancelled: { Date().timeIntervalSince(start) > 0.5 })
        }
        #expect(Date().timeIntervalSince(start) < 10, "stopped, not waited for")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
    }

    /// The version is the commit when the script's folder is a git checkout's top (the commit git
    /// itself reports), the gguf-py version beside it otherwise, else unknown.
    @Test func versionComesFromGitOrGGUFPy() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        #expect(ConverterFallback.version(ofScript: Self.standin, scratchFolder: temp) == "gguf-py 0.19.0",
                "the fixture folder sits inside quantd's repository, whose commit is not llama.cpp's")
        let bare = temp + "/bare"
        try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.standin, toPath: bare + "/convert_hf_to_gguf.py")
        #expect(ConverterFallback.version(ofScript: bare + "/convert_hf_to_gguf.py", scratchFolder: temp) == nil)
        // A git checkout (skipped where git is not installed).
        guard let git = ["/usr/bin/git", "/bin/git", "/usr/local/bin/git"].first(where: FileManager.default.isExecutableFile) else { return }
        func run(_ arguments: [String]) throws -> String {
            let result = try runProcess(git, ["-C", bare, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"] + arguments)
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try run(["init", "-q"])
        _ = try run(["add", "convert_hf_to_gguf.py"])
        _ = try run(["commit", "-q", "-m", "x"])
        let commit = try run(["rev-parse", "--short", "HEAD"])
        try #require(!commit.isEmpty)
        #expect(ConverterFallback.version(ofScript: bare + "/convert_hf_to_gguf.py", scratchFolder: temp) == commit)
    }

    // MARK: whole jobs

    /// The F16 from the fallback is quantized as llama-quantize quantizes that F16 file (the SHA-256
    /// of llama-quantize's Q8_0 of tiny-eval-f16.gguf, Fixtures/eval-expected.json), the manifest
    /// names the converter and the folder's files as the sources, and nothing is left in the scratch folder.
    @Test func jobFromTheFallbackMatchesLlamaQuantizeAndRecordsTheConverter() throws {
        let expected = try StrictJSON.parse(MappedFile.contents(of: TestPaths.fixtures + "/eval-expected.json"))
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let folder = try Self.folder(in: temp)
        for name in ["out", "scratch"] { try FileManager.default.createDirectory(atPath: temp + "/" + name, withIntermediateDirectories: true) }
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = EvaluationSettings(tokens: 128, ctx: 64)
        config.converter = ConverterSettings(fallback: Self.standin)
        let result: JobResult = try {
            let source = try ModelInput.open(path: folder, converter: config.converter, scratchFolder: temp + "/scratch")
            let job = PipelineJob(config: config, source: source, outputFolder: temp + "/out", baseName: "orion", threads: 2)
            job.scratchFolder = temp + "/scratch"
            return try job.run()
        }()
        #expect(result.artifacts.first?.sha256 == expected["artifacts"]?["Q8_0"]?["sha256"]?.stringValue)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp + "/scratch").isEmpty)
        let m = try StrictJSON.parse(MappedFile.contents(of: temp + "/out/manifest.json"))
        #expect(m["converter"]?["kind"]?.stringValue == "fallback")
        #expect(m["converter"]?["path"]?.stringValue == Self.standin)
        #expect(m["converter"]?["version"]?.stringValue == "gguf-py 0.19.0")
        let sources = m["sources"]?.arrayValue?.compactMap { $0["file"]?.stringValue } ?? []
        #expect(sources.contains(folder + "/model.safetensors") && sources.contains(folder + "/config.json"), "\(sources)")
        #expect(!sources.contains { $0.hasSuffix(ConverterFallback.outputName) })
        #expect(m["evaluation"]?["chunks"]?.intValue == 2, "llama runs in the forward pass: measured")
        #expect(m["timings"]?.objectValue?.first?.key == "convert")
        // The existing fields are all still there, in their order.
        #expect(m.objectValue?.map(\.key) == ["manifest_version", "quantd_version", "created", "pipeline", "sources", "converter",
                                              "calibration", "artifacts", "evaluation", "timings"])
    }

    @Test func nativeConversionIsRecordedAsNative() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        var config = PipelineConfig.single(mix: .q8_0)
        config.evaluation = nil
        let source = try ModelInput.open(path: Self.nativeFolder, converter: nil, scratchFolder: temp)
        _ = try PipelineJob(config: config, source: source, outputFolder: temp, baseName: "q", threads: 2).run()
        let m = try StrictJSON.parse(MappedFile.contents(of: temp + "/manifest.json"))
        #expect(m["converter"]?.objectValue?.count == 1 && m["converter"]?["kind"]?.stringValue == "native")
        // A GGUF input was converted by nobody quantd knows: no converter object.
        let gguf = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: gguf) }
        _ = try PipelineJob(config: config, source: try GGUFTensorSource(path: TestPaths.fixtures + "/tiny-eval-f16.gguf"),
                            outputFolder: gguf, baseName: "q", threads: 2).run()
        #expect(try StrictJSON.parse(MappedFile.contents(of: gguf + "/manifest.json"))["converter"] == nil)
    }

    /// A computed imatrix stage on an architecture the forward pass does not run is skipped with the
    /// same reason as the evaluate stage; the schemes are planned and quantized as without a matrix
    /// (the same bytes as a pipeline without the stage), and the job succeeds.
    @Test func imatrixStageIsSkippedWithoutAForwardPass() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let model = temp + "/tiny-gptneox.gguf"
        try EvaluationStageTests.copy(TestPaths.fixtures + "/tiny-eval-f16.gguf", to: model, architecture: "gptneox")
        let mixes = #"[{"mix": "Q4_K_M"}, {"mix": "IQ4_XS"}]"#
        let withStage = try parse(#"{"version": 1, "calibration": [{"stage": "imatrix"}], "schemes": \#(mixes)}"#)
        let without = try parse(#"{"version": 1, "schemes": \#(mixes)}"#)
        var hashes: [[String]] = []
        for (i, config) in [withStage, without].enumerated() {
            let out = temp + "/out\(i)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let result = try PipelineJob(config: config, source: try GGUFTensorSource(path: model), outputFolder: out,
                                         baseName: "tiny", threads: 2).run()
            hashes.append(result.artifacts.map(\.sha256))
            let m = try StrictJSON.parse(MappedFile.contents(of: out + "/manifest.json"))
            #expect(m["evaluation"]?["skipped"]?.stringValue == "no forward pass for gptneox")
            if i == 0 {
                #expect(result.imatrixSkipped == "no forward pass for gptneox")
                #expect(m["calibration"]?["imatrix"]?.objectValue?.count == 1)
                #expect(m["calibration"]?["imatrix"]?["skipped"]?.stringValue == "no forward pass for gptneox")
                #expect(!FileManager.default.fileExists(atPath: out + "/tiny.imatrix.gguf"))
            } else {
                #expect(m["calibration"]?["imatrix"] == nil)
            }
        }
        #expect(hashes[0] == hashes[1])
    }

    @Test func aMixThatNeedsTheSkippedImatrixIsAClearError() throws {
        let temp = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let model = temp + "/tiny-gptneox.gguf"
        // Hidden size 256: IQ2_XS applies (a 64-wide model falls back to types that need no matrix).
        try EvaluationStageTests.copy(TestPaths.fixtures + "/tiny-llama-f16.gguf", to: model, architecture: "gptneox")
        let config = try parse(#"{"version": 1, "calibration": [{"stage": "imatrix"}], "schemes": [{"mix": "IQ2_XS"}]}"#)
        let out = temp + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        do {
            _ = try PipelineJob(config: config, source: try GGUFTensorSource(path: model), outputFolder: out, baseName: "tiny", threads: 2).run()
            Issue.record("IQ2_XS quantized without an importance matrix")
        } catch let error as ImatrixStageError {
            #expect("\(error)".contains("needs an importance matrix, but the imatrix stage was skipped (no forward pass for gptneox)"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}
