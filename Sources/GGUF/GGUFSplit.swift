#if canImport(Glibc)
import Glibc
#endif
import BinaryIO

/// Where a model is cut into the files of a split set, with llama-gguf-split's two rules.
public enum GGUFSplitRule: Equatable, Sendable, CustomStringConvertible {
    /// `--split-max-size`: at most this many bytes of tensor data per file (each tensor counted
    /// padded to 32 bytes; the header is not counted, as in llama-gguf-split).
    case maxBytes(Int)
    /// `--split-max-tensors`: at most this many tensors per file.
    case maxTensors(Int)

    /// Parses llama-gguf-split's size syntax: a positive whole number followed by `M` (10^6 bytes)
    /// or `G` (10^9 bytes), e.g. `45G`. Stricter than its `sscanf`, which reads `1.5G` as `1G`.
    public static func size(_ text: String) throws(GGUFSplitError) -> GGUFSplitRule {
        let unit: Int
        switch text.last {
        case "M": unit = 1_000_000
        case "G": unit = 1_000_000_000
        default: throw .badSize(text)
        }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 9,
              let count = Int(digits), count > 0 else { throw .badSize(text) }
        return .maxBytes(count * unit)
    }

    public var description: String {
        switch self {
        case .maxBytes(let bytes):
            bytes % 1_000_000_000 == 0 ? "\(bytes / 1_000_000_000)G"
                : bytes % 1_000_000 == 0 ? "\(bytes / 1_000_000)M" : "\(bytes) bytes"
        case .maxTensors(let count): "\(count) tensors"
        }
    }
}

public enum GGUFSplitError: Error, Equatable, CustomStringConvertible {
    case badSize(String)
    case badTensorCount(Int)
    case tensorLargerThanShard(tensor: String, bytes: Int, limit: Int)
    case tooManyShards(Int)
    case unsupportedAlignment(Int)
    /// A split set that llama.cpp's loader would refuse: which file, what is wrong, what to do.
    case invalidSet(file: String, problem: String, hint: String)
    /// File `number` (1-based) of a set of `count` is not there.
    case missingFile(path: String, number: Int, count: Int)

    public var description: String {
        switch self {
        case .badSize(let text):
            "'\(text)' is not a split size: write a positive whole number followed by M (10^6 bytes) or G (10^9 bytes), as llama-gguf-split does, e.g. 45G"
        case .badTensorCount(let n):
            "a split of \(n) tensors per file is impossible: give at least 1"
        case .tensorLargerThanShard(let tensor, let bytes, let limit):
            "tensor '\(tensor)' alone has \(bytes) bytes, more than the split size of \(limit) bytes: llama-gguf-split refuses such a split (its first file would have no tensors) — give a larger size"
        case .tooManyShards(let n):
            "the split would make \(n) files; a split set holds at most 65535 (split.count is a u16) — give a larger size or more tensors per file"
        case .unsupportedAlignment(let a):
            "the model's general.alignment is \(a); llama-gguf-split pads every split's tensors to 32 bytes, so such a model cannot be split the same way"
        case .invalidSet(let file, let problem, let hint):
            "\(file): \(problem) — \(hint)"
        case .missingFile(let path, let number, let count):
            "\(path): file \(number) of the split set of \(count) is missing — copy every file of the set into the same folder"
        }
    }
}

/// The layout of a split set: which tensors go in which file, decided exactly as llama-gguf-split
/// `--split` decides it, and the file names llama.cpp derives from the first file's name.
public enum GGUFSplitLayout {
    /// llama-gguf-split pads each tensor to this size, whatever the model's alignment.
    public static let padding = 32
    public static let maximumFiles = Int(UInt16.max)

    /// The tensor index ranges of each file. A file closes when the next tensor's padded size would
    /// take its tensor bytes past the limit (a tensor larger than the limit gets a file of its own,
    /// unless it is the first, which llama-gguf-split refuses); by count, every `n` tensors.
    public static func shards(names: [String], byteCounts: [Int], rule: GGUFSplitRule) throws(GGUFSplitError) -> [Range<Int>] {
        precondition(names.count == byteCounts.count)
        var ranges: [Range<Int>] = []
        var start = 0
        switch rule {
        case .maxTensors(let n):
            guard n > 0 else { throw .badTensorCount(n) }
            while start < names.count {
                ranges.append(start..<min(names.count, start + n))
                start += n
            }
        case .maxBytes(let limit):
            var current = 0
            for (i, bytes) in byteCounts.enumerated() {
                let padded = (bytes + padding - 1) / padding * padding
                let (next, overflow) = current.addingReportingOverflow(padded)
                if overflow || next > limit {
                    guard i > 0 else { throw .tensorLargerThanShard(tensor: names[i], bytes: padded, limit: limit) }
                    ranges.append(start..<i)
                    start = i
                    current = padded
                } else {
                    current = next
                }
            }
            ranges.append(start..<names.count)
        }
        if ranges.isEmpty { ranges = [0..<0] }
        guard ranges.count <= maximumFiles else { throw .tooManyShards(ranges.count) }
        return ranges
    }

