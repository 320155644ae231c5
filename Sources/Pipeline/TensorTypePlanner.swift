import GGUF

/// One tensor to plan for: its name, GGUF shape (ne0 first) and current type.
public struct PlannedTensorSource: Sendable, Equatable {
    public var name: String
    public var dimensions: [Int]
    public var type: GGMLType
    public init(name: String, dimensions: [Int], type: GGMLType) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
    }
}

/// A tensor type rule like llama-quantize's `--tensor-type PATTERN=TYPE`: the first rule whose
/// regular expression matches anywhere in the tensor name wins. (`@unchecked`: a compiled Regex
/// is an immutable value, but its output type is not marked Sendable.)
public struct TensorTypeRule: @unchecked Sendable {
    public let pattern: String
    public let type: GGMLType
    let regex: Regex<AnyRegexOutput>

    public init(pattern: String, type: GGMLType) throws(PlanError) {
        self.pattern = pattern
        self.type = type
        do {
            regex = try Regex(pattern)
        } catch {
            throw PlanError.invalidOverride(pattern: pattern, reason: "\(error)")
        }
    }

    func matches(_ name: String) -> Bool { (try? regex.firstMatch(in: name)) != nil }
}

/// What a scheme asks for: a mix plus llama-quantize's knobs.
public struct SchemeOptions: Sendable {
    public var mix: QuantMix
    /// `--pure`: every quantizable tensor gets the mix's default type, no per-tensor rules.
    public var pure = false
    public var outputTensorType: GGMLType?
    public var tokenEmbeddingType: GGMLType?
    public var rules: [TensorTypeRule] = []
    public var hasImportanceMatrix = false
    /// false: `--leave-output-tensor`, output.weight is copied as it is.
    public var quantizeOutputTensor = true
    /// A size target (`SizeTargetPlanner` turns it into `plannedTypes` before the artifact is planned).
    public var sizeTarget: SizeTargetSettings?
    /// The type of each quantized tensor by name, chosen for a size target; it replaces the mix's rules.
    public var plannedTypes: [String: GGMLType]?
    public var rounding = Rounding.ggml

    public init(mix: QuantMix) { self.mix = mix }
}

/// Chooses the type of every tensor exactly as `llama-quantize` does (`llama_tensor_get_type`).
public enum TensorTypePlanner {
    /// The order llama-quantize visits (and writes) tensors: tensors outside `blk.N.` first, then
    /// by layer number, names sorted by bytes within each (its `weight_name_comparer`).
    public static func quantizeOrder<T>(_ items: [T], name: (T) -> String) -> [T] {
        func key(_ n: String) -> Int { TensorName.blockNumber(Array(n.utf8)) ?? -1 }
        return items.sorted { a, b in
            let (na, nb) = (name(a), name(b))
            let (la, lb) = (key(na), key(nb))
            return la != lb ? la < lb : Array(na.utf8).lexicographicallyPrecedes(Array(nb.utf8))
        }
    }

    /// Types for `tensors` (which must already be in `quantizeOrder`), in the same order.
    public static func plan(_ tensors: [PlannedTensorSource], model: ModelHyperparameters,
                            options: SchemeOptions) throws(PlanError) -> [GGMLType] {
        var rules = MixRules(mix: options.mix, model: model, hasImportanceMatrix: options.hasImportanceMatrix,
                             outputTensorType: options.outputTensorType, tokenEmbeddingType: options.tokenEmbeddingType,
                             tensorNames: tensors.map(\.name))
        let defaultType = options.mix.defaultType
        var types: [GGMLType] = []
        types.reserveCapacity(tensors.count)
        for tensor in tensors {
            guard allowsQuantization(tensor, architecture: model.architecture,
                                     quantizeOutputTensor: options.quantizeOutputTensor) else {
                types.append(tensor.type)
                continue
            }
            let category = TensorCategory(tensorName: tensor.name)
            if let tokenType = options.tokenEmbeddingType, category == .tokenEmbedding,
               !(TensorName.equals(Array(tensor.name.utf8), "per_layer_token_embd.weight") && options.rules.contains { $0.matches(tensor.name) }) {
                types.append(tokenType)
                continue
            }
            if let outputType = options.outputTensorType, category == .output {
                types.append(outputType)
                continue
            }
            if let planned = options.plannedTypes?[tensor.name] {
                types.append(try fallback(for: tensor, planned))
                continue
            }
            var type = defaultType
            if type.isQuantized {
                var manual = false
                if let rule = options.rules.first(where: { $0.matches(tensor.name) }) {
                    type = rule.type
                    manual = true
                }
                if !manual && !options.pure {
                    type = try rules.type(for: tensor.name, dimensions: tensor.dimensions, category: category, default: type)
                }
                type = try fallback(for: tensor, type)
            }
            types.append(type)
        }
        return types
    }

