import GGUF
import JSON
import Safetensors

extension Architecture {
    /// `GptOssModel` (gpt-oss): attention with q/k/v/o biases and per-head sinks, sliding-window
    /// attention on alternate layers, yarn RoPE, and experts stored fused per layer — either BF16
    /// `gate_up_proj` `[E, H, 2I]` (gate and up interleaved) and `down_proj` `[E, I, H]`, transposed
    /// and split here, or MXFP4 `*_blocks`/`*_scales` repacked into GGML MXFP4 (see `GptOssExperts`).
    static let gptoss: Architecture = {
        var gptoss = Architecture(
            huggingFaceNames: ["GptOssForCausalLM"],
            ggufName: "gpt-oss",
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: tensorTable(attentionProjectionTensors, stackedExpertTensors, [
                "input_layernorm": "attn_norm",
                "self_attn.sinks": "attn_sinks",
                "post_attention_layernorm": "post_attention_norm",
                "mlp.router": "ffn_gate_inp",
            ]),
            configDefaults: [
                // GptOssConfig's defaults (transformers 4.57).
                ("num_key_value_heads", { _ in 8 }),
                ("head_dim", { _ in 64 }),
                ("max_position_embeddings", { _ in 131072 }),
                ("rms_norm_eps", { _ in 1e-5 }),
                ("rope_theta", { _ in 150000.0 }),
                ("sliding_window", { _ in 128 }),
                ("num_local_experts", { _ in 128 }),
                ("num_experts_per_tok", { _ in 4 }),
                ("rope_scaling", { _ in
                    ["rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": false,
                     "original_max_position_embeddings": 4096]
                }),
            ],
            permutesQueryKey: false,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                guard let window = try h.uint32(["sliding_window"]) else {
                    throw .config(path: h.path, key: "sliding_window", message: "is missing or null; gpt-oss needs its attention window")
                }
                m.setModel(GGUFKeys.Attention.slidingWindow, window)
                guard let expertLength = try h.uint32(["intermediate_size"]) else {
                    throw .config(path: h.path, key: "intermediate_size", message: "is missing; it is the experts' feed-forward length")
                }
                m.setModel(GGUFKeys.LLM.expertFeedForwardLength, expertLength)
            },
            generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
            vocabulary: .bpe)
        gptoss.filterTensor = { name, _ in
            // `GptOssModel.filter_tensors` names the sinks as a weight; `modify_tensors` names the
            // down-projection bias as a bias.
            if name.contains("sinks") { return name + ".weight" }
            if name.hasSuffix("down_proj_bias") { return name.replacingOccurrences(of: "down_proj_bias", with: "down_proj.bias") }
            return name
        }
        gptoss.planOwnTensors = GptOssExperts.plan
        gptoss.readsMXFP4 = true
        return gptoss
    }()
}

