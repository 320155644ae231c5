import Foundation
import GGUF
import QuantdTestSupport
import Testing

/// Split sets checked against llama.cpp's llama-gguf-split (the files in Fixtures/split, made by
/// scripts/split/make_fixture.sh): where the files are cut, their bytes, what --merge makes of
/// them, and the loader's checks on damaged sets.
struct SplitTests {
    static let fixtures = TestSupport.repositoryRoot.appendingPathComponent("Tests/QuantdCLITests/Fixtures/split").path
    /// llama-quantize's Q8_0 of tiny-llama-f32.gguf: the single file the golden set was split from.
    static let single = TestSupport.repositoryRoot.appendingPathComponent("Tests/InferenceTests/Fixtures/tiny-llama-q8_0.gguf").path
    static let f32 = TestSupport.repositoryRoot.appendingPathComponent("Tests/InferenceTests/Fixtures/tiny-llama-f32.gguf").path
    static func golden(_ i: Int) -> String { "\(fixtures)/tiny-llama-q8_0-0000\(i)-of-00003.gguf" }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    // MARK: - Where the files are cut

    @Test func sizeLimitsCutWhereLlamaGGUFSplitCuts() throws {
        let json = try JSONSerialization.jsonObject(with: Self.bytes("\(Self.fixtures)/size-plans.json")) as? NSDictionary
        let tensors = try #require(json?["tensors"] as? [[Any]])
        let names = tensors.map { $0[0] as? String ?? "" }
        let sizes = tensors.map { $0[1] as? Int ?? -1 }
        let plans = try #require(json?["plans"] as? NSDictionary)
        #expect(plans.count == 5)
        for case (let size as String, let expected) in plans {
            let rule = try GGUFSplitRule.size(size)
            if let counts = expected as? [Int] {
                let ranges = try GGUFSplitLayout.shards(names: names, byteCounts: sizes, rule: rule)
                #expect(ranges.map(\.count) == counts, "\(size)")
            } else {
                #expect(throws: GGUFSplitError.self, "\(size)") {
                    try GGUFSplitLayout.shards(names: names, byteCounts: sizes, rule: rule)
                }
            }
        }
    }

    @Test func sizeSyntaxIsLlamaGGUFSplits() throws {
        #expect(try GGUFSplitRule.size("45G") == .maxBytes(45_000_000_000))
        #expect(try GGUFSplitRule.size("500M") == .maxBytes(500_000_000))
        for bad in ["45", "45GB", "1.5G", "0G", "-1G", "G", "45g", " 4G", "99999999999G"] {
            #expect(throws: GGUFSplitError.badSize(bad)) { try GGUFSplitRule.size(bad) }
        }
        #expect(throws: GGUFSplitError.badTensorCount(0)) {
            try GGUFSplitLayout.shards(names: ["a"], byteCounts: [32], rule: .maxTensors(0))
        }
    }

    @Test func namesAreLlamaCppsSplitPaths() {
        #expect(GGUFSplitLayout.path(prefix: "/o/m", index: 0, count: 3) == "/o/m-00001-of-00003.gguf")
        #expect(GGUFSplitLayout.prefix(of: "/o/m-00001-of-00003.gguf", index: 0, count: 3) == "/o/m")
        #expect(GGUFSplitLayout.prefix(of: "/o/m-00001-of-00004.gguf", index: 0, count: 3) == nil)
        #expect(GGUFSplitLayout.prefix(of: "-00001-of-00003.gguf", index: 0, count: 3) == nil)
    }

    // MARK: - Bytes

    @Test func splittingAFileGivesLlamaGGUFSplitsBytes() throws {
        let folder = TemporaryFolder("cli-test")
        let shards = try GGUFSplitWriter.split(GGUFFile(path: Self.single), prefix: folder.file("tiny-llama-q8_0"), rule: .maxTensors(8))
        #expect(shards.map(\.tensors) == [0..<8, 8..<16, 16..<21])
        for i in 1...3 {
            #expect(try Self.bytes(folder.file("tiny-llama-q8_0-0000\(i)-of-00003.gguf")) == Self.bytes(Self.golden(i)), "file \(i)")
        }
        try GGUFSplitWriter.split(GGUFFile(path: Self.single), prefix: folder.file("one"), rule: .maxBytes(1_000_000))
        #expect(try Self.bytes(folder.file("one-00001-of-00001.gguf")) == Self.bytes("\(Self.fixtures)/one-00001-of-00001.gguf"))
        // Nothing else: no temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).count == 4)
    }

    /// quantd's own Q8_0 of the F32 model, written as a split set, is llama-quantize's Q8_0 split
    /// by llama-gguf-split; the manifest lists every file with its hash.
    @Test func convertWritesTheSetLlamaGGUFSplitWrites() throws {
        let folder = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", Self.f32, "-o", folder.path, "--type", "Q8_0", "--no-eval",
                                            "--split-max-tensors", "8")
        #expect(result.status == 0, "\(result.stderr)")
        for i in 1...3 {
            #expect(try Self.bytes(folder.file("tiny-llama-Q8_0-0000\(i)-of-00003.gguf")) == Self.bytes(Self.golden(i)), "file \(i)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("tiny-llama-Q8_0.gguf")))
        let manifest = try TestSupport.json(String(decoding: Self.bytes(folder.file("manifest.json")), as: UTF8.self))
        let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first)
        #expect(artifact["file"] as? String == "tiny-llama-Q8_0-00001-of-00003.gguf")
        let split = try #require(artifact["split"] as? NSDictionary)
        #expect(split["count"] as? Int == 3)
        let files = try #require(split["files"] as? [NSDictionary])
        #expect(files.count == 3)
        var total = 0
        for (i, entry) in files.enumerated() {
            let path = Self.golden(i + 1)
            let digest = try TestSupport.run("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init)
            #expect(entry["file"] as? String == "tiny-llama-Q8_0-0000\(i + 1)-of-00003.gguf")
            #expect(entry["sha256"] as? String == digest)
            #expect(entry["bytes"] as? Int == (try Self.bytes(path)).count)
            total += entry["bytes"] as? Int ?? 0
        }
        #expect(artifact["bytes"] as? Int == total)
    }

    /// A split set as the pipeline's input: read whole, as llama-quantize reads it. llama-quantize
    /// makes tiny-llama-q8_0.gguf of the F32 model split in three (checked by hand:
    /// `llama-quantize f32-00001-of-00003.gguf q8.gguf Q8_0` is that file byte for byte); so must quantd.
    @Test func aSplitSetIsReadWholeAsInput() throws {
        let folder = TemporaryFolder("cli-test")
        try GGUFSplitWriter.split(GGUFFile(path: Self.f32), prefix: folder.file("tiny-f32"), rule: .maxTensors(8))
        let result = try TestSupport.quantd("convert", folder.file("tiny-f32-00001-of-00003.gguf"), "-o", folder.file("out"),
                                            "--type", "Q8_0", "--no-eval")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.bytes(folder.file("out/tiny-Q8_0.gguf")) == Self.bytes(Self.single))
        let manifest = try TestSupport.json(String(decoding: Self.bytes(folder.file("out/manifest.json")), as: UTF8.self))
        #expect((manifest["sources"] as? [NSDictionary])?.count == 3)

        try FileManager.default.removeItem(atPath: folder.file("tiny-f32-00002-of-00003.gguf"))
        let missing = try TestSupport.quantd("convert", folder.file("tiny-f32-00001-of-00003.gguf"), "-o", folder.file("out2"), "--type", "Q8_0")
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("file 2 of the split set of 3 is missing"))
    }

    /// A plain folder conversion split: the converted file cut as llama-gguf-split cuts it (the cut
    /// itself is checked against llama-gguf-split above), and no temporary file left.
    @Test func folderConversionWritesASplitSet() throws {
        let model = TestSupport.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-qwen2").path
        let folder = TemporaryFolder("cli-test")
        let out = folder.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let split = try TestSupport.quantd("convert", model, "-o", "\(out)/m.gguf", "--type", "F16", "--split-max-tensors", "5")
        #expect(split.status == 0, "\(split.stderr)")
        let single = try TestSupport.quantd("convert", model, "-o", folder.file("single.gguf"), "--type", "F16")
        #expect(single.status == 0, "\(single.stderr)")
        let shards = try GGUFSplitWriter.split(GGUFFile(path: folder.file("single.gguf")), prefix: folder.file("ref"), rule: .maxTensors(5))
        #expect(shards.count > 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(names == (1...shards.count).map { "m-0000\($0)-of-0000\(shards.count).gguf" })
        for (i, shard) in shards.enumerated() {
            #expect(try Self.bytes("\(out)/\(names[i])") == Self.bytes(shard.path), "file \(i + 1)")
        }
    }

    @Test func pipelineSplitStageAndSizeOption() throws {
        let folder = TemporaryFolder("cli-test")
        // 1M is more than the whole model: a set of one file, as llama-gguf-split makes it.
        let result = try TestSupport.quantd("convert", Self.f32, "-o", folder.path, "--type", "Q8_0", "--no-eval",
                                            "--split-max-size", "1M")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.bytes(folder.file("tiny-llama-Q8_0-00001-of-00001.gguf")) == Self.bytes("\(Self.fixtures)/one-00001-of-00001.gguf"))

        let pipeline = folder.file("pipeline.json")
        try Data("""
            {"version": 1, "schemes": [{"mix": "Q8_0"}, {"name": "f32", "mix": "F32"}, {"name": "by-eight", "mix": "Q8_0", "split": {"max_tensors": 8}}],
             "outputs": [{"stage": "split", "max_size": "1M"}], "evaluate": false}
            """.utf8).write(to: URL(fileURLWithPath: pipeline))
        let out = folder.file("out")
        let run = try TestSupport.quantd("convert", Self.f32, "-o", out, "--pipeline", pipeline)
        #expect(run.status == 0, "\(run.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(names == ["manifest.json", "tiny-llama-Q8_0-00001-of-00001.gguf", "tiny-llama-by-eight-00001-of-00003.gguf",
                          "tiny-llama-by-eight-00002-of-00003.gguf", "tiny-llama-by-eight-00003-of-00003.gguf",
                          "tiny-llama-f32-00001-of-00001.gguf"])
        for i in 2...3 {
            #expect(try Self.bytes("\(out)/tiny-llama-by-eight-0000\(i)-of-00003.gguf") == Self.bytes(Self.golden(i)))
        }

        let bad = try TestSupport.quantd("convert", Self.f32, "-o", folder.file("x"), "--type", "Q8_0", "--split-max-size", "45GB")
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("'45GB' is not a split size"))
    }

    /// The evaluate stage reads a split artifact by its first file and measures what it measures on
    /// the single file.
    @Test func evaluationOfASplitSetEqualsTheSingleFiles() throws {
        let source = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf").path
        let folder = TemporaryFolder("cli-test")
        var evaluations: [NSDictionary] = []
        for (name, split) in [("single", [String]()), ("split", ["--split-max-tensors", "8"])] {
            let result = try TestSupport.run(TestSupport.quantdBinary, ["convert", source, "-o", folder.file(name), "--type", "Q8_0"] + split)
            #expect(result.status == 0, "\(result.stderr)")
            let manifest = try TestSupport.json(String(decoding: Self.bytes(folder.file("\(name)/manifest.json")), as: UTF8.self))
            let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first)
            evaluations.append(try #require(artifact["evaluation"] as? NSDictionary))
        }
        for key in ["perplexity", "kld_mean", "kld_p99", "top1_agreement"] {
            #expect(evaluations[0][key] as? Double != nil)
            #expect(evaluations[0][key] as? Double == evaluations[1][key] as? Double, "\(key)")
        }
    }

    /// `quantd plan` cuts the artifact as `convert` writes it: the same files, tensors and bytes.
    @Test func planCutsAsConvertWrites() throws {
        let result = try TestSupport.quantd("plan", Self.f32, "--nodes", "2", "--type", "Q8_0", "--split-max-tensors", "8", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let plan = try TestSupport.json(result.stdout)
        let files = try #require(plan["files"] as? [NSDictionary])
        #expect(files.map { $0["file"] as? String } == (1...3).map { "tiny-llama-Q8_0-0000\($0)-of-00003.gguf" })
        #expect(files.map { $0["tensors"] as? Int } == [8, 8, 5])
        for (i, entry) in files.enumerated() {
            let golden = try GGUFFile(path: Self.golden(i + 1))
            #expect(entry["bytes"] as? Int == golden.tensors.reduce(0) { $0 + ($1.byteCount + 31) / 32 * 32 })
        }
        let nodeSeconds = try #require(plan["node_seconds"] as? [Double])
        #expect(nodeSeconds.count == 2)
        #expect(plan["wall_seconds"] as? Double == nodeSeconds.max())
        #expect(Set(files.compactMap { $0["node"] as? Int }).isSubset(of: [0, 1]))
        #expect((plan["write_rates"] as? NSDictionary)?["Q8_0"] as? Double ?? 0 > 0)

        // With an importance matrix, Q4_K's weighted search is measured (the types and cut may change).
        let weighted = try TestSupport.quantd("plan", Self.f32, "--nodes", "1,2", "--type", "Q4_K_M", "--imatrix")
        #expect(weighted.status == 0, "\(weighted.stderr)")
        #expect(weighted.stdout.contains("Q4_K") && weighted.stdout.contains("2 nodes of"))

        let bad = try TestSupport.quantd("plan", Self.f32, "--nodes", "0")
        #expect(bad.status == 64)
    }

    // MARK: - Merge

    /// llama-gguf-split --merge of the set is the single file plus three keys it leaves behind
    /// (split.no 0, split.tensors.count, split.count 0): the same tensors, bytes and other metadata.
    @Test func mergeGivesTheSingleFileWithItsSplitKeys() throws {
        let merged = try GGUFFile(path: "\(Self.fixtures)/merged.gguf")
        let single = try GGUFFile(path: Self.single)
        var expected = single.metadata
        expected[GGUFKeys.Split.llmKVSplitNo] = .uint16(0)
        expected[GGUFKeys.Split.llmKVSplitTensorsCount] = .int32(21)
        expected[GGUFKeys.Split.llmKVSplitCount] = .uint16(0)
        #expect(merged.metadata == expected)
        #expect(merged.tensors.map(\.name) == single.tensors.map(\.name))
        for (a, b) in zip(merged.tensors, single.tensors) {
            #expect(a.type == b.type && a.dimensions == b.dimensions && a.relativeOffset == b.relativeOffset)
            #expect(Data(merged.data(for: a)) == Data(single.data(for: b)), "\(a.name)")
        }
        // A merged file says split.count 0: a set of one file, read as a plain GGUF.
        #expect(!GGUFSplitSet.isSplit(merged))
        #expect(try GGUFSplitSet(first: merged).files.count == 1)

        // And the set, read as llama.cpp reads it, holds the single file's tensors.
        let set = try GGUFSplitSet(firstFile: Self.golden(1))
        #expect(set.files.count == 3)
        #expect(set.metadata == GGUFSplitLayout.metadata(single.metadata, index: 0, count: 3, tensorCount: 21))
        #expect(set.tensors.map(\.info.name) == single.tensors.map(\.name))
        for (i, tensor) in single.tensors.enumerated() {
            #expect(Data(set.data(for: i)) == Data(single.data(for: tensor)), "\(tensor.name)")
        }
    }

    // MARK: - Damaged sets

    /// A copy of the golden set in a temporary folder, to damage.
    static func copyOfSet() throws -> TemporaryFolder {
        let folder = TemporaryFolder("cli-test")
        for i in 1...3 {
            try FileManager.default.copyItem(atPath: golden(i), toPath: folder.file("m-0000\(i)-of-00003.gguf"))
        }
        return folder
    }

    /// Overwrites the value of metadata key `key` (its type id, then the value) in a file.
    static func patch(_ path: String, key: String, type: UInt32, value: [UInt8]) throws {
        var data = try bytes(path)
        var needle = Data()
        withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { needle.append(contentsOf: $0) }
        needle.append(contentsOf: Array(key.utf8))
        let range = try #require(data.range(of: needle))
        var at = range.upperBound
        withUnsafeBytes(of: type.littleEndian) { data.replaceSubrange(at..<(at + 4), with: $0) }
        at += 4
        data.replaceSubrange(at..<(at + value.count), with: value)
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test func aMissingFileIsNamed() throws {
        let folder = try Self.copyOfSet()
        try FileManager.default.removeItem(atPath: folder.file("m-00003-of-00003.gguf"))
        #expect(throws: GGUFSplitError.missingFile(path: folder.file("m-00003-of-00003.gguf"), number: 3, count: 3)) {
            try GGUFSplitSet(firstFile: folder.file("m-00001-of-00003.gguf"))
        }
        let result = try TestSupport.quantd("inspect", folder.file("m-00001-of-00003.gguf"))
        #expect(result.status == 66)
        #expect(result.stderr.contains("m-00003-of-00003.gguf: file 3 of the split set of 3 is missing"))
    }

    @Test func wrongCountsAreRefused() throws {
        let folder = try Self.copyOfSet()
        let first = folder.file("m-00001-of-00003.gguf")
        // The model's tensor count says 22 but the files hold 21.
        try Self.patch(folder.file("m-00002-of-00003.gguf"), key: "split.tensors.count", type: 5, value: [22, 0, 0, 0])
        let result = try TestSupport.quantd("inspect", first)
        #expect(result.status == 65)
        #expect(result.stderr.contains("split.tensors.count says the model has 22 tensors, but the 3 files hold 21"))

        // A file numbered for a set of 4 in a set of 3.
        let other = try Self.copyOfSet()
        try Self.patch(other.file("m-00003-of-00003.gguf"), key: "split.count", type: 2, value: [4, 0])
        #expect(throws: GGUFSplitError.self) { try GGUFSplitSet(firstFile: other.file("m-00001-of-00003.gguf")) }

        // split.count raised in the first file: the name no longer fits and file 4 would be missing.
        let renamed = try Self.copyOfSet()
        try Self.patch(renamed.file("m-00001-of-00003.gguf"), key: "split.count", type: 2, value: [4, 0])
        let refused = try TestSupport.quantd("inspect", renamed.file("m-00001-of-00003.gguf"))
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("does not end in -00001-of-00004.gguf"))
    }

    @Test func keyTypesAndFileOrderAreChecked() throws {
        let folder = try Self.copyOfSet()
        try Self.patch(folder.file("m-00001-of-00003.gguf"), key: "split.count", type: 3, value: [3, 0])  // INT16
        let result = try TestSupport.quantd("inspect", folder.file("m-00001-of-00003.gguf"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("split.count is a INT16, but llama.cpp requires UINT16"))

        let clean = try Self.copyOfSet()
        let second = try TestSupport.quantd("inspect", clean.file("m-00002-of-00003.gguf"))
        #expect(second.status == 65)
        #expect(second.stderr.contains("this is file 2 of a split set of 3"))

        // Files 2 and 3 swapped: each says it is another file than its name.
        let swapped = try Self.copyOfSet()
        try FileManager.default.moveItem(atPath: swapped.file("m-00002-of-00003.gguf"), toPath: swapped.file("t"))
        try FileManager.default.moveItem(atPath: swapped.file("m-00003-of-00003.gguf"), toPath: swapped.file("m-00002-of-00003.gguf"))
        try FileManager.default.moveItem(atPath: swapped.file("t"), toPath: swapped.file("m-00003-of-00003.gguf"))
        #expect(throws: GGUFSplitError.self) { try GGUFSplitSet(firstFile: swapped.file("m-00001-of-00003.gguf")) }
    }

    /// Damaged headers in any file of a set give an error or a set, never a crash: 300 copies of the
    /// set, each with a few bytes of one file's header replaced (a fixed seed, so reruns are equal).
    @Test func damagedHeadersNeverCrash() throws {
        let folder = try Self.copyOfSet()
        let originals = try (1...3).map { try Self.bytes(folder.file("m-0000\($0)-of-00003.gguf")) }
        var state: UInt64 = 20
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var refused = 0
        for _ in 0..<300 {
            let target = next(3)
            var data = originals[target]
            let headerEnd = try GGUFFile(path: Self.golden(target + 1)).header.dataOffset
            for _ in 0..<(1 + next(4)) { data[next(headerEnd)] = UInt8(next(256)) }
            try data.write(to: URL(fileURLWithPath: folder.file("m-0000\(target + 1)-of-00003.gguf")))
            do { _ = try GGUFSplitSet(firstFile: folder.file("m-00001-of-00003.gguf")) } catch { refused += 1 }
            try originals[target].write(to: URL(fileURLWithPath: folder.file("m-0000\(target + 1)-of-00003.gguf")))
        }
        #expect(refused > 0)
    }

    @Test func aDuplicateTensorIsRefused() throws {
        let folder = TemporaryFolder("cli-test")
        let plan = [GGUFTensorPlan(name: "a.weight", dimensions: [8], type: .f32)]
        for i in 0..<2 {
            let writer = try GGUFWriter(destination: folder.file("d-0000\(i + 1)-of-00002.gguf"),
                                        metadata: GGUFSplitLayout.metadata(GGUFMetadata(), index: i, count: 2, tensorCount: 2),
                                        tensors: plan)
            try writer.append([UInt8](repeating: 0, count: 32))
            try writer.finish()
        }
        let result = try TestSupport.quantd("inspect", folder.file("d-00001-of-00002.gguf"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("tensor 'a.weight' is also in"))
    }

    @Test func inspectReadsTheWholeSet() throws {
        let result = try TestSupport.quantd("inspect", "--json", "--verify", Self.golden(1))
        #expect(result.status == 0, "\(result.stderr)")
        let report = try TestSupport.json(result.stdout)
        let tensors = try #require(report["tensors"] as? [NSDictionary])
        #expect(tensors.count == 21)
        #expect(tensors[8]["file"] as? String == "tiny-llama-q8_0-00002-of-00003.gguf")
        let split = try #require(report["split"] as? NSDictionary)
        #expect((split["files"] as? [NSDictionary])?.map { $0["tensors"] as? Int } == [8, 8, 5])
        // The per-tensor hashes are those of the single file's tensors.
        let single = try TestSupport.json(try TestSupport.quantd("inspect", "--json", "--verify", Self.single).stdout)
        #expect(tensors.map { $0["sha256"] as? String } == (single["tensors"] as? [NSDictionary])?.map { $0["sha256"] as? String })
        #expect((report["summary"] as? NSDictionary)?["parameters"] as? Int == (single["summary"] as? NSDictionary)?["parameters"] as? Int)
    }

    /// A writer that fails part-way leaves no file of the set behind.
    @Test func anIncompleteSetIsNeverPublished() throws {
        let folder = TemporaryFolder("cli-test")
        let plans = (0..<4).map { GGUFTensorPlan(name: "t\($0)", dimensions: [8], type: .f32) }
        let writer = try GGUFSplitWriter(prefix: folder.file("p"), metadata: GGUFMetadata(), tensors: plans, rule: .maxTensors(1))
        try writer.append([UInt8](repeating: 1, count: 32 * 3))
        #expect(throws: GGUFWriterError.self) { try writer.finish() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)

        let complete = try GGUFSplitWriter(prefix: folder.file("p"), metadata: GGUFMetadata(), tensors: plans, rule: .maxTensors(1))
        try complete.append([UInt8](repeating: 1, count: 32 * 4))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).allSatisfy { $0.hasPrefix(".") })
        try complete.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == (1...4).map { "p-0000\($0)-of-00004.gguf" })
    }
}
