#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import Inference
import ModelConversion

/// The job's source as a model the forward pass can run: what the `imatrix` calibration stage
/// measures activations on, and what the `evaluate` stage compares every artifact against.
///
/// A GGUF source is used in place. A Hugging Face folder has no GGUF, so the forward pass reads the
/// converter's F16 form of it (the same bytes the pipeline quantizes from): in memory through
/// `ConvertedWeights` — in place from the folder's map where conversion is a copy — when the part
/// that has to be converted fits `inMemoryLimit`; otherwise written once to a hidden F16 file in
/// the scratch folder, memory-mapped (so a BF16 model larger than RAM still works) and removed when
/// this object goes away.
public final class ReferenceModel {
    private enum Storage {
        case file(path: String, isTemporary: Bool)
        case memory(ConvertedWeights)
    }

    /// Converted bytes a folder source may hold in memory by default; beyond it they go to a scratch
    /// file. Large enough for any model whose F16 checkpoint only needs its q/k permuted (a 7B's are
    /// ~1.3 GB), small next to the RAM of a machine that quantizes such models.
    public static let defaultInMemoryLimit = 2 << 30

    private let storage: Storage

    /// `inMemoryLimit`: converted bytes a folder source may hold in memory (0: always a file).
    public init(source: TensorSource, scratchFolder: String, threads: Int, inMemoryLimit: Int = defaultInMemoryLimit) throws {
        switch source {
        case let gguf as GGUFTensorSource:
            storage = .file(path: gguf.file.path, isTemporary: false)
        case let fallback as FallbackConvertedSource:
            storage = .file(path: fallback.gguf.file.path, isTemporary: false)
        case let converted as ConvertedModelSource where inMemoryLimit > 0
                                                 && ConvertedWeights.convertedBytes(converted.plan) <= inMemoryLimit:
            storage = .memory(ConvertedWeights(plan: converted.plan))
        case let converted as ConvertedModelSource:
            let destination = "\(scratchFolder)/.quantd-reference-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).f16.gguf"
            try Converter(threads: max(1, threads)).run(converted.plan, destination: destination)
            storage = .file(path: destination, isTemporary: true)
        default:
            throw ReferenceModelError.unsupportedSource(kind: String(describing: type(of: source)))
        }
    }

    /// Disk a reference for `source` writes while it exists (default limit): the F16 file of a folder
    /// source too large to convert in memory, else nothing.
    public static func scratchFileBytes(source: TensorSource) -> Int {
        guard let converted = source as? ConvertedModelSource,
              ConvertedWeights.convertedBytes(converted.plan) > defaultInMemoryLimit else { return 0 }
        return converted.plan.tensorBytes
    }

    deinit {
        if case .file(let path, true) = storage { FileSystem.removeFile(path) }
    }

    /// How a folder source is held in memory: tensors read in place from its map, and tensors
    /// converted into memory; nil when the reference is a file.
    public var tensorsInMemory: (inPlace: Int, converted: Int)? {
        guard case .memory(let weights) = storage else { return nil }
        return (weights.inPlaceCount, weights.weightTensors.count - weights.inPlaceCount)
    }

    /// A fresh forward-pass model over the reference.
    public func open() throws -> LlamaModel {
        switch storage {
        case .file(let path, _): try LlamaModel(path: path)
        case .memory(let weights): try LlamaModel(weights: weights)
        }
    }
}

public enum ReferenceModelError: Error, CustomStringConvertible {
    case unsupportedSource(kind: String)

    public var description: String {
        switch self {
        case .unsupportedSource(let kind):
            "the forward pass cannot run on a \(kind) source; calibration and evaluation need a GGUF or a Hugging Face folder"
        }
    }
}