    /// Whether llama-quantize touches the tensor at all (`tensor_allows_quantization`): 2-D and
    /// larger weights, except norms, expert routers, position embeddings and similar small ones.
    /// Everything else (biases, 1-D tensors, `ssm_a`, `ssm_d`, ...) is copied as it is.
    public static func allowsQuantization(_ tensor: PlannedTensorSource, architecture: String,
                                          quantizeOutputTensor: Bool = true) -> Bool {
        let significant = tensor.dimensions.prefix(4).lastIndex { $0 > 1 }.map { $0 + 1 } ?? 1
        guard significant >= 2 else { return false }
        let name = Array(tensor.name.utf8)
        // llama.cpp tests `name.rfind("weight") == name.size() - 6`, which also holds for a
        // five-byte name (both sides are npos), so such a name counts as a weight.
        guard name.count == 5 || name.reversed().starts(with: "weight".utf8.reversed()) else { return false }
        if !quantizeOutputTensor && TensorName.equals(name, "output.weight") { return false }
        if TensorName.equals(name, "position_embd.weight") || TensorName.equals(name, "token_types.weight") { return false }
        for excluded in excludedNameParts where TensorName.contains(name, excluded) { return false }
        if architecture == "glm5-next" {
            for excluded in glm5NextExcludedNameParts where TensorName.contains(name, excluded) { return false }
        }
        return true
    }

    private static let excludedNameParts: [StaticString] = [
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
        "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
        "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
        "mm.a.code_embd",
    ]

    /// glm5-next's small indexer, hyper-connection and low-rank tensors stay unquantized.
    private static let glm5NextExcludedNameParts: [StaticString] = [
        "hc_", "indexer.attn_q_b", "indexer.attn_k", "indexer.proj", "indexer_compressor_gate",
        "indexer_compressor_ape", "ssm_f_a.weight", "ssm_f_b.weight", "ssm_g_a.weight", "ssm_g_b.weight",
        "ssm_beta.weight", "attn_kv_a_mqa.weight", "attn_k_b.weight", "attn_v_b.weight",
    ]

    /// A type whose block does not divide the row length falls back as llama-quantize's
    /// `tensor_type_fallback` says, and to F16 when even that does not fit.
    static func fallback(for tensor: PlannedTensorSource, _ type: GGMLType) throws(PlanError) -> GGMLType {
        let columns = tensor.dimensions.first ?? 1
        guard columns % type.blockSize != 0 else { return type }
        var result: GGMLType
        switch type {
        case .iq1_S, .iq1_M, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S, .iq4_XS: result = .iq4_NL
        case .q2_0, .q2_K, .q3_K, .tq1_0, .tq2_0: result = .q4_0
        case .q4_K: result = .q5_0
        case .q5_K: result = .q5_1
        case .q6_K: result = .q8_0
        default:
            guard type.blockSize <= 32 else { throw PlanError.noFallback(tensor: tensor.name, type: type.name) }
            result = type
        }
        if columns % result.blockSize != 0 { result = .f16 }
        return result
    }
}
