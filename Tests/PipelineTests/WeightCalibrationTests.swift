import BinaryIO
import Foundation
import GGUF
import Inference
import JSON
import Quantization
import Testing

@testable import Pipeline

/// The `gptq` and `awq` calibration stages: AWQ's folding is a change of variables (the float
/// model's output does not move), the stages run inside a job, write loadable files, never make a
/// matrix's measured output error worse, and say in the manifest what they did.
@Suite struct WeightCalibrationTests {
    static let model = TestPaths.fixtures + "/tiny-eval-f16.gguf"

    /// A model's tensors held as F32 in memory, some of them replaced.
    final class FloatWeights: ModelWeights, @unchecked Sendable {
        let metadata: GGUFMetadata
        var values: [String: (dimensions: [Int], data: UnsafeMutableBufferPointer<Float>)] = [:]
        let order: [String]

        init(file: GGUFFile) throws {
            metadata = file.metadata
            order = file.tensors.map(\.name)
            for info in file.tensors {
                let count = info.dimensions.reduce(1, *)
                let data = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
                try Quantizer.dequantize(info.type, file.data(for: info), count: count, into: data)
                values[info.name] = (info.dimensions, data)
            }
        }

        deinit { for v in values.values { v.data.deallocate() } }

        func tensor(named name: String) -> WeightTensor? {
            values[name].map { WeightTensor(name: name, dimensions: $0.dimensions, type: .f32,
                                             bytes: UnsafeRawBufferPointer($0.data), isMapped: false) }
        }

        var weightTensors: [WeightTensor] { order.compactMap { tensor(named: $0) } }
        func release(_ tensor: WeightTensor) {}
    }

