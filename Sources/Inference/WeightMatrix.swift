import GGUF
import Quantization

/// One 2-D weight tensor, read in place from its `ModelWeights` (a GGUF file's memory map, or a
/// converted folder's tensors).
///
/// `rows` is ggml's `ne1` (output features), `columns` its `ne0` (input features); each row is a
/// whole number of blocks, so any range of rows can be dequantized on its own. The pointer is
/// valid only while the `ModelWeights` it came from is alive: `LlamaModel` owns them and wraps
/// every evaluation in `withExtendedLifetime`.
struct WeightMatrix: @unchecked Sendable {
    let name: String
    let type: GGMLType
    let rows: Int
    let columns: Int
    let rowBytes: Int
    let bytes: UnsafeRawPointer
    /// The tensor as its store gave it, to hand its pages back (`LlamaModel.keepsWeightsResident`).
    let tensor: WeightTensor

    init(tensor: WeightTensor, rows expectedRows: Int, columns expectedColumns: Int) throws {
        // A 1-D tensor is one row (Qwen2-MoE's shared-expert gate, ggml's [n, 1]).
        let dims = tensor.dimensions.count == 1 ? tensor.dimensions + [1] : tensor.dimensions
        guard dims.count == 2 || (dims.count > 2 && dims[2...].allSatisfy { $0 == 1 }),
              dims[0] == expectedColumns, dims[1] == expectedRows
        else {
            throw InferenceError.tensorShape(name: tensor.name, expected: [expectedColumns, expectedRows], actual: dims)
        }
        guard Quantizer.supportsDequantize(tensor.type), expectedColumns % tensor.type.blockSize == 0 else {
            throw InferenceError.unsupportedTensorType(name: tensor.name, type: tensor.type.name)
        }
        let data = tensor.bytes
        let rowBytes = try Quantizer.byteCount(tensor.type, rows: 1, rowLength: expectedColumns)
        guard let base = data.baseAddress, data.count == rowBytes * expectedRows else {
            throw InferenceError.tensorShape(name: tensor.name, expected: [expectedColumns, expectedRows], actual: dims)
        }
        name = tensor.name
        type = tensor.type
        rows = expectedRows
        columns = expectedColumns
        self.rowBytes = rowBytes
        bytes = base
        self.tensor = tensor
    }

    /// Expert `index` of a 3-D expert tensor: `rows` rows starting `index * rows` rows in.
    init(expertOf tensor: WeightTensor, index: Int, rows: Int, columns: Int, rowBytes: Int, bytes: UnsafeRawPointer) {
        name = tensor.name
        type = tensor.type
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.bytes = bytes + index * rows * rowBytes
        self.tensor = tensor
    }

    /// Dequantizes rows `range` into `output` (row-major, `columns` floats per row).
    /// The range was checked by the caller, so the only failure left is one the init ruled out.
    func dequantize(rows range: Range<Int>, into output: UnsafeMutablePointer<Float>) {
        let count = range.count * columns
        // F16 rows go through the CPU's F16C conversion in builds for x86-64-v3 and up (`FP16.toFloats`).
        let src = UnsafeRawBufferPointer(start: bytes + range.lowerBound * rowBytes, count: range.count * rowBytes)
        // Cannot throw: type, byte count and output size were validated in init.
        try? Quantizer.dequantize(type, src, count: count, into: UnsafeMutableBufferPointer(start: output, count: count))
    }
}

/// A 3-D tensor of `experts` matrices of `rows × columns` (ggml `[columns, rows, experts]`), as
/// llama.cpp stores Mixtral's and Qwen-MoE's `ffn_{gate,up,down}_exps`: expert e is the contiguous
/// run of rows `e·rows ..< (e+1)·rows`, so each expert is a `WeightMatrix` over its own slice.
struct ExpertWeights: @unchecked Sendable {
    let tensor: WeightTensor
    let experts: [WeightMatrix]

    init(tensor: WeightTensor, experts count: Int, rows: Int, columns: Int) throws {
        let dims = tensor.dimensions
        guard dims.count == 3 || (dims.count > 3 && dims[3...].allSatisfy { $0 == 1 }),
              dims[0] == columns, dims[1] == rows, dims[2] == count
        else {
            throw InferenceError.tensorShape(name: tensor.name, expected: [columns, rows, count], actual: dims)
        }
        guard Quantizer.supportsDequantize(tensor.type), columns % tensor.type.blockSize == 0 else {
            throw InferenceError.unsupportedTensorType(name: tensor.name, type: tensor.type.name)
        }
        let rowBytes = try Quantizer.byteCount(tensor.type, rows: 1, rowLength: columns)
        guard let base = tensor.bytes.baseAddress, tensor.bytes.count == rowBytes * rows * count else {
            throw InferenceError.tensorShape(name: tensor.name, expected: [columns, rows, count], actual: dims)
        }
        self.tensor = tensor
        experts = (0..<count).map {
            WeightMatrix(expertOf: tensor, index: $0, rows: rows, columns: columns, rowBytes: rowBytes, bytes: base)
        }
    }

    var name: String { tensor.name }
}

/// An optional 1-D tensor (biases, q/k norms): nil when the model does not have it.
func loadOptionalVector(weights: any ModelWeights, name: String, count: Int) throws -> [Float]? {
    weights.tensor(named: name) == nil ? nil : try loadVector(weights: weights, name: name, count: count)
}

/// A 1-D F32-convertible vector (norm weights, biases), dequantized once at load.
func loadVector(weights: any ModelWeights, name: String, count: Int) throws -> [Float] {
    guard let tensor = weights.tensor(named: name) else { throw InferenceError.missingTensor(name) }
    guard tensor.elementCount == count else {
        throw InferenceError.tensorShape(name: name, expected: [count], actual: tensor.dimensions)
    }
    guard Quantizer.supportsDequantize(tensor.type) else {
        throw InferenceError.unsupportedTensorType(name: name, type: tensor.type.name)
    }
    var out = [Float](repeating: 0, count: count)
    try withExtendedLifetime(weights) {
        try out.withUnsafeMutableBufferPointer { buf in
            try Quantizer.dequantize(tensor.type, tensor.bytes, count: count, into: buf)
        }
    }
    return out
}
