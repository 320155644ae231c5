import BinaryIO
import GGUF

/// Where a model's tensors are read from: a GGUF file's memory map, or (in the pipeline) a Hugging
/// Face folder's tensors as the converter would write them, without writing them.
///
/// The forward pass needs only a tensor's GGUF entry and its bytes; this is that much. Called when a
/// model is opened and once per layer per pass (to hand pages back), never in a hot loop.
public protocol ModelWeights: AnyObject, Sendable {
    /// The model's GGUF metadata (hyperparameters, vocabulary).
    var metadata: GGUFMetadata { get }
    /// The tensor named `name` in GGUF terms (`blk.0.attn_q.weight`), nil when the model has none.
    /// Its bytes stay valid while this object is alive.
    func tensor(named name: String) -> WeightTensor?
    /// Every tensor the model has.
    var weightTensors: [WeightTensor] { get }
    /// `tensor` has been read for now: its pages may leave this process's resident set (they are
    /// read again, from the page cache, on the next pass). Memory the object owns is kept.
    func release(_ tensor: WeightTensor)
}

/// One tensor as the forward pass sees it: GGUF dimensions (`ne0` first), type, and bytes.
public struct WeightTensor: @unchecked Sendable {
    public let name: String
    public let dimensions: [Int]
    public let type: GGMLType
    public let bytes: UnsafeRawBufferPointer
    /// The bytes are a file's memory map (released with `madvise`), not memory the store owns.
    public let isMapped: Bool

    public init(name: String, dimensions: [Int], type: GGMLType, bytes: UnsafeRawBufferPointer, isMapped: Bool) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.bytes = bytes
        self.isMapped = isMapped
    }

    public var elementCount: Int { dimensions.reduce(1, *) }
}

extension GGUFFile: ModelWeights {
    public func tensor(named name: String) -> WeightTensor? {
        header.tensor(named: name).map {
            WeightTensor(name: $0.name, dimensions: $0.dimensions, type: $0.type, bytes: data(for: $0), isMapped: true)
        }
    }

    public var weightTensors: [WeightTensor] {
        header.tensors.map { WeightTensor(name: $0.name, dimensions: $0.dimensions, type: $0.type, bytes: data(for: $0), isMapped: true) }
    }

    public func release(_ tensor: WeightTensor) { MappedFile.releasePages(tensor.bytes) }
}

/// A split set's tensors, each read from the file that holds it; the metadata is the first file's.
extension GGUFSplitSet: ModelWeights {
    public func tensor(named name: String) -> WeightTensor? {
        tensorIndex(named: name).map(weightTensor)
    }

    public var weightTensors: [WeightTensor] { tensors.indices.map(weightTensor) }

    public func release(_ tensor: WeightTensor) { MappedFile.releasePages(tensor.bytes) }

    private func weightTensor(_ index: Int) -> WeightTensor {
        let info = tensors[index].info
        return WeightTensor(name: info.name, dimensions: info.dimensions, type: info.type, bytes: data(for: index), isMapped: true)
    }
}
