import BinaryIO
import GGUF

/// A llama.cpp importance matrix, loaded and normalised as llama-quantize does
/// (`tools/quantize/quantize.cpp` `load_imatrix`): per tensor, the mean squared activation of
/// each input column, which weights the quantizers' error.
///
/// Reads both formats: the GGUF one `llama-imatrix` writes today (`NAME.in_sum2` sums and
/// `NAME.counts` per expert, `imatrix.*` keys), and the legacy `.dat` (name, ncall, values).
public struct ImportanceMatrix: Sendable {
    /// The file as the user named it; recorded in `quantize.imatrix.file` as llama-quantize does.
    public let file: String
    /// Normalised weights by tensor name (`ne0 × experts` values each).
    public let entries: [String: [Float]]
    public let datasets: [String]
    public let chunkCount: Int
    /// How quantd computed it, when the job did (nil: imported from a file).
    public var computation: ImatrixComputation?

    public init(file: String, entries: [String: [Float]], datasets: [String], chunkCount: Int,
                computation: ImatrixComputation? = nil) {
        self.file = file
        self.entries = entries
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.computation = computation
    }

    /// Loads `path`; `recordedName` (default: `path`) is the name written into artifacts.
    public static func load(path: String, recordedName: String? = nil) throws -> ImportanceMatrix {
        let mapped = try MappedFile(path: path)
        var matrix: ImportanceMatrix
        if mapped.count >= 4 && mapped.bytes.loadUnaligned(as: UInt32.self) == 0x4655_4747 {
            matrix = try loadGGUF(path: path)
        } else {
            matrix = try mapped.withUnsafeBytes { try loadLegacy(path: path, bytes: $0) }
        }
        if let recordedName {
            matrix = ImportanceMatrix(file: recordedName, entries: matrix.entries, datasets: matrix.datasets, chunkCount: matrix.chunkCount)
        }
        for (name, values) in matrix.entries where values.contains(where: { !$0.isFinite }) {
            throw ImportanceMatrixError(file: path, message: "entry '\(name)' holds a non-finite value; llama-quantize refuses such a matrix too")
        }
        return matrix
    }

    private static func loadGGUF(path: String) throws -> ImportanceMatrix {
        let file = try GGUFFile(path: path)
        var sums: [String: GGUFTensorInfo] = [:]
        var counts: [String: GGUFTensorInfo] = [:]
        for tensor in file.tensors {
            if tensor.name.hasSuffix(".in_sum2") { sums[String(tensor.name.dropLast(8))] = tensor }
            if tensor.name.hasSuffix(".counts") { counts[String(tensor.name.dropLast(7))] = tensor }
        }
        guard !sums.isEmpty else { throw ImportanceMatrixError(file: path, message: "has no '*.in_sum2' tensors; is it an imatrix?") }
        for requiredKey in [GGUFKeys.IMatrix.datasets, GGUFKeys.IMatrix.chunkCount, GGUFKeys.IMatrix.chunkSize]
            where !file.metadata.contains(requiredKey) {
            throw ImportanceMatrixError(file: path, message: "has no '\(requiredKey)' metadata (llama-quantize requires it)")
        }
        var entries: [String: [Float]] = [:]
        for (name, sumInfo) in sums {
            guard let countInfo = counts[name] else {
                throw ImportanceMatrixError(file: path, message: "'\(name).in_sum2' has no matching '\(name).counts'")
            }
            guard sumInfo.type == .f32, countInfo.type == .f32, countInfo.elementCount > 0,
                  sumInfo.elementCount % countInfo.elementCount == 0 else {
                throw ImportanceMatrixError(file: path, message: "'\(name)' sums and counts are not F32 arrays of matching sizes")
            }
            entries[name] = normalised(sums: floats(file.data(for: sumInfo)), counts: floats(file.data(for: countInfo)))
        }
        let datasets = file.metadata[GGUFKeys.IMatrix.datasets]?.arrayValue?.compactMap(\.stringValue) ?? []
        let chunks = file.metadata[GGUFKeys.IMatrix.chunkCount]?.integerValue.map(Int.init) ?? 0
        return ImportanceMatrix(file: path, entries: entries, datasets: datasets, chunkCount: chunks)
    }

