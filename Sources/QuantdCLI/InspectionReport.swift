import JSON
import Quantization

/// What `quantd inspect` found in one file or folder, independent of how it is printed.
struct InspectionReport {
    struct Tensor {
        var name: String
        /// llama.cpp type name (GGUF) or safetensors dtype.
        var type: String
        /// GGUF order (ne0 first) for GGUF; safetensors order (outermost first) for safetensors.
        var shape: [Int]
        /// Absolute byte offset in the file.
        var offset: Int
        var bytes: Int
        var elements: Int
        /// The shard holding the tensor, for a model folder.
        var file: String? = nil
        /// Filled by `--verify`.
        var verification: TensorVerification? = nil
    }

    /// "gguf", "safetensors" or "hf-folder".
    var format: String
    var path: String
    var version: Int?
    var alignment: Int?
    var fileSize: Int
    var dataOffset: Int
    /// For `.gguf.zst`: the compressed size (`fileSize` is then the declared uncompressed size).
    var compressedSize: Int?
    var metadata: [(key: String, value: JSONValue)]
    var tensors: [Tensor]
    /// Human summary lines, in order (label, value), and the same facts for JSON.
    var summary: Summary
    /// SHA-256 of the whole file, with `--verify`.
    var fileSHA256: String?
    /// Anything else a format wants in its JSON (e.g. the shards of a folder).
    var extra: [(key: String, value: JSONValue)] = []

    struct Summary {
        var architecture: String?
        var name: String?
        var parameters: Int
        var bitsPerWeight: Double?
        /// Tensor count per type name, in first-seen order.
        var types: [(String, Int)]
        var tokenizerModel: String?
        var vocabularySize: Int?
        var contextLength: Int?
    }

    static func histogram(_ names: [String]) -> [(String, Int)] {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for name in names {
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        return order.map { ($0, counts[$0] ?? 0) }
    }

    var nonFiniteTotal: Int {
        tensors.reduce(0) { $0 + ($1.verification.map { $0.nonFiniteValues + $0.nonFiniteScales } ?? 0) }
    }

    /// The `--json` object: format, sizes, metadata in full, every tensor, summary.
    func json() -> JSONValue {
        var fields: [(key: String, value: JSONValue)] = [("format", .string(format))]
        if let version { fields.append(("version", .int(Int64(version)))) }
        if let alignment { fields.append(("alignment", .int(Int64(alignment)))) }
        fields.append(("file_size", .int(Int64(fileSize))))
        if let compressedSize { fields.append(("compressed_size", .int(Int64(compressedSize)))) }
        fields.append(("data_offset", .int(Int64(dataOffset))))
        fields.append(("metadata", .object(metadata)))
        fields.append(("tensors", .array(tensors.map { tensor in
            var t: [(key: String, value: JSONValue)] = [
                ("name", .string(tensor.name)), ("type", .string(tensor.type)),
                ("shape", .array(tensor.shape.map { .int(Int64($0)) })),
                ("offset", .int(Int64(tensor.offset))), ("bytes", .int(Int64(tensor.bytes))),
            ]
            if let file = tensor.file { t.append(("file", .string(file))) }
            if let v = tensor.verification {
                t.append(("sha256", .string(v.sha256)))
                t.append(("non_finite_values", .int(Int64(v.nonFiniteValues))))
                t.append(("non_finite_scales", .int(Int64(v.nonFiniteScales))))
            }
            return .object(t)
        })))
        var s: [(key: String, value: JSONValue)] = [("parameters", .int(Int64(summary.parameters)))]
        s.append(("bits_per_weight", summary.bitsPerWeight.map { .double(($0 * 10000).rounded() / 10000) } ?? .null))
        s.append(("types", .object(summary.types.map { ($0.0, .int(Int64($0.1))) })))
        if let a = summary.architecture { s.append(("architecture", .string(a))) }
        if let n = summary.name { s.append(("name", .string(n))) }
        if let t = summary.tokenizerModel { s.append(("tokenizer_model", .string(t))) }
        if let v = summary.vocabularySize { s.append(("vocab_size", .int(Int64(v)))) }
        if let c = summary.contextLength { s.append(("context_length", .int(Int64(c)))) }
        fields.append(("summary", .object(s)))
        fields.append(contentsOf: extra)
        if let fileSHA256 { fields.append(("sha256", .string(fileSHA256))) }
        return .object(fields)
    }
}
