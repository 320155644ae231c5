import GGUF

/// What the mix rules need to know of a model besides its tensor names.
public struct ModelHyperparameters: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    public var headCount: Int
    public var headCountKV: Int
    public var expertCount: Int

    public init(architecture: String, layerCount: Int, headCount: Int, headCountKV: Int, expertCount: Int = 0) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.headCount = headCount
        self.headCountKV = headCountKV
        self.expertCount = expertCount
    }

    /// Reads `general.architecture` and `{arch}.block_count`, `.attention.head_count(_kv)`,
    /// `.expert_count` as llama.cpp does (a per-layer array counts by its first entry).
    public init(metadata: GGUFMetadata) throws(PlanError) {
        guard let arch = metadata["general.architecture"]?.stringValue else {
            throw PlanError.missingMetadata("general.architecture")
        }
        func integer(_ key: String) -> Int? {
            guard let value = metadata["\(arch).\(key)"] else { return nil }
            if let first = value.arrayValue?.first { return first.integerValue.map(Int.init) }
            return value.integerValue.map(Int.init)
        }
        guard let layers = integer("block_count") else { throw PlanError.missingMetadata("\(arch).block_count") }
        let heads = integer("attention.head_count") ?? 0
        self.init(architecture: arch, layerCount: layers, headCount: heads,
                  headCountKV: integer("attention.head_count_kv") ?? heads, expertCount: integer("expert_count") ?? 0)
    }

    /// Query heads per key/value head (`n_gqa`); 0 when the model has no KV heads.
    var groupedQueryFactor: Int { headCountKV == 0 ? 0 : headCount / headCountKV }

    /// llama.cpp's LLM_TYPE_70B, the only model size its mix rules look at.
    var isLlama70B: Bool { architecture == "llama" && layerCount == 80 && headCount != headCountKV }
}

public enum PlanError: Error, Equatable, CustomStringConvertible {
    case missingMetadata(String)
    case badLayer(tensor: String, layerCount: Int)
    case invalidOverride(pattern: String, reason: String)
    case noFallback(tensor: String, type: String)

    public var description: String {
        switch self {
        case .missingMetadata(let key): "the model has no '\(key)' metadata, which choosing tensor types needs"
        case .badLayer(let tensor, let count): "cannot tell the layer of tensor '\(tensor)' (the model has \(count) layers)"
        case .invalidOverride(let pattern, let reason): "tensor type rule '\(pattern)' is not a valid regular expression: \(reason)"
        case .noFallback(let tensor, let type): "tensor '\(tensor)' has rows that \(type) cannot hold, and \(type) has no fallback type"
        }
    }
}
