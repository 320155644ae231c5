import GGUF

/// Importance-matrix partials (each over a range of the calibration text's chunks) merged into
/// one, as llama-imatrix merges the files given with several `--in-file` (`load_imatrix` in
/// `tools/imatrix/imatrix.cpp`): per tensor, the sums of squared activations added in f32 and the
/// token counts added; the datasets listed one after another; the chunk count the largest token
/// count over the chunk size. The merge over a split of the chunk range has the whole run's counts
/// and chunk count exactly, and its sums up to f32 rounding (a partial's sum is added as a whole
/// instead of chunk by chunk).
extension ImatrixFile {
    public struct MergeError: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var message: String
        public var description: String { "\(file): \(message)" }
    }

    /// Reads an imatrix GGUF as stored: raw sums and counts, every shape checked.
    public static func load(path: String) throws -> ImatrixFile {
        let file = try GGUFFile(path: path)
        func bad(_ message: String) -> MergeError { MergeError(file: path, message: message) }
        guard file.metadata[GGUFKeys.General.type] == .string("imatrix") else {
            throw bad("is not an imatrix GGUF (general.type is not \"imatrix\"); a legacy .dat file can be converted with llama-imatrix --output-format gguf")
        }
        guard let chunkCount = file.metadata[GGUFKeys.IMatrix.chunkCount]?.integerValue,
              let chunkSize = file.metadata[GGUFKeys.IMatrix.chunkSize]?.integerValue, chunkSize > 0, chunkCount >= 0 else {
            throw bad("has no valid imatrix.chunk_count and imatrix.chunk_size")
        }
        var datasets: [String] = []
        if case .array(_, let values)? = file.metadata[GGUFKeys.IMatrix.datasets] {
            datasets = values.compactMap { if case .string(let s) = $0 { s } else { nil } }
        }
        var sums: [String: GGUFTensorInfo] = [:]
        var counts: [String: GGUFTensorInfo] = [:]
        for tensor in file.tensors {
            guard tensor.type == .f32 else { throw bad("tensor \(tensor.name) is \(tensor.type.name), not F32") }
            if tensor.name.hasSuffix(".in_sum2") { sums[String(tensor.name.dropLast(8))] = tensor }
            else if tensor.name.hasSuffix(".counts") { counts[String(tensor.name.dropLast(7))] = tensor }
        }
        guard !sums.isEmpty else { throw bad("has no '*.in_sum2' tensors; is it an imatrix?") }
        var entries: [Entry] = []
        for (name, sumInfo) in sums {
            guard let countInfo = counts[name] else { throw bad("\(name).in_sum2 has no \(name).counts") }
            let experts = countInfo.elementCount
            guard experts >= 1, sumInfo.elementCount % experts == 0 else {
                throw bad("\(name): \(sumInfo.elementCount) sums do not divide into \(experts) experts")
            }
            let entry = Entry(name: name, sums: floats(file, sumInfo), counts: floats(file, countInfo))
            guard entry.counts.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 9.0e15 }), entry.sums.allSatisfy(\.isFinite) else {
                throw bad("\(name) holds a non-finite sum or a count that is negative or too large")
            }
            entries.append(entry)
        }
        return ImatrixFile(entries: entries, datasets: datasets, chunkCount: Int(chunkCount), chunkSize: Int(chunkSize))
    }

    private static func floats(_ file: GGUFFile, _ info: GGUFTensorInfo) -> [Float] {
        let bytes = file.data(for: info)
        return (0..<info.elementCount).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }

    /// `files` merged in order; `names` (the files' paths) for errors. Every file must have the
    /// same chunk size; a tensor in several files must have the same number of sums.
    public static func merged(_ files: [ImatrixFile], names: [String]) throws -> ImatrixFile {
        precondition(!files.isEmpty && files.count == names.count)
        let chunkSize = files[0].chunkSize
        var order: [String] = []
        var sums: [String: [Float]] = [:]
        var counts: [String: [Float]] = [:]
        var datasets: [String] = []
        for (file, name) in zip(files, names) {
            guard file.chunkSize == chunkSize else {
                throw MergeError(file: name, message: "has chunks of \(file.chunkSize) tokens, \(names[0]) of \(chunkSize): partials must come from runs with the same --ctx")
            }
            for entry in file.entries {
                guard var total = sums[entry.name], var count = counts[entry.name] else {
                    order.append(entry.name)
                    sums[entry.name] = entry.sums
                    counts[entry.name] = entry.counts
                    continue
                }
                guard total.count == entry.sums.count else {
                    throw MergeError(file: name, message: "\(entry.name) has \(entry.sums.count) sums, the files before it \(total.count): partials must be of the same model")
                }
                // llama-imatrix widens one count to every expert's when a tensor gets its per-expert counts.
                if count.count == 1 && entry.counts.count > 1 { count = Array(repeating: count[0], count: entry.counts.count) }
                guard count.count == entry.counts.count else {
                    throw MergeError(file: name, message: "\(entry.name) has \(entry.counts.count) counts, the files before it \(count.count)")
                }
                for j in total.indices { total[j] += entry.sums[j] }
                for j in count.indices { count[j] += entry.counts[j] }
                sums[entry.name] = total
                counts[entry.name] = count
            }
            datasets += file.datasets
        }
        let largest = counts.values.flatMap { $0 }.max() ?? 0
        let entries = order.map { Entry(name: $0, sums: sums[$0] ?? [], counts: counts[$0] ?? []) }
        return ImatrixFile(entries: entries, datasets: datasets, chunkCount: Int(largest) / chunkSize, chunkSize: chunkSize)
    }
}
