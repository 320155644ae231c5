import GGUF
import Quantization

/// What a job records for one tensor of one artifact.
public struct TensorRecord: Sendable {
    public var name: String
    public var type: GGMLType
    public var bytes: Int
    public var elements: Int
    /// Error of the artifact's values against the f32 source; nil when copied unchanged.
    public var error: ErrorAccumulator?
}

/// One file of a split artifact, as the manifest lists it.
public struct ArtifactFile: Sendable, Equatable {
    public var path: String
    public var bytes: Int
    public var sha256: String
}

/// One artifact being written: its plan (a type per tensor), its GGUF writer (one file, or a
/// split set), and what it records. The runner feeds it every tensor in order, a slab of rows at a
/// time.
final class ArtifactWriter {
    enum Output {
        case single(GGUFWriter)
        case split(GGUFSplitWriter)
    }

    let scheme: PipelineConfig.Scheme
    /// The artifact's file; for a split set, its first file.
    let path: String
    let types: [GGMLType]
    let output: Output
    private(set) var records: [TensorRecord] = []
    private var current: TensorRecord?

    /// `path` is the single file's; a split set is named after it without `.gguf`
    /// (`M-Q4_K_M.gguf` -> `M-Q4_K_M-00001-of-00003.gguf`, …), as llama-gguf-split names a set.
    init(scheme: PipelineConfig.Scheme, path: String, split: GGUFSplitRule?, source: TensorSource, model: ModelHyperparameters,
         importance: ImportanceMatrix?) throws {
        self.scheme = scheme
        types = try TensorTypePlanner.plan(source.tensors, model: model, options: scheme.options)
        let plans = zip(source.tensors, types).map {
            GGUFTensorPlan(name: $0.name, dimensions: Self.withoutTrailingOnes($0.dimensions), type: $1)
        }
        let metadata = ArtifactWriter.metadata(source.metadata, scheme: scheme, importance: importance)
        if let split {
            let prefix = path.hasSuffix(".gguf") ? String(path.dropLast(5)) : path
            let writer = try GGUFSplitWriter(prefix: prefix, metadata: metadata, tensors: plans, rule: split, hashing: true)
            output = .split(writer)
            self.path = writer.shards[0].path
        } else {
            output = .single(try GGUFWriter(destination: path, metadata: metadata, tensors: plans, hashing: true))
            self.path = path
        }
    }

    /// Bytes written over all the artifact's files.
    var bytesWritten: Int {
        switch output {
        case .single(let w): w.bytesWritten
        case .split(let w): w.bytesWritten
        }
    }

    /// The SHA-256 of the artifact's (first) file, once finished.
    var sha256: String {
        switch output {
        case .single(let w): w.sha256 ?? ""
        case .split(let w): w.shards[0].sha256 ?? ""
        }
    }

    /// Every file of a split artifact (empty for a single file).
    var files: [ArtifactFile] {
        guard case .split(let w) = output else { return [] }
        return w.shards.map { ArtifactFile(path: $0.path, bytes: $0.bytes, sha256: $0.sha256 ?? "") }
    }

    /// A tensor's shape as llama-quantize writes it: without trailing dimensions of 1 (gguf writes
    /// `ggml_n_dims` dimensions), at least one. convert_hf_to_gguf.py keeps a `[64, 1]` shape
    /// (Qwen3-Next's `ffn_gate_inp_shexp`); llama-quantize's output says `[64]`.
    static func withoutTrailingOnes(_ dimensions: [Int]) -> [Int] {
        var trimmed = dimensions
        while trimmed.count > 1, trimmed.last == 1 { trimmed.removeLast() }
        return trimmed
    }

    /// llama-quantize's output metadata: the input's keys in order; `general.quantization_version`
    /// and `general.file_type` set (moved to the end, as gguf's set does); split keys removed;
    /// then the imatrix provenance keys.
    static func metadata(_ input: GGUFMetadata, scheme: PipelineConfig.Scheme, importance: ImportanceMatrix?) -> GGUFMetadata {
        var metadata = input
        metadata[GGUFKeys.General.quantizationVersion] = nil
        metadata[GGUFKeys.General.quantizationVersion] = .uint32(2)
        metadata[GGUFKeys.General.fileType] = nil
        metadata[GGUFKeys.General.fileType] = .uint32(scheme.options.mix.fileType)
        for key in [GGUFKeys.Split.llmKVSplitNo, GGUFKeys.Split.llmKVSplitCount, GGUFKeys.Split.llmKVSplitTensorsCount] {
            metadata[key] = nil
        }
        if let importance {
            for entry in importance.provenance {
                metadata[entry.key] = nil
                metadata[entry.key] = entry.value
            }
        }
        return metadata
    }

    func beginTensor(_ index: Int, tensor: PlannedTensorSource) {
        current = TensorRecord(name: tensor.name, type: types[index], bytes: 0, elements: tensor.elementCount, error: nil)
    }

    func append(_ bytes: UnsafeRawBufferPointer, error: ErrorAccumulator?) throws {
        switch output {
        case .single(let w): try w.append(bytes)
        case .split(let w): try w.append(bytes)
        }
        current?.bytes += bytes.count
        if let error {
            var total = current?.error ?? ErrorAccumulator()
            total.merge(error)
            current?.error = total
        }
    }

    func endTensor() {
        if let current { records.append(current) }
        current = nil
    }

    func finish() throws {
        switch output {
        case .single(let w): try w.finish()
        case .split(let w): try w.finish()
        }
    }

    func abort() {
        switch output {
        case .single(let w): w.abort()
        case .split(let w): w.abort()
        }
    }
}
