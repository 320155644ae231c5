import JSON
import Safetensors
import BinaryIO

/// Why a Hugging Face model folder cannot be used, with what to do about it.
public enum ModelFolderError: Error, Sendable, CustomStringConvertible {
    /// The path is not a directory we can list.
    case notADirectory(path: String, FileError?)
    /// `config.json` is missing, or is not a JSON object.
    case config(path: String, message: String)
    /// Only pickle checkpoints (`.bin`, `.pt`, ...) are present. They are never loaded.
    case pickleOnly(path: String, files: [String])
    /// Neither `model.safetensors` nor `model.safetensors.index.json` is present.
    case noWeights(path: String, files: [String])
    /// `model.safetensors.index.json` is invalid or disagrees with its shards.
    case index(path: String, message: String)
    /// A weights file is unreadable; `.truncated` inside means it may still be arriving.
    case weights(SafetensorsError)

    /// True when a shard is shorter than its header declares: defer, do not fail.
    public var isTruncated: Bool {
        if case let .weights(error) = self { return error.isTruncated }
        return false
    }

    public var description: String {
        switch self {
        case let .notADirectory(path, error):
            return "\(path): not a readable directory\(error.map { " (\($0))" } ?? "")"
                + " — give the path of a Hugging Face model folder (config.json + *.safetensors)"
        case let .config(path, message):
            return "\(path): \(message) — a model folder needs the config.json saved with the model "
                + "(`save_pretrained` writes it)"
        case let .pickleOnly(path, files):
            return "\(path): only PyTorch pickle checkpoints found (\(files.joined(separator: ", "))). "
                + "quantd never loads pickle files, because unpickling runs arbitrary code from the file. "
                + "Convert them once, in an environment you trust: load the model with transformers "
                + "(`AutoModelForCausalLM.from_pretrained(folder)`) and save it with "
                + "`model.save_pretrained(out, safe_serialization=True)`, then drop the new folder in"
        case let .noWeights(path, files):
            let listing = files.isEmpty ? "the folder is empty" : "found: \(files.prefix(20).joined(separator: ", "))"
            return "\(path): no model.safetensors or model.safetensors.index.json (\(listing)) — "
                + "add the safetensors weights to the folder"
        case let .index(path, message):
            return "\(path): \(message) — re-download the model so the index and shards match"
        case let .weights(error):
            return error.description
        }
    }
}
