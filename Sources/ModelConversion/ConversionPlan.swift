import BinaryIO
import GGUF
import ModelFolder
import Safetensors

#if canImport(Glibc)
import Glibc
#endif

/// Everything about a conversion except the tensor data: the architecture, the output type,
/// every output tensor in write order, and the complete metadata. Building a plan reads only
/// headers and the small JSON files, so errors surface before any output is created.
public struct ConversionPlan: Sendable {
    public let folder: ModelFolder
    public let architecture: Architecture
    public let outputType: OutputType
    /// The output's file type as the reference names it (`F16`, ...; `MXFP4_MOE` for an MXFP4
    /// checkpoint converted to F32/F16/BF16), as in the default file name.
    public let fileTypeName: String
    /// In llama-quantize's order (see `TensorRules.precedes`).
    public let tensors: [PlannedTensor]
    public let metadata: GGUFMetadata
    public let general: GeneralMetadata

    /// `<Name>-<SizeLabel>-<TYPE>.gguf`, the name used when the output is a folder.
    public var defaultFileName: String { general.fileName(typeName: fileTypeName) }
    /// Bytes of tensor data the output will hold (without alignment padding).
    public var tensorBytes: Int { tensors.reduce(0) { $0 + ($1.type.byteCount(elements: $1.elementCount) ?? 0) } }

