import Foundation
import QuantdTestSupport
import Testing

/// `.gguf.zst`: the header comes from decompressing only the front of the stream, and
/// `--verify` streams the whole file; both must agree with the plain file.
struct InspectCompressedTests {
    private func compress(_ source: String, to destination: String, viaPipe: Bool = false) throws {
        // Through a pipe, zstd cannot know the size, so the frame declares none.
        let command = viaPipe ? "zstd -q -c < '\(source)' > '\(destination)'" : "zstd -q -f '\(source)' -o '\(destination)'"
        let result = try TestSupport.run("/bin/sh", ["-c", command])
        guard result.status == 0 else { throw TestFailure("zstd failed: \(result.stderr)") }
    }

    @Test(arguments: [false, true])
    func compressedInspectsLikeThePlainFile(viaPipe: Bool) throws {
        let folder = TemporaryFolder("cli-test")
        let zst = folder.file("sample.gguf.zst")
        try compress(TestSupport.samplePath, to: zst, viaPipe: viaPipe)
        let plain = try TestSupport.json(try TestSupport.quantd("inspect", "--json", "--verify", TestSupport.samplePath).stdout)
        let result = try TestSupport.quantd("inspect", "--json", "--verify", zst)
        #expect(result.status == 0, "\(result.stderr)")
        let packed = try TestSupport.json(result.stdout)
        TestSupport.expectSame(packed, plain, keys: ["format", "version", "alignment", "file_size", "data_offset", "metadata", "tensors", "sha256"])
        let compressedSize = try FileManager.default.attributesOfItem(atPath: zst)[.size] as? Int
        #expect(packed["compressed_size"] as? Int == compressedSize)
    }

    @Test func truncatedStreamIsReportedTruncated() throws {
        let folder = TemporaryFolder("cli-test")
        let zst = folder.file("sample.gguf.zst")
        try compress(TestSupport.samplePath, to: zst)
        let data = try Data(contentsOf: URL(fileURLWithPath: zst))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: zst))
        let result = try TestSupport.quantd("inspect", "--verify", zst)
        #expect(result.status == 75, "\(result.stderr)")
        #expect(result.stderr.contains("truncated"))
    }

    @Test func garbageIsNotAZstdStream() throws {
        let folder = TemporaryFolder("cli-test")
        let zst = folder.file("junk.gguf.zst")
        try Data("this is not zstd at all, just text".utf8).write(to: URL(fileURLWithPath: zst))
        let result = try TestSupport.quantd("inspect", zst)
        #expect(result.status == 65)
        #expect(result.stderr.contains("not a valid zstd stream"), "\(result.stderr)")
    }
}
