#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import Quantization

/// How fast this machine turns a source's values into each type, per core: what `quantd plan`
/// predicts a node's time from.
public struct TypeThroughput: Sendable {
    /// Values per second per core that a source of this type is read into f32.
    public var readRates: [GGMLType: Double] = [:]
    /// Values per second per core that f32 values are quantized into this type.
    public var writeRates: [GGMLType: Double] = [:]
    /// Bytes per second one core hashes (SHA-256: every file written is hashed for the manifest).
    public var hashRate: Double?

    public init(readRates: [GGMLType: Double] = [:], writeRates: [GGMLType: Double] = [:], hashRate: Double? = nil) {
        self.readRates = readRates
        self.writeRates = writeRates
        self.hashRate = hashRate
    }

    /// Seconds one core spends on `elements` values of a `source` tensor written as `target`: the
    /// conversion to f32 and the quantization; nothing for a tensor copied unchanged.
    public func seconds(elements: Int, source: GGMLType, target: GGMLType) -> Double {
        guard source != target else { return 0 }
        let read = readRates[source].map { Double(elements) / $0 } ?? 0
        let write = writeRates[target].map { Double(elements) / $0 } ?? 0
        return read + write
    }

    /// Measures the rates on this machine, one thread, on a matrix of random values with rows as
    /// long as a large model's (16384), repeating each measurement for at least `minimumSeconds` of
    /// CPU time. `importance`: quantize with importance weights (ggml's weighted searches, slower
    /// for the types that have them), as a pipeline with an imatrix stage does.
    public static func measure(sources: Set<GGMLType>, targets: Set<GGMLType>, importance: Bool = false,
                               minimumSeconds: Double = 1) throws -> TypeThroughput {
        let rowLength = 16384, rows = 8
        var values = [Float](repeating: 0, count: rowLength * rows)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in values.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values[i] = Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 25_000
        }
        let weights = [Float](repeating: 1, count: rowLength)
        var result = TypeThroughput()
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        defer { block.deallocate() }
        block.initializeMemory(as: UInt8.self, repeating: 0x5A)
        result.hashRate = try rate(elements: block.count, minimumSeconds: minimumSeconds / 4) {
            _ = SHA256Digest.hex(of: UnsafeRawBufferPointer(block))
        }
        for type in sources.union(targets).sorted(by: { $0.id < $1.id }) where Quantizer.supportsQuantize(type) && type.blockSize <= rowLength {
            let bytes = try Quantizer.byteCount(type, rows: rows, rowLength: rowLength)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
            defer { output.deallocate() }
            let write = try rate(elements: values.count, minimumSeconds: targets.contains(type) ? minimumSeconds : 0) {
                try values.withUnsafeBufferPointer { rows in
                    try weights.withUnsafeBufferPointer { w in
                        try Quantizer.quantize(type, rows: rows, rowLength: rowLength, importance: importance ? w : nil, into: output)
                    }
                }
            }
            if targets.contains(type) { result.writeRates[type] = write }
            // The same blocks read back: the rate a source of this type is read at.
            if sources.contains(type) {
                let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                defer { floats.deallocate() }
                result.readRates[type] = try rate(elements: values.count, minimumSeconds: minimumSeconds) {
                    try Quantizer.dequantize(type, UnsafeRawBufferPointer(output), count: values.count, into: floats)
                }
            }
        }
        return result
    }

    /// Values per second of this thread's CPU time, not of the wall clock: a node's cores are its
    /// own, while this machine may be shared, and time spent waiting for a core says nothing of a node.
    private static func rate(elements: Int, minimumSeconds: Double, _ body: () throws -> Void) throws -> Double {
        try body()  // warm up
        var runs = 0
        let start = threadCPUSeconds()
        var elapsed = 0.0
        repeat {
            try body()
            runs += 1
            elapsed = threadCPUSeconds() - start
        } while elapsed < minimumSeconds
        return Double(elements * runs) / max(elapsed, 1e-9)
    }

    private static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

/// A split artifact's files spread over the nodes of a cluster, with the time each takes: every file
/// is one task that reads only its own tensors and writes its file (the files are those the
/// artifact's split set has), and the tasks go to the nodes longest first, each to the node that
/// is free first. Made from headers only.
public struct ClusterPlan: Sendable {
    public struct File: Sendable {
        public var name: String
        public var tensors: Range<Int>
        /// Tensor bytes of the file (each tensor padded to 32 bytes).
        public var bytes: Int
        /// Predicted seconds on one node of `coresPerNode` cores.
        public var seconds: Double
        public var node: Int
    }

    public var files: [File]
    public var nodes: Int
    public var coresPerNode: Int
    public var rule: GGUFSplitRule
    /// Busy seconds of each node.
    public var nodeSeconds: [Double]
    public var wallSeconds: Double { nodeSeconds.max() ?? 0 }
    /// What the whole artifact costs one core.
    public var coreSeconds: Double

