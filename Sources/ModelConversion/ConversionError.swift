import ModelFolder

/// Why a folder cannot be converted: what, where, and what to do.
public enum ConversionError: Error, Sendable, CustomStringConvertible {
    /// The input is a single `.safetensors` file; conversion needs the folder around it.
    case loneSafetensors(path: String)
    /// The folder cannot be opened as a Hugging Face model folder.
    case folder(ModelFolderError)
    /// `config.json` names an architecture no table here describes.
    case unsupportedArchitecture(path: String, name: String, supported: [String])
    /// A config field the architecture needs is missing or has the wrong kind.
    case config(path: String, key: String, message: String)
    /// A weights tensor has no GGUF name in the architecture's table.
    case unmappedTensor(path: String, tensor: String, architecture: String)
    /// A tensor's dtype or shape cannot be converted.
    case tensor(path: String, tensor: String, message: String)
    /// The tokenizer files are missing, malformed, or of a kind not supported yet.
    case tokenizer(path: String, message: String, hint: String)
    /// Another file of the folder (modules.json, a pooling config, the README.md model card) is
    /// malformed: `path` is the file.
    case modelFile(path: String, message: String, hint: String)
    /// The output path cannot be used.
    case output(path: String, message: String)

    /// True for errors caused by input still arriving (a truncated shard): retry later.
    public var isTruncated: Bool {
        if case .folder(let error) = self { return error.isTruncated }
        return false
    }

    public var description: String {
        switch self {
        case .loneSafetensors(let path):
            return "\(path): a lone .safetensors file has no config.json or tokenizer, which a GGUF model needs "
                + "— give the Hugging Face model folder that holds it (config.json, tokenizer.json, tokenizer_config.json "
                + "and the weights), e.g. the snapshot directory `huggingface-cli download` made"
        case .folder(let error):
            return error.description
        case .unsupportedArchitecture(let path, let name, let supported):
            return "\(path)/config.json: architecture '\(name)' is not supported — supported: "
                + supported.joined(separator: ", ")
                + "; use llama.cpp's convert_hf_to_gguf.py for other models"
        case .config(let path, let key, let message):
            return "\(path)/config.json: '\(key)' \(message) — fix config.json or re-download the model"
        case .unmappedTensor(let path, let tensor, let architecture):
            return "\(path): tensor '\(tensor)' has no GGUF name for \(architecture) — the checkpoint has parts this "
                + "converter does not know (adapters, vision tower, MTP heads?); remove them or use convert_hf_to_gguf.py"
        case .tensor(let path, let tensor, let message):
            return "\(path): tensor '\(tensor)' \(message)"
        case .tokenizer(let path, let message, let hint):
            return "\(path): \(message) — \(hint)"
        case .modelFile(let path, let message, let hint):
            return "\(path): \(message) — \(hint)"
        case .output(let path, let message):
            return "\(path): \(message)"
        }
    }
}
