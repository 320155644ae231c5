import Safetensors

/// The FP8 part of the reference's `dequant_model` (`quant_method: "fp8"`): each
/// `X.weight_scale_inv` multiplies `X.weight` in blocks of `weight_block_size`, each 1-D
/// `X.weight_scale` multiplies it whole or per row; activation/input/k/v scales are unused and
/// dropped. Other quantization methods (GPTQ, AWQ, bitnet, NVFP4, MXFP4, ...) are refused.
struct FP8Scales {
    private var scales: [String: (file: SafetensorsFile, info: SafetensorsTensorInfo)] = [:]
    private var blockSize: [Int]?

    /// Takes the scale tensors out of `stored`, keyed by the weight they belong to.
    /// `acceptsMXFP4`: the architecture reads MXFP4 checkpoints itself (they have no FP8 scales).
    init(stored: inout [StoredTensor],
         hparams: HyperParameters, acceptsMXFP4: Bool = false) throws(ConversionError) {
        guard let config = hparams["quantization_config"], case .object = config,
              let method = config["quant_method"], !method.isNull else { return }
        if acceptsMXFP4 && method.stringValue == "mxfp4" { return }
        guard method.stringValue == "fp8" else {
            throw .config(path: hparams.path, key: "quantization_config.quant_method",
                          message: "is \(method.stringValue.map { "'\($0)'" } ?? method.kindName), which is not supported "
                              + "(only unquantized and fp8 block-scaled checkpoints are); use convert_hf_to_gguf.py")
        }
        if let block = config["weight_block_size"], !block.isNull {
            guard let sizes = block.arrayValue?.compactMap(\.intValue), sizes.count == 2, sizes.allSatisfy({ $0 > 0 }) else {
                throw .config(path: hparams.path, key: "quantization_config.weight_block_size",
                              message: "is not two positive integers")
            }
            blockSize = sizes
        }
        let names = Set(stored.map(\.hfName))
        var kept: [StoredTensor] = []
        for entry in stored {
            let name = entry.hfName
            if name.hasSuffix("_scale_inv") {
                scales[String(name.dropLast("_scale_inv".count))] = (entry.file, entry.info)
            } else if name.hasSuffix(".weight_scale") {
                let weight = String(name.dropLast("_scale".count))
                if names.contains(weight) { scales[weight] = (entry.file, entry.info) }
            } else if [".activation_scale", "_activation_scale", ".input_scale", ".k_scale", ".v_scale"]
                        .contains(where: { name.hasSuffix($0) }) {
                continue
            } else {
                kept.append(entry)
            }
        }
        stored = kept
    }

    /// The scale of weight `hfName`, checked against its shape; nil when it has none.
    func scale(for hfName: String, weight: SafetensorsTensorInfo, path: String) throws(ConversionError) -> DequantizationScale? {
        guard let (file, info) = scales[hfName] else { return nil }
        guard let element = ElementConversion.SourceType(info.dtype), element.byteSize >= 2 else {
            throw .tensor(path: file.path, tensor: info.name, message: "is a scale of dtype \(info.dtype); F32, F16 or BF16 expected")
        }
        let rows = weight.shape.first ?? 1
        if let block = blockSize, info.name.hasSuffix("_scale_inv") {
            let columns = weight.shape.count == 2 ? weight.shape[1] : 0
            let expected = [(rows + block[0] - 1) / block[0], (columns + block[1] - 1) / block[1]]
            guard weight.shape.count == 2, info.shape == expected else {
                throw .tensor(path: file.path, tensor: info.name,
                              message: "has shape \(info.shape), but \(weight.name) \(weight.shape) in blocks of \(block) needs \(expected)")
            }
            return DequantizationScale(file: file, info: info, element: element, blockSize: block)
        }
        guard info.elementCount == 1 || (info.shape.count == 1 && info.shape[0] == rows) else {
            throw .tensor(path: file.path, tensor: info.name,
                          message: "has shape \(info.shape); without weight_block_size a scale must be one value or one per row of \(weight.name)")
        }
        return DequantizationScale(file: file, info: info, element: element, blockSize: nil)
    }
}
