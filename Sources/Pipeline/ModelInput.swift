#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import ModelConversion
import ModelFolder

/// A job's input as a tensor source, however it has to be read: an F32/F16/BF16 GGUF in place, a
/// Hugging Face folder of a native architecture through quantd's converter, any other folder through
/// llama.cpp's converter when one is configured (`ConverterFallback`). What `quantd convert` and
/// the daemon both open their input with.
public enum ModelInput {
    public enum Kind: Equatable, Sendable {
        case gguf
        /// A folder quantd converts itself (or whose problem its converter reports: no config.json,
        /// a lone .safetensors, ...).
        case nativeFolder
        /// A folder whose config.json names an architecture quantd does not convert.
        case fallbackFolder(architecture: String)
    }

    public static func kind(of path: String) -> Kind {
        // A lone .safetensors goes to the converter too, whose error says a model folder is needed.
        guard path.hasSuffix(".safetensors") || FileSystem.info(path)?.isDirectory == true else { return .gguf }
        guard let architecture = ConversionSupport.architectureName(folder: path),
              ConversionSupport(architecture: architecture) != .native else { return .nativeFolder }
        return .fallbackFolder(architecture: architecture)
    }

    /// The input at `path` as a source. A folder that needs the fallback converter without one
    /// configured is refused (`ConverterFallbackError.notConfigured`); with one, the converter's F16
    /// file goes to `scratchFolder` and lives as long as the returned source.
    public static func open(path: String, converter: ConverterSettings?, scratchFolder: String,
                            isCancelled: (() -> Bool)? = nil) throws -> TensorSource {
        switch kind(of: path) {
        case .gguf: return try GGUFTensorSource(path: path)
        case .nativeFolder: return try ConvertedModelSource(folder: path)
        case .fallbackFolder(let architecture):
            guard let converter else { throw notConfigured(folder: path, architecture: architecture) }
            return try FallbackConvertedSource(folder: path, architecture: architecture, settings: converter,
                                               scratchFolder: scratchFolder, isCancelled: isCancelled)
        }
    }

    public static func notConfigured(folder: String, architecture: String) -> ConverterFallbackError {
        .notConfigured(folder: folder, architecture: architecture, native: Architecture.supportedNames,
                       llamaCppConverts: ConversionSupport(architecture: architecture) == .fallback)
    }

    /// Disk a fallback conversion of `folder` needs before the job can be planned (its tensors are
    /// known only once the converter has run): the F16 file, estimated as two bytes per parameter of
    /// the safetensors weights, and each scheme's artifact, at most as large as the F16 file (four
    /// bytes per parameter for an F32 scheme), plus its zstd copy when one is kept.
    public static func plannedFallbackBytes(folder path: String, config: PipelineConfig) throws -> Int {
        let folder = try ModelFolder(path: path)
        func product(_ a: Int, _ b: Int) -> Int { let (r, o) = a.multipliedReportingOverflow(by: b); return o ? .max : r }
        func sum(_ a: Int, _ b: Int) -> Int { let (r, o) = a.addingReportingOverflow(b); return o ? .max : r }
        let f16 = product(folder.parameterCount, 2)
        var total = f16
        for scheme in config.schemes {
            let artifact = scheme.options.mix == .f32 ? product(f16, 2) : f16
            total = sum(total, config.zstd != nil ? product(artifact, 2) : artifact)
        }
        return total
    }
}
