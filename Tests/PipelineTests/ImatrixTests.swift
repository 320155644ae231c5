import BinaryIO
import Foundation
import GGUF
import Inference
import JSON
import Pipeline
import Synchronization
import Testing

/// The native imatrix against llama-imatrix's own files for a tiny model and text (made by
/// scripts/imatrix/make_fixture.py with the oracle; see Fixtures/README.md), the file format, the
/// pipeline stage and its manifest record.
struct ImatrixTests {
    static let model = TestPaths.fixtures + "/tiny-spm-f16.gguf"
    static let text = TestPaths.fixtures + "/imatrix-text.txt"

    /// Every sum within 1e-3 relative of llama-imatrix's, every count equal, the same names.
    private func expectAgreement(_ ours: ImatrixFile, reference path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = try GGUFFile(path: path)
        var names: [String] = []
        var worst = 0.0
        for tensor in reference.tensors where tensor.name.hasSuffix(".in_sum2") {
            let name = String(tensor.name.dropLast(8))
            names.append(name)
            guard let entry = ours.entries.first(where: { $0.name == name }),
                  let countInfo = reference.header.tensor(named: name + ".counts") else {
                Issue.record("\(name): missing", sourceLocation: sourceLocation)
                continue
            }
            let sums = floats(reference.data(for: tensor)), counts = floats(reference.data(for: countInfo))
            #expect(entry.counts == counts, "\(name) counts", sourceLocation: sourceLocation)
            #expect(entry.sums.count == sums.count, sourceLocation: sourceLocation)
            for (a, b) in zip(entry.sums, sums) {
                worst = max(worst, Double(abs(a - b)) / max(Double(abs(b)), 1e-30))
            }
        }
        #expect(ours.entries.map(\.name) == names, "the same tensors in the same order", sourceLocation: sourceLocation)
        #expect(worst < 1e-3, "largest relative difference \(worst)", sourceLocation: sourceLocation)
        #expect(reference.metadata["imatrix.chunk_count"] == .uint32(UInt32(ours.chunkCount)), sourceLocation: sourceLocation)
        #expect(reference.metadata["imatrix.chunk_size"] == .uint32(UInt32(ours.chunkSize)), sourceLocation: sourceLocation)
    }

    private func floats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    private func compute(_ settings: ImatrixSettings) throws -> (file: ImatrixFile, computation: ImatrixComputation) {
        try ImatrixCalibration.compute(model: LlamaModel(path: Self.model),
                                       text: .file(Self.text, recordedName: "imatrix-text.txt"), settings: settings, threads: 2)
    }

    @Test func collectedMatrixMatchesLlamaImatrix() throws {
        let (file, computation) = try compute(ImatrixSettings(ctx: 64))
        #expect(file.entries.count == 14, "7 matrices × 2 layers; output.weight only when asked")
        #expect(computation.chunks == 17)
        #expect(file.entries.allSatisfy { $0.counts == [Float(17 * 64)] })
        try expectAgreement(file, reference: TestPaths.fixtures + "/tiny-spm.imatrix.gguf")
    }

    @Test func processOutputAndChunkLimitMatchLlamaImatrix() throws {
        let (file, computation) = try compute(ImatrixSettings(ctx: 64, chunks: 5, processOutput: true))
        #expect(computation.chunks == 5)
        #expect(file.entries.contains { $0.name == "output.weight" })
        try expectAgreement(file, reference: TestPaths.fixtures + "/tiny-spm-output.imatrix.gguf")
    }

    /// Gemma3's own graph (scaled embeddings, sliding-window layers, GELU-gated FFN) reports its
    /// matmul inputs as llama-imatrix sees them; the model is the forward pass's Gemma3 fixture.
    @Test func gemma3MatrixMatchesLlamaImatrix() throws {
        let gemma = TestPaths.fixtures + "/../../InferenceTests/Fixtures/tiny-gemma3-f16.gguf"
        let (file, computation) = try ImatrixCalibration.compute(
            model: LlamaModel(path: gemma), text: .file(Self.text, recordedName: "imatrix-text.txt"),
            settings: ImatrixSettings(ctx: 64), threads: 2)
        #expect(computation.chunks == 19)
        #expect(file.entries.count == 42, "7 matrices × 6 layers")
        try expectAgreement(file, reference: TestPaths.fixtures + "/tiny-gemma3.imatrix.gguf")
    }

