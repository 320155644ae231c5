import Foundation
import GGUF
import QuantdTestSupport
import Testing

/// `quantd imatrix` on the imatrix fixture (a tiny random Llama with a real vocabulary and
/// llama-imatrix's output for it; Tests/PipelineTests/Fixtures, made by scripts/imatrix/make_fixture.py).
struct ImatrixCommandTests {
    static let fixtures = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures").path

    @Test func writesTheMatrixLlamaImatrixWrites() throws {
        let folder = TemporaryFolder("cli-test")
        let output = folder.file("out.imatrix.gguf")
        let result = try TestSupport.quantd("imatrix", Self.fixtures + "/tiny-spm-f16.gguf", "--text", Self.fixtures + "/imatrix-text.txt",
                                            "--ctx", "64", "--chunks", "5", "--process-output", "--threads", "2", "-o", output)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("15 entries, 5 chunks of 64 tokens"), "\(result.stdout)")
        let ours = try GGUFFile(path: output)
        let reference = try GGUFFile(path: Self.fixtures + "/tiny-spm-output.imatrix.gguf")
        #expect(ours.tensors.map(\.name) == reference.tensors.map(\.name))
        #expect(ours.metadata["imatrix.chunk_count"] == .uint32(5))
        #expect(ours.metadata["imatrix.datasets"] == .array(.string, [.string(Self.fixtures + "/imatrix-text.txt")]),
                "the text as named on the command line, as llama-imatrix records -f")
    }

    @Test func aTextShorterThanTwoChunksIsAnError() throws {
        let folder = TemporaryFolder("cli-test")
        try "In the beginning.".write(toFile: folder.file("t.txt"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("imatrix", Self.fixtures + "/tiny-spm-f16.gguf", "--text", folder.file("t.txt"),
                                            "--ctx", "64", "-o", folder.file("x.gguf"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("needs at least 128"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("x.gguf")))
    }
}
