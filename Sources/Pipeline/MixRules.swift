import GGUF

/// llama-quantize's per-tensor rules for a mix (`llama_tensor_get_type_impl` in
/// `src/llama-quant.cpp`): which tensors get more or fewer bits than the mix's default type.
///
/// The rules count attn_v and ffn_* tensors as they are visited, so the planner must visit
/// tensors in llama-quantize's order; that is why this is a stateful struct.
struct MixRules {
    let mix: QuantMix
    let model: ModelHyperparameters
    let hasImportanceMatrix: Bool
    let outputTensorType: GGMLType?
    let tokenEmbeddingType: GGMLType?
    /// True until an `output.weight` is seen: then token_embd doubles as the output.
    let hasTiedEmbeddings: Bool
    let attentionVCount: Int

    private var attentionVIndex = 0
    private var ffnDownIndex = 0
    private var ffnGateIndex = 0
    private var ffnUpIndex = 0

    init(mix: QuantMix, model: ModelHyperparameters, hasImportanceMatrix: Bool, outputTensorType: GGMLType?,
         tokenEmbeddingType: GGMLType?, tensorNames: [String]) {
        self.mix = mix
        self.model = model
        self.hasImportanceMatrix = hasImportanceMatrix
        self.outputTensorType = outputTensorType
        self.tokenEmbeddingType = tokenEmbeddingType
        let categories = tensorNames.map(TensorCategory.init(tensorName:))
        hasTiedEmbeddings = !categories.contains(.output)
        attentionVCount = categories.filter(\.isAttentionV).count
    }

    /// Layers in the first or last eighth, and every third in between, get more bits.
    static func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    private var isLowBitIQ: Bool { [.iq2_XXS, .iq2_XS, .iq1_S, .iq2_S, .iq2_M, .iq1_M].contains(mix) }
    private var gqa: Int { model.groupedQueryFactor }
    private var experts: Int { model.expertCount }

    /// The layer of an ffn tensor and the layer count it is measured against: its position among
    /// its kind, or, with experts (whose tensors are not in layer order), the number in its name.
    /// The count is llama.cpp's `n_layer_all`, MTP blocks included, whatever the tensor's kind
    /// (expert, shared expert or dense).
    private func layer(counter: Int, name: String) throws(PlanError) -> (Int, Int) {
        let layers = model.quantizeLayerCount
        guard max(1, experts) > 1 else { return (counter, layers) }
        guard let number = TensorName.blockNumber(Array(name.utf8)), number >= 0, number < layers else {
            throw PlanError.badLayer(tensor: name, layerCount: layers)
        }
        return (number, layers)
    }

    mutating func type(for name: String, dimensions: [Int], category: TensorCategory,
                       default defaultType: GGMLType) throws(PlanError) -> GGMLType {
        var type = defaultType
        let arch = model.architecture
        // glm5-next keeps its query projections and MTP input projection at 8 bits or more.
        if arch == "glm5-next" {
            let bytes = Array(name.utf8)
            if TensorName.contains(bytes, "attn_q_a") || TensorName.contains(bytes, "attn_q_b")
                || TensorName.contains(bytes, "nextn.eh_proj") {
                return [.f32, .bf16, .f16].contains(type) ? type : .q8_0
            }
        }
        if category == .output || (hasTiedEmbeddings && category == .tokenEmbedding) {
            if let outputTensorType {
                type = outputTensorType
            } else {
                let rowLength = dimensions.first ?? 1
                if mix == .mxfp4_MOE {
                    type = .q8_0
                } else if arch == "falcon" || rowLength % type.blockSize != 0 {
                    type = .q8_0
                } else if [.iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq2_S, .iq2_M, .iq1_M].contains(mix) {
                    type = .q5_K
                } else if type != .q8_0 {
                    type = .q6_K
                }
            }
        } else if mix == .mxfp4_MOE {
            // Expert tensors are the 3-D ones; bailingmoe3's MLA projections are 3-D too, so
            // there only the ffn ones count.
            let expertLike = arch != "bailingmoe3" || [.ffnUp, .ffnGate, .ffnDown].contains(category)
            type = dimensions.count > 2 && dimensions[2] > 1 && expertLike ? .mxfp4 : .q8_0
        } else if category == .tokenEmbedding {
            if let tokenEmbeddingType {
                type = tokenEmbeddingType
            } else if [.iq2_XXS, .iq2_XS, .iq1_S, .iq1_M].contains(mix) {
                type = .q2_K
            } else if mix == .iq2_S || mix == .iq2_M || mix == .iq3_XXS {
                type = .iq3_S
            } else if mix == .tq1_0 || mix == .tq2_0 || mix == .q2_0 {
                type = .q4_K
            }
        } else if isLowBitIQ {
            let iq2SorM = mix == .iq2_S || mix == .iq2_M
            if category.isAttentionV {
                type = gqa >= 4 || experts >= 4 ? .q4_K : (iq2SorM ? .iq3_S : .q2_K)
                attentionVIndex += 1
            } else if experts == 8 && category == .attentionK {
                type = .q4_K
            } else if category == .ffnDown {
                if ffnDownIndex < model.quantizeLayerCount / 8 { type = iq2SorM ? .iq3_S : .q2_K }
                ffnDownIndex += 1
            } else if category == .attentionOutput {
                if experts == 8 {
                    type = .q5_K
                } else if mix == .iq1_S || mix == .iq1_M {
                    type = .iq2_XXS
                } else if iq2SorM {
                    type = .iq3_S
                }
            }
        } else if category.isAttentionV {
            type = attentionVType(type)
            attentionVIndex += 1
        } else if category == .attentionK {
            if experts == 8 { type = .q8_0 }
            else if mix == .iq3_XS { type = .iq3_XXS }
            else if mix == .iq3_XXS { type = .iq2_S }
        } else if category == .attentionQ {
            if mix == .iq3_XS { type = .iq3_XXS }
            else if mix == .iq3_XXS { type = .iq2_S }
        } else if category == .ffnDown {
            let (layer, layers) = try self.layer(counter: ffnDownIndex, name: name)
            type = ffnDownType(type, layer: layer, layers: layers)
            ffnDownIndex += 1
        } else if category == .attentionOutput {
            type = attentionOutputType(type)
        } else if category == .attentionQKV {
            if mix == .q3_K_M || mix == .q3_K_L || mix == .iq3_M { type = .q4_K }
            else if mix == .q4_K_M { type = .q5_K }
            else if mix == .q5_K_M { type = .q6_K }
        } else if category == .ffnGate || category == .ffnUp {
            let counter = category == .ffnGate ? ffnGateIndex : ffnUpIndex
            let (layer, layers) = try self.layer(counter: counter, name: name)
            if mix == .iq3_XS && layer >= layers / 8 && layer < 7 * layers / 8 { type = .iq3_XXS }
            if category == .ffnGate { ffnGateIndex += 1 } else { ffnUpIndex += 1 }
        }
        return type
    }

