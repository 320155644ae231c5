import Quantization
import ArgumentParser
import BinaryIO
import GGUF
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// `quantd inspect PATH`: what a GGUF, `.gguf.zst`, safetensors file or model folder holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a GGUF, .gguf.zst, .safetensors file or Hugging Face model folder holds.",
        discussion: """
            Reads only the header unless --verify is given. Exit status: 0 for a valid file; \
            65 malformed or unsupported; 66 cannot open; 75 truncated (the file may still be \
            arriving); 3 when --verify finds non-finite values or block scales.
            """)

    @Argument(help: "A .gguf, .gguf.zst or .safetensors file, or a Hugging Face model folder.")
    var path: String

    @Flag(name: .long, help: "Print one JSON object with every metadata value and every tensor.")
    var json = false

    @Flag(name: .long, help: "Print the tensor table (name, type, shape, bytes, offset).")
    var tensors = false

    @Flag(name: .long, help: "Read every tensor: SHA-256 per tensor and for the file, non-finite values and scales.")
    var verify = false

    func run() throws {
        let report: InspectionReport
        do {
            report = try Inspector(verify: verify).inspect(path: path)
        } catch {
            throw CLIFailure.from(error)
        }
        print(json ? report.json().serialized() : HumanReport(report: report).render(tensors: tensors))
        if verify && report.nonFiniteTotal > 0 {
            throw QuantdExit.nonFiniteData
        }
    }
}

/// Opens whatever `inspect` is pointed at and builds its report.
struct Inspector {
    var verify: Bool

    func inspect(path: String) throws -> InspectionReport {
        guard let info = FileSystem.info(path) else { throw FileError(path: path, operation: "open", errno: errno) }
        if info.isDirectory {
            return try ModelFolderInspection.report(path: path, verify: verify)
        }
        if path.hasSuffix(".zst") {
            return try inspectCompressed(path: path)
        }
        if path.hasSuffix(".safetensors") {
            return try SafetensorsInspection.report(path: path, verify: verify)
        }
        if path.hasSuffix(".bin") || path.hasSuffix(".pt") || path.hasSuffix(".pth") || path.hasSuffix(".ckpt") {
            throw CLIFailure(message: "\(path): PyTorch pickle checkpoints are never opened: unpickling runs arbitrary code",
                             hint: "convert it to safetensors first (transformers: model.save_pretrained(dir, safe_serialization=True))",
                             exit: QuantdExit.badInput)
        }
        return try inspectGGUF(path: path)
    }

    private func inspectGGUF(path: String) throws -> InspectionReport {
        let file = try GGUFFile(path: path)
        if GGUFSplitSet.isSplit(file) { return try inspectSplit(GGUFSplitSet(first: file)) }
        var report = GGUFInspection.report(path: path, header: file.header, fileSize: file.fileSize)
        if verify {
            file.adviseSequential()
            let jobs = file.tensors.map { Verification.Job(range: $0.byteRange, encoding: ElementEncoding(ggml: $0.type)) }
            let result = withExtendedLifetime(file) { Verification.run(bytes: file.bytes, jobs: jobs) }
            report.fileSHA256 = result.file
            for i in report.tensors.indices { report.tensors[i].verification = result.tensors[i] }
        }
        return report
    }

    /// A split set, checked as llama.cpp's loader checks it: the first file's metadata, every
    /// file's tensors (each with the file it is in), and a `split` entry listing the files.
    private func inspectSplit(_ set: GGUFSplitSet) throws -> InspectionReport {
        let first = set.files[0]
        var report = GGUFInspection.report(path: first.path, header: first.header, fileSize: set.files.reduce(0) { $0 + $1.fileSize })
        report.tensors = set.tensors.map { entry in
            let t = entry.info
            return InspectionReport.Tensor(name: t.name, type: t.type.name, shape: t.dimensions, offset: t.absoluteOffset,
                                           bytes: t.byteCount, elements: t.elementCount, file: Self.name(set.files[entry.file].path))
        }
        let parameters = set.tensors.reduce(0) { $0 + $1.info.elementCount }
        let dataBytes = set.tensors.reduce(0) { $0 + $1.info.byteCount }
        report.summary.parameters = parameters
        report.summary.bitsPerWeight = parameters > 0 ? Double(dataBytes) * 8 / Double(parameters) : nil
        report.summary.types = InspectionReport.histogram(set.tensors.map(\.info.type.name))
        var hashes: [String?] = Array(repeating: nil, count: set.files.count)
        if verify {
            var offset = 0
            for (f, file) in set.files.enumerated() {
                file.adviseSequential()
                let jobs = file.tensors.map { Verification.Job(range: $0.byteRange, encoding: ElementEncoding(ggml: $0.type)) }
                let result = withExtendedLifetime(file) { Verification.run(bytes: file.bytes, jobs: jobs) }
                hashes[f] = result.file
                for i in result.tensors.indices { report.tensors[offset + i].verification = result.tensors[i] }
                offset += file.tensors.count
            }
        }
        report.extra.append(("split", .object([
            ("count", .int(Int64(set.files.count))),
            ("files", .array(set.files.enumerated().map { f, file in
                var entry: [(key: String, value: JSONValue)] = [
                    ("file", .string(Self.name(file.path))), ("bytes", .int(Int64(file.fileSize))),
                    ("tensors", .int(Int64(file.tensors.count))),
                ]
                if let hash = hashes[f] { entry.append(("sha256", .string(hash))) }
                return .object(entry)
            })),
        ])))
        return report
    }

    private static func name(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    private func inspectCompressed(path: String) throws -> InspectionReport {
        let compressed = try CompressedGGUFHeader.read(path: path)
        var report = GGUFInspection.report(path: path, header: compressed.header,
                                           fileSize: compressed.declaredSize ?? compressed.header.requiredFileSize,
                                           compressedSize: compressed.compressedSize)
        if verify {
            let result = try CompressedVerification.run(path: path, header: compressed.header)
            report.fileSize = result.fileSize
            report.fileSHA256 = result.fileSHA256
            for i in report.tensors.indices { report.tensors[i].verification = result.tensors[i] }
        }
        return report
    }
}
