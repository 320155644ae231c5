import BinaryIO
@testable import Daemon
import GGUF
import JSON
import ModelFolder
import Safetensors

/// A test executor: it validates the input (GGUF, `.gguf.zst`, safetensors or a Hugging Face model
/// folder) with the real readers and writes a `manifest.json` describing it, without quantizing, so
/// the daemon's tests run the drop protocol on real inputs in milliseconds: bad inputs go to
/// failed/ with the reader's typed error, truncated ones are deferred, good ones reach out/NAME/.
struct InspectOnlyExecutor: JobExecutor {
    public let version: String

    public init(version: String) {
        self.version = version
    }

    /// The manifest is tiny; nothing to plan.
    public func plannedOutputBytes(for request: JobRequest) throws -> Int? { 1 << 20 }

    public func run(_ request: JobRequest) throws -> JobOutcome {
        request.progress(JobProgress(stage: "validate"))
        let description = try describe(request.inputPath, name: request.inputName)
        request.progress(JobProgress(stage: "manifest"))
        let manifest = jsonObject([
            ("quantd_version", .string(version)),
            ("executor", .string("inspect-only")),
            ("note", .string("validated only: the quantization pipeline is not integrated into the daemon yet, so no GGUF was produced")),
            ("input", description),
            ("artifacts", .array([])),
        ])
        let writer = try AtomicFileWriter(destination: request.outputFolder + "/manifest.json")
        try writer.write(Array(manifest.serialized(pretty: true).utf8))
        try writer.commit()
        return JobOutcome(files: ["manifest.json"])
    }

    /// What the input is, read through the same validating readers as `quantd inspect`.
    func describe(_ path: String, name: String) throws -> JSONValue {
        guard let info = FileSystem.info(path) else {
            throw FileError(path: path, operation: "open", errno: 2)
        }
        if info.isDirectory {
            let folder = try ModelFolder(path: path)
            try folder.validateIndex()
            return jsonObject([
                ("name", .string(name)),
                ("format", .string("huggingface-folder")),
                ("architectures", .array(folder.architectures.map { .string($0) })),
                ("model_type", folder.modelType.map { .string($0) } ?? .null),
                ("safetensors_files", .array(folder.safetensorsFileNames.map { .string($0) })),
                ("bytes", .number(JSONNumber(folder.totalSafetensorsBytes))),
                ("tensors", .number(JSONNumber(folder.tensorCount))),
                ("parameters", .number(JSONNumber(folder.parameterCount))),
            ])
        }
        if name.hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: path)
            return jsonObject([
                ("name", .string(name)),
                ("format", .string("safetensors")),
                ("bytes", .number(JSONNumber(file.fileSize))),
                ("tensors", .number(JSONNumber(file.tensors.count))),
                ("parameters", .number(JSONNumber(file.elementCount))),
            ])
        }
        if name.hasSuffix(".gguf.zst") {
            let compressed = try CompressedGGUFHeader.read(path: path)
            return ggufDescription(name: name, format: "gguf.zst", header: compressed.header, bytes: compressed.compressedSize)
        }
        if name.hasSuffix(".gguf") {
            let file = try GGUFFile(path: path)
            return ggufDescription(name: name, format: "gguf", header: file.header, bytes: file.fileSize)
        }
        throw JobFailure(kind: .badInput, type: "UnsupportedInput",
                         message: "\(name) is not a model input", file: name,
                         hint: "drop a .gguf, .gguf.zst or .safetensors file, or a Hugging Face model folder (config.json + *.safetensors)")
    }

    private func ggufDescription(name: String, format: String, header: GGUFHeader, bytes: Int) -> JSONValue {
        var types: [(String, Int)] = []
        for tensor in header.tensors {
            if let index = types.firstIndex(where: { $0.0 == tensor.type.name }) {
                types[index].1 += 1
            } else {
                types.append((tensor.type.name, 1))
            }
        }
        let architecture: JSONValue
        if case let .string(text)? = header.metadata["general.architecture"] {
            architecture = .string(text)
        } else {
            architecture = .null
        }
        return jsonObject([
            ("name", .string(name)),
            ("format", .string(format)),
            ("gguf_version", .number(JSONNumber(Int(header.version)))),
            ("architecture", architecture),
            ("bytes", .number(JSONNumber(bytes))),
            ("tensors", .number(JSONNumber(header.tensors.count))),
            ("parameters", .number(JSONNumber(header.tensors.reduce(0) { $0 &+ $1.elementCount }))),
            ("tensor_types", jsonObject(types.map { ($0.0, .number(JSONNumber($0.1))) })),
        ])
    }
}