    public init(input path: String, outputType choice: OutputTypeChoice) throws(ConversionError) {
        if path.hasSuffix(".safetensors"), FileSystem.info(path)?.isRegularFile == true {
            throw .loneSafetensors(path: path)
        }
        let folder: ModelFolder
        do {
            folder = try ModelFolder(path: path)
            try folder.validateIndex()
        } catch {
            throw .folder(error)
        }
        let archName = folder.config["text_config"]?["architectures"]?[0]?.stringValue
            ?? folder.config["architectures"]?[0]?.stringValue
        guard let archName else {
            throw .config(path: path, key: "architectures", message: "is missing, so the model's architecture is unknown")
        }
        guard let architecture = Architecture.named(archName) else {
            throw .unsupportedArchitecture(path: path, name: archName, supported: Architecture.supportedNames)
        }
        let hparams = HyperParameters(config: folder.config, path: path, defaults: architecture.configDefaults,
                                      ignoring: architecture.ignoredConfigKeys)

        var stored: [StoredTensor] = []
        for file in folder.weights {
            for tensor in file.tensors {
                var name = tensor.name
                if name.contains("language_model.") { name = name.replacingOccurrences(of: "language_model.", with: "") }
                if name.contains("text_model.") { name = name.replacingOccurrences(of: "text_model.", with: "") }
                // `ModelBase.filter_tensors`: the router bias is named as a bias so the tensor map finds it.
                if name.hasSuffix("e_score_correction_bias") {
                    name = name.replacingOccurrences(of: "e_score_correction_bias", with: "e_score_correction.bias")
                }
                if TensorRules.isMultimodal(name) { continue }
                guard let filtered = architecture.filterTensor(name, hparams) else { continue }
                stored.append((filtered, file, tensor))
            }
        }
        try ConfigChecks.validate(hparams, stored: stored, architecture: architecture)
        let outputType = Self.resolve(choice, stored.map(\.info))
        var planned: [PlannedTensor] = []
        if let planOwn = architecture.planOwnTensors {
            planned += try planOwn(&stored, TensorPlanContext(architecture: architecture, hparams: hparams, outputType: outputType))
        }
        let quantMethod = hparams["quantization_config"]?["quant_method"]?.stringValue
        let mxfp4 = architecture.readsMXFP4 && quantMethod == "mxfp4"
        let scales = try FP8Scales(stored: &stored, hparams: hparams, acceptsMXFP4: architecture.readsMXFP4)

        let files = try TokenizerFiles(folder: path, config: folder.config)
        let embeddingRows = architecture.truncatesEmbeddingToVocabulary
            ? try Self.tokenizerVocabularySize(files, hparams: hparams) : nil
        for generated in try architecture.generatedTensors(hparams) {
            planned.append(PlannedTensor(name: generated.name, dimensions: [generated.values.count], type: .f32,
                                         source: .generated(generated.values)))
        }
        let heads = try hparams.int(["n_heads", "num_attention_heads"])
        let kvHeads = try hparams.int(["n_kv_heads", "num_key_value_heads"])
        let (singles, stacks) = try ExpertStacks.split(
            stored.filter { !TensorRules.isIgnored($0.hfName) },
            expertCount: try hparams.int(["num_local_experts", "num_experts", "n_routed_experts"]), path: path)
        for (hfName, file, tensor) in singles {
            let element = try Self.sourceType(of: tensor, in: file)
            if architecture.splitsKeyValueB, hfName.hasSuffix("kv_b_proj.weight") {
                planned += try Self.mlaHalves(hfName, file: file, tensor: tensor, element: element, hparams: hparams,
                                              architecture: architecture, outputType: outputType,
                                              scale: try scales.scale(for: hfName, weight: tensor, path: file.path))
                continue
            }
            guard let ggufName = architecture.ggufTensorName(hfName) else {
                throw .unmappedTensor(path: file.path, tensor: tensor.name, architecture: archName)
            }
            var groups: Int?
            if architecture.permutesQueryKey {
                if hfName.hasSuffix("q_proj.weight") || hfName.hasSuffix("q_proj.bias") {
                    groups = heads
                } else if hfName.hasSuffix("k_proj.weight") || hfName.hasSuffix("k_proj.bias") {
                    groups = (kvHeads != nil && kvHeads != heads) ? kvHeads : heads
                }
                if hfName.hasSuffix("_proj.weight") || hfName.hasSuffix("_proj.bias"), groups != nil {
                    guard let g = groups, g > 0, let rows = tensor.shape.first, g <= rows / 2, rows % (2 * g) == 0 else {
                        throw .tensor(path: file.path, tensor: tensor.name,
                                      message: "has \(tensor.shape.first ?? 0) rows, not a multiple of 2 × \(groups ?? 0) heads, "
                                          + "so its rotary halves cannot be interleaved — config.json's head counts do not match the weights")
                    }
                }
            }
            var shape = tensor.shape.isEmpty ? [1] : tensor.shape
            if let limit = embeddingRows, hfName.contains("embed_tokens.weight"), shape[0] > limit {
                shape[0] = limit  // Gemma 3: `data_torch[:n_vocab_real]`
            }
            let shift: Float = architecture.normShift != 0 && hfName.hasSuffix("norm.weight") ? architecture.normShift : 0
            let type = TensorRules.type(ggufName: ggufName, numpyShape: shape, outputType: outputType)
            planned.append(PlannedTensor(name: ggufName, dimensions: shape.reversed(), type: type,
                                         source: .stored(file: file, info: tensor, element: element, permuteGroups: groups,
                                                         scale: try scales.scale(for: hfName, weight: tensor, path: file.path),
                                                         shift: shift)))
        }
        for stack in stacks {
            guard let ggufName = architecture.ggufTensorName(stack.hfName) else {
                throw .unmappedTensor(path: stack.experts[0].file.path, tensor: stack.hfName, architecture: archName)
            }
            var parts: [TensorSource] = []
            for (hfName, file, tensor) in stack.experts {
                parts.append(.stored(file: file, info: tensor, element: try Self.sourceType(of: tensor, in: file),
                                     permuteGroups: nil, scale: try scales.scale(for: hfName, weight: tensor, path: file.path),
                                     shift: 0))
            }
            let shape = [stack.experts.count] + stack.experts[0].info.shape
            let type = TensorRules.type(ggufName: ggufName, numpyShape: shape, outputType: outputType)
            planned.append(PlannedTensor(name: ggufName, dimensions: shape.reversed(), type: type, source: .stacked(parts)))
        }
        var seen = Set<String>()
        for tensor in planned where !seen.insert(tensor.name).inserted {
            throw .tensor(path: path, tensor: tensor.name, message: "would be written twice (two source tensors map to it)")
        }
        planned.sort { TensorRules.precedes($0.name, $1.name) }

        let parameterCount = planned.reduce(0) { $0 + $1.elementCount }
        let generationConfig = try TokenizerFiles.json(path, "generation_config.json")
        let card = try ModelCard.load(folder: path, totalParameters: parameterCount)
        // `ModelBase.prepare_metadata`: an MXFP4 checkpoint converted to F32/F16/BF16 is MOSTLY_MXFP4_MOE.
        let fileType: (id: UInt32, name: String) = mxfp4 && outputType != .q8_0
            ? (38, "MXFP4_MOE") : (outputType.fileTypeID, outputType.rawValue)
        let general = GeneralMetadata(folderName: Self.folderName(path), config: hparams,
                                      generationConfig: generationConfig, parameterCount: parameterCount,
                                      defaultSizeLabel: ModelNaming.sizeLabel(for: planned.map { ($0.name, $0.dimensions) }),
                                      card: card)

        var m = MetadataBuilder(architecture: architecture.ggufName)
        general.write(into: &m)
        var blockCount = try hparams.requiredInt(["n_layers", "num_hidden_layers", "n_layer", "num_layers"])
        if architecture.countsNextNLayers, let nextN = try hparams.int(["num_nextn_predict_layers"]) {
            guard nextN >= 0, nextN <= 1 << 16 else {
                throw .config(path: path, key: "num_nextn_predict_layers", message: "is \(nextN), expected a small count of layers")
            }
            blockCount += nextN
        }
        // The reference's tensor map knows layers 0 ..< block_count only.
        if let beyond = planned.first(where: { TensorRules.layer(of: $0.name) >= blockCount }) {
            throw .tensor(path: path, tensor: beyond.name,
                          message: "is in layer \(TensorRules.layer(of: beyond.name)), but config.json gives \(blockCount) layers"
                              + (architecture.countsNextNLayers ? " (num_hidden_layers + num_nextn_predict_layers)" : " (num_hidden_layers)")
                              + " — the config does not match the weights")
        }
        if architecture.writesTextModelParameters {
            try TextModelParameters.write(hparams, blockCount: blockCount, fileType: fileType.id, into: &m)
        } else {
            // The architecture's own writer places block_count and file_type where its reference does.
            m.setModel(GGUFKeys.LLM.blockCount, .uint32(UInt32(clamping: blockCount)))
            m.set(GGUFKeys.General.fileType, .uint32(fileType.id))
        }
        try architecture.writeExtraHyperParameters(hparams, &m)
        m.set(GGUFKeys.General.quantizationVersion, .uint32(2))
        try Vocabulary.write(style: architecture.vocabulary, files: files, hparams: hparams, into: &m)

        self.folder = folder
        self.architecture = architecture
        self.outputType = outputType
        self.fileTypeName = fileType.name
        self.tensors = planned
        self.metadata = m.metadata
        self.general = general
    }

