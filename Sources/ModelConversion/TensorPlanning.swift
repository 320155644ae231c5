import GGUF
import Safetensors

/// One output tensor: its GGUF name, shape and type, and where its elements come from.
public struct PlannedTensor: Sendable {
    public let name: String
    /// GGUF order, `ne0` first.
    public let dimensions: [Int]
    public let type: GGMLType
    public var elementCount: Int { dimensions.reduce(1, *) }
    let source: TensorSource
}

enum TensorSource: Sendable {
    /// A safetensors tensor; `permuteGroups` is Llama's head count for the q/k row permutation;
    /// `scale` the dequantization scale of an FP8 weight; `shift` a constant added (Gemma's norms).
    /// Only the tensor's first `dimensions` rows are read (Gemma 3's embedding truncation).
    case stored(file: SafetensorsFile, info: SafetensorsTensorInfo, element: ElementConversion.SourceType,
                permuteGroups: Int?, scale: DequantizationScale?, shift: Float)
    case generated([Float])
    /// Per-expert 2-D tensors stacked along a new outermost dimension (`torch.stack(experts, dim=0)`):
    /// expert `e` supplies output rows `e * rowsPerExpert ..< (e + 1) * rowsPerExpert`. Each part is
    /// a `.stored` source; parts are read one after another, so only one expert's pages are resident.
    indirect case stacked([TensorSource])
    /// One half of DeepSeek's MLA `kv_b_proj` (a `.stored` source), as the reference splits it.
    indirect case mlaSplit(TensorSource, MLASplit)
    /// Rows gathered from a safetensors tensor at fixed strides (see `StridedView`): a transposed
    /// or de-interleaved part of a fused tensor, read without materialising it.
    case strided(file: SafetensorsFile, info: SafetensorsTensorInfo, element: ElementConversion.SourceType, view: StridedView)
    /// GGML MXFP4 rows repacked from a checkpoint's MXFP4 `_blocks` and `_scales` tensors (see `MXFP4Rows`).
    case mxfp4(blocks: SafetensorsFile, blocksInfo: SafetensorsTensorInfo, scales: SafetensorsFile,
               scalesInfo: SafetensorsTensorInfo, rows: MXFP4Rows)
}

/// A view of a stored tensor as rows of `rowLength` elements taken `elementStride` apart, row `r`
/// starting at element `(r / rowsPerGroup) * groupStride + (r % rowsPerGroup) * rowStride + offset`
/// (numpy's `as_strided`). gpt-oss's fused experts are read this way: `gate_up_proj` `[E, H, 2I]`
/// transposed to `[E, 2I, H]` and split into its even (gate) and odd (up) rows is, for the gate,
/// rows of H elements `2I` apart, I rows per expert starting 2 elements apart, experts `H × 2I` apart.
/// Output rows group by `rowsPerGroup`: group `g` reads only source elements
/// `g * groupStride ..< (g + 1) * groupStride`, whose pages can go once the group is written.
struct StridedView: Sendable {
    let rowLength: Int
    let rowsPerGroup: Int
    let groupStride: Int
    let rowStride: Int
    let offset: Int
    let elementStride: Int

    /// The source element where output row `row` starts.
    @inline(__always)
    func start(ofRow row: Int) -> Int {
        (row / rowsPerGroup) * groupStride + (row % rowsPerGroup) * rowStride + offset
    }

    /// Whether `rows` output rows read only elements of a source of `elementCount` elements.
    func fits(rows: Int, elementCount: Int) -> Bool {
        guard rows > 0, rowLength > 0, rowsPerGroup > 0, groupStride >= 0, rowStride >= 0, offset >= 0, elementStride > 0,
              rows % rowsPerGroup == 0 else { return false }
        let last = (rows / rowsPerGroup - 1) * groupStride + (rowsPerGroup - 1) * rowStride + offset
            + (rowLength - 1) * elementStride
        return last < elementCount
    }
}

/// GGML MXFP4 rows from an OCP-MX checkpoint (gpt-oss): `_blocks` `[E, R, B, 16]` U8 holds per row B
/// blocks of 32 FP4 codes, two a byte (element `2i` in the low nibble of byte `i`), and `_scales`
/// `[E, R, B]` U8 their E8M0 exponents. A GGML block is the exponent followed by 16 bytes with
/// element `j` in the low and element `j + 16` in the high nibble of byte `j` — the same codes,
/// moved. Output row `r` is source row `(r / rowsPerGroup) * groupStride + offset + (r % rowsPerGroup) * rowStep`
/// (gpt-oss's `gate_up_proj` interleaves gate and up rows).
struct MXFP4Rows: Sendable {
    let blocksPerRow: Int
    let rowsPerGroup: Int
    let groupStride: Int
    let offset: Int
    let rowStep: Int

    @inline(__always)
    func sourceRow(_ row: Int) -> Int {
        (row / rowsPerGroup) * groupStride + offset + (row % rowsPerGroup) * rowStep
    }

    /// One GGML block (17 bytes at `out`) from a block's 16 code bytes and its exponent.
    @inline(__always)
    static func repack(codes: UnsafeRawPointer, exponent: UInt8, into out: UnsafeMutableRawPointer) {
        out.storeBytes(of: exponent, as: UInt8.self)
        for i in 0..<8 {
            let a = codes.load(fromByteOffset: i, as: UInt8.self)
            let b = codes.load(fromByteOffset: i + 8, as: UInt8.self)
            out.storeBytes(of: (a & 0x0F) | (b << 4), toByteOffset: 1 + 2 * i, as: UInt8.self)
            out.storeBytes(of: (a >> 4) | (b & 0xF0), toByteOffset: 2 + 2 * i, as: UInt8.self)
        }
    }
}

