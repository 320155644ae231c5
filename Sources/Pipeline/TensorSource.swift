import GGUF
import Quantization

/// Where a pipeline's tensors come from: a GGUF file today, a Hugging Face folder through the
/// converter. Tensors are listed in llama-quantize's order and read a slab of rows at a time, so
/// a job never holds a whole tensor, let alone the model.
public protocol TensorSource: AnyObject {
    /// The model's metadata as a GGUF writer would copy it.
    var metadata: GGUFMetadata { get }
    /// Every tensor, in the order artifacts are written.
    var tensors: [PlannedTensorSource] { get }
    /// The files read, for the manifest.
    var files: [String] { get }
    /// Rows `rows` of tensor `index` as stored (in the tensor's own type), for copying unchanged.
    func rawRows(_ index: Int, rows: Range<Int>) throws -> UnsafeRawBufferPointer
    /// Rows `rows` of tensor `index` as f32 values.
    func floatRows(_ index: Int, rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Tensor `index` will not be read again: its memory may be given back.
    func finished(_ index: Int)
}

extension PlannedTensorSource {
    public var rowLength: Int { dimensions.first ?? 1 }
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Bytes of one row in `type`.
    func rowBytes(_ type: GGMLType) -> Int { (rowLength / type.blockSize) * type.bytesPerBlock }
}

/// A GGUF file as a tensor source (F32, F16, BF16, or any type quantd can dequantize); the first
/// file of a split set reads the whole set, checked as llama.cpp's loader checks it.
public final class GGUFTensorSource: TensorSource {
    /// The file given (a split set's first file: its metadata is the model's).
    public let file: GGUFFile
    public let tensors: [PlannedTensorSource]
    private let splitSet: GGUFSplitSet?
    /// Each tensor's file (an index into the set's files; 0 for a single file) and entry there.
    private let infos: [(file: Int, info: GGUFTensorInfo)]

    public init(path: String) throws {
        file = try GGUFFile(path: path)
        if GGUFSplitSet.isSplit(file) {
            let set = try GGUFSplitSet(first: file)
            splitSet = set
            infos = TensorTypePlanner.quantizeOrder(set.tensors, name: { $0.info.name })
        } else {
            splitSet = nil
            infos = TensorTypePlanner.quantizeOrder(file.tensors.map { (file: 0, info: $0) }, name: { $0.info.name })
        }
        tensors = infos.map { PlannedTensorSource(name: $0.info.name, dimensions: $0.info.dimensions, type: $0.info.type) }
    }

    public var metadata: GGUFMetadata { file.metadata }
    public var files: [String] { splitSet?.paths ?? [file.path] }

    private func holder(_ index: Int) -> GGUFFile { splitSet?.files[infos[index].file] ?? file }

    public func rawRows(_ index: Int, rows: Range<Int>) throws -> UnsafeRawBufferPointer {
        let info = infos[index].info
        let rowBytes = tensors[index].rowBytes(info.type)
        let all = holder(index).data(for: info)
        return UnsafeRawBufferPointer(rebasing: all[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
    }

    public func finished(_ index: Int) { holder(index).release(infos[index].info) }

    public func floatRows(_ index: Int, rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let tensor = tensors[index]
        let bytes = try rawRows(index, rows: rows)
        try Quantizer.dequantize(tensor.type, bytes, count: rows.count * tensor.rowLength, into: buffer)
    }
}