    /// `attn_k_b` and `attn_v_b` from DeepSeek's `kv_b_proj` (`DeepseekV2Model.modify_tensors`), with
    /// the shape checked against the config's head sizes first.
    static func mlaHalves(_ hfName: String, file: SafetensorsFile, tensor: SafetensorsTensorInfo,
                          element: ElementConversion.SourceType, hparams: HyperParameters, architecture: Architecture,
                          outputType: OutputType, scale: DequantizationScale?) throws(ConversionError) -> [PlannedTensor] {
        var heads = try hparams.int(["num_key_value_heads"])
        if heads == nil { heads = try hparams.requiredInt(["num_attention_heads"]) }
        let headCount = heads ?? 0
        let nope = try hparams.requiredInt(["qk_nope_head_dim"])
        let value = try hparams.requiredInt(["v_head_dim"])
        guard tensor.shape.count == 2, headCount > 0, nope > 0, value > 0,
              tensor.shape[0] == headCount * (nope + value) else {
            throw .tensor(path: file.path, tensor: tensor.name,
                          message: "has shape \(tensor.shape), not [num_key_value_heads × (qk_nope_head_dim + v_head_dim), kv_lora_rank]"
                              + " = [\(headCount) × (\(nope) + \(value)), …] — config.json does not match the weights")
        }
        let kvLora = tensor.shape[1]
        let base = TensorSource.stored(file: file, info: tensor, element: element, permuteGroups: nil, scale: scale, shift: 0)
        var halves: [PlannedTensor] = []
        for (half, suffix, shape) in [(MLASplit.Half.key, "k_b_proj", [headCount, kvLora, nope]),
                                      (.value, "v_b_proj", [headCount, value, kvLora])] {
            let name = hfName.replacingOccurrences(of: "kv_b_proj", with: suffix)
            guard let ggufName = architecture.ggufTensorName(name) else {
                throw .unmappedTensor(path: file.path, tensor: name, architecture: architecture.huggingFaceNames[0])
            }
            let split = MLASplit(half: half, heads: headCount, nope: nope, value: value)
            halves.append(PlannedTensor(name: ggufName, dimensions: shape.reversed(),
                                        type: TensorRules.type(ggufName: ggufName, numpyShape: shape, outputType: outputType),
                                        source: .mlaSplit(base, split)))
        }
        return halves
    }

    /// How the converter reads a tensor's elements; an error for dtypes it cannot read.
    static func sourceType(of tensor: SafetensorsTensorInfo, in file: SafetensorsFile) throws(ConversionError)
        -> ElementConversion.SourceType {
        guard let element = ElementConversion.SourceType(tensor.dtype) else {
            throw .tensor(path: file.path, tensor: tensor.name,
                          message: "has dtype \(tensor.dtype), which this converter does not read (F32, F16, BF16, FP8)"
                              + " — integer and packed checkpoints are not supported; use convert_hf_to_gguf.py")
        }
        return element
    }

    /// `--outtype auto`: the first tensor of two or more dimensions that is BF16 or F16 decides;
    /// F32 tensors are passed over, and a model with none of either becomes F16.
    static func resolve(_ choice: OutputTypeChoice, _ tensors: [SafetensorsTensorInfo]) -> OutputType {
        if case .fixed(let type) = choice { return type }
        for tensor in tensors where tensor.shape.count >= 2 {
            if tensor.dtype == .bf16 { return .bf16 }
            if tensor.dtype == .f16 { return .f16 }
        }
        return .f16
    }

    /// Gemma 3's `n_vocab_real`: the SentencePiece token list's length (config vocab_size, else the
    /// model's pieces), or tokenizer.json's vocabulary plus its added tokens.
    static func tokenizerVocabularySize(_ files: TokenizerFiles, hparams: HyperParameters) throws(ConversionError) -> Int? {
        if files.hasSentencePieceModel {
            let configured = try hparams.int(["vocab_size_per_layer_input", "vocab_size"]) ?? 0
            return configured != 0 ? configured : try SentencePieceVocabulary.load(files).pieces.count
        }
        guard let tokenizer = files.tokenizerJSON else { return nil }
        return (tokenizer["model"]?["vocab"]?.objectValue?.count ?? 0) + (tokenizer["added_tokens"]?.arrayValue?.count ?? 0)
    }

    /// What Python's `Path(dir).name` gives: the last component, ignoring trailing slashes.
    static func folderName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
