import Foundation
import QuantdTestSupport
import Testing

/// `quantd inspect` on safetensors files and model folders, built by hand in each test.
struct InspectSafetensorsTests {
    /// A safetensors file: 8-byte header length, JSON header, data.
    static func safetensors(header: String, data: [UInt8]) -> Data {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: data)
        return bytes
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    static let header = #"{"__metadata__":{"format":"pt"},"b.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},"a.bias":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#

    @Test func jsonListsTensorsInDataOrderWithAbsoluteOffsets() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("m.safetensors")
        try Self.safetensors(header: Self.header, data: [UInt8](repeating: 0, count: 8) + Self.floats([1, 2, .nan, 4]))
            .write(to: URL(fileURLWithPath: path))
        let result = try TestSupport.quantd("inspect", "--json", "--verify", path)
        #expect(result.status == 3, "a NaN was planted: \(result.stderr)")
        let json = try TestSupport.json(result.stdout)
        #expect(json["format"] as? String == "safetensors")
        #expect((json["metadata"] as? NSDictionary)?["format"] as? String == "pt")
        let tensors = try #require(json["tensors"] as? [NSDictionary])
        let headerEnd = 8 + Self.header.utf8.count
        #expect(tensors.map { $0["name"] as? String } == ["a.bias", "b.weight"])
        #expect(tensors[1]["offset"] as? Int == headerEnd + 8)
        #expect(tensors[1]["shape"] as? [Int] == [2, 2])
        #expect(tensors[1]["type"] as? String == "F32")
        #expect(tensors[1]["non_finite_values"] as? Int == 1)
        #expect(tensors[0]["non_finite_values"] as? Int == 0)
        #expect((json["summary"] as? NSDictionary)?["parameters"] as? Int == 8)
    }

    @Test func truncatedSafetensorsExitsWithTempfail() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("cut.safetensors")
        try Self.safetensors(header: Self.header, data: [UInt8](repeating: 0, count: 20)).write(to: URL(fileURLWithPath: path))
        let result = try TestSupport.quantd("inspect", path)
        #expect(result.status == 75)
        #expect(result.stderr.contains("truncated"), "\(result.stderr)")
    }

    @Test func malformedSafetensorsExitsWithDataError() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("dup.safetensors")
        let duplicate = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        try Self.safetensors(header: duplicate, data: [UInt8](repeating: 0, count: 8)).write(to: URL(fileURLWithPath: path))
        let result = try TestSupport.quantd("inspect", path)
        #expect(result.status == 65)
        #expect(result.stderr.contains("'x'"), "\(result.stderr)")
    }

    @Test func modelFolderSummarisesConfigAndShards() throws {
        let folder = TemporaryFolder("cli-test")
        try #"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4,"vocab_size":10,"max_position_embeddings":128}"#
            .write(toFile: folder.file("config.json"), atomically: true, encoding: .utf8)
        try Self.safetensors(header: Self.header, data: [UInt8](repeating: 0, count: 24))
            .write(to: URL(fileURLWithPath: folder.file("model.safetensors")))
        try "{}".write(toFile: folder.file("tokenizer.json"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("inspect", "--json", folder.path)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try TestSupport.json(result.stdout)
        #expect(json["format"] as? String == "hf-folder")
        let summary = try #require(json["summary"] as? NSDictionary)
        #expect(summary["architecture"] as? String == "LlamaForCausalLM")
        #expect(summary["context_length"] as? Int == 128)
        #expect(summary["vocab_size"] as? Int == 10)
        let shards = try #require(json["shards"] as? [NSDictionary])
        #expect(shards.map { $0["file"] as? String } == ["model.safetensors"])
        #expect((json["tokenizer_files"] as? [String])?.contains("tokenizer.json") == true)
        #expect((json["tensors"] as? [NSDictionary])?.first?["file"] as? String == "model.safetensors")
    }

    @Test func pickleCheckpointsAreRefusedWithAReason() throws {
        let folder = TemporaryFolder("cli-test")
        try #"{"architectures":["LlamaForCausalLM"]}"#.write(toFile: folder.file("config.json"), atomically: true, encoding: .utf8)
        try Data("not really a pickle".utf8).write(to: URL(fileURLWithPath: folder.file("pytorch_model.bin")))
        let result = try TestSupport.quantd("inspect", folder.path)
        #expect(result.status == 65)
        #expect(result.stderr.contains("safe_serialization=True"), "\(result.stderr)")
        let lone = try TestSupport.quantd("inspect", folder.file("pytorch_model.bin"))
        #expect(lone.status == 65)
        #expect(lone.stderr.contains("unpickling runs arbitrary code"))
    }
}