    /// `PREFIX-00001-of-00003.gguf` (llama.cpp's `llama_split_path`, `index` 0-based).
    public static func path(prefix: String, index: Int, count: Int) -> String {
        "\(prefix)-\(fiveDigits(index + 1))-of-\(fiveDigits(count)).gguf"
    }

    /// The prefix of a split file's path, when its name ends as the `index`-th of `count` must
    /// (llama.cpp's `llama_split_prefix`); nil otherwise.
    public static func prefix(of path: String, index: Int, count: Int) -> String? {
        let suffix = "-\(fiveDigits(index + 1))-of-\(fiveDigits(count)).gguf"
        guard path.utf8.count > suffix.utf8.count, path.hasSuffix(suffix) else { return nil }
        return String(path.dropLast(suffix.count))
    }

    /// The metadata of file `index`: the model's keys in the first file only, then `split.no`,
    /// `split.tensors.count` and `split.count` — in that order, since gguf's setters move a key to
    /// the end and llama-gguf-split sets `split.count` last.
    public static func metadata(_ model: GGUFMetadata, index: Int, count: Int, tensorCount: Int) -> GGUFMetadata {
        var metadata = index == 0 ? model : GGUFMetadata()
        let keys = [(GGUFKeys.Split.llmKVSplitNo, GGUFValue.uint16(UInt16(clamping: index))),
                    (GGUFKeys.Split.llmKVSplitTensorsCount, .int32(Int32(clamping: tensorCount))),
                    (GGUFKeys.Split.llmKVSplitCount, .uint16(UInt16(clamping: count)))]
        for (key, value) in keys {
            metadata[key] = nil
            metadata[key] = value
        }
        return metadata
    }

    static func fiveDigits(_ n: Int) -> String {
        let digits = String(n)
        return digits.count >= 5 ? digits : String(repeating: "0", count: 5 - digits.count) + digits
    }
}

/// Writes a model as a split set in one streaming pass, with the `GGUFWriter` interface: tensor
/// bytes in plan order, cut at the files' boundaries. Each file is written to a temporary name and
/// sealed when its last tensor is in; only when every file is sealed are they renamed into place,
/// the first file last (llama.cpp finds a set through its first file), so a failure or a crash
/// never leaves a set that looks complete. The files are those `llama-gguf-split --split` makes of
/// the single file `GGUFWriter` would write from the same plan.
public final class GGUFSplitWriter {
    public struct Shard: Sendable {
        public let path: String
        public let tensors: Range<Int>
        public fileprivate(set) var bytes = 0
        public fileprivate(set) var sha256: String?
    }

    public private(set) var shards: [Shard]
    private let metadata: GGUFMetadata
    private let plans: [GGUFTensorPlan]
    private let hashing: Bool
    private let directIO: Bool
    /// The writers of the shards begun so far (sealed ones wait for `finish()` to rename them).
    private var writers: [GGUFWriter] = []
    /// Bytes the current shard still expects.
    private var remaining = 0
    private var done = false

    /// `prefix`: the set's path without `-0000i-of-0000N.gguf`.
    public init(prefix: String, metadata: GGUFMetadata, tensors: [GGUFTensorPlan], rule: GGUFSplitRule,
                hashing: Bool = false, directIO: Bool = false) throws {
        if let value = metadata[GGUFKeys.General.alignment], value != .uint32(UInt32(GGUFSplitLayout.padding)) {
            throw GGUFSplitError.unsupportedAlignment(Int(value.integerValue ?? 0))
        }
        // Sizes as the single file's layout has them (also validates the plan).
        let single = try GGUFWriter.layOut(metadata: metadata, tensors: tensors)
        let ranges = try GGUFSplitLayout.shards(names: tensors.map(\.name), byteCounts: single.tensors.map(\.byteCount), rule: rule)
        shards = ranges.enumerated().map { i, range in
            Shard(path: GGUFSplitLayout.path(prefix: prefix, index: i, count: ranges.count), tensors: range)
        }
        self.metadata = metadata
        plans = tensors
        self.hashing = hashing
        self.directIO = directIO
        do {
            try begin(0)
        } catch {
            abort()
            throw error
        }
    }

    /// Bytes written so far over all files.
    public var bytesWritten: Int { writers.reduce(0) { $0 + $1.bytesWritten } }

