import GGUF
import ModelConversion
import Quantization

/// A Hugging Face model folder as a tensor source: the converter's F16 output (what
/// `convert_hf_to_gguf.py --outtype f16` writes), produced a slab at a time and never written to
/// disk. Quantizing from it gives exactly what llama-quantize gives from that F16 file, so the
/// pipeline's artifacts match the two-tool chain byte for byte, in one pass.
public final class ConvertedModelSource: TensorSource {
    public let plan: ConversionPlan
    public let tensors: [PlannedTensorSource]
    private let scratch: UnsafeMutableRawBufferPointer

    public init(folder: String) throws {
        plan = try ConversionPlan(input: folder, outputType: .fixed(.f16))
        tensors = plan.tensors.map { PlannedTensorSource(name: $0.name, dimensions: $0.dimensions, type: $0.type) }
        // One slab of F16 rows: the runner asks for at most its slab of values at a time.
        let largestRow = tensors.map { $0.rowLength * 4 }.max() ?? 4
        scratch = .allocate(byteCount: max(largestRow, (1 << 22) * 4), alignment: 64)
    }

    deinit { scratch.deallocate() }

    public var metadata: GGUFMetadata { plan.metadata }
    public var files: [String] {
        plan.folder.weights.map(\.path) + plan.folder.tokenizerFiles.map { plan.folder.path + "/" + $0 } + [plan.folder.path + "/config.json"]
    }

    public func rawRows(_ index: Int, rows: Range<Int>) throws -> UnsafeRawBufferPointer {
        let tensor = tensors[index]
        let bytes = rows.count * tensor.rowBytes(tensor.type)
        guard bytes <= scratch.count, let base = scratch.baseAddress else {
            throw PipelineError.sourceSlabTooLarge(tensor: tensor.name)
        }
        Converter.writeRows(of: plan.tensors[index], rows: rows, into: base)
        return UnsafeRawBufferPointer(rebasing: scratch[0..<bytes])
    }

    public func floatRows(_ index: Int, rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let tensor = tensors[index]
        let bytes = try rawRows(index, rows: rows)
        try Quantizer.dequantize(tensor.type, bytes, count: rows.count * tensor.rowLength, into: buffer)
    }

    public func finished(_ index: Int) { Converter.release(plan.tensors[index]) }
}