    @Test func sumsDoNotDependOnTheThreadCount() throws {
        let model = try LlamaModel(path: Self.model)
        let tokens = try ImatrixCalibration.tokens(of: .file(Self.text), model: model)
        let one = try ImatrixRun.collect(model: model, tokens: tokens, ctx: 64, chunks: 3, threads: 1)
        let two = try ImatrixRun.collect(model: model, tokens: tokens, ctx: 64, chunks: 3, threads: 2)
        #expect(one.entries == two.entries)
        #expect(model.activationObserver == nil, "the collector is detached afterwards")
    }

    @Test func columnSplitSumsEqualAPlainLoop() {
        // Wide enough that several threads share the columns; 13 columns per row left over for the tail.
        let rows = 300, columns = 253
        var x = [Float](repeating: 0, count: rows * columns)
        var state: UInt32 = 12345
        for i in x.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            x[i] = Float(Int32(bitPattern: state >> 8) - (1 << 23)) / Float(1 << 20)
        }
        let collector = ImatrixCollector(threads: 3)
        x.withUnsafeBufferPointer { collector.observe(weight: "blk.0.ffn_down.weight", input: $0.baseAddress!, rows: rows, columns: columns) }
        x.withUnsafeBufferPointer { collector.observe(weight: "token_embd.weight", input: $0.baseAddress!, rows: rows, columns: columns) }
        var expected = [Float](repeating: 0, count: columns)
        for r in 0..<rows { for j in 0..<columns { expected[j] += x[r * columns + j] * x[r * columns + j] } }
        #expect(collector.entries == [ImatrixCollector.Entry(name: "blk.0.ffn_down.weight", sums: expected, count: rows)])
    }

    @Test func tooShortATextIsAClearError() throws {
        let model = try LlamaModel(path: Self.model)
        #expect(throws: ImatrixError.tooFewTokens(tokens: 100, ctx: 64)) {
            try ImatrixRun.collect(model: model, tokens: [Int32](repeating: 5, count: 100), ctx: 64)
        }
    }

    @Test func writtenFileHasLlamaImatrixLayoutAndRoundTrips() throws {
        let (file, _) = try compute(ImatrixSettings(ctx: 64))
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/ours.imatrix.gguf"
        try file.write(to: path)
        let written = try GGUFFile(path: path)
        let reference = try GGUFFile(path: TestPaths.fixtures + "/tiny-spm.imatrix.gguf")
        // Same keys in the same order with the same types, same tensor table (names, shapes, types,
        // offsets): only the last bits of the sums differ.
        #expect(written.metadata.entries.map(\.key) == ["general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"])
        #expect(written.metadata == reference.metadata)
        #expect(written.tensors.map(\.name) == reference.tensors.map(\.name))
        #expect(written.tensors.map(\.dimensions) == reference.tensors.map(\.dimensions))
        #expect(written.tensors.map(\.type) == reference.tensors.map(\.type))
        #expect(written.tensors.map(\.absoluteOffset) == reference.tensors.map(\.absoluteOffset))
        #expect(written.bytes.count == reference.bytes.count)
        // What the scheme stages use in the job is what loading the file gives.
        let loaded = try ImportanceMatrix.load(path: path, recordedName: "x.gguf")
        let direct = file.importanceMatrix(file: "x.gguf")
        #expect(loaded.entries == direct.entries)
        #expect(loaded.datasets == ["imatrix-text.txt"] && loaded.chunkCount == 17)
        #expect(loaded.entries["blk.1.ffn_down.weight"]?.count == 128)
    }

    @Test func bundledTextIsTheExtractedGenesis() throws {
        let bytes = Array(CalibrationText.text.utf8)
        // scripts/imatrix/make_calibration_text.sh prints this hash of the text it embeds.
        #expect(bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) } == "eb6b4a196bf262524a05407dbd50fcdddb6eeccc32e2464af9f01459be25d59b")
        #expect(CalibrationText.text.hasPrefix("In the beginning God created the heaven and the earth."))
        #expect(bytes.count == 34849)
    }

    @Test func pipelineJobComputesWritesAndRecordsTheMatrix() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try PipelineConfig.parse(Array("""
            {"version": 1, "calibration": [{"stage": "imatrix", "text": "imatrix-text.txt", "ctx": 64, "chunks": 4}],
             "schemes": [{"mix": "Q4_K_M"}]}
            """.utf8), file: TestPaths.fixtures + "/pipeline.json")
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 2)
        let reports = Mutex<[[Int]]>([])
        job.imatrixProgress = { done, total in reports.withLock { $0.append([done, total]) } }
        let result = try job.run()
        let seen = reports.withLock { $0 }
        #expect(seen == [[0, 4], [1, 4], [2, 4], [3, 4], [4, 4]], "a report at the start and after each chunk")
        let written = folder + "/tiny.imatrix.gguf"
        let loaded = try ImportanceMatrix.load(path: written)
        #expect(loaded.chunkCount == 4 && loaded.datasets == ["imatrix-text.txt"])
        #expect(result.importance?.entries == loaded.entries, "the schemes used exactly what was written")
        let artifact = try GGUFFile(path: try #require(result.artifacts.first).path)
        #expect(artifact.metadata["quantize.imatrix.file"] == .string("tiny.imatrix.gguf"))
        #expect(artifact.metadata["quantize.imatrix.dataset"] == .string("imatrix-text.txt"))
        #expect(artifact.metadata["quantize.imatrix.chunks_count"] == .uint32(4))
        let manifest = try StrictJSON.parse(Array(try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8).utf8))
        let record = try #require(manifest["calibration"]?["imatrix"])
        #expect(record["computed"] == .bool(true))
        #expect(record["file"]?.stringValue == "tiny.imatrix.gguf")
        #expect(record["text"]?.stringValue == "imatrix-text.txt")
        let textHash = try MappedFile(path: Self.text).withUnsafeBytes { SHA256Digest.hex(of: $0) }
        #expect(record["text_sha256"]?.stringValue == textHash)
        #expect(record["chunks"]?.intValue == 4 && record["ctx"]?.intValue == 64)
        #expect((record["seconds"]?.doubleValue ?? -1) >= 0)
        #expect(manifest["timings"]?["imatrix"]?.doubleValue != nil)
    }

    @Test func aHuggingFaceFolderIsMeasuredThroughATemporaryConversion() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try PipelineConfig.parse(Array("""
            {"version": 1, "calibration": [{"stage": "imatrix", "text": "imatrix-text.txt", "ctx": 32, "chunks": 2}],
             "schemes": [{"mix": "Q8_0"}]}
            """.utf8), file: TestPaths.fixtures + "/pipeline.json")
        let source = try ConvertedModelSource(folder: TestPaths.repositoryRoot + "/Tests/ModelConversionTests/Fixtures/models/tiny-llama3")
        let result = try PipelineJob(config: config, source: source, outputFolder: folder, baseName: "llama3", threads: 2).run()
        #expect(result.importance?.computation?.chunks == 2)
        #expect(result.importance?.entries.count == 14)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["llama3-Q8_0.gguf", "llama3.imatrix.gguf", "manifest.json", "quality.svg"], "the temporary F16 conversion is gone")
    }

    @Test func computedStageWithAMissingTextSaysWhichFile() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try PipelineConfig.parse(Array("""
            {"version": 1, "calibration": [{"stage": "imatrix", "text": "no-such.txt"}], "schemes": [{"mix": "Q8_0"}]}
            """.utf8), file: folder + "/pipeline.json")
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 1)
        do {
            _ = try job.run()
            Issue.record("ran without its text")
        } catch {
            #expect("\(error)".contains("\(folder)/no-such.txt"), "\(error)")
        }
    }
}

