#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import JSON

/// The `converter` section of pipeline.json (or `--converter-fallback`/`--converter-python`):
/// llama.cpp's convert_hf_to_gguf.py, run for a Hugging Face folder whose architecture quantd does
/// not convert natively (see `ConverterFallback`).
public struct ConverterSettings: Sendable, Equatable {
    public static let defaultPython = "python3"

    /// The converter script as written (relative to the pipeline file's folder when it came from one).
    public var fallback: String
    /// The interpreter that runs it: a path, or a name looked up in PATH.
    public var python: String
    /// Where a relative `fallback` resolves (the pipeline file's folder; nil: the current directory).
    public var baseDirectory: String?

    public init(fallback: String, python: String = ConverterSettings.defaultPython, baseDirectory: String? = nil) {
        self.fallback = fallback
        self.python = python
        self.baseDirectory = baseDirectory
    }

    /// The script's path to run.
    public var scriptPath: String {
        guard !fallback.hasPrefix("/"), let baseDirectory else { return fallback }
        return "\(baseDirectory)/\(fallback)"
    }

    /// The section as it appears in pipeline.json.
    public var json: JSONValue {
        .object([("fallback", .string(fallback)), ("python", .string(python))])
    }

    static func parse(_ value: JSONValue?, path: String) throws(ConfigError) -> ConverterSettings? {
        guard let value else { return nil }
        var reader = try ConfigReader(value, path: path)
        let fallback = try reader.string("fallback")
        let python = try reader.string("python")
        try reader.rejectUnknownKeys()
        guard let fallback else {
            throw ConfigError(path: "\(path).fallback", message: "is required: the path of llama.cpp's convert_hf_to_gguf.py")
        }
        guard !fallback.isEmpty else {
            throw ConfigError(path: "\(path).fallback", message: "is empty; name llama.cpp's convert_hf_to_gguf.py, or leave \"converter\" out")
        }
        if let python, python.isEmpty {
            throw ConfigError(path: "\(path).python", message: "is empty; name a python interpreter, or leave \"python\" out for \(defaultPython)")
        }
        return ConverterSettings(fallback: fallback, python: python ?? defaultPython)
    }

    /// What `quantd validate` and a job check before using the converter: the script is a readable
    /// file. The interpreter is found only when it runs (a name is looked up in PATH then).
    public func checkScript() throws(ConverterFallbackError) {
        let path = scriptPath
        guard let info = FileSystem.info(path) else {
            throw .scriptMissing(path: path, reason: String(cString: strerror(errno)))
        }
        guard info.isRegularFile else { throw .scriptMissing(path: path, reason: "not a regular file") }
        guard FileSystem.isReadable(path) else { throw .scriptMissing(path: path, reason: String(cString: strerror(errno))) }
    }
}
