import JSON
import Safetensors
import BinaryIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Hugging Face model folder: `config.json`, the safetensors weights (one file or shards named
/// by `model.safetensors.index.json`) and the tokenizer files, summarised without reading weights.
///
/// Opening validates every weights file's header and size (pages of tensor data stay untouched),
/// so a folder that opens can be converted; `validateIndex()` additionally cross-checks the index
/// against the shards' contents.
public final class ModelFolder: Sendable {
    /// Files the tokenizer and chat template come from, in the order they are reported.
    public static let tokenizerFileNames = [
        "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "generation_config.json",
        "chat_template.jinja", "special_tokens_map.json", "vocab.json", "merges.txt",
    ]
    /// Extensions of PyTorch pickle checkpoints, which are never opened.
    static let pickleExtensions = [".bin", ".pt", ".pth", ".ckpt", ".pkl"]

    public let path: String
    /// `config.json`, parsed.
    public let config: JSONValue
    /// The shard index, when the weights are sharded.
    public let index: SafetensorsShardIndex?
    /// The weights files, opened and validated: one `model.safetensors`, or the shards in name order.
    public let weights: [SafetensorsFile]
    /// Tokenizer files present in the folder (subset of `tokenizerFileNames`).
    public let tokenizerFiles: [String]

    public var safetensorsFileNames: [String] { weights.map { lastComponent($0.path) } }
    /// Total size of the weights files in bytes.
    public var totalSafetensorsBytes: Int { weights.reduce(0) { saturatingAdd($0, $1.fileSize) } }
    /// Sum of tensor element counts over all weights files.
    public var parameterCount: Int { weights.reduce(0) { saturatingAdd($0, $1.elementCount) } }
    public var tensorCount: Int { weights.reduce(0) { $0 + $1.tensors.count } }

    /// `architectures` from the config, e.g. `["LlamaForCausalLM"]`.
    public var architectures: [String] { config["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var modelType: String? { config["model_type"]?.stringValue }
    public var hiddenSize: Int? { textConfigInt("hidden_size") }
    public var numHiddenLayers: Int? { textConfigInt("num_hidden_layers") }
    public var vocabSize: Int? { textConfigInt("vocab_size") }
    public var maxPositionEmbeddings: Int? { textConfigInt("max_position_embeddings") }
    /// `torch_dtype`, or `dtype` as newer transformers versions write it.
    public var torchDtype: String? {
        config["torch_dtype"]?.stringValue ?? config["dtype"]?.stringValue
            ?? config["text_config"]?["torch_dtype"]?.stringValue
    }

    /// Opens the folder at `path`. Throws `.weights(.truncated)` when a weights file is still
    /// arriving (see `ModelFolderError.isTruncated`).
    public init(path: String) throws(ModelFolderError) {
        let files = try Self.listRegularFiles(path)
        let names = Set(files)
        self.path = path

        guard names.contains("config.json") else {
            throw .config(path: path, message: "no config.json")
        }
        config = try Self.readConfig(join(path, "config.json"))

        // transformers looks for the single file first, then the index; a folder holding both
        // (a re-save over an old download) loads the same weights here as there.
        let indexName = "model.safetensors.index.json"
        let weightNames: [String]
        if names.contains("model.safetensors") {
            index = nil
            weightNames = ["model.safetensors"]
        } else if names.contains(indexName) {
            let indexPath = join(path, indexName)
            let parsed = try Self.withMapped(indexPath) { (bytes) throws(ModelFolderError) in
                try SafetensorsShardIndex.parse(bytes, path: indexPath)
            }
            for shard in parsed.shardNames where !names.contains(shard) {
                throw .index(path: indexPath, message: "shard '\(shard)' is named in the index but is not in the folder")
            }
            index = parsed
            weightNames = parsed.shardNames
        } else {
            let pickles = files.filter { name in Self.pickleExtensions.contains { name.hasSuffix($0) } }
            if !pickles.isEmpty { throw .pickleOnly(path: path, files: pickles) }
            throw .noWeights(path: path, files: files)
        }

        var opened: [SafetensorsFile] = []
        for name in weightNames {
            do {
                opened.append(try SafetensorsFile(path: join(path, name)))
            } catch {
                throw .weights(error)
            }
        }
        weights = opened
        tokenizerFiles = Self.tokenizerFileNames.filter { names.contains($0) }
    }

    /// Cross-checks the shard index with the shards: each indexed tensor is in its shard and
    /// each shard tensor is indexed. A single-file model has nothing to check.
    public func validateIndex() throws(ModelFolderError) {
        guard let index else { return }
        var byName: [String: SafetensorsFile] = [:]
        for file in weights { byName[lastComponent(file.path)] = file }
        try index.validate(against: byName, path: join(path, "model.safetensors.index.json"))
    }

    /// Which weights file holds `tensor`, and its info there.
    public func locate(tensor name: String) -> (file: SafetensorsFile, tensor: SafetensorsTensorInfo)? {
        for file in weights {
            if let info = file.tensor(named: name) { return (file, info) }
        }
        return nil
    }

    // MARK: Helpers

    /// A size field from the config, looking in `text_config` for multimodal models that keep
    /// the language model's dimensions there.
    private func textConfigInt(_ key: String) -> Int? {
        config[key]?.intValue ?? config["text_config"]?[key]?.intValue
    }

    static func readConfig(_ configPath: String) throws(ModelFolderError) -> JSONValue {
        let value = try withMapped(configPath) { (bytes) throws(ModelFolderError) -> JSONValue in
            do {
                return try StrictJSON.parse(bytes)
            } catch {
                throw .config(path: configPath, message: "config.json is not valid JSON: \(error)")
            }
        }
        guard case .object = value else {
            throw .config(path: configPath, message: "config.json is \(value.kindName), not a JSON object")
        }
        return value
    }

    /// Maps a small JSON file and hands its bytes to `body`; the map is released on return.
    static func withMapped<T>(
        _ filePath: String, _ body: (UnsafeRawBufferPointer) throws(ModelFolderError) -> T
    ) throws(ModelFolderError) -> T {
        let file: MappedFile
        do {
            file = try MappedFile(path: filePath)
        } catch let error as FileError {
            throw .config(path: filePath, message: "cannot read: \(error)")
        } catch {
            throw .config(path: filePath, message: "cannot read: \(error)")
        }
        // Swift may release `file` after its last use; keep the map alive while body reads it.
        defer { withExtendedLifetime(file) {} }
        return try body(file.bytes)
    }

    /// Names of the regular files (following symlinks, as HF cache snapshots are symlinks) in
    /// `directory`, sorted so reports are deterministic.
    static func listRegularFiles(_ directory: String) throws(ModelFolderError) -> [String] {
        let names: [String]
        do {
            names = try FileSystem.list(directory)
        } catch let error as FileError {
            throw .notADirectory(path: directory, error)
        } catch {
            throw .notADirectory(path: directory, FileError(path: directory, operation: "list", errno: EIO))
        }
        return names.filter { FileSystem.info(join(directory, $0))?.isRegularFile == true }
    }
}

func join(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

func saturatingAdd(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : sum
}
