import Quantization
import JSON
import Pipeline
import ModelFolder
import Safetensors

/// Builds an `InspectionReport` for a Hugging Face model folder: the config summary, the
/// safetensors shards (cross-checked against the index), and every tensor with its shard.
enum ModelFolderInspection {
    static func report(path: String, verify: Bool) throws -> InspectionReport {
        let folder = try ModelFolder(path: path)
        try folder.validateIndex()
        var tensors: [InspectionReport.Tensor] = []
        var shards: [JSONValue] = []
        var infos: [SafetensorsTensorInfo] = []
        for file in folder.weights {
            let name = String(file.path.split(separator: "/").last ?? Substring(file.path))
            var shard: [(key: String, value: JSONValue)] = [("file", .string(name)), ("bytes", .int(Int64(file.fileSize))),
                                                   ("tensors", .int(Int64(file.tensors.count)))]
            var rows = file.tensors.map { SafetensorsInspection.tensor(of: $0, in: name) }
            if verify {
                let hashes = try SafetensorsInspection.verifyFile(path: file.path, tensors: file.tensors)
                shard.append(("sha256", .string(hashes.file)))
                for i in rows.indices { rows[i].verification = hashes.tensors[i] }
            }
            tensors += rows
            infos += file.tensors
            shards.append(.object(shard))
        }
        var summary = SafetensorsInspection.summary(tensors: infos)
        summary.architecture = folder.architectures.first
        summary.vocabularySize = folder.vocabSize
        summary.contextLength = folder.maxPositionEmbeddings
        var report = InspectionReport(
            format: "hf-folder", path: path, version: nil, alignment: nil, fileSize: folder.totalSafetensorsBytes,
            dataOffset: 0, compressedSize: nil, metadata: folder.config.objectValue ?? [],
            tensors: tensors, summary: summary)
        if let type = folder.modelType { report.extra.append(("model_type", .string(type))) }
        // Who converts it: quantd (native), llama.cpp's converter as the fallback, or neither known.
        if let architecture = ConversionSupport.architectureName(folder: path) {
            report.extra.append(("conversion", .string(ConversionSupport(architecture: architecture).rawValue)))
        }
        if let dtype = folder.torchDtype { report.extra.append(("torch_dtype", .string(dtype))) }
        if let hidden = folder.hiddenSize { report.extra.append(("hidden_size", .int(Int64(hidden)))) }
        if let layers = folder.numHiddenLayers { report.extra.append(("layers", .int(Int64(layers)))) }
        report.extra.append(("shards", .array(shards)))
        report.extra.append(("tokenizer_files", .array(folder.tokenizerFiles.map { .string($0) })))
        return report
    }
}