/// gpt-oss's fused expert tensors, as `GptOssModel.modify_tensors` and `generate_extra_tensors`
/// write them.
///
/// * BF16 `gate_up_proj` `[E, H, 2I]` is transposed to `[E, 2I, H]` and split into its even rows
///   (`ffn_gate_exps` `[E, I, H]`) and odd rows (`ffn_up_exps`); `down_proj` `[E, I, H]` is
///   transposed to `ffn_down_exps` `[E, H, I]`; `gate_up_proj_bias` `[E, 2I]` is split the same way
///   into `ffn_gate_exps.bias` and `ffn_up_exps.bias`. All are strided reads of the stored tensor.
/// * MXFP4 `gate_up_proj_blocks` `[E, 2I, B, 16]` + `_scales` `[E, 2I, B]` become MXFP4
///   `ffn_gate_exps`/`ffn_up_exps` (even/odd rows), `down_proj_blocks`/`_scales` `ffn_down_exps`,
///   whatever the output type.
enum GptOssExperts {
    @Sendable
    static func plan(_ stored: inout [StoredTensor], _ context: TensorPlanContext) throws(ConversionError) -> [PlannedTensor] {
        var planned: [PlannedTensor] = []
        var rest: [StoredTensor] = []
        var blocks: [String: StoredTensor] = [:]
        var scales: [String: StoredTensor] = [:]
        for entry in stored {
            let name = entry.hfName
            if name.hasSuffix("mlp.experts.gate_up_proj") {
                planned += try fusedWeight(entry, gateUp: true, context)
            } else if name.hasSuffix("mlp.experts.down_proj") {
                planned += try fusedWeight(entry, gateUp: false, context)
            } else if name.hasSuffix("mlp.experts.gate_up_proj_bias") {
                planned += try fusedBias(entry, context)
            } else if name.hasSuffix("_blocks"), name.contains("mlp.experts.") {
                blocks[String(name.dropLast("_blocks".count))] = entry
            } else if name.hasSuffix("_scales"), name.contains("mlp.experts.") {
                scales[String(name.dropLast("_scales".count))] = entry
            } else {
                rest.append(entry)
            }
        }
        for (base, blockTensor) in blocks.sorted(by: { $0.key < $1.key }) {
            guard let scaleTensor = scales.removeValue(forKey: base) else {
                throw .tensor(path: blockTensor.file.path, tensor: blockTensor.info.name,
                              message: "has no matching '\(base)_scales' tensor — the MXFP4 checkpoint is incomplete")
            }
            planned += try mxfp4(base: base, blocks: blockTensor, scales: scaleTensor, context)
        }
        if let (base, orphan) = scales.first {
            throw .tensor(path: orphan.file.path, tensor: orphan.info.name,
                          message: "has no matching '\(base)_blocks' tensor — the MXFP4 checkpoint is incomplete")
        }
        stored = rest
        return planned
    }

    /// The GGUF name of `hfName`, or the reference's "cannot map" error.
    private static func ggufName(_ hfName: String, _ entry: StoredTensor, _ context: TensorPlanContext) throws(ConversionError) -> String {
        guard let name = context.architecture.ggufTensorName(hfName) else {
            throw .unmappedTensor(path: entry.file.path, tensor: entry.info.name, architecture: context.architecture.huggingFaceNames[0])
        }
        return name
    }

    private static func planned(_ ggufName: String, numpyShape: [Int], source: TensorSource, type: GGMLType? = nil,
                                _ context: TensorPlanContext) -> PlannedTensor {
        PlannedTensor(name: ggufName, dimensions: numpyShape.reversed(),
                      type: type ?? TensorRules.type(ggufName: ggufName, numpyShape: numpyShape, outputType: context.outputType),
                      source: source)
    }

