import Foundation
import GGUF
import ModelConversion
import Pipeline
import Safetensors
import Testing

/// Replays every fuzzing seed (Fuzz/corpus/<target>/) and every input a fuzzer once crashed on
/// (Fuzz/regressions/<target>/) through the entry points the fuzz targets in Fuzz/ call, in the
/// ordinary build. An input may be refused with an error; a crash or a trap fails the suite.
@Suite struct FuzzCorpusReplayTests {
    static let fuzz = TestSupport.repositoryRoot.appendingPathComponent("Fuzz")

    /// The corpus and regression files of `target`, sorted so a failure names the same file each run.
    static func inputs(_ target: String) -> [URL] {
        ["corpus", "regressions"].flatMap { kind -> [URL] in
            let directory = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
        }
    }

    static func seed(_ target: String, _ name: String) throws -> Data {
        try Data(contentsOf: fuzz.appendingPathComponent("corpus").appendingPathComponent(target).appendingPathComponent(name))
    }

    @Test func ggufHeaderInputsReturn() throws {
        let files = Self.inputs("gguf-header")
        #expect(files.count >= 5)
        for file in files {
            let data = try Data(contentsOf: file)
            data.withUnsafeBytes { bytes in
                _ = try? GGUFHeaderParser.parse(bytes, fileSize: bytes.count)
                _ = try? GGUFHeaderParser.parse(bytes, fileSize: nil)
            }
        }
        // The seeds are real files: the example parses, so the fuzzer starts from valid headers.
        let header = try Self.seed("gguf-header", "sample.gguf").withUnsafeBytes { bytes in
            try GGUFHeaderParser.parse(bytes, fileSize: bytes.count)
        }
        #expect(!header.tensors.isEmpty)
    }

    @Test func safetensorsHeaderInputsReturn() throws {
        let files = Self.inputs("safetensors-header")
        #expect(files.count >= 5)
        var parsed = 0
        for file in files {
            let data = try Data(contentsOf: file)
            data.withUnsafeBytes { bytes in
                if (try? SafetensorsFile.header(from: bytes, path: file.path)) != nil { parsed += 1 }
            }
        }
        // Every seed is a fixture's complete header (plus some data), so every one reads.
        #expect(parsed >= Self.inputs("safetensors-header").filter { $0.path.contains("/corpus/") }.count)
    }

    @Test func pipelineJSONInputsReturn() throws {
        let files = Self.inputs("pipeline-json")
        #expect(files.count >= 3)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            let config = try? PipelineConfig.parse(bytes, file: file.path)
            // The seeds are the repository's own pipeline files, all valid.
            if file.path.contains("/corpus/") { #expect(config != nil, "\(file.lastPathComponent)") }
        }
    }

    @Test func imatrixInputsReturn() throws {
        let files = Self.inputs("imatrix")
        #expect(files.count >= 3)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantd-fuzz-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("input.imatrix").path
        for file in files {
            // Through a copy, as the fuzz target does, so the loader sees one name for every input.
            #expect(FileManager.default.createFile(atPath: path, contents: try Data(contentsOf: file)))
            _ = try? ImportanceMatrix.load(path: path)
        }
        let legacy = try Self.seed("imatrix", "tiny-llama.imatrix.dat")
        #expect(FileManager.default.createFile(atPath: path, contents: legacy))
        #expect(try !ImportanceMatrix.load(path: path).entries.isEmpty)
    }

    /// The first byte chooses the file the rest replaces, as in Fuzz/model-folder.swift.
    @Test func modelFolderInputsReturn() throws {
        let files = Self.inputs("model-folder")
        #expect(files.count >= 5)
        let fixture = TestSupport.repositoryRoot
            .appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-llama3").path
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("quantd-fuzz-replay-\(UUID().uuidString)")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: directory) }
        for name in try manager.contentsOfDirectory(atPath: fixture) {
            try manager.copyItem(atPath: fixture + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        let replaceable = ["config.json", "tokenizer.json", "tokenizer_config.json"]
        let originals = try replaceable.map { try Data(contentsOf: URL(fileURLWithPath: fixture + "/" + $0)) }
        func run(_ input: Data) -> ConversionPlan? {
            guard let first = input.first else { return nil }
            let chosen = Int(first) % replaceable.count
            for (index, name) in replaceable.enumerated() {
                let contents = index == chosen ? input.dropFirst() : originals[index]
                #expect(manager.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data(contents)))
            }
            return try? ConversionPlan(input: directory.path, outputType: .auto)
        }
        for file in files { _ = run(try Data(contentsOf: file)) }
        // The fixture's own config.json gives a plan: the folder the fuzzer mutates is a valid one.
        #expect(run(try Self.seed("model-folder", "tiny-llama3-config.json")) != nil)
    }
}
