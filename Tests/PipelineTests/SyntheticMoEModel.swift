import GGUF

/// A small seeded qwen2moe F16 model, written at test time: 4 layers, 4 experts whose down
/// projections have rows of 160 (so K-quants fall back there), a shared expert, biases, norms
/// and an untied output. `scripts/pipeline/make_moe_fixture.py` writes the same bytes with
/// gguf-py (its `write_model` is this generator's twin) and records what llama-quantize makes of
/// them; the fixture's `model_sha256` proves the two agree.
///
/// Element i (flat, ne0 fastest) of tensor t takes h = splitmix64((t << 40) | i) and
/// k = (h >> 53) - 1024. F16 matrices hold k * 2^-(12 + t % 3), times 16 when h & 255 == 0,
/// times 1/2 in odd experts; F32 norms hold 1 + k * 2^-12, other F32 tensors k * 2^-12. Every
/// value is exact in its type, so no rounding can differ between the two writers.
enum SyntheticMoEModel {
    static let hidden = 256, heads = 4, kvHeads = 1, layers = 4, experts = 4, used = 2
    static let ffExpert = 160, ffShared = 256, vocab = 300

    enum Kind { case f16, norm, f32 }

    static var tensors: [(name: String, dimensions: [Int], kind: Kind)] {
        var out: [(String, [Int], Kind)] = [("token_embd.weight", [hidden, vocab], .f16), ("output_norm.weight", [hidden], .norm),
                                            ("output.weight", [hidden, vocab], .f16)]
        let kv = kvHeads * (hidden / heads)
        for i in 0..<layers {
            let b = "blk.\(i)."
            out += [(b + "attn_norm.weight", [hidden], .norm),
                    (b + "attn_q.weight", [hidden, hidden], .f16), (b + "attn_q.bias", [hidden], .f32),
                    (b + "attn_k.weight", [hidden, kv], .f16), (b + "attn_k.bias", [kv], .f32),
                    (b + "attn_v.weight", [hidden, kv], .f16), (b + "attn_v.bias", [kv], .f32),
                    (b + "attn_output.weight", [hidden, hidden], .f16),
                    (b + "ffn_norm.weight", [hidden], .norm),
                    (b + "ffn_gate_inp.weight", [hidden, experts], .f32),
                    (b + "ffn_gate_exps.weight", [hidden, ffExpert, experts], .f16),
                    (b + "ffn_up_exps.weight", [hidden, ffExpert, experts], .f16),
                    (b + "ffn_down_exps.weight", [ffExpert, hidden, experts], .f16),
                    (b + "ffn_gate_inp_shexp.weight", [hidden], .f32),
                    (b + "ffn_gate_shexp.weight", [hidden, ffShared], .f16),
                    (b + "ffn_up_shexp.weight", [hidden, ffShared], .f16),
                    (b + "ffn_down_shexp.weight", [ffShared, hidden], .f16)]
        }
        return out
    }

    static func splitmix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static var metadata: GGUFMetadata {
        let a = "qwen2moe."
        var entries = [GGUFKeyValue("general.architecture", .string("qwen2moe"))]
        for (key, value) in [("context_length", 256), ("embedding_length", hidden), ("block_count", layers),
                             ("feed_forward_length", ffShared), ("attention.head_count", heads),
                             ("attention.head_count_kv", kvHeads)] {
            entries.append(GGUFKeyValue(a + key, .uint32(UInt32(value))))
        }
        entries.append(GGUFKeyValue(a + "attention.layer_norm_rms_epsilon", .float32(0x1p-20)))
        for (key, value) in [("expert_count", experts), ("expert_used_count", used),
                             ("expert_feed_forward_length", ffExpert), ("expert_shared_feed_forward_length", ffShared)] {
            entries.append(GGUFKeyValue(a + key, .uint32(UInt32(value))))
        }
        entries.append(GGUFKeyValue("general.file_type", .uint32(1)))
        return GGUFMetadata(entries)
    }

    /// Writes the model to `path`.
    static func write(to path: String) throws {
        let list = tensors
        let plans = list.map { GGUFTensorPlan(name: $0.name, dimensions: $0.dimensions, type: $0.kind == .f16 ? .f16 : .f32) }
        let writer = try GGUFWriter(destination: path, metadata: metadata, tensors: plans)
        for (t, tensor) in list.enumerated() {
            try writer.append(bytes(tensor: t, dimensions: tensor.dimensions, kind: tensor.kind))
        }
        try writer.finish()
    }

    static func bytes(tensor t: Int, dimensions: [Int], kind: Kind) -> [UInt8] {
        let count = dimensions.reduce(1, *)
        let perExpert = dimensions.count == 3 ? dimensions[0] * dimensions[1] : count
        var out: [UInt8] = []
        out.reserveCapacity(count * (kind == .f16 ? 2 : 4))
        for i in 0..<count {
            let h = splitmix64(UInt64(t) << 40 | UInt64(i))
            let k = Double(Int(h >> 53) - 1024)
            switch kind {
            case .norm, .f32:
                let value = Float((kind == .norm ? 1 : 0) + k * 0x1p-12)
                withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            case .f16:
                var value = k * Double(sign: .plus, exponent: -(12 + t % 3), significand: 1)
                if h & 255 == 0 { value *= 16 }
                if dimensions.count == 3 && (i / perExpert) % 2 == 1 { value /= 2 }
                withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }
}
