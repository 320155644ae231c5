import BinaryIO
import JSON
import ModelConversion

/// Who converts a Hugging Face folder, judged from its config.json architecture name:
/// quantd itself (`native`), llama.cpp's convert_hf_to_gguf.py when configured as the fallback
/// (`fallback`: not native, registered by llama.cpp's converter), or nobody known (`unknown`).
public enum ConversionSupport: String, Sendable, Equatable {
    case native, fallback, unknown

    public init(architecture: String) {
        if Architecture.named(architecture) != nil {
            self = .native
        } else if LlamaCppConverterArchitectures.names.contains(architecture) {
            self = .fallback
        } else {
            self = .unknown
        }
    }

    /// The architecture name a converter reads from `FOLDER/config.json`: `text_config.architectures[0]`
    /// (a multimodal checkpoint's language model), else `architectures[0]`, as both quantd's converter
    /// and llama.cpp's choose it. Nil when the file is missing, malformed, or names none; the
    /// converter's own error then says what is wrong.
    public static func architectureName(folder: String) -> String? {
        guard let bytes = try? MappedFile.contents(of: "\(folder)/config.json"),
              let config = try? StrictJSON.parse(bytes) else { return nil }
        return config["text_config"]?["architectures"]?[0]?.stringValue ?? config["architectures"]?[0]?.stringValue
    }
}
