import BinaryIO
import Foundation
import GGUF
import JSON
import Pipeline
import Testing

/// Whole jobs on a tiny model, against what llama.cpp's llama_model_quantize made of the same
/// file (SHA-256 of each artifact, made by scripts/pipeline/make_tiny_gguf.py with the oracle).
struct PipelineRunTests {
    struct Expected {
        var plain: [(String, String)]
        var withImatrix: [(String, String)]
    }

    static let expected: Expected = {
        let path = TestPaths.fixtures + "/tiny-llama-expected.json"
        guard let data = FileManager.default.contents(atPath: path), let json = try? StrictJSON.parse([UInt8](data)) else {
            return Expected(plain: [], withImatrix: [])
        }
        func pairs(_ key: String) -> [(String, String)] {
            (json[key]?.objectValue ?? []).compactMap { entry in entry.value.stringValue.map { (entry.key, $0) } }
        }
        return Expected(plain: pairs("plain"), withImatrix: pairs("imatrix_mixes"))
    }()

    static let model = TestPaths.fixtures + "/tiny-llama-f16.gguf"

    private func run(_ config: PipelineConfig, into folder: String) throws -> JobResult {
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: folder,
                              baseName: "tiny", threads: 2)
        return try job.run()
    }

    @Test func allMixesInOnePassAreByteIdenticalToLlamaQuantize() throws {
        #expect(Self.expected.plain.count == 13)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try run(pipelineConfig(mixes: Self.expected.plain.map(\.0)), into: folder)
        for (artifact, (mix, sha)) in zip(result.artifacts, Self.expected.plain) {
            #expect(artifact.scheme == mix)
            #expect(artifact.sha256 == sha, "\(mix) differs from llama-quantize")
            // The hash the writer computed on the way out is the file's.
            let fileHash = try MappedFile(path: artifact.path).withUnsafeBytes { SHA256Digest.hex(of: $0) }
            #expect(fileHash == artifact.sha256)
        }
    }

    @Test func imatrixMixesAreByteIdenticalToLlamaQuantize() throws {
        #expect(Self.expected.withImatrix.count == 15)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try run(pipelineConfig(mixes: Self.expected.withImatrix.map(\.0), imatrix: "tiny-llama.imatrix.gguf"), into: folder)
        for (artifact, (mix, sha)) in zip(result.artifacts, Self.expected.withImatrix) {
            #expect(artifact.sha256 == sha, "\(mix) with imatrix differs from llama-quantize")
        }
        let file = try GGUFFile(path: result.artifacts[0].path)
        #expect(file.metadata["quantize.imatrix.file"] == .string("tiny-llama.imatrix.gguf"))
        #expect(file.metadata["quantize.imatrix.entries_count"] == .uint32(8))
        #expect(file.metadata["quantize.imatrix.chunks_count"] == .uint32(3))
    }

    @Test func q2KSWithoutAnImatrixIsRefusedAsLlamaQuantizeRefusesIt() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: PipelineError.importanceMatrixRequired(tensor: "blk.0.attn_k.weight", type: "Q2_K")) {
            _ = try run(pipelineConfig(mixes: ["Q2_K_S"]), into: folder)
        }
    }

    @Test func legacyAndGGUFImatrixNormaliseAlike() throws {
        let gguf = try ImportanceMatrix.load(path: TestPaths.fixtures + "/tiny-llama.imatrix.gguf")
        let legacy = try ImportanceMatrix.load(path: TestPaths.fixtures + "/tiny-llama.imatrix.dat")
        #expect(gguf.entries.count == 8)
        #expect(gguf.entries == legacy.entries)
        #expect(gguf.datasets == ["tiny-calibration.txt"] && legacy.datasets == ["tiny-calibration.txt"])
        #expect(gguf.chunkCount == 3 && legacy.chunkCount == 3)
    }

    @Test func manifestRecordsHashesThatVerifyAndZstdRoundTrips() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var c = pipelineConfig(mixes: ["Q4_K_M", "Q8_0"])
        c.zstd = PipelineConfig.ZstdStage(level: 3, workers: 2, keepPlain: true)
        c.calibration.append(.weightStats)
        let result = try run(c, into: folder)
        let manifestText = try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)
        let manifest = try StrictJSON.parse(Array(manifestText.utf8))
        #expect(manifest["manifest_version"]?.intValue == 1)
        let source = try #require(manifest["sources"]?[0])
        let sourceHash = try MappedFile(path: Self.model).withUnsafeBytes { SHA256Digest.hex(of: $0) }
        #expect(source["sha256"]?.stringValue == sourceHash)
        let artifacts = try #require(manifest["artifacts"]?.arrayValue)
        #expect(artifacts.count == 2)
        for (entry, artifact) in zip(artifacts, result.artifacts) {
            let plain = try MappedFile.contents(of: folder + "/" + (entry["file"]?.stringValue ?? ""))
            #expect(entry["sha256"]?.stringValue == plain.withUnsafeBytes { SHA256Digest.hex(of: $0) })
            let zstdName = try #require(entry["zstd"]?["file"]?.stringValue)
            let zstd = try MappedFile.contents(of: folder + "/" + zstdName)
            #expect(entry["zstd"]?["sha256"]?.stringValue == zstd.withUnsafeBytes { SHA256Digest.hex(of: $0) })
            // Decompressing gives the plain artifact byte for byte.
            let reader = try ZstdStreamReader(path: folder + "/" + zstdName)
            try reader.fill(upTo: Int.max)
            #expect(reader.output == plain)
            #expect(reader.declaredContentSize == plain.count)
            // And so does the zstd tool (scripts/install-deps.sh installs it).
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd") {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
                process.arguments = ["-d", "-q", "-f", folder + "/" + zstdName, "-o", folder + "/cli-decompressed.gguf"]
                try process.run()
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
                #expect(try MappedFile.contents(of: folder + "/cli-decompressed.gguf") == plain)
            }
            #expect(entry["tensors"]?.arrayValue?.count == 12)
            #expect(artifact.tensors.count == 12)
        }
        let q4 = try #require(artifacts[0]["tensors"]?.arrayValue?.first { $0["name"]?.stringValue == "blk.0.attn_q.weight" })
        #expect(q4["type"]?.stringValue == "Q4_K")
        let cosine = try #require(q4["cosine"]?.doubleValue)
        #expect(cosine > 0.99 && cosine < 1)
        let stats = try #require(manifest["calibration"]?["weight_stats"]?["blk.0.attn_q.weight"])
        #expect(stats["absmax"]?.doubleValue == 1.5, "the planted outlier (1.5 in F16 is exact)")
        #expect((stats["outlier_fraction"]?.doubleValue ?? 0) > 0)
    }

    @Test func alreadyQuantizedInputIsRefusedUnlessAllowed() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sample = TestPaths.repositoryRoot + "/examples/sample.gguf"
        let job = PipelineJob(config: pipelineConfig(mixes: ["Q4_0"]), source: try GGUFTensorSource(path: sample),
                              outputFolder: folder, baseName: "s", threads: 1)
        // ffn_down is Q4_0 already and is copied as llama-quantize copies it; ffn_up (Q8_0) is the
        // first tensor that would be requantized.
        #expect(throws: PipelineError.requantizeRefused(tensor: "blk.0.ffn_up.weight", type: "Q8_0")) { try job.run() }
        // Nothing half-written is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        var allowed = pipelineConfig(mixes: ["Q4_0"])
        allowed.allowRequantize = true
        let result = try PipelineJob(config: allowed, source: try GGUFTensorSource(path: sample), outputFolder: folder,
                                     baseName: "s", threads: 1).run()
        let output = try GGUFFile(path: result.artifacts[0].path)
        #expect(output.tensors.first { $0.name == "blk.0.ffn_up.weight" }?.type == .q4_0)
    }

    @Test func imatrixOfAnotherModelIsAnError() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let wrong = ImportanceMatrix(file: "x", entries: ["blk.0.attn_q.weight": [1, 2, 3]], datasets: [], chunkCount: 0)
        #expect(throws: ImportanceMatrixError.self) { _ = try wrong.weights(for: "blk.0.attn_q.weight", rowLength: 256, experts: 1) }
        #expect(try wrong.weights(for: "token_embd.weight", rowLength: 256, experts: 1) == nil)
    }
}
