import Safetensors

/// A source tensor of the folder after filtering: its name as the tensor map sees it, and where it is.
typealias StoredTensor = (hfName: String, file: SafetensorsFile, info: SafetensorsTensorInfo)

/// Mixture-of-experts checkpoints store one 2-D tensor per expert (`...mlp.experts.7.up_proj.weight`,
/// Mixtral's `...block_sparse_moe.experts.7.w3.weight`); GGUF holds one 3-D tensor per layer and
/// kind (`blk.N.ffn_up_exps.weight`, `ne2` = experts), which the reference builds with
/// `torch.stack(experts, dim=0)` once a layer's experts are all seen. Here the stack is only a list
/// of the per-expert tensors in expert order: the converter reads them one after another, so no
/// stack is ever materialised.
struct ExpertStack {
    /// The name with the expert index removed (`model.layers.3.mlp.experts.up_proj.weight`), which the
    /// architecture's tensor table maps.
    let hfName: String
    /// One tensor per expert, expert 0 first.
    let experts: [StoredTensor]
}

public enum ExpertStacks {
    /// Splits `stored` into tensors that stay as they are and stacks of per-expert tensors.
    ///
    /// Every stack must hold exactly experts `0 ..< expertCount` (config.json's `num_local_experts`,
    /// `num_experts` or `n_routed_experts`), all 2-D with one shape and one dtype; anything else is
    /// a checkpoint the reference would refuse ("Unprocessed experts") or stack into a wrong tensor.
    static func split(_ stored: [StoredTensor], expertCount: Int?, path: String)
        throws(ConversionError) -> (singles: [StoredTensor], stacks: [ExpertStack]) {
        var singles: [StoredTensor] = []
        var groups: [String: [Int: StoredTensor]] = [:]
        var order: [String] = []
        for tensor in stored {
            guard let (merged, expert) = expertName(tensor.hfName) else {
                singles.append(tensor)
                continue
            }
            if groups[merged] == nil { order.append(merged) }
            guard groups[merged, default: [:]].updateValue(tensor, forKey: expert) == nil else {
                throw .tensor(path: tensor.file.path, tensor: tensor.info.name,
                              message: "appears twice for expert \(expert) — the checkpoint's shards overlap")
            }
        }
        guard !order.isEmpty else { return (singles, []) }
        guard let expertCount, expertCount > 0 else {
            throw .config(path: path, key: "num_experts",
                          message: "is missing or 0, but the weights hold per-expert tensors ('\(order[0])')"
                              + " — config.json must give the expert count (num_experts, num_local_experts or n_routed_experts)")
        }
        var stacks: [ExpertStack] = []
        for merged in order {
            let byExpert = groups[merged] ?? [:]
            if let missing = (0..<expertCount).first(where: { byExpert[$0] == nil }) {
                throw .tensor(path: path, tensor: merged,
                              message: "has no tensor for expert \(missing) of the \(expertCount) config.json declares"
                                  + " — a shard is missing, or num_experts does not match the weights")
            }
            if let extra = byExpert.keys.first(where: { $0 >= expertCount }) {
                throw .tensor(path: path, tensor: merged,
                              message: "has a tensor for expert \(extra), but config.json declares \(expertCount) experts")
            }
            let experts = (0..<expertCount).map { byExpert[$0]! }
            let first = experts[0].info
            guard first.shape.count == 2 else {
                throw .tensor(path: experts[0].file.path, tensor: first.name,
                              message: "has shape \(first.shape); a per-expert weight must be 2-D")
            }
            for expert in experts.dropFirst() where expert.info.shape != first.shape || expert.info.dtype != first.dtype {
                throw .tensor(path: expert.file.path, tensor: expert.info.name,
                              message: "is \(expert.info.dtype) \(expert.info.shape) but expert 0 is \(first.dtype) \(first.shape);"
                                  + " experts of one layer must agree to be stacked")
            }
            stacks.append(ExpertStack(hfName: merged, experts: experts))
        }
        return (singles, stacks)
    }

    /// `(prefix.experts.rest, N)` for `prefix.experts.N.rest`, else nil.
    public static func expertName(_ name: String) -> (String, Int)? {
        guard let marker = name.range(of: ".experts.") else { return nil }
        let tail = name[marker.upperBound...]
        let digits = tail.prefix { $0 >= "0" && $0 <= "9" }
        guard !digits.isEmpty, digits.count <= 6, let index = Int(digits) else { return nil }
        let rest = tail.dropFirst(digits.count)
        guard rest.hasPrefix(".") else { return nil }
        return (String(name[..<marker.upperBound]) + String(rest.dropFirst()), index)
    }
}
