#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import JSON

/// Where shard tasks put their files and how the set is published. `quantd shard write` writes
/// file K into a hidden staging folder inside the output folder; `quantd shard finalize` checks the
/// staged set as llama.cpp's loader checks a set, hashes every file, renames them into the output
/// folder (the first file last: llama.cpp finds a set through it) and writes the manifest last.
/// Until then nothing appears under the set's names; a rerun of any step gives the same bytes.
public enum ShardPublishing {
    /// `DIR/.shards-PREFIX`: one per set, so sets of several schemes can share an output folder.
    public static func stagingFolder(_ folder: String, prefix: String) -> String { "\(folder)/.shards-\(prefix)" }

    /// The manifest of a published set: `DIR/PREFIX.manifest.json`.
    public static func manifestPath(_ folder: String, prefix: String) -> String { "\(folder)/\(prefix).manifest.json" }

    /// Creates `path` if missing; tasks on several nodes may race to create it, and an existing
    /// folder is fine.
    public static func makeFolder(_ path: String) throws { try FileSystem.makeDirectory(path) }

    static func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    /// Checks, hashes and publishes the set `plan` describes from `folder`'s staging folder;
    /// returns the manifest written. Files already published by an earlier run that stopped
    /// midway are taken as they are (publication begins only after the whole staged set passed
    /// the check), and the set is checked again where it ends up.
    @discardableResult
    public static func finalize(plan: ShardPlan, planPath: String, folder: String) throws -> JSONValue {
        let staging = stagingFolder(folder, prefix: plan.prefix)
        let count = plan.files.count
        // A task rerun after the set was published writes the same bytes again: that copy goes.
        for file in plan.files where exists("\(staging)/\(file.name)") && exists("\(folder)/\(file.name)") {
            guard try SHA256Digest.hex(ofFile: "\(staging)/\(file.name)") == SHA256Digest.hex(ofFile: "\(folder)/\(file.name)") else {
                throw ShardError.planMismatch(plan: planPath, problem: "\(staging)/\(file.name) differs from the published \(folder)/\(file.name)")
            }
            try FileSystem.removeTree("\(staging)/\(file.name)")
        }
        let staged = plan.files.map { exists("\(staging)/\($0.name)") }
        let published = plan.files.map { exists("\(folder)/\($0.name)") }
        if staged.allSatisfy({ $0 }) {
            try check(plan: plan, planPath: planPath, first: "\(staging)/\(plan.files[0].name)")
        } else {
            // Published already (a rerun), or publication stopped midway: every file is somewhere.
            for (i, file) in plan.files.enumerated() where !staged[i] && !published[i] {
                throw ShardError.missingShard(path: "\(staging)/\(file.name)", number: i + 1, count: count)
            }
            guard staged.contains(true) ? !published[0] : true else {
                throw ShardError.planMismatch(plan: planPath, problem: "\(folder)/\(plan.files[0].name) is published while other files are still staged")
            }
        }
        var files: [ArtifactFile] = []
        for file in plan.files {
            let path = "\(folder)/\(file.name)"
            let from = exists("\(staging)/\(file.name)") ? "\(staging)/\(file.name)" : path
            guard let info = FileSystem.info(from) else { throw FileError(path: from, operation: "stat", errno: errno) }
            files.append(ArtifactFile(path: path, bytes: info.size, sha256: try SHA256Digest.hex(ofFile: from)))
        }
        // Into place, the first file last.
        for file in plan.files.reversed() where exists("\(staging)/\(file.name)") {
            try FileSystem.rename("\(staging)/\(file.name)", "\(folder)/\(file.name)", operation: "rename into place")
        }
        try FileSystem.syncFolder(folder)
        try check(plan: plan, planPath: planPath, first: "\(folder)/\(plan.files[0].name)")
        let manifest = self.manifest(plan: plan, files: files)
        let writer = try AtomicFileWriter(destination: manifestPath(folder, prefix: plan.prefix))
        try writer.write(Array((manifest.serialized(pretty: true) + "\n").utf8))
        try writer.commit()
        // Only leftovers of failed writes (hidden temporary files) can remain; they go with it.
        try? FileSystem.removeTree(staging)
        return manifest
    }

    /// The set opened from its first file as llama.cpp's loader opens it, then compared with the
    /// plan: the same files, tensors, types and shapes.
    static func check(plan: ShardPlan, planPath: String, first: String) throws {
        let set = try GGUFSplitSet(firstFile: first)
        guard set.files.count == plan.files.count else {
            throw ShardError.planMismatch(plan: planPath, problem: "\(first) opens a set of \(set.files.count) files, the plan has \(plan.files.count)")
        }
        for (file, planned) in zip(set.files, plan.files) {
            guard file.tensors.count == planned.tensors.count else {
                throw ShardError.planMismatch(plan: planPath, problem: "\(file.path) holds \(file.tensors.count) tensors, the plan gives it \(planned.tensors.count)")
            }
            for (info, tensor) in zip(file.tensors, planned.tensors)
            where info.name != tensor.name || info.type != tensor.type || info.dimensions != tensor.dimensions || info.byteCount != tensor.bytes {
                throw ShardError.planMismatch(plan: planPath, problem: "\(file.path) has \(info.name) (\(info.type.name)) where the plan has \(tensor.name) (\(tensor.type.name))")
            }
        }
    }

    /// The pipeline manifest's artifact entry for a split artifact (`file`, `bytes` and `sha256` of
    /// the whole set and its first file, `split` with every file), under the plan's settings.
    public static func manifest(plan: ShardPlan, files: [ArtifactFile]) -> JSONValue {
        func int(_ n: Int) -> JSONValue { .number(JSONNumber(n)) }
        var histogram: [(key: String, value: JSONValue)] = []
        var weights = 0, elements = 0
        for tensor in plan.files.flatMap(\.tensors) {
            weights += tensor.bytes
            elements += tensor.dimensions.reduce(1, *)
            if let i = histogram.firstIndex(where: { $0.key == tensor.type.name }) {
                histogram[i].value = int((histogram[i].value.intValue ?? 0) + 1)
            } else {
                histogram.append((tensor.type.name, int(1)))
            }
        }
        let artifact: JSONValue = .object([
            ("scheme", .string(plan.scheme)), ("mix", .string(plan.mix)),
            ("file", .string(plan.files[0].name)), ("bytes", int(files.reduce(0) { $0 + $1.bytes })),
            ("sha256", .string(files[0].sha256)),
            ("bits_per_weight", elements > 0 ? .number(JSONNumber(Double(weights) * 8 / Double(elements))) : .null),
            ("types", .object(histogram)),
            ("split", .object([
                ("count", int(files.count)),
                ("files", .array(zip(plan.files, files).map { planned, f in
                    .object([("file", .string(planned.name)), ("bytes", int(f.bytes)), ("sha256", .string(f.sha256))])
                })),
            ])),
        ])
        return .object([
            ("version", int(1)), ("model", .string(plan.model)),
            ("imatrix", plan.imatrix.map { .string($0) } ?? .null),
            ("artifacts", .array([artifact])),
        ])
    }
}