    @Test func awqFoldingLeavesTheFloatModelUnchanged() throws {
        let file = try GGUFFile(path: Self.model)
        let tokens: [Int32] = (0..<48).map { Int32(($0 * 37 + 5) % 500 + 3) }
        let before = try LlamaModel(weights: try FloatWeights(file: file)).logits(tokens: tokens)

        let folded = try FloatWeights(file: file)
        var rng = SystemRandomNumberGenerator()
        var layer = 0
        while let norm = folded.values["blk.\(layer).attn_norm.weight"] {
            for (normName, members) in [("attn_norm", ["attn_q", "attn_k", "attn_v"]), ("ffn_norm", ["ffn_gate", "ffn_up"])] {
                let n = norm.dimensions[0]
                // Channel magnitudes spread over two decades, α as AWQ searches it.
                let magnitude = (0..<n).map { _ in Float.random(in: 0.05...5, using: &rng) }
                let s = AWQ.scales(meanMagnitude: magnitude, alpha: 0.6)
                #expect(s.contains { abs($0 - 1) > 0.2 }, "the scales are far from identity")
                for m in members {
                    let w = try #require(folded.values["blk.\(layer).\(m).weight"])
                    AWQ.scaleColumns(w.data.baseAddress!, rows: w.dimensions[1], by: s)
                }
                let g = try #require(folded.values["blk.\(layer).\(normName).weight"])
                let newNorm = AWQ.foldedNorm(Array(g.data), scales: s)
                for j in 0..<n { g.data[j] = newNorm[j] }
            }
            layer += 1
        }
        #expect(layer >= 2)
        let after = try LlamaModel(weights: folded).logits(tokens: tokens)
        #expect(before.count == after.count && !before.isEmpty)
        let scale = before.map { abs($0) }.max() ?? 1
        let worst = zip(before, after).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5 * max(1, scale), "largest logit change \(worst) (logits up to \(scale))")
    }

    /// q/k/v and gate/up share one H; H's diagonal is the importance matrix's sums (ImatrixCollector,
    /// which matches llama-imatrix), and H is symmetric positive semi-definite.
    @Test func hessianSharesInputsAndMatchesTheImatrix() throws {
        let model = try LlamaModel(path: Self.model)
        let tokens: [Int32] = (0..<64).map { Int32(($0 * 53 + 11) % 500 + 3) }
        let hessians = HessianCollector(threads: 2) { $0.hasPrefix("blk.") }
        model.activationObserver = hessians
        try model.observeActivations(tokens: tokens, threads: 2)
        hessians.finish()
        let imatrix = ImatrixCollector()
        model.activationObserver = imatrix
        try model.observeActivations(tokens: tokens, threads: 2)
        model.activationObserver = nil

        #expect(hessians.leader(of: "blk.1.attn_k.weight") == "blk.1.attn_q.weight")
        #expect(hessians.leader(of: "blk.1.attn_v.weight") == "blk.1.attn_q.weight")
        #expect(hessians.leader(of: "blk.0.ffn_up.weight") == "blk.0.ffn_gate.weight")
        #expect(hessians.leader(of: "blk.0.ffn_down.weight") == "blk.0.ffn_down.weight")
        #expect(hessians.leader(of: "blk.0.attn_output.weight") == "blk.0.attn_output.weight")
        for entry in imatrix.entries {
            let h = try #require(hessians.matrix(for: entry.name), "\(entry.name)")
            #expect(h.tokens == entry.count)
            let n = h.columns
            for j in 0..<n {
                #expect(abs(h.values[j * n + j] - entry.sums[j]) <= 1e-4 * max(1, entry.sums[j]), "\(entry.name) column \(j)")
                for i in 0..<j where h.values[i * n + j] != h.values[j * n + i] { Issue.record("\(entry.name): not symmetric at \(i), \(j)") }
                for i in 0..<j where h.values[i * n + j] * h.values[i * n + j] > h.values[i * n + i] * h.values[j * n + j] * 1.0001 {
                    Issue.record("\(entry.name): |H[\(i)][\(j)]|² above H[i][i]·H[j][j]")
                }
            }
        }
    }

    static func pipeline(_ stages: String) throws -> PipelineConfig {
        let json = """
        {"version": 1, "evaluate": false,
         "calibration": [{"stage": "imatrix", "ctx": 64, "chunks": 6}\(stages)],
         "schemes": [{"mix": "Q4_0"}, {"mix": "Q4_K_M"}]}
        """
        return try PipelineConfig.parse(Array(json.utf8))
    }

    @Test func parsesTheStages() throws {
        let config = try Self.pipeline(#", {"stage": "gptq", "damp": 0.05, "chunks": 3}, {"stage": "awq", "grid": 4}"#)
        #expect(config.gptq == GPTQSettings(damp: 0.05, chunks: 3))
        #expect(config.awq == AWQSettings(grid: 4))
        #expect(throws: ConfigError.self) { try Self.pipeline(#", {"stage": "gptq"}, {"stage": "gptq"}"#) }
        #expect(throws: ConfigError.self) { try Self.pipeline(#", {"stage": "gptq", "damp": 0}"#) }
        #expect(throws: ConfigError.self) { try Self.pipeline(#", {"stage": "awq", "grid": 0}"#) }
        #expect(throws: ConfigError.self) { try Self.pipeline(#", {"stage": "awq", "alpha": 0.5}"#) }
        let example = try PipelineConfig.load(file: TestPaths.repositoryRoot + "/examples/gptq-awq.json")
        #expect(example.gptq == GPTQSettings(damp: 0.01, chunks: 8) && example.awq == AWQSettings(grid: 10, chunks: 8))
    }

    @Test func jobWritesCalibratedArtifacts() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plainFolder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: plainFolder) }
        let source = try GGUFTensorSource(path: Self.model)
        let result = try PipelineJob(config: try Self.pipeline(#", {"stage": "gptq"}, {"stage": "awq"}"#), source: source,
                                     outputFolder: folder, baseName: "tiny", threads: 2).run()
        let plain = try PipelineJob(config: try Self.pipeline(""), source: try GGUFTensorSource(path: Self.model),
                                    outputFolder: plainFolder, baseName: "tiny", threads: 2).run()

        let manifest = try StrictJSON.parse(MappedFile.contents(of: folder + "/manifest.json"))
        #expect(manifest["calibration"]?["gptq"]?["damp"]?.doubleValue == 0.01)
        #expect(manifest["calibration"]?["awq"]?["chunks"]?.intValue == 6)
        for (i, artifact) in result.artifacts.enumerated() {
            // 2 layers × 7 matrices, each measured.
            #expect(artifact.calibrated.count == 14, "\(artifact.scheme)")
            for record in artifact.calibrated {
                #expect(record.error <= record.plainError * (1 + 1e-9), "\(artifact.scheme) \(record.tensor)")
            }
            let changed = artifact.calibrated.filter { $0.method != "plain" }
            #expect(!changed.isEmpty, "\(artifact.scheme): some matrix is better calibrated than rounded")
            let entry = try #require(manifest["artifacts"]?[i]?["calibrated"])
            #expect(entry["departs_from_llama_cpp"] == .bool(true))
            #expect(entry["tensors_changed"]?.intValue == changed.count)
            #expect(artifact.sha256 != plain.artifacts[i].sha256)
            #expect(artifact.bytes == plain.artifacts[i].bytes, "standard blocks: the same size as llama.cpp's file")
            // A standard GGUF the forward pass runs, the same tensor types as the plain artifact.
            let file = try GGUFFile(path: artifact.path)
            let plainFile = try GGUFFile(path: plain.artifacts[i].path)
            #expect(file.tensors.map(\.type) == plainFile.tensors.map(\.type))
            let logits = try LlamaModel(path: artifact.path).logits(tokens: [1, 50, 99, 7, 300, 12])
            let finite = logits.allSatisfy { $0.isFinite }
            #expect(finite)
            // Tensors the stages did not take are llama.cpp's bytes.
            let taken = Set(changed.map(\.tensor))
            for info in file.tensors where !taken.contains(info.name) && !info.name.hasSuffix("_norm.weight") {
                let other = try #require(plainFile.header.tensor(named: info.name))
                #expect(Array(file.data(for: info)) == Array(plainFile.data(for: other)), "\(info.name)")
            }
        }
    }
}
