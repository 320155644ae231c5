/// Why a folder could not be converted through llama.cpp's converter, or why it was not tried.
public enum ConverterFallbackError: Error, Equatable, CustomStringConvertible {
    /// The folder's architecture has no native converter and no fallback is configured.
    case notConfigured(folder: String, architecture: String, native: [String], llamaCppConverts: Bool)
    /// The configured script is not there.
    case scriptMissing(path: String, reason: String)
    /// The interpreter could not be started.
    case cannotStart(python: String, script: String, reason: String)
    /// The converter ran and failed: its exit status and the last lines of its standard error.
    case failed(python: String, script: String, status: String, stderr: [String])
    /// The converter claimed success, but its output is missing or not a GGUF quantd can read.
    case invalidOutput(script: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .notConfigured(let folder, let architecture, let native, let llamaCppConverts):
            return "\(folder)/config.json: architecture '\(architecture)' is not supported natively (native: "
                + native.joined(separator: ", ") + "); "
                + (llamaCppConverts ? "llama.cpp's convert_hf_to_gguf.py converts it"
                                    : "llama.cpp's convert_hf_to_gguf.py (as of \(LlamaCppConverterArchitectures.commit)) does not list it either, a newer one may")
                + " — configure it as the fallback converter: \"converter\": {\"fallback\": \"PATH/convert_hf_to_gguf.py\"} in pipeline.json,"
                + " or --converter-fallback PATH/convert_hf_to_gguf.py on the command line"
        case .scriptMissing(let path, let reason):
            return "the fallback converter \(path) cannot be used (\(reason)) — point \"converter\".\"fallback\" or "
                + "--converter-fallback at llama.cpp's convert_hf_to_gguf.py"
        case .cannotStart(let python, let script, let reason):
            return "the fallback converter \(script) could not be started with '\(python)' (\(reason)) — set "
                + "\"converter\".\"python\" or --converter-python to a python that has llama.cpp's requirements (gguf, torch, transformers)"
        case .failed(let python, let script, let status, let stderr):
            let tail = stderr.isEmpty ? " and printed nothing on standard error" : "; the end of its standard error:\n"
                + stderr.map { "  | \($0)" }.joined(separator: "\n")
            return "the fallback converter \(script) (run with \(python)) failed with \(status)\(tail)"
        case .invalidOutput(let script, let path, let reason):
            return "the fallback converter \(script) did not produce a usable F16 GGUF at \(path): \(reason)"
        }
    }
}