/// DeepSeek-V2/V3's `kv_b_proj` is `[heads × (nope + value), kvLoraRank]`: per head, `nope` rows
/// that make keys and `value` rows that make values. The reference writes them as two tensors:
/// `attn_v_b` `[heads, value, kvLoraRank]` (the value rows as they are) and `attn_k_b`
/// `[heads, kvLoraRank, nope]` (each head's key rows transposed, for the absorbed attention).
struct MLASplit: Sendable {
    enum Half: Sendable { case key, value }
    let half: Half
    let heads: Int
    let nope: Int
    let value: Int
}

/// `weight_scale_inv` (or `weight_scale`) of an FP8 checkpoint: the reference's `dequant_simple`
/// multiplies `weight.float()` by it, each scale covering a `blockSize` block of the weight
/// (`weight_block_size` in config.json), or broadcast (one value, or one per row) without one.
struct DequantizationScale: Sendable {
    let file: SafetensorsFile
    let info: SafetensorsTensorInfo
    let element: ElementConversion.SourceType
    let blockSize: [Int]?
}

/// The per-tensor rules of the reference's `prepare_tensors`, as pure functions.
public enum TensorRules {
    /// HF tensors the reference drops before mapping.
    public static func isIgnored(_ hfName: String) -> Bool {
        hfName.hasSuffix(".attention.masked_bias") || hfName.hasSuffix(".attention.bias")
            || hfName.hasSuffix(".rotary_emb.inv_freq")
    }

    /// `TextModel.filter_tensors`: vision/audio parts of multimodal checkpoints are not text-model tensors.
    public static func isMultimodal(_ name: String) -> Bool {
        let prefixes = ["mlp", "vit.", "vpm.", "siglip2.", "conformer.", "merger.", "resampler.", "sound_encoder.",
                        "sound_projection.", "speech_embeddings."]
        let infixes = ["visual.", "vision.", "audio.", "talker.", "vision_", "audio_", "token2wav.", "code2wav.",
                       "projector.", "pre_mm_projector_norm", "image_newline", "view_seperator", "patch_embed",
                       "patch_embedding", "patch_merger.", "patch_merge_mlp.", "model.connector."]
        return prefixes.contains { name.hasPrefix($0) } || infixes.contains { name.contains($0) }
    }

    /// The GGML type the reference gives a tensor: 1-D tensors, `*_norm.weight`, anything not
    /// named `.weight` (biases) and the position and token-type embeddings stay F32; the rest get
    /// the output type, except that Q8_0 falls back to F16 when a row is not a multiple of its
    /// 32-element block.
    public static func type(ggufName: String, numpyShape: [Int], outputType: OutputType) -> GGMLType {
        if numpyShape.count <= 1 || ggufName.hasSuffix("_norm.weight") || !ggufName.hasSuffix(".weight")
            || alwaysF32.contains(String(baseName(ggufName))) {
            return .f32
        }
        if outputType == .q8_0, let row = numpyShape.last, row % 32 != 0 {
            return .f16
        }
        return outputType.ggmlType
    }

    /// Tensors the reference keeps in F32 whatever the output type (`prepare_tensors`' list, for the
    /// tensor kinds quantd's architectures have): position and token-type embeddings and the MoE
    /// routers.
    static let alwaysF32: Set<String> = ["position_embd", "token_types", "ffn_gate_inp", "ffn_gate_inp_shexp"]

    /// `blk.3.ffn_gate_inp.weight` -> `ffn_gate_inp`; `token_types.weight` -> `token_types`.
    static func baseName(_ ggufName: String) -> Substring {
        var name = Substring(ggufName)
        if name.hasSuffix(".weight") { name = name.dropLast(7) }
        if name.hasPrefix("blk."), let dot = name.dropFirst(4).firstIndex(of: ".") {
            name = name[name.index(after: dot)...]
        }
        return name
    }

    /// llama-quantize's tensor order (`llama_model_loader::weight_name_comparer`): tensors outside
    /// the layers first, then `blk.0`, `blk.1`, ... numerically, byte order of names within each.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        let la = layer(of: a), lb = layer(of: b)
        if la != lb { return la < lb }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// `sscanf(name, "blk.%d.", &layer)`, -1 when the name is not in a layer.
    static func layer(of name: String) -> Int {
        guard name.hasPrefix("blk.") else { return -1 }
        let digits = name.dropFirst(4).prefix { $0 >= "0" && $0 <= "9" }
        guard !digits.isEmpty, let n = Int(digits) else { return -1 }
        return n
    }

    /// `LlamaModel.permute`: the source row of output row `row` when `rows` rows are split into
    /// `groups` heads, each stored as two halves (HF rotate-half) and written interleaved (GGML).
    @inline(__always)
    public static func permutedSourceRow(_ row: Int, rows: Int, groups: Int) -> Int {
        let half = rows / groups / 2
        let head = row / (2 * half)
        let rest = row % (2 * half)
        return head * 2 * half + (rest % 2) * half + rest / 2
    }
}
