import GGUF

/// What the mix rules need to know of a model besides its tensor names.
public struct ModelHyperparameters: Sendable, Equatable {
    public var architecture: String
    /// `{arch}.block_count`: every block in the file, next-token-prediction (MTP) blocks included.
    public var layerCount: Int
    public var headCount: Int
    public var headCountKV: Int
    public var expertCount: Int
    /// `{arch}.nextn_predict_layers`: how many of the blocks are MTP blocks after the trunk.
    public var nextnLayerCount: Int
    /// `{arch}.num_loops` (nanbeige): the trunk runs this many times over.
    public var loopCount: Int

    public init(architecture: String, layerCount: Int, headCount: Int, headCountKV: Int, expertCount: Int = 0,
                nextnLayerCount: Int = 0, loopCount: Int = 1) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.headCount = headCount
        self.headCountKV = headCountKV
        self.expertCount = expertCount
        self.nextnLayerCount = nextnLayerCount
        self.loopCount = loopCount
    }

    /// Reads `general.architecture` and `{arch}.block_count`, `.attention.head_count(_kv)`,
    /// `.expert_count`, `.nextn_predict_layers`, `.num_loops` as llama.cpp does (a per-layer
    /// array counts by its first entry, which is layer 0's).
    public init(metadata: GGUFMetadata) throws(PlanError) {
        guard let arch = metadata[GGUFKeys.General.architecture]?.stringValue else {
            throw PlanError.missingMetadata(GGUFKeys.General.architecture)
        }
        func integer(_ key: GGUFKeys.ArchitectureKey) throws(PlanError) -> Int? {
            guard let value = metadata[key(arch)] else { return nil }
            let number: Int64?
            if let array = value.arrayValue {
                number = array.isEmpty ? 0 : array[0].integerValue
            } else {
                number = value.integerValue
            }
            // llama.cpp keeps these as 32-bit counts; anything outside is not a model it loads.
            guard let number, number >= 0, number <= Int64(UInt32.max) else {
                throw PlanError.badMetadata(key: key(arch), reason: "is not a count")
            }
            return Int(number)
        }
        guard let layers = try integer(GGUFKeys.LLM.blockCount) else { throw PlanError.missingMetadata(GGUFKeys.LLM.blockCount(arch)) }
        // llama.cpp's own limits (LLAMA_MAX_LAYERS, LLAMA_MAX_EXPERTS); it refuses files past them.
        guard layers > 0, layers <= 512 else {
            throw PlanError.badMetadata(key: GGUFKeys.LLM.blockCount(arch), reason: "is \(layers); llama.cpp accepts 1...512")
        }
        let nextn = try integer(GGUFKeys.LLM.nextNPredictLayers) ?? 0
        guard nextn <= layers else {
            throw PlanError.badMetadata(key: GGUFKeys.LLM.nextNPredictLayers(arch), reason: "is \(nextn), more than the \(layers) blocks")
        }
        let experts = try integer(GGUFKeys.LLM.expertCount) ?? 0
        guard experts <= 512 else {
            throw PlanError.badMetadata(key: GGUFKeys.LLM.expertCount(arch), reason: "is \(experts); llama.cpp accepts at most 512")
        }
        let loops = arch == "nanbeige" ? try integer(GGUFKeys.LLM.numLoops) ?? 1 : 1
        guard loops >= 1, (layers - nextn) * loops <= 512 else {
            throw PlanError.badMetadata(key: GGUFKeys.LLM.numLoops(arch), reason: "is \(loops); llama.cpp accepts 1 up to 512 layers in all")
        }
        let heads = try integer(GGUFKeys.Attention.headCount) ?? 0
        self.init(architecture: arch, layerCount: layers, headCount: heads,
                  headCountKV: try integer(GGUFKeys.Attention.headCountKV) ?? heads, expertCount: experts,
                  nextnLayerCount: nextn, loopCount: loops)
    }

    /// The layer count llama-quantize's ffn rules divide by (`hparams.n_layer_all` after the
    /// architecture's own hyperparameter loading): block_count, except where an architecture
    /// adds layers that have no tensors of their own — nanbeige's repeated loops, and the router
    /// layer graniteswitch appends after its trunk.
    var quantizeLayerCount: Int {
        let trunk = layerCount - nextnLayerCount
        if architecture == "nanbeige" && loopCount > 1 { return trunk * loopCount }
        if architecture == "graniteswitch" { return trunk + 1 }
        return layerCount
    }

    /// Query heads per key/value head of layer 0 (`n_gqa`); 0 when the model has no KV heads.
    var groupedQueryFactor: Int { headCountKV == 0 ? 0 : headCount / headCountKV }

    /// llama.cpp's LLM_TYPE_70B, the only model size its mix rules look at. Each architecture
    /// sizes itself by its trunk layer count (MTP blocks excluded); only these call a model 70B.
    var is70B: Bool {
        let trunk = layerCount - nextnLayerCount
        switch architecture {
        case "llama": return expertCount != 8 && trunk == 80 && headCount != headCountKV
        case "qwen2", "deci", "olmo": return trunk == 80
        case "jais2": return trunk == 68
        default: return false
        }
    }
}

public enum PlanError: Error, Equatable, CustomStringConvertible {
    case missingMetadata(String)
    case badMetadata(key: String, reason: String)
    case badLayer(tensor: String, layerCount: Int)
    case invalidOverride(pattern: String, reason: String)
    case noFallback(tensor: String, type: String)

    public var description: String {
        switch self {
        case .missingMetadata(let key): "the model has no '\(key)' metadata, which choosing tensor types needs"
        case .badMetadata(let key, let reason): "the model's '\(key)' metadata \(reason); is the file damaged?"
        case .badLayer(let tensor, let count): "cannot tell the layer of tensor '\(tensor)' (the model has \(count) layers); llama-quantize refuses it too"
        case .invalidOverride(let pattern, let reason): "tensor type rule '\(pattern)' is not a valid regular expression: \(reason)"
        case .noFallback(let tensor, let type): "tensor '\(tensor)' has rows that \(type) cannot hold, and \(type) has no fallback type"
        }
    }
}
