#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import ModelFolder

/// A Hugging Face folder converted by llama.cpp's convert_hf_to_gguf.py (`ConverterFallback`): the
/// F16 GGUF it wrote, read as any GGUF input is, while the manifest's sources are the folder's own
/// files. The F16 file lives in the scratch folder and is removed when this source goes away.
public final class FallbackConvertedSource: TensorSource {
    public let gguf: GGUFTensorSource
    public let folder: ModelFolder
    public let architecture: String
    public let record: ConverterRecord
    /// The converter's F16 output.
    public let convertedFile: String
    /// Wall-clock seconds the converter ran (the manifest's `convert` timing).
    public let conversionSeconds: Double

    /// Opens `folder` (its safetensors headers are checked, so a folder still being copied is
    /// reported as such before the converter runs), converts it into `scratchFolder` and opens the result.
    public init(folder path: String, architecture: String, settings: ConverterSettings, scratchFolder: String,
                isCancelled: (() -> Bool)? = nil) throws {
        folder = try ModelFolder(path: path)
        try folder.validateIndex()
        self.architecture = architecture
        let converter = ConverterFallback(settings: settings)
        var clock = Stopwatch()
        let output = try converter.convert(folder: path, scratchFolder: scratchFolder, isCancelled: isCancelled)
        conversionSeconds = clock.lap()
        do {
            gguf = try GGUFTensorSource(path: output)
        } catch {
            FileSystem.removeFile(output)
            throw ConverterFallbackError.invalidOutput(script: ConverterFallback.absolute(settings.scriptPath), path: output,
                                                       reason: "\(error)")
        }
        convertedFile = output
        record = converter.record(scratchFolder: scratchFolder)
    }

    deinit { FileSystem.removeFile(convertedFile) }

    public var metadata: GGUFMetadata { gguf.metadata }
    public var tensors: [PlannedTensorSource] { gguf.tensors }
    public var files: [String] {
        folder.weights.map(\.path) + folder.tokenizerFiles.map { folder.path + "/" + $0 } + [folder.path + "/config.json"]
    }

    public func rawRows(_ index: Int, rows: Range<Int>) throws -> UnsafeRawBufferPointer { try gguf.rawRows(index, rows: rows) }

    public func floatRows(_ index: Int, rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        try gguf.floatRows(index, rows: rows, into: buffer)
    }

    public func finished(_ index: Int) { gguf.finished(index) }
}
