import GGUF
import JSON

/// Builds an `InspectionReport` from a GGUF header.
enum GGUFInspection {
    static func report(path: String, header: GGUFHeader, fileSize: Int, compressedSize: Int? = nil) -> InspectionReport {
        let tensors = header.tensors.map { t in
            InspectionReport.Tensor(name: t.name, type: t.type.name, shape: t.dimensions, offset: t.absoluteOffset,
                                    bytes: t.byteCount, elements: t.elementCount)
        }
        let metadata = header.metadata
        let architecture = metadata[GGUFKeys.General.architecture]?.stringValue
        let parameters = header.parameterCount
        let dataBytes = header.tensors.reduce(0) { $0 + $1.byteCount }
        let summary = InspectionReport.Summary(
            architecture: architecture,
            name: metadata[GGUFKeys.General.name]?.stringValue,
            parameters: parameters,
            bitsPerWeight: parameters > 0 ? Double(dataBytes) * 8 / Double(parameters) : nil,
            types: InspectionReport.histogram(header.tensors.map(\.type.name)),
            tokenizerModel: metadata[GGUFKeys.Tokenizer.model]?.stringValue,
            vocabularySize: metadata[GGUFKeys.Tokenizer.list]?.arrayValue?.count,
            contextLength: architecture.flatMap { metadata[GGUFKeys.LLM.contextLength($0)]?.integerValue }.map(Int.init))
        return InspectionReport(
            format: "gguf", path: path, version: Int(header.version), alignment: header.alignment,
            fileSize: fileSize, dataOffset: header.dataOffset, compressedSize: compressedSize,
            metadata: metadata.entries.map { ($0.key, reportValue($0.value)) },
            tensors: tensors, summary: summary)
    }

    static func reportValue(_ value: GGUFValue) -> JSONValue {
        switch value {
        case .uint8(let v): .uint(UInt64(v))
        case .int8(let v): .int(Int64(v))
        case .uint16(let v): .uint(UInt64(v))
        case .int16(let v): .int(Int64(v))
        case .uint32(let v): .uint(UInt64(v))
        case .int32(let v): .int(Int64(v))
        case .float32(let v): .double(Double(v))
        case .bool(let v): .bool(v)
        case .string(let v): .string(v)
        case .array(_, let values): .array(values.map(reportValue))
        case .uint64(let v): .uint(v)
        case .int64(let v): .int(v)
        case .float64(let v): .double(v)
        }
    }
}