    /// Per expert, each sum divided by that expert's count; an expert never routed to (count 0)
    /// gets weights of 1, as llama-quantize fills in partial data. The stored counts are floats
    /// that llama.cpp rounds to whole numbers (half away from zero) before dividing.
    public static func normalised(sums s: [Float], counts c: [Float]) -> [Float] {
        guard !c.isEmpty, s.count % c.count == 0 else { return s }
        let columns = s.count / c.count
        var e = [Float](repeating: 1, count: s.count)
        for j in 0..<c.count {
            let count = c[j].rounded(.toNearestOrAwayFromZero)
            guard count > 0 else { continue }
            for i in 0..<columns { e[j * columns + i] = s[j * columns + i] / count }
        }
        return e
    }

    private static func loadLegacy(path: String, bytes: UnsafeRawBufferPointer) throws -> ImportanceMatrix {
        var cursor = ByteCursor(bytes)
        func fail(_ what: String) -> ImportanceMatrixError {
            ImportanceMatrixError(file: path, message: "is neither a GGUF imatrix nor a legacy .dat one: \(what) at byte \(cursor.offset)")
        }
        guard let n = cursor.readInteger(Int32.self), n >= 1 else { throw fail("no entry count") }
        var entries: [String: [Float]] = [:]
        for _ in 0..<Int(n) {
            guard let length = cursor.readInteger(Int32.self), length >= 0, let name = cursor.readBytes(Int(length)) else {
                throw fail("bad entry name")
            }
            guard let ncall = cursor.readInteger(Int32.self), let nval = cursor.readInteger(Int32.self), nval >= 1,
                  let raw = cursor.readBytes(Int(nval) * 4) else { throw fail("bad entry values") }
            let sums = floats(raw)
            // Legacy sums are (sum/count)*ncall; dividing by ncall gives the mean, as llama.cpp does.
            entries[String(decoding: name, as: UTF8.self)] = ncall > 0 ? sums.map { $0 / Float(ncall) } : sums
        }
        var chunks = 0
        var datasets: [String] = []
        if let calls = cursor.readInteger(Int32.self) {
            chunks = Int(calls)
            if let length = cursor.readInteger(Int32.self), length > 0, let dataset = cursor.readBytes(Int(length)) {
                datasets = [String(decoding: dataset, as: UTF8.self)]
            }
        }
        return ImportanceMatrix(file: path, entries: entries, datasets: datasets, chunkCount: chunks)
    }

    private static func floats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }

    /// The weights for a tensor of `rowLength × experts` columns, or nil when the matrix has no
    /// entry for it. A size mismatch is an error (except for token_embd, as in llama.cpp).
    public func weights(for tensor: String, rowLength: Int, experts: Int) throws -> [Float]? {
        guard let e = entries[tensor] else { return nil }
        guard e.count == rowLength * experts else {
            if tensor == "token_embd.weight" || tensor == "per_layer_token_embd.weight" { return nil }
            throw ImportanceMatrixError(file: file, message: "entry '\(tensor)' has \(e.count) values but the tensor has \(rowLength * experts) columns; was the matrix made for another model?")
        }
        return e
    }

    /// The `quantize.imatrix.*` keys llama-quantize writes: file, first dataset (both cut to 127
    /// bytes, its override buffer), entry count, and chunk count when known (as UINT32).
    public var provenance: [GGUFKeyValue] {
        var keys = [GGUFKeyValue(GGUFKeys.Quantize.imatrixFile, .string(Self.cut(file)))]
        if let first = datasets.first { keys.append(GGUFKeyValue(GGUFKeys.Quantize.imatrixDataset, .string(Self.cut(first)))) }
        keys.append(GGUFKeyValue(GGUFKeys.Quantize.imatrixEntriesCount, .uint32(UInt32(entries.count))))
        if chunkCount > 0 { keys.append(GGUFKeyValue(GGUFKeys.Quantize.imatrixChunksCount, .uint32(UInt32(chunkCount)))) }
        return keys
    }

    private static func cut(_ s: String) -> String {
        let bytes = Array(s.utf8.prefix(127))
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct ImportanceMatrixError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
}