    private func begin(_ index: Int) throws {
        let shard = shards[index]
        let writer = try GGUFWriter(destination: shard.path,
                                    metadata: GGUFSplitLayout.metadata(metadata, index: index, count: shards.count, tensorCount: plans.count),
                                    tensors: Array(plans[shard.tensors]), hashing: hashing, directIO: directIO)
        writers.append(writer)
        remaining = writer.header.tensors.reduce(0) { $0 + $1.byteCount }
        try sealIfComplete()
    }

    /// Seals the current file once it has all its bytes and begins the next.
    private func sealIfComplete() throws {
        guard remaining == 0, let writer = writers.last else { return }
        let index = writers.count - 1
        try writer.seal()
        shards[index].bytes = writer.bytesWritten
        shards[index].sha256 = writer.sha256
        if index + 1 < shards.count { try begin(index + 1) }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        do {
            while !rest.isEmpty {
                guard remaining > 0, let writer = writers.last else { throw GGUFWriterError.tooManyBytes(extra: rest.count) }
                let n = min(rest.count, remaining)
                try writer.append(UnsafeRawBufferPointer(rebasing: rest[0..<n]))
                remaining -= n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                try sealIfComplete()
            }
        } catch {
            abort()
            throw error
        }
    }

    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Checks every file got all its bytes, then renames them into place, the first last. If a
    /// rename fails, the files already renamed are removed again.
    public func finish() throws {
        guard writers.count == shards.count, remaining == 0 else {
            var error = GGUFWriterError.incomplete(tensor: "", written: 0, expected: remaining)
            if let writer = writers.last, let tensor = writer.currentTensor, case .writingTensor(_, let written) = writer.state {
                error = .incomplete(tensor: tensor.name, written: written, expected: tensor.byteCount)
            }
            abort()
            throw error
        }
        var published: [String] = []
        do {
            for index in shards.indices.reversed() {
                try writers[index].publish()
                published.append(shards[index].path)
            }
        } catch {
            for path in published { FileSystem.removeFile(path) }
            abort()
            throw error
        }
        done = true
    }

    /// Drops every temporary file; nothing appears under the set's names.
    public func abort() {
        guard !done else { return }
        done = true
        for writer in writers { writer.abort() }
    }
}

extension GGUFSplitWriter {
    /// Writes `file` as a split set, as `llama-gguf-split --split` does: same metadata, tensors in
    /// the file's order, each file's tensors copied from the input. Returns the files written.
    @discardableResult
    public static func split(_ file: GGUFFile, prefix: String, rule: GGUFSplitRule, hashing: Bool = false) throws -> [Shard] {
        let plans = file.tensors.map { GGUFTensorPlan(name: $0.name, dimensions: $0.dimensions, type: $0.type) }
        let writer = try GGUFSplitWriter(prefix: prefix, metadata: file.metadata, tensors: plans, rule: rule, hashing: hashing)
        file.adviseSequential()
        try withExtendedLifetime(file) {
            for tensor in file.tensors {
                try writer.append(file.data(for: tensor))
                file.release(tensor)
            }
        }
        try writer.finish()
        return writer.shards
    }
}

/// A split set opened from its first file, checked as llama.cpp's model loader checks it: the file
/// given is `split.no` 0; every `PREFIX-0000i-of-0000N.gguf` exists, is a valid GGUF and says it is
/// file i; no tensor name appears twice; the files hold `split.tensors.count` tensors in all; the
/// split keys have their types (u16, u16, i32). A GGUF without `split.count` (or with 0 or 1) is a
/// set of one file.
public final class GGUFSplitSet: Sendable {
    /// The files in order; `files[0]` holds the model's metadata.
    public let files: [GGUFFile]
    /// Every tensor of the model: the file it is in and its description there, in file order.
    public let tensors: [(file: Int, info: GGUFTensorInfo)]

    private let byName: [String: Int]

    public var metadata: GGUFMetadata { files[0].metadata }
    public var paths: [String] { files.map(\.path) }

    /// True when `file` says it belongs to a set of more than one file (`split.count` > 1, what
    /// makes llama.cpp's loader look for the other files), or has a `split.count` of another type
    /// than u16 (which the loader refuses, and so does opening the set).
    public static func isSplit(_ file: GGUFFile) -> Bool {
        guard let value = file.metadata[GGUFKeys.Split.llmKVSplitCount] else { return false }
        guard case .uint16(let count) = value else { return true }
        return count > 1
    }

    public convenience init(firstFile path: String) throws {
        try self.init(first: GGUFFile(path: path))
    }

