import Foundation
import GGUF
import Pipeline
import QuantdTestSupport
import Testing

/// The shard path (`quantd shard plan|write|finalize`): one artifact written file by file by
/// separate processes must be byte for byte the split set llama-gguf-split makes (the golden set in
/// Fixtures/split, from llama-quantize's Q8_0) and the set `quantd convert --split-max-*` writes;
/// a missing or failed file publishes nothing, and a rerun gives the same bytes.
struct ShardTests {
    static let f32 = SplitTests.f32
    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    static let names = (1...3).map { "tiny-llama-Q8_0-0000\($0)-of-00003.gguf" }

    /// Plans tiny-llama-f32.gguf as Q8_0 cut every 8 tensors (the golden set's cut) into `folder`/plan.json.
    static func plan(_ folder: TemporaryFolder, extra: [String] = []) throws -> String {
        let plan = folder.file("plan.json")
        let result = try TestSupport.run(TestSupport.quantdBinary, ["shard", "plan", f32, "--type", "Q8_0", "--split-max-tensors", "8", "-o", plan] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        return plan
    }

    @Test func filesWrittenOneByOneAreLlamaGGUFSplitsSet() throws {
        let folder = TemporaryFolder("cli-test")
        let plan = try Self.plan(folder)
        let loaded = try ShardPlan.load(path: plan)
        #expect(loaded.files.map(\.name) == Self.names)
        #expect(loaded.files.map(\.tensors.count) == [8, 8, 5])
        // The plan's source ranges are the tensors' bytes in the source file, as gguf-py reads them.
        let source = try GGUFFile(path: Self.f32)
        for tensor in loaded.files.flatMap(\.tensors) {
            let info = try #require(source.tensors.first { $0.name == tensor.name })
            #expect(tensor.sources == [ShardPlan.SourceRange(file: Self.f32, offset: info.absoluteOffset, bytes: info.byteCount)])
        }
        let out = folder.file("out")
        // Out of order, as an array's tasks may run.
        for k in [3, 1, 2] {
            let result = try TestSupport.quantd("shard", "write", plan, "--file", "\(k)", "-o", out, "--threads", "2")
            #expect(result.status == 0, "\(result.stderr)")
            // Nothing appears under the set's names before finalize.
            #expect(!FileManager.default.fileExists(atPath: "\(out)/\(Self.names[k - 1])"))
        }
        let finalize = try TestSupport.quantd("shard", "finalize", plan, out)
        #expect(finalize.status == 0, "\(finalize.stderr)")
        for i in 1...3 {
            #expect(try Self.bytes("\(out)/\(Self.names[i - 1])") == Self.bytes(SplitTests.golden(i)), "file \(i)")
        }
        // The manifest lists every file with the hash of the golden file.
        let manifest = try TestSupport.json(String(decoding: Self.bytes("\(out)/tiny-llama-Q8_0.manifest.json"), as: UTF8.self))
        let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first)
        let files = try #require((artifact["split"] as? NSDictionary)?["files"] as? [NSDictionary])
        #expect(files.count == 3)
        for (i, entry) in files.enumerated() {
            let digest = try TestSupport.run("/usr/bin/sha256sum", [SplitTests.golden(i + 1)]).stdout.prefix(64)
            #expect(entry["sha256"] as? String == String(digest))
            #expect(entry["file"] as? String == Self.names[i])
        }
        #expect(artifact["file"] as? String == Self.names[0])
        #expect(!FileManager.default.fileExists(atPath: "\(out)/.shards-tiny-llama-Q8_0"))

        // Every step again: the same bytes, and finalize of a published set checks it and rewrites the same manifest.
        let manifestBytes = try Self.bytes("\(out)/tiny-llama-Q8_0.manifest.json")
        let planBytes = try Self.bytes(plan)
        _ = try Self.plan(folder)
        #expect(try Self.bytes(plan) == planBytes)
        let again = try TestSupport.quantd("shard", "finalize", plan, out)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Self.bytes("\(out)/tiny-llama-Q8_0.manifest.json") == manifestBytes)
        // A task run again after publication: the same bytes, and finalize takes them as published.
        #expect(try TestSupport.quantd("shard", "write", plan, "--file", "2", "-o", out).status == 0)
        #expect(try Self.bytes("\(out)/.shards-tiny-llama-Q8_0/\(Self.names[1])") == Self.bytes(SplitTests.golden(2)))
        let third = try TestSupport.quantd("shard", "finalize", plan, out)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(try Self.bytes("\(out)/tiny-llama-Q8_0.manifest.json") == manifestBytes)
        #expect(!FileManager.default.fileExists(atPath: "\(out)/.shards-tiny-llama-Q8_0"))
    }

    /// A position-dependent mix from a Hugging Face folder: each file written alone equals the
    /// file `quantd convert --split-max-tensors` writes in one pass.
    @Test func folderMixEqualsTheSingleMachineSplit() throws {
        let model = TestSupport.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-llama3").path
        let folder = TemporaryFolder("cli-test")
        let convert = try TestSupport.quantd("convert", model, "-o", folder.file("single"), "--type", "Q4_K_M", "--no-eval",
                                             "--split-max-tensors", "7")
        #expect(convert.status == 0, "\(convert.stderr)")
        let plan = folder.file("plan.json")
        let made = try TestSupport.quantd("shard", "plan", model, "--type", "Q4_K_M", "--split-max-tensors", "7", "-o", plan)
        #expect(made.status == 0, "\(made.stderr)")
        let loaded = try ShardPlan.load(path: plan)
        let single = try FileManager.default.contentsOfDirectory(atPath: folder.file("single")).filter { $0.hasSuffix(".gguf") }
        #expect(loaded.files.count == single.count && loaded.files.count > 2)
        // Every tensor but the generated rope_freqs is read from the checkpoint's safetensors file.
        for tensor in loaded.files.flatMap(\.tensors) where tensor.name != "rope_freqs.weight" {
            #expect(tensor.sources.count == 1 && tensor.sources[0].file.hasSuffix("tiny-llama3/model.safetensors"), "\(tensor.name)")
        }
        for k in 1...loaded.files.count {
            let result = try TestSupport.quantd("shard", "write", plan, "--file", "\(k)", "-o", folder.file("shards"))
            #expect(result.status == 0, "\(result.stderr)")
        }
        let finalize = try TestSupport.quantd("shard", "finalize", plan, folder.file("shards"))
        #expect(finalize.status == 0, "\(finalize.stderr)")
        for file in loaded.files {
            #expect(try Self.bytes(folder.file("shards/\(file.name)")) == Self.bytes(folder.file("single/\(file.name)")), "\(file.name)")
        }
    }

    /// A task needs only its own tensors' source ranges: with every other tensor byte of the source
    /// overwritten (0xFF, NaN in F32), file 2 is still llama-gguf-split's file 2.
    @Test func aTaskReadsOnlyItsOwnSourceRanges() throws {
        let folder = TemporaryFolder("cli-test")
        try FileManager.default.createDirectory(atPath: folder.file("damaged"), withIntermediateDirectories: true)
        let copy = folder.file("damaged/tiny-llama-f32.gguf")
        let plan = folder.file("plan.json")
        try FileManager.default.copyItem(atPath: Self.f32, toPath: copy)
        let made = try TestSupport.quantd("shard", "plan", copy, "--type", "Q8_0", "--split-max-tensors", "8", "-o", plan)
        #expect(made.status == 0, "\(made.stderr)")
        let loaded = try ShardPlan.load(path: plan)
        let kept = loaded.files[1].tensors.flatMap(\.sources).map { $0.offset..<($0.offset + $0.bytes) }
        var bytes = [UInt8](try Self.bytes(copy))
        let dataStart = try GGUFFile(path: Self.f32).header.dataOffset
        for i in dataStart..<bytes.count where !kept.contains(where: { $0.contains(i) }) { bytes[i] = 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        let write = try TestSupport.quantd("shard", "write", plan, "--file", "2", "-o", folder.file("out"))
        #expect(write.status == 0, "\(write.stderr)")
        #expect(try Self.bytes(folder.file("out/.shards-tiny-llama-Q8_0/\(Self.names[1])")) == Self.bytes(SplitTests.golden(2)))
    }

    @Test func aMissingOrFailedFilePublishesNothingAndARerunSucceeds() throws {
        let folder = TemporaryFolder("cli-test")
        let plan = try Self.plan(folder)
        let out = folder.file("out")
        for k in [1, 3] {
            #expect(try TestSupport.quantd("shard", "write", plan, "--file", "\(k)", "-o", out).status == 0)
        }
        // File 2's task fails: a folder stands where its file would be renamed to.
        let staging = "\(out)/.shards-tiny-llama-Q8_0"
        try FileManager.default.createDirectory(atPath: "\(staging)/\(Self.names[1])/x", withIntermediateDirectories: true)
        let failed = try TestSupport.quantd("shard", "write", plan, "--file", "2", "-o", out)
        #expect(failed.status != 0)
        try FileManager.default.removeItem(atPath: "\(staging)/\(Self.names[1])")
        let early = try TestSupport.quantd("shard", "finalize", plan, out)
        #expect(early.status == 66)
        #expect(early.stderr.contains("file 2 of 3 has not been written"), "\(early.stderr)")
        let listing = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(listing.filter { !$0.hasPrefix(".") }.isEmpty, "\(listing)")
        // The rerun of the failed task, then finalize.
        #expect(try TestSupport.quantd("shard", "write", plan, "--file", "2", "-o", out).status == 0)
        #expect(try TestSupport.quantd("shard", "finalize", plan, out).status == 0)
        for i in 1...3 { #expect(try Self.bytes("\(out)/\(Self.names[i - 1])") == Self.bytes(SplitTests.golden(i))) }
    }

    @Test func badPlansAndFilesAreRefused() throws {
        let folder = TemporaryFolder("cli-test")
        let plan = try Self.plan(folder)
        let noFile = try TestSupport.quantd("shard", "write", plan, "--file", "4", "-o", folder.file("o"))
        #expect(noFile.status == 65 && noFile.stderr.contains("there is no file 4"), "\(noFile.stderr)")
        // A plan made for another cut no longer matches the model's plan.
        var text = try String(contentsOfFile: plan, encoding: .utf8)
        // The first tensor planned Q8_0 (in the file list) said to be Q4_0.
        let files = try #require(text.range(of: "\"files\""))
        let first = try #require(text.range(of: "\"Q8_0\"", range: files.upperBound..<text.endIndex))
        text.replaceSubrange(first, with: "\"Q4_0\"")
        try text.write(toFile: folder.file("changed.json"), atomically: true, encoding: .utf8)
        let changed = try TestSupport.quantd("shard", "write", folder.file("changed.json"), "--file", "1", "-o", folder.file("o"))
        #expect(changed.status == 65 && changed.stderr.contains("make the plan again"), "\(changed.stderr)")
        try "{\"version\": 1}".write(toFile: folder.file("bad.json"), atomically: true, encoding: .utf8)
        let bad = try TestSupport.quantd("shard", "finalize", folder.file("bad.json"), folder.file("o"))
        #expect(bad.status == 65 && bad.stderr.contains("make the plan again"), "\(bad.stderr)")
        let noSplit = try TestSupport.quantd("shard", "plan", Self.f32, "--type", "Q8_0", "-o", folder.file("p.json"))
        #expect(noSplit.status == 65 && noSplit.stderr.contains("--split-max-size"), "\(noSplit.stderr)")
    }
}

/// Importance-matrix partials over chunk ranges, merged, against the whole run.
struct ImatrixPartialTests {
    static let fixtures = ImatrixCommandTests.fixtures

    @Test func partialsOverASplitOfTheChunksMergeIntoTheWholeRun() throws {
        let folder = TemporaryFolder("cli-test")
        let model = Self.fixtures + "/tiny-spm-f16.gguf", text = Self.fixtures + "/imatrix-text.txt"
        func imatrix(_ chunks: String, _ name: String) throws {
            let result = try TestSupport.quantd("imatrix", model, "--text", text, "--ctx", "64", "--chunks", chunks,
                                                "--threads", "2", "-o", folder.file(name))
            #expect(result.status == 0, "\(result.stderr)")
        }
        try imatrix("5", "whole.gguf")
        try imatrix("1-2", "a.gguf")
        try imatrix("3-5", "b.gguf")
        let merge = try TestSupport.quantd("imatrix", "merge", folder.file("a.gguf"), folder.file("b.gguf"), "-o", folder.file("m.gguf"))
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(merge.stdout.contains("5 chunks of 64 tokens"), "\(merge.stdout)")
        let whole = try ImatrixFile.load(path: folder.file("whole.gguf"))
        let merged = try ImatrixFile.load(path: folder.file("m.gguf"))
        let a = try ImatrixFile.load(path: folder.file("a.gguf"))
        #expect(a.chunkCount == 2)
        #expect(merged.chunkCount == whole.chunkCount && merged.chunkSize == whole.chunkSize)
        // llama-imatrix lists every merged file's datasets.
        #expect(merged.datasets == whole.datasets + whole.datasets)
        #expect(merged.entries.map(\.name) == whole.entries.map(\.name))
        var worst: Float = 0
        for (m, w) in zip(merged.entries, whole.entries) {
            #expect(m.counts == w.counts, "\(m.name)")
            #expect(m.sums.count == w.sums.count)
            for (x, y) in zip(m.sums, w.sums) { worst = max(worst, abs(x - y) / max(abs(y), 1e-30)) }
        }
        // The sums differ only by f32 rounding: a partial is added as a whole, not chunk by chunk.
        #expect(worst < 1e-5, "largest relative difference \(worst)")
        print("imatrix merge vs whole run: largest relative difference of a sum \(worst)")

        let bad = try TestSupport.quantd("imatrix", model, "--text", text, "--ctx", "64", "--chunks", "4-2", "-o", folder.file("x.gguf"))
        #expect(bad.status != 0 && bad.stderr.contains("A ≤ B"), "\(bad.stderr)")
        let past = try TestSupport.quantd("imatrix", model, "--text", text, "--ctx", "64", "--chunks", "900-901", "-o", folder.file("x.gguf"))
        #expect(past.status == 65 && past.stderr.contains("whole chunks"), "\(past.stderr)")
        let other = try TestSupport.quantd("imatrix", "merge", folder.file("a.gguf"), model, "-o", folder.file("y.gguf"))
        #expect(other.status == 65 && other.stderr.contains("not an imatrix"), "\(other.stderr)")
    }
}

/// The shard path as a Slurm job array on the two-node cluster `scripts/slurm/start-cluster.sh`
/// starts (its SLURM_CONF exported); skipped when no controller answers.
@Suite(.serialized)
struct ShardSlurmTests {
    static let clusterAvailable: Bool = {
        guard ProcessInfo.processInfo.environment["SLURM_CONF"] != nil else { return false }
        return (try? TestSupport.run("/usr/bin/env", ["scontrol", "ping"]).status) == 0
    }()

    static let script = TestSupport.repositoryRoot.appendingPathComponent("scripts/slurm/quantize-sharded.sh").path

    /// Runs the script (waiting for finalize) on tiny-llama-f32.gguf, Q8_0, 8 tensors a file.
    static func submit(_ out: String) throws -> TestSupport.Result {
        try TestSupport.run("/usr/bin/env", ["QUANTD=\(TestSupport.quantdBinary)", "PARTITION=quantd", "CPUS=2", "WAIT=1",
                                             script, ShardTests.f32, "Q8_0", out, "--split-max-tensors", "8"])
    }

    static func nodes(ofJob id: String) -> Set<String> {
        let listing = (try? TestSupport.run("/usr/bin/env", ["squeue", "-h", "--states=all", "-j", id, "-o", "%N"]).stdout) ?? ""
        return Set(listing.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    @Test(.enabled(if: clusterAvailable)) func theArrayWritesTheGoldenSetOnBothNodes() throws {
        let folder = TemporaryFolder("cli-test")
        let out = folder.file("out")
        let run = try Self.submit(out)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        for i in 1...3 {
            #expect(try ShardTests.bytes("\(out)/\(ShardTests.names[i - 1])") == ShardTests.bytes(SplitTests.golden(i)), "file \(i)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(out)/tiny-llama-Q8_0.manifest.json"))
        let fields = run.stdout.split(separator: " ").map(String.init)
        let array = try #require(fields.firstIndex(of: "array").map { fields[$0 + 1] })
        #expect(Self.nodes(ofJob: array) == ["node1", "node2"], "array \(array) ran on \(Self.nodes(ofJob: array))")
    }

    @Test(.enabled(if: clusterAvailable)) func aFailingTaskPublishesNothingAndTheRerunSucceeds() throws {
        let folder = TemporaryFolder("cli-test")
        let out = folder.file("out")
        // Task 2 fails: a folder stands where its file would be renamed to.
        let blocker = "\(out)/.shards-tiny-llama-Q8_0/\(ShardTests.names[1])/x"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: true)
        let failed = try Self.submit(out)
        #expect(failed.status != 0, "\(failed.stdout)")
        let listing = try FileManager.default.contentsOfDirectory(atPath: out).filter { !$0.hasPrefix(".") }
        #expect(listing == ["shard-plan-Q8_0.json"], "\(listing)")
        try FileManager.default.removeItem(atPath: "\(out)/.shards-tiny-llama-Q8_0/\(ShardTests.names[1])")
        let rerun = try Self.submit(out)
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        for i in 1...3 {
            #expect(try ShardTests.bytes("\(out)/\(ShardTests.names[i - 1])") == ShardTests.bytes(SplitTests.golden(i)), "file \(i)")
        }
    }
}