    private func attentionVType(_ current: GGMLType) -> GGMLType {
        var type = current
        switch mix {
        case .q2_K: type = gqa >= 4 ? .q4_K : .q3_K
        case .q2_K_S where gqa >= 4: type = .q4_K
        case .iq3_XXS: type = gqa >= 4 ? .q4_K : (!hasImportanceMatrix ? .iq3_S : .iq3_XXS)
        case .iq3_XS where gqa >= 4, .iq3_S where gqa >= 4: type = .q4_K
        case .iq3_M: type = .q4_K
        case .q3_K_M: type = attentionVIndex < 2 ? .q5_K : .q4_K
        case .q3_K_L: type = .q5_K
        case .iq4_NL where gqa >= 4, .iq4_XS where gqa >= 4: type = .q5_K
        case .q4_K_M, .q5_K_M:
            if MixRules.useMoreBits(attentionVIndex, attentionVCount) { type = .q6_K }
        case .q4_K_S where attentionVIndex < 4: type = .q5_K
        default: break
        }
        // In a 70B model eight heads share each attn_v, which is therefore 8x smaller than
        // attn_q: more bits there cost little.
        if model.is70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
        if experts == 8 { type = .q8_0 }
        return type
    }

    private func ffnDownType(_ current: GGMLType, layer: Int, layers: Int) -> GGMLType {
        let falcon = model.architecture == "falcon"
        switch mix {
        case .q2_K: return .q3_K
        case .q2_K_S: return layer < layers / 8 ? .q4_K : current
        case .iq3_XXS where !hasImportanceMatrix: return layer < layers / 8 ? .q4_K : .q3_K
        case .q3_K_M:
            return layer < layers / 16 ? .q5_K : (!falcon || MixRules.useMoreBits(layer, layers) ? .q4_K : .q3_K)
        case .iq3_M where layer < layers / 8 || (experts == 8 && MixRules.useMoreBits(layer, layers)): return .q4_K
        case .q3_K_L: return falcon ? .q4_K : .q5_K
        case .q4_K_M:
            if falcon { return layer < layers / 16 ? .q6_K : (MixRules.useMoreBits(layer, layers) ? .q5_K : .q4_K) }
            return MixRules.useMoreBits(layer, layers) ? .q6_K : current
        default: break
        }
        // The remaining rules are an if/else-if chain in llama.cpp; their order matters.
        if layer < layers / 8 && (mix == .iq4_NL || mix == .iq4_XS) && !hasImportanceMatrix { return .q5_K }
        if mix == .q5_K_M && MixRules.useMoreBits(layer, layers) { return .q6_K }
        if mix == .q4_K_S && !falcon && layer < layers / 8 { return .q5_K }
        if (mix == .q4_0 || mix == .q5_0) && hasImportanceMatrix && layer < layers / 8 {
            // Guards the first ffn_down layers against outliers; only with an imatrix, so that
            // quantizing without one keeps giving the same files as before.
            return mix == .q4_0 ? .q4_1 : .q5_1
        }
        return current
    }

    private func attentionOutputType(_ current: GGMLType) -> GGMLType {
        if model.architecture == "falcon" { return mix == .q3_K_L ? .q4_K : current }
        if experts == 8 {
            let upgraded: [QuantMix] = [.q2_K, .iq3_XS, .iq3_XXS, .q3_K_S, .q3_K_M, .iq4_NL, .q4_K_S, .q4_K_M, .iq3_S, .iq3_M, .iq4_XS]
            return upgraded.contains(mix) ? .q5_K : current
        }
        switch mix {
        case .q2_K: return .q3_K
        case .iq3_XXS: return .iq3_S
        case .q3_K_M: return .q4_K
        case .q3_K_L: return .q5_K
        case .iq3_M: return .q4_K
        default: return current
        }
    }
}
