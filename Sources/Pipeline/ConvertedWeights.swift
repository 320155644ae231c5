import BinaryIO
import GGUF
import Inference
import ModelConversion

/// A Hugging Face folder's tensors as the forward pass reads them — the converter's F16 form, the
/// same bytes the pipeline quantizes from — held in memory instead of written to a file first.
///
/// A tensor the converter would copy unchanged (every F16 matrix of an F16 checkpoint but Llama's
/// permuted q/k) is read in place from the folder's memory map; the rest (permuted q/k, norms
/// widened to F32, BF16 or FP8 weights narrowed to F16) is converted once into memory this object
/// owns. Writing and mapping a temporary F16 file instead cost SmolLM2-135M about 0.4 s per job,
/// a quarter of the whole job without evaluation (measured); `ReferenceModel` still writes that
/// file when the converted part would be too large to hold in memory.
final class ConvertedWeights: ModelWeights, @unchecked Sendable {
    let plan: ConversionPlan
    let weightTensors: [WeightTensor]
    private let byName: [String: WeightTensor]
    private let owned: [UnsafeMutableRawBufferPointer]
    /// Tensors read in place from the folder's map (the others were converted into `owned`).
    var inPlaceCount: Int { weightTensors.count - owned.count }

    var metadata: GGUFMetadata { plan.metadata }

    /// Bytes of the plan's tensors that cannot be read in place and would be converted into memory.
    static func convertedBytes(_ plan: ConversionPlan) -> Int {
        plan.tensors.reduce(0) { sum, tensor in
            inPlace(tensor) == nil ? sum + (tensor.type.byteCount(elements: tensor.elementCount) ?? 0) : sum
        }
    }

    /// The tensor's bytes in the folder's map when they are its converted bytes and aligned for
    /// their element type (the forward pass loads them as F16/F32 values).
    private static func inPlace(_ tensor: PlannedTensor) -> UnsafeRawBufferPointer? {
        guard let bytes = Converter.sourceBytesIfUnchanged(tensor), let base = bytes.baseAddress else { return nil }
        let alignment = tensor.type == .f32 ? 4 : 2
        return Int(bitPattern: base) % alignment == 0 ? bytes : nil
    }

    init(plan: ConversionPlan) {
        self.plan = plan
        var byName: [String: WeightTensor] = [:]
        var owned: [UnsafeMutableRawBufferPointer] = []
        for tensor in plan.tensors {
            let bytes: UnsafeRawBufferPointer, mapped: Bool
            if let source = Self.inPlace(tensor) {
                bytes = source
                mapped = true
            } else {
                let count = tensor.type.byteCount(elements: tensor.elementCount) ?? 0
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
                let rowLength = max(tensor.dimensions.first ?? 1, 1)
                if count > 0, let base = buffer.baseAddress {
                    Converter.writeRows(of: tensor, rows: 0..<(tensor.elementCount / rowLength), into: base)
                }
                owned.append(buffer)
                bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                mapped = false
            }
            byName[tensor.name] = WeightTensor(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                                               bytes: bytes, isMapped: mapped)
        }
        self.byName = byName
        self.owned = owned
        weightTensors = plan.tensors.compactMap { byName[$0.name] }
    }

    deinit {
        for buffer in owned { buffer.deallocate() }
    }

    func tensor(named name: String) -> WeightTensor? { byName[name] }

    /// Mapped tensors leave the resident set (the page cache keeps them); converted ones stay, as
    /// `madvise(MADV_DONTNEED)` would zero memory this object owns.
    func release(_ tensor: WeightTensor) {
        if tensor.isMapped { MappedFile.releasePages(tensor.bytes) }
    }
}
