import Quantization
import BinaryIO
import ModelFolder
import Safetensors

/// Builds an `InspectionReport` from a safetensors file.
enum SafetensorsInspection {
    static func report(path: String, verify: Bool) throws -> InspectionReport {
        let file = try SafetensorsFile(path: path)
        var report = InspectionReport(
            format: "safetensors", path: path, version: nil, alignment: nil, fileSize: file.fileSize,
            dataOffset: file.dataOffset, compressedSize: nil,
            metadata: file.metadata.map { ($0.key, .string($0.value)) },
            tensors: file.tensors.map { tensor(of: $0, in: nil) },
            summary: summary(tensors: file.tensors))
        report.extra.append(("header_length", .int(Int64(file.headerLength))))
        if verify {
            let hashes = try verifyFile(path: path, tensors: file.tensors)
            report.fileSHA256 = hashes.file
            for i in report.tensors.indices { report.tensors[i].verification = hashes.tensors[i] }
        }
        return report
    }

    static func tensor(of info: SafetensorsTensorInfo, in file: String?) -> InspectionReport.Tensor {
        InspectionReport.Tensor(name: info.name, type: info.dtype.rawValue, shape: info.shape, offset: info.absoluteOffset,
                                bytes: info.byteCount, elements: info.elementCount, file: file)
    }

    static func summary(tensors: [SafetensorsTensorInfo]) -> InspectionReport.Summary {
        let parameters = tensors.reduce(0) { $0 + $1.elementCount }
        let bytes = tensors.reduce(0) { $0 + $1.byteCount }
        return InspectionReport.Summary(
            architecture: nil, name: nil, parameters: parameters,
            bitsPerWeight: parameters > 0 ? Double(bytes) * 8 / Double(parameters) : nil,
            types: InspectionReport.histogram(tensors.map(\.dtype.rawValue)),
            tokenizerModel: nil, vocabularySize: nil, contextLength: nil)
    }

    /// Hashes the whole file and each tensor, and counts non-finite floating-point values.
    static func verifyFile(path: String, tensors: [SafetensorsTensorInfo]) throws -> (file: String, tensors: [TensorVerification]) {
        let mapped = try MappedFile(path: path)
        mapped.adviseSequential()
        let jobs = tensors.map { Verification.Job(range: $0.absoluteOffset..<($0.absoluteOffset + $0.byteCount),
                                                  encoding: encoding($0.dtype)) }
        return mapped.withUnsafeBytes { Verification.run(bytes: $0, jobs: jobs) }
    }

    static func encoding(_ dtype: SafetensorsDType) -> ElementEncoding {
        switch dtype {
        case .f32: .float32
        case .f16: .float16
        case .bf16: .bfloat16
        case .f64: .float64
        case .f8E4M3: .float8E4M3
        case .f8E5M2: .float8E5M2
        default: .integer
        }
    }

    /// The exit status and message for the errors of this format.
    static func classify(_ error: any Error) -> CLIFailure? {
        switch error {
        case let e as SafetensorsError:
            switch e {
            case .truncated: return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.truncated)
            case .malformed: return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.badInput)
            case .io: return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.cannotOpen)
            }
        case let e as ModelFolderError:
            if e.isTruncated { return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.truncated) }
            if case .notADirectory = e { return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.cannotOpen) }
            return CLIFailure(message: e.description, hint: nil, exit: QuantdExit.badInput)
        default:
            return nil
        }
    }
}