    /// The set whose first file is `first` (already opened).
    public init(first: GGUFFile) throws {
        let path = first.path
        let count = try GGUFSplitSet.u16(first, GGUFKeys.Split.llmKVSplitCount) ?? 0
        var files = [first]
        if count > 1 {
            let index = try GGUFSplitSet.u16(first, GGUFKeys.Split.llmKVSplitNo) ?? 0
            guard index == 0 else {
                throw GGUFSplitError.invalidSet(file: path, problem: "this is file \(index + 1) of a split set of \(count) (split.no \(index))",
                                                hint: "open the set by its first file, …-00001-of-\(GGUFSplitSet.five(count)).gguf")
            }
            guard let prefix = GGUFSplitLayout.prefix(of: path, index: 0, count: Int(count)) else {
                throw GGUFSplitError.invalidSet(file: path, problem: "split.count is \(count), but the name does not end in -00001-of-\(GGUFSplitSet.five(count)).gguf, so the other files cannot be found",
                                                hint: "keep the names llama-gguf-split gives a set (PREFIX-00001-of-\(GGUFSplitSet.five(count)).gguf, …)")
            }
            for i in 1..<Int(count) {
                let shardPath = GGUFSplitLayout.path(prefix: prefix, index: i, count: Int(count))
                guard FileSystem.exists(shardPath) else {
                    throw GGUFSplitError.missingFile(path: shardPath, number: i + 1, count: Int(count))
                }
                let shard = try GGUFFile(path: shardPath)
                guard let no = try GGUFSplitSet.u16(shard, GGUFKeys.Split.llmKVSplitNo) else {
                    throw GGUFSplitError.invalidSet(file: shardPath, problem: "has no split.no key, so it is not part of a split set",
                                                    hint: "re-create the set with llama-gguf-split or quantd")
                }
                guard Int(no) == i else {
                    throw GGUFSplitError.invalidSet(file: shardPath, problem: "says it is file \(Int(no) + 1) (split.no \(no)) but its name makes it file \(i + 1)",
                                                    hint: "the files were renamed or mixed up between sets; re-create the set")
                }
                if let other = try GGUFSplitSet.u16(shard, GGUFKeys.Split.llmKVSplitCount), other != count {
                    throw GGUFSplitError.invalidSet(file: shardPath, problem: "says its set has \(other) files (split.count) but the first file says \(count)",
                                                    hint: "the files come from different splits of the model; re-create the set")
                }
                files.append(shard)
            }
        }
        var tensors: [(Int, GGUFTensorInfo)] = []
        var seen: [String: Int] = [:]
        for (f, file) in files.enumerated() {
            for info in file.tensors {
                if let earlier = seen[info.name] {
                    throw GGUFSplitError.invalidSet(file: file.path, problem: "tensor '\(info.name)' is also in \(files[earlier].path)",
                                                    hint: "a tensor must be in one file of the set only (llama.cpp refuses the model); re-create the set")
                }
                seen[info.name] = f
                tensors.append((f, info))
            }
        }
        if count > 1 || first.metadata.contains(GGUFKeys.Split.llmKVSplitTensorsCount) {
            for file in files {
                guard let value = file.metadata[GGUFKeys.Split.llmKVSplitTensorsCount] else {
                    if count > 1 && file === first {
                        throw GGUFSplitError.invalidSet(file: file.path, problem: "has no split.tensors.count key", hint: "re-create the set with llama-gguf-split or quantd")
                    }
                    continue
                }
                guard case .int32(let expected) = value else {
                    throw GGUFSplitError.invalidSet(file: file.path, problem: "split.tensors.count is a \(value.type), but llama.cpp requires INT32",
                                                    hint: "re-create the set with llama-gguf-split or quantd")
                }
                guard Int(expected) == tensors.count else {
                    throw GGUFSplitError.invalidSet(file: file.path, problem: "split.tensors.count says the model has \(expected) tensors, but the \(files.count) files hold \(tensors.count)",
                                                    hint: "a file of the set is from another split or was damaged; re-create the set")
                }
            }
        }
        self.files = files
        self.tensors = tensors
        byName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.1.name, $0) })
    }

    /// The index in `tensors` of the tensor named `name`.
    public func tensorIndex(named name: String) -> Int? { byName[name] }

    /// The byte range of a tensor in its own file.
    public func data(for index: Int) -> UnsafeRawBufferPointer {
        files[tensors[index].file].data(for: tensors[index].info)
    }

    /// A split key's value, which llama.cpp requires to be a UINT16.
    private static func u16(_ file: GGUFFile, _ key: String) throws -> UInt16? {
        guard let value = file.metadata[key] else { return nil }
        guard case .uint16(let v) = value else {
            throw GGUFSplitError.invalidSet(file: file.path, problem: "\(key) is a \(value.type), but llama.cpp requires UINT16",
                                            hint: "re-create the set with llama-gguf-split or quantd")
        }
        return v
    }

    private static func five(_ n: UInt16) -> String { GGUFSplitLayout.fiveDigits(Int(n)) }
}
