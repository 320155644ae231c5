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

/// One artifact being written: its plan (a type per tensor), its GGUF writer, and what it
/// records. The runner feeds it every tensor in order, a slab of rows at a time.
final class ArtifactWriter {
    let scheme: PipelineConfig.Scheme
    let path: String
    let types: [GGMLType]
    let writer: GGUFWriter
    private(set) var records: [TensorRecord] = []
    private var current: TensorRecord?

    init(scheme: PipelineConfig.Scheme, path: String, source: TensorSource, model: ModelHyperparameters,
         importance: ImportanceMatrix?) throws {
        self.scheme = scheme
        self.path = path
        types = try TensorTypePlanner.plan(source.tensors, model: model, options: scheme.options)
        let plans = zip(source.tensors, types).map {
            GGUFTensorPlan(name: $0.name, dimensions: Self.withoutTrailingOnes($0.dimensions), type: $1)
        }
        writer = try GGUFWriter(destination: path, metadata: ArtifactWriter.metadata(source.metadata, scheme: scheme, importance: importance),
                                tensors: plans, hashing: true)
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
        try writer.append(bytes)
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

    func finish() throws { try writer.finish() }
    func abort() { writer.abort() }
}