    /// `names`/`elements`/`sources`/`targets`/`bytes`: one entry per tensor of the artifact, in file
    /// order. `rule` nil: `defaultRule`, about one file per node (at most 45G a file: Hugging Face's
    /// 50 GB limit less a margin).
    public static func make(names: [String], elements: [Int], sources: [GGMLType], targets: [GGMLType], bytes: [Int],
                            prefix: String, nodes: Int, coresPerNode: Int, rule: GGUFSplitRule?,
                            throughput: TypeThroughput, readBytesPerSecond: Double? = nil) throws -> ClusterPlan {
        precondition(nodes > 0 && coresPerNode > 0)
        let chosen = rule ?? defaultRule(names: names, bytes: bytes, nodes: nodes)
        let ranges = try GGUFSplitLayout.shards(names: names, byteCounts: bytes, rule: chosen)
        var files: [File] = []
        var coreSeconds = 0.0
        for (i, range) in ranges.enumerated() {
            var seconds = 0.0
            var fileBytes = 0
            for t in range {
                seconds += throughput.seconds(elements: elements[t], source: sources[t], target: targets[t])
                fileBytes += (bytes[t] + GGUFSplitLayout.padding - 1) / GGUFSplitLayout.padding * GGUFSplitLayout.padding
            }
            // The hash runs on the writing thread, beside the quantizing workers.
            let hashing = throughput.hashRate.map { Double(fileBytes) / $0 } ?? 0
            coreSeconds += seconds + hashing
            var wall = max(seconds / Double(coresPerNode), hashing)
            if let readBytesPerSecond, readBytesPerSecond > 0 {
                wall += Double(range.reduce(0) { $0 + elements[$1] * sources[$1].bytesPerBlock / sources[$1].blockSize }) / readBytesPerSecond
            }
            files.append(File(name: GGUFSplitLayout.path(prefix: prefix, index: i, count: ranges.count), tensors: range,
                              bytes: fileBytes, seconds: wall, node: 0))
        }
        var load = [Double](repeating: 0, count: nodes)
        for i in files.indices.sorted(by: { files[$0].seconds > files[$1].seconds || (files[$0].seconds == files[$1].seconds && $0 < $1) }) {
            let node = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) } ?? 0
            files[i].node = node
            load[node] += files[i].seconds
        }
        return ClusterPlan(files: files, nodes: nodes, coresPerNode: coresPerNode, rule: chosen, nodeSeconds: load,
                           coreSeconds: coreSeconds)
    }

    /// The plan for an artifact of `tensors` written as `targets`.
    public static func make(tensors: [PlannedTensorSource], targets: [GGMLType], prefix: String, nodes: Int, coresPerNode: Int,
                            rule: GGUFSplitRule?, throughput: TypeThroughput, readBytesPerSecond: Double? = nil) throws -> ClusterPlan {
        try make(names: tensors.map(\.name), elements: tensors.map(\.elementCount), sources: tensors.map(\.type), targets: targets,
                 bytes: zip(tensors, targets).map { $0.rowCount * $0.rowBytes($1) }, prefix: prefix, nodes: nodes,
                 coresPerNode: coresPerNode, rule: rule, throughput: throughput, readBytesPerSecond: readBytesPerSecond)
    }

    /// Bytes of `tensors` in their own types: what reading the source means.
    public static func sourceBytes(_ tensors: [PlannedTensorSource]) -> Int {
        tensors.reduce(0) { $0 + $1.rowCount * $1.rowBytes($1.type) }
    }

    public static let maximumFileBytes = 45_000_000_000

    /// The smallest size in whole MB that cuts the artifact into at most `nodes` files (so the
    /// files are as even as llama-gguf-split's cut allows), no smaller than the largest tensor and
    /// no larger than 45G (then there are more files than nodes).
    static func defaultRule(names: [String], bytes: [Int], nodes: Int) -> GGUFSplitRule {
        let padded = bytes.map { ($0 + GGUFSplitLayout.padding - 1) / GGUFSplitLayout.padding * GGUFSplitLayout.padding }
        let total = padded.reduce(0, +)
        let largest = max(1, ((padded.max() ?? 0) + 999_999) / 1_000_000)
        var low = max(largest, (total / nodes) / 1_000_000), high = maximumFileBytes / 1_000_000
        guard low < high else { return .maxBytes(min(low, high) * 1_000_000) }
        func files(_ megabytes: Int) -> Int {
            (try? GGUFSplitLayout.shards(names: names, byteCounts: bytes, rule: .maxBytes(megabytes * 1_000_000)).count) ?? Int.max
        }
        if files(high) > nodes { return .maxBytes(high * 1_000_000) }
        // The number of files only falls as the size grows: the smallest size that fits.
        while low < high {
            let mid = (low + high) / 2
            if files(mid) <= nodes { high = mid } else { low = mid + 1 }
        }
        return .maxBytes(low * 1_000_000)
    }
}
