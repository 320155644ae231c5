#if canImport(Glibc)
import Glibc
#endif
import GGUF
import Inference
import ModelConversion

/// The job's source as a GGUF the forward pass can run: what the `imatrix` calibration stage
/// measures activations on, and what the `evaluate` stage compares every artifact against.
///
/// A GGUF source is used in place. A Hugging Face folder has no GGUF yet, so its converted F16
/// form (the same bytes the pipeline quantizes from) is written once to a hidden file in the
/// scratch folder and removed when this object goes away — memory-mapped rather than held in
/// memory, so a model larger than RAM still works, and written only by jobs that need it.
public final class ReferenceModel {
    /// The GGUF the forward pass reads.
    public let path: String
    /// True when `path` is our temporary conversion (deleted in deinit).
    public let isTemporary: Bool

    public init(source: TensorSource, scratchFolder: String, threads: Int) throws {
        switch source {
        case let gguf as GGUFTensorSource:
            path = gguf.file.path
            isTemporary = false
        case let converted as ConvertedModelSource:
            let destination = "\(scratchFolder)/.quantd-reference-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).f16.gguf"
            try Converter(threads: max(1, threads)).run(converted.plan, destination: destination)
            path = destination
            isTemporary = true
        default:
            throw ReferenceModelError.unsupportedSource(kind: String(describing: type(of: source)))
        }
    }

    deinit {
        if isTemporary { unlink(path) }
    }

    /// A fresh forward-pass model over the reference file.
    public func open() throws -> LlamaModel {
        try LlamaModel(path: path)
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
