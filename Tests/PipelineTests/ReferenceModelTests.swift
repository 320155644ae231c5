import Foundation
import Inference
import Pipeline
import Testing

/// The forward pass's view of a Hugging Face folder (`ReferenceModel`): held in memory, with the
/// tensors the converter copies unchanged read in place, it must be exactly the F16 GGUF the
/// converter writes (itself byte-identical to convert_hf_to_gguf.py's, ModelConversionTests).
@Suite struct ReferenceModelTests {
    static let models = TestPaths.repositoryRoot + "/Tests/ModelConversionTests/Fixtures/models/"

    /// Logits from memory and from the written file agree bit for bit: F16 checkpoints with and
    /// without Llama's q/k permutation, a BF16 one (all converted) and Gemma3 (shifted norms).
    @Test(arguments: [
        ("tiny-llama2-spm", true), ("tiny-qwen2", true), ("tiny-llama3", false), ("tiny-gemma3", true),
    ])
    func inMemoryReferenceIsTheConvertedFile(model: String, hasInPlaceTensors: Bool) throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = try ConvertedModelSource(folder: Self.models + model)
        let inMemory = try ReferenceModel(source: source, scratchFolder: folder, threads: 2)
        let held = try #require(inMemory.tensorsInMemory)
        #expect(held.inPlace + held.converted == source.tensors.count)
        #expect((held.inPlace > 0) == hasInPlaceTensors, "\(held)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "nothing written")

        let written = try ReferenceModel(source: source, scratchFolder: folder, threads: 2, inMemoryLimit: 0)
        #expect(written.tensorsInMemory == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).count == 1, "one hidden F16 file")
        let a = try inMemory.open(), b = try written.open()
        let tokens = (0..<48).map { Int32(($0 * 37 + 5) % a.vocabularySize) }
        let fromMemory = try a.logits(tokens: tokens, threads: 2)
        let fromFile = try b.logits(tokens: tokens, threads: 2)
        #expect(fromMemory.count == tokens.count * a.vocabularySize)
        #expect(fromMemory == fromFile)
    }

    /// Llama's q/k are permuted by the converter, so they cannot be read in place; its other F16
    /// matrices can. 1-D norms are widened to F32 and are converted too.
    @Test func llamaPermutedProjectionsAreConverted() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = try ConvertedModelSource(folder: Self.models + "tiny-llama2-spm")
        let reference = try ReferenceModel(source: source, scratchFolder: folder, threads: 1)
        let held = try #require(reference.tensorsInMemory)
        let layers = source.tensors.filter { $0.name.hasSuffix("attn_q.weight") }.count
        let oneDimensional = source.tensors.filter { $0.dimensions.count == 1 }.count
        #expect(layers > 0)
        #expect(held.converted == 2 * layers + oneDimensional)
    }
}