    /// `gate_up_proj` `[E, H, 2I]` -> gate and up `[E, I, H]`; `down_proj` `[E, I, H]` -> `[E, H, I]`.
    private static func fusedWeight(_ entry: StoredTensor, gateUp: Bool, _ context: TensorPlanContext) throws(ConversionError)
        -> [PlannedTensor] {
        let shape = entry.info.shape
        let element = try ConversionPlan.sourceType(of: entry.info, in: entry.file)
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }), !gateUp || shape[2] % 2 == 0 else {
            throw .tensor(path: entry.file.path, tensor: entry.info.name,
                          message: "has shape \(shape), expected [experts, rows, columns]" + (gateUp ? " with an even column count" : ""))
        }
        let (experts, inner, columns) = (shape[0], shape[1], shape[2])
        let prefix = String(entry.hfName.dropLast(gateUp ? "gate_up_proj".count : "down_proj".count))
        // Transposed: output rows are source columns; split: every second one, from `first`.
        let parts: [(String, Int, Int)] = gateUp ? [("gate_proj", 0, 2), ("up_proj", 1, 2)] : [("down_proj", 0, 1)]
        var out: [PlannedTensor] = []
        for (kind, first, step) in parts {
            let rows = columns / step
            let view = StridedView(rowLength: inner, rowsPerGroup: rows, groupStride: inner * columns, rowStride: step,
                                   offset: first, elementStride: columns)
            guard view.fits(rows: experts * rows, elementCount: entry.info.elementCount) else {
                throw .tensor(path: entry.file.path, tensor: entry.info.name, message: "has shape \(shape), which cannot be split")
            }
            let name = try ggufName(prefix + kind + ".weight", entry, context)
            out.append(planned(name, numpyShape: [experts, rows, inner],
                               source: .strided(file: entry.file, info: entry.info, element: element, view: view), context))
        }
        return out
    }

    /// `gate_up_proj_bias` `[E, 2I]` -> gate and up biases `[E, I]` (even and odd columns).
    private static func fusedBias(_ entry: StoredTensor, _ context: TensorPlanContext) throws(ConversionError) -> [PlannedTensor] {
        let shape = entry.info.shape
        let element = try ConversionPlan.sourceType(of: entry.info, in: entry.file)
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 }), shape[1] % 2 == 0 else {
            throw .tensor(path: entry.file.path, tensor: entry.info.name, message: "has shape \(shape), expected [experts, 2 × expert length]")
        }
        let prefix = String(entry.hfName.dropLast("gate_up_proj_bias".count))
        var out: [PlannedTensor] = []
        for (kind, first) in [("gate_proj", 0), ("up_proj", 1)] {
            let view = StridedView(rowLength: shape[1] / 2, rowsPerGroup: 1, groupStride: shape[1], rowStride: 0,
                                   offset: first, elementStride: 2)
            let name = try ggufName(prefix + kind + ".bias", entry, context)
            out.append(planned(name, numpyShape: [shape[0], shape[1] / 2],
                               source: .strided(file: entry.file, info: entry.info, element: element, view: view), context))
        }
        return out
    }

    /// `repack_mxfp4`: `<base>_blocks` + `<base>_scales` -> MXFP4 tensors (gate/up split for `gate_up_proj`).
    private static func mxfp4(base: String, blocks: StoredTensor, scales: StoredTensor, _ context: TensorPlanContext)
        throws(ConversionError) -> [PlannedTensor] {
        let b = blocks.info.shape
        let s = scales.info.shape
        guard blocks.info.dtype == .u8, scales.info.dtype == .u8 else {
            throw .tensor(path: blocks.file.path, tensor: blocks.info.name,
                          message: "and its scales are \(blocks.info.dtype) and \(scales.info.dtype); MXFP4 blocks and scales are U8")
        }
        let gateUp = base.hasSuffix("gate_up_proj")
        guard base.hasSuffix("down_proj") || gateUp else {
            throw .unmappedTensor(path: blocks.file.path, tensor: blocks.info.name, architecture: context.architecture.huggingFaceNames[0])
        }
        guard b.count == 4, b[3] == 16, s == Array(b.prefix(3)), b.prefix(3).allSatisfy({ $0 > 0 }), !gateUp || b[1] % 2 == 0 else {
            throw .tensor(path: blocks.file.path, tensor: blocks.info.name,
                          message: "has shape \(b) with scales \(s); MXFP4 blocks are [experts, rows, blocks, 16] and their scales"
                              + " [experts, rows, blocks]" + (gateUp ? ", with an even row count" : ""))
        }
        let (experts, rows, blockCount) = (b[0], b[1], b[2])
        let prefix = String(base.dropLast(gateUp ? "gate_up_proj".count : "down_proj".count))
        let parts: [(String, Int, Int)] = gateUp ? [("gate_proj", 0, 2), ("up_proj", 1, 2)] : [("down_proj", 0, 1)]
        var out: [PlannedTensor] = []
        for (kind, first, step) in parts {
            let outRows = rows / step
            let selection = MXFP4Rows(blocksPerRow: blockCount, rowsPerGroup: outRows, groupStride: rows, offset: first, rowStep: step)
            let name = try ggufName(prefix + kind + ".weight", blocks, context)
            out.append(planned(name, numpyShape: [experts, outRows, blockCount * 32],
                               source: .mxfp4(blocks: blocks.file, blocksInfo: blocks.info, scales: scales.file,
                                              scalesInfo: scales.info, rows: selection),
                               type: .mxfp4, context))
        }
        return out
    }
}
