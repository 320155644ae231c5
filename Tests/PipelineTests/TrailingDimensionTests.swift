import BinaryIO
import Foundation
import GGUF
import JSON
import Pipeline
import Testing

/// A tensor whose last dimension is 1 (`[64, 1]`, as convert_hf_to_gguf.py writes Qwen2-MoE and
/// Qwen3-Next shared-expert gates) is written by llama-quantize with one dimension. The fixture and
/// llama-quantize's SHA-256 for three mixes: scripts/pipeline/make_trailing_dim_fixture.py.
struct TrailingDimensionTests {
    @Test func artifactsMatchLlamaQuantizeWithTrailingOnesDropped() throws {
        let expected = try StrictJSON.parse(MappedFile.contents(of: TestPaths.fixtures + "/trailing-one-expected.json"))
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = PipelineConfig()
        config.schemes = [QuantMix.q8_0, .q4_K_M, .f16].map { PipelineConfig.Scheme(name: $0.rawValue, options: SchemeOptions(mix: $0)) }
        config.evaluation = nil
        let source = try GGUFTensorSource(path: TestPaths.fixtures + "/tiny-trailing-one-f16.gguf")
        #expect(source.tensors.first { $0.name == "blk.0.ffn_gate_inp_shexp.weight" }?.dimensions == [64, 1])
        let result = try PipelineJob(config: config, source: source, outputFolder: folder, baseName: "t", threads: 2).run()
        for artifact in result.artifacts {
            let reference = try #require(expected["artifacts"]?[artifact.scheme])
            #expect(artifact.sha256 == reference["sha256"]?.stringValue, "\(artifact.scheme)")
            let written = try GGUFFile(path: artifact.path)
            let gate = try #require(written.tensors.first { $0.name == "blk.0.ffn_gate_inp_shexp.weight" })
            #expect(gate.dimensions == reference["ffn_gate_inp_shexp_dimensions"]?.arrayValue?.compactMap(\.intValue), "\(artifact.scheme)")
        }
    }
}