/// The `imatrix` stage's keys in pipeline.json.
struct ImatrixConfigTests {
    private func document(_ calibration: String) -> String {
        #"{"version": 1, "calibration": [\#(calibration)], "schemes": [{"mix": "Q4_K_M"}]}"#
    }

    private func parse(_ calibration: String) throws(ConfigError) -> PipelineConfig {
        try parsePipeline(document(calibration), file: "/p/pipeline.json")
    }

    private func expectError(_ calibration: String, path: String, containing: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectPipelineError(document(calibration), file: "/p/pipeline.json", path: path, containing: containing,
                            sourceLocation: sourceLocation)
    }

    @Test func withoutAFileTheMatrixIsComputedOnTheBundledText() throws {
        let config = try parse(#"{"stage": "imatrix"}"#)
        #expect(config.calibration == [.computeImatrix(ImatrixSettings(text: nil, ctx: 512, chunks: nil, processOutput: false))])
        #expect(config.computedImatrix != nil && config.importanceMatrixFile == nil && config.calibrationTextPath == nil)
        #expect(config.schemes[0].options.hasImportanceMatrix, "the mix rules see an imatrix, as with --imatrix")
    }

    @Test func textCtxChunksAndOutputAreRead() throws {
        let config = try parse(#"{"stage": "imatrix", "text": "calib.txt", "ctx": 256, "chunks": 10, "process_output": true}"#)
        #expect(config.computedImatrix == ImatrixSettings(text: "calib.txt", ctx: 256, chunks: 10, processOutput: true))
        #expect(config.calibrationTextPath == "/p/calib.txt", "relative to the pipeline file's folder")
        #expect(try parse(#"{"stage": "imatrix", "text": "/abs/t.txt"}"#).calibrationTextPath == "/abs/t.txt")
    }

    @Test func importingStillWorks() throws {
        let config = try parse(#"{"stage": "imatrix", "file": "m.imatrix.gguf"}"#)
        #expect(config.calibration == [.importImatrix(file: "m.imatrix.gguf")])
        #expect(config.importanceMatrixPath == "/p/m.imatrix.gguf" && config.computedImatrix == nil)
    }

    @Test func theExampleValidates() throws {
        let config = try PipelineConfig.load(file: TestPaths.repositoryRoot + "/examples/computed-imatrix.json")
        #expect(config.computedImatrix == ImatrixSettings(ctx: 512))
        #expect(config.schemes.map(\.name) == ["Q4_K_M", "IQ4_XS"])
    }

    @Test func mistakesAreReportedWhereTheyAre() {
        expectError(#"{"stage": "imatrix", "file": "m.gguf", "text": "t.txt"}"#, path: "$.calibration[0].text", containing: "cannot go with \"file\"")
        expectError(#"{"stage": "imatrix", "file": "m.gguf", "ctx": 512}"#, path: "$.calibration[0].ctx", containing: "cannot go with \"file\"")
        expectError(#"{"stage": "imatrix", "file": "m.gguf", "chunks": 2}"#, path: "$.calibration[0].chunks", containing: "cannot go with")
        expectError(#"{"stage": "imatrix", "file": "m.gguf", "process_output": false}"#, path: "$.calibration[0].process_output", containing: "cannot go with")
        expectError(#"{"stage": "imatrix", "ctx": 8}"#, path: "$.calibration[0].ctx", containing: "16")
        expectError(#"{"stage": "imatrix", "chunks": 0}"#, path: "$.calibration[0].chunks", containing: "between 1 and")
        expectError(#"{"stage": "imatrix", "text": ""}"#, path: "$.calibration[0].text", containing: "is empty")
        expectError(#"{"stage": "imatrix", "file": ""}"#, path: "$.calibration[0].file", containing: "is empty")
        expectError(#"{"stage": "imatrix", "txt": "a"}"#, path: "$.calibration[0].txt", containing: "not a known key")
        expectError(#"{"stage": "imatrix"}, {"stage": "imatrix", "file": "m.gguf"}"#, path: "$.calibration[1]", containing: "second imatrix stage")
    }
}

