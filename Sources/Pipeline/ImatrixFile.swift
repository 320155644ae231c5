import GGUF

/// Raw importance statistics as llama-imatrix stores them, and their GGUF file
/// (`IMatrixCollector::save_imatrix` in `tools/imatrix/imatrix.cpp`).
///
/// The file has no `general.architecture`; its keys are `general.type = "imatrix"`,
/// `imatrix.datasets` (string array), `imatrix.chunk_count` and `imatrix.chunk_size` (UINT32),
/// in that order; for every tensor, by name, `NAME.in_sum2` (F32, one value per input column and
/// expert) then `NAME.counts` (F32, one token count per expert). A dense tensor's sums are written
/// 1-D, as ggml writes a `[n, 1]` tensor (`ggml_n_dims`). Alignment 32. Raw sums, not means: the
/// reader divides (and llama-imatrix can merge files by adding).
public struct ImatrixFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// `columns × experts` sums of squared activations.
        public var sums: [Float]
        /// Tokens summed, one per expert.
        public var counts: [Float]

        public init(name: String, sums: [Float], counts: [Float]) {
            self.name = name
            self.sums = sums
            self.counts = counts
        }
    }

    public var entries: [Entry]
    public var datasets: [String]
    public var chunkCount: Int
    public var chunkSize: Int

    public init(entries: [Entry], datasets: [String], chunkCount: Int, chunkSize: Int) {
        self.entries = entries.sorted { $0.name < $1.name }
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.chunkSize = chunkSize
    }

    /// The keys in llama-imatrix's order.
    public var metadata: GGUFMetadata {
        GGUFMetadata([
            GGUFKeyValue(GGUFKeys.General.type, .string("imatrix")),
            GGUFKeyValue(GGUFKeys.IMatrix.datasets, .array(.string, datasets.map { .string($0) })),
            GGUFKeyValue(GGUFKeys.IMatrix.chunkCount, .uint32(UInt32(clamping: chunkCount))),
            GGUFKeyValue(GGUFKeys.IMatrix.chunkSize, .uint32(UInt32(clamping: chunkSize))),
        ])
    }

    /// Writes the file atomically (temporary name, fsync, rename).
    public func write(to path: String) throws {
        var plans: [GGUFTensorPlan] = []
        for e in entries {
            let experts = max(1, e.counts.count)
            let columns = e.sums.count / experts
            plans.append(GGUFTensorPlan(name: "\(e.name).in_sum2", dimensions: experts > 1 ? [columns, experts] : [columns], type: .f32))
            plans.append(GGUFTensorPlan(name: "\(e.name).counts", dimensions: experts > 1 ? [1, experts] : [1], type: .f32))
        }
        let writer = try GGUFWriter(destination: path, metadata: metadata, tensors: plans)
        do {
            for e in entries {
                try Self.append(e.sums, to: writer)
                try Self.append(e.counts, to: writer)
            }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
    }

    private static func append(_ values: [Float], to writer: GGUFWriter) throws {
        let littleEndian = values.map { $0.bitPattern.littleEndian }
        try littleEndian.withUnsafeBytes { try writer.append($0) }
    }

    /// The matrix the scheme stages use, normalised as llama-quantize normalises the file
    /// (see `ImportanceMatrix.normalised`); `file` is what artifacts record as its name.
    public func importanceMatrix(file: String) -> ImportanceMatrix {
        var normalised: [String: [Float]] = [:]
        for e in entries { normalised[e.name] = ImportanceMatrix.normalised(sums: e.sums, counts: e.counts) }
        return ImportanceMatrix(file: file, entries: normalised, datasets: datasets, chunkCount: chunkCount)
    }
}
