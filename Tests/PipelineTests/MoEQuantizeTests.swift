import BinaryIO
import Foundation
import GGUF
import JSON
import Pipeline
import Testing

/// Whole jobs on a mixture-of-experts model against llama-quantize: the model is generated at
/// test time (SyntheticMoEModel, whose Python twin made the same bytes for the oracle), and
/// every artifact, tensor by tensor, must be what llama-quantize wrote — 3-D expert tensors
/// quantized expert by expert with their own slice of the importance matrix, K-quant fallbacks on
/// 160-wide expert rows, shared-expert and router tensors.
/// Fixture: scripts/pipeline/make_moe_fixture.py (see Fixtures/README.md).
@Suite(.serialized)
struct MoEQuantizeTests {
    struct Expected {
        var sha256: String
        var tensors: [(name: String, type: String, sha256: String)]
    }

    static let fixture: JSONValue? = {
        guard let data = FileManager.default.contents(atPath: TestPaths.fixtures + "/tiny-moe-expected.json") else { return nil }
        return try? StrictJSON.parse([UInt8](data))
    }()

    static func expected(_ key: String) -> [(String, Expected)] {
        (fixture?[key]?.objectValue ?? []).compactMap { mix, entry in
            guard let sha = entry["sha256"]?.stringValue, let list = entry["tensors"]?.arrayValue else { return nil }
            let tensors = list.compactMap { item -> (String, String, String)? in
                guard let n = item[0]?.stringValue, let t = item[1]?.stringValue, let s = item[2]?.stringValue else { return nil }
                return (n, t, s)
            }
            return (mix, Expected(sha256: sha, tensors: tensors))
        }
    }

    @Test func generatedModelIsTheOneLlamaQuantizeWasGiven() throws {
        let expected = try #require(Self.fixture?["model_sha256"]?.stringValue)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try SyntheticMoEModel.write(to: folder + "/moe-f16.gguf")
        #expect(try SHA256Digest.hex(ofFile: folder + "/moe-f16.gguf") == expected)
    }

    /// Generates the model in `folder` and quantizes it there.
    private func run(mixes: [String], imatrix: String?, in folder: String) throws -> JobResult {
        let config = pipelineConfig(mixes: mixes, imatrix: imatrix)
        let model = folder + "/source-f16.gguf"
        try SyntheticMoEModel.write(to: model)
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: model), outputFolder: folder,
                              baseName: "moe", threads: 2)
        return try job.run()
    }

    private func check(_ expected: [(String, Expected)], imatrix: String?) throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try run(mixes: expected.map(\.0), imatrix: imatrix, in: folder)
        #expect(result.artifacts.count == expected.count)
        for (artifact, (mix, want)) in zip(result.artifacts, expected) {
            let file = try GGUFFile(path: artifact.path)
            let ours = file.tensors.map { ($0.name, $0.type.name, SHA256Digest.hex(of: file.data(for: $0))) }
            #expect(ours.map(\.0) == want.tensors.map(\.name), "\(mix): tensor order")
            let wrong = zip(ours, want.tensors).filter { $0.0.1 != $0.1.type || $0.0.2 != $0.1.sha256 }
            #expect(wrong.isEmpty, "\(mix)\(imatrix == nil ? "" : " +imatrix"): \(wrong.count) tensors differ from llama-quantize, first: \(wrong.prefix(3).map { "\($0.0.0) ours \($0.0.1) llama.cpp \($0.1.type)" })")
            #expect(artifact.sha256 == want.sha256, "\(mix)\(imatrix == nil ? "" : " +imatrix"): whole file")
        }
    }

    @Test func mixesAreByteIdenticalToLlamaQuantize() throws {
        let expected = Self.expected("plain")
        #expect(expected.count == 11)
        try check(expected, imatrix: nil)
    }

    @Test func mixesWithPerExpertImportanceAreByteIdenticalToLlamaQuantize() throws {
        let expected = Self.expected("imatrix")
        #expect(expected.count == 5)
        try check(expected, imatrix: "tiny-moe.imatrix.gguf")
    }

    /// An expert tensor whose entry the matrix lacks cannot be Q2_K in a Q2_K_S mix: llama-quantize
    /// refuses the job naming that tensor, and so must quantd.
    @Test func missingExpertEntryIsRefusedAsLlamaQuantizeRefusesIt() throws {
        let missing = try #require(Self.fixture?["missing_entry"])
        let dropped = try #require(missing["dropped"]?.stringValue)
        let refused = try #require(missing["refused"]?.stringValue)
        let mix = try #require(missing["mix"]?.stringValue.flatMap(QuantMix.init(name:)))
        let full = try ImportanceMatrix.load(path: TestPaths.fixtures + "/tiny-moe.imatrix.gguf")
        #expect(full.entries[dropped] != nil)
        let partial = ImportanceMatrix(file: full.file, entries: full.entries.filter { $0.key != dropped },
                                       datasets: full.datasets, chunkCount: full.chunkCount)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try SyntheticMoEModel.write(to: folder + "/source-f16.gguf")
        var config = PipelineConfig()
        var options = SchemeOptions(mix: mix)
        options.hasImportanceMatrix = true
        config.schemes = [PipelineConfig.Scheme(name: mix.rawValue, options: options)]
        let runner = PipelineRunner(config: config, source: try GGUFTensorSource(path: folder + "/source-f16.gguf"),
                                    outputFolder: folder, baseName: "moe", threads: 2)
        runner.importance = partial
        #expect(throws: PipelineError.importanceMatrixRequired(tensor: refused, type: "Q2_K")) { try runner.run() }
    }

    @Test func perExpertCountsAreRoundedAndUnroutedExpertsWeighOne() throws {
        let matrix = try ImportanceMatrix.load(path: TestPaths.fixtures + "/tiny-moe.imatrix.gguf")
        // Layer 1's expert 1 was never routed to: llama-quantize fills its weights with 1.
        let unrouted = try #require(matrix.entries["blk.1.ffn_up_exps.weight"])
        #expect(unrouted.count == 256 * 4)
        #expect(unrouted[256..<512].allSatisfy { $0 == 1 })
        #expect(!unrouted[0..<256].contains(1))
    }
}
