import BinaryIO

/// What the writer needs to know of a tensor before its data exists.
public struct GGUFTensorPlan: Equatable, Sendable {
    public let name: String
    /// GGUF order: `ne0` first.
    public let dimensions: [Int]
    public let type: GGMLType

    public init(name: String, dimensions: [Int], type: GGMLType) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
    }
}

/// Writes a GGUF v3 file in one streaming pass.
///
/// The header (metadata and tensor table with every offset) is computed from the plan and
/// written first; tensor data is then appended in plan order, in pieces of any size, with the
/// alignment padding inserted between tensors. Nothing but the current write buffer is held in
/// memory. Each tensor must receive exactly its planned byte count; `finish()` checks that all
/// did, then fsyncs and renames the temporary file into place, so a reader sees no partial file.
/// The same plan and bytes always give the same file.
public final class GGUFWriter {
    public enum State: Equatable {
        /// Expecting bytes of tensor `index`, `written` of them received so far.
        case writingTensor(index: Int, written: Int)
        case finished
    }

    public let header: GGUFHeader
    public private(set) var state: State
    private let output: AtomicFileWriter

    /// Validates the plan, then creates the temporary file and writes the header. `directIO`:
    /// see `AtomicFileWriter.init`.
    public init(destination: String, metadata: GGUFMetadata, tensors: [GGUFTensorPlan], hashing: Bool = false,
                directIO: Bool = false) throws {
        let header = try GGUFWriter.layOut(metadata: metadata, tensors: tensors)
        var encoder = GGUFEncoder()
        encoder.append(GGUFHeaderParser.magic)
        encoder.append(header.version)
        encoder.append(UInt64(tensors.count))
        encoder.append(UInt64(metadata.count))
        for entry in metadata.entries {
            encoder.append(entry.key)
            encoder.append(entry.value)
        }
        for tensor in header.tensors {
            encoder.append(tensor.name)
            encoder.append(UInt32(tensor.dimensions.count))
            for dim in tensor.dimensions { encoder.append(UInt64(dim)) }
            encoder.append(tensor.type.id)
            encoder.append(UInt64(tensor.relativeOffset))
        }
        precondition(encoder.bytes.count == header.headerByteCount, "header size differs from its layout")
        encoder.padZeros(to: header.alignment)

        self.header = header
        output = try AtomicFileWriter(destination: destination, hashing: hashing, directIO: directIO)
        try output.write(encoder.bytes)
        state = .writingTensor(index: 0, written: 0)
    }

    /// SHA-256 of the finished file, when the writer was created with `hashing`.
    public var sha256: String? { output.sha256 }

    /// Bytes written so far (the file's size once finished).
    public var bytesWritten: Int { output.bytesWritten }

    /// The tensor the next bytes belong to, or nil when all have been written.
    public var currentTensor: GGUFTensorInfo? {
        guard case .writingTensor(let index, _) = state, index < header.tensors.count else { return nil }
        return header.tensors[index]
    }

    /// Appends bytes to the current tensor; they may span the end of one tensor into the next.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            guard case .writingTensor(let index, let written) = state, index < header.tensors.count else {
                throw GGUFWriterError.tooManyBytes(extra: rest.count)
            }
            let tensor = header.tensors[index]
            let n = min(rest.count, tensor.byteCount - written)
            try output.write(UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if written + n == tensor.byteCount {
                try advance(past: index)
            } else {
                state = .writingTensor(index: index, written: written + n)
            }
        }
        // Zero-byte tensors complete without receiving any bytes.
        while let tensor = currentTensor, tensor.byteCount == 0, case .writingTensor(let index, _) = state {
            try advance(past: index)
        }
    }

    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Checks every tensor got all its bytes, then makes the file visible under its name.
    public func finish() throws {
        try seal()
        try publish()
    }

    /// Checks every tensor got all its bytes and makes the file durable, still under its
    /// temporary name (`publish()` renames it). For files that must appear together.
    public func seal() throws {
        while let tensor = currentTensor, tensor.byteCount == 0, case .writingTensor(let index, _) = state {
            try advance(past: index)
        }
        if case .writingTensor(let index, let written) = state, index < header.tensors.count {
            output.abort()
            state = .finished
            throw GGUFWriterError.incomplete(tensor: header.tensors[index].name, written: written,
                                             expected: header.tensors[index].byteCount)
        }
        let expected = header.tensors.last.map { GGUFHeaderParser.pad($0.absoluteOffset + $0.byteCount, to: header.alignment) }
            ?? GGUFHeaderParser.pad(header.headerByteCount, to: header.alignment)
        guard output.bytesWritten == expected else {
            output.abort()
            state = .finished
            throw GGUFWriterError.sizeMismatch(written: output.bytesWritten, planned: expected)
        }
        do {
            try output.seal()
        } catch {
            output.abort()
            state = .finished
            throw error
        }
        state = .finished
    }

    /// Renames a sealed file into place.
    public func publish() throws {
        try output.commit()
    }

    /// Drops the temporary file; the destination is left as it was.
    public func abort() {
        output.abort()
        state = .finished
    }

    private func advance(past index: Int) throws {
        let tensor = header.tensors[index]
        let end = tensor.absoluteOffset + tensor.byteCount
        try output.writeZeros(GGUFHeaderParser.pad(end, to: header.alignment) - end)
        state = .writingTensor(index: index + 1, written: 0)
    }

    /// Computes the header a plan produces: offsets, data start, and the checks a reader applies.
    public static func layOut(metadata: GGUFMetadata, tensors: [GGUFTensorPlan]) throws -> GGUFHeader {
        var alignment = GGUFHeader.defaultAlignment
        if let value = metadata[GGUFKeys.General.alignment] {
            guard case .uint32(let raw) = value, raw > 0, raw & (raw - 1) == 0,
                  Int(raw) <= GGUFHeader.maximumAlignment else {
                throw GGUFWriterError.invalidPlan("\(GGUFKeys.General.alignment) must be a UINT32 power of two up to 1 MiB")
            }
            alignment = Int(raw)
        }
        for entry in metadata.entries {
            guard !entry.key.isEmpty else { throw GGUFWriterError.invalidPlan("a metadata key is empty") }
            if case .array(let elementType, let values) = entry.value {
                guard elementType != .array else {
                    throw GGUFWriterError.invalidPlan("metadata '\(entry.key)' is an array of arrays")
                }
                guard values.allSatisfy({ $0.type == elementType }) else {
                    throw GGUFWriterError.invalidPlan("metadata '\(entry.key)' mixes element types")
                }
            }
        }
        var size = GGUFEncoder()
        size.append(GGUFHeaderParser.magic)
        size.append(UInt32(3))
        size.append(UInt64(0))
        size.append(UInt64(0))
        var headerBytes = size.bytes.count
        for entry in metadata.entries {
            var e = GGUFEncoder()
            e.append(entry.key)
            e.append(entry.value)
            headerBytes += e.bytes.count
        }
        var names = Set<String>()
        var sized: [(GGUFTensorPlan, Int, Int)] = []
        var offset = 0
        for plan in tensors {
            guard plan.name.utf8.count <= GGUFHeaderParser.maximumNameLength, names.insert(plan.name).inserted else {
                throw GGUFWriterError.invalidPlan("tensor name '\(plan.name)' is too long or repeated")
            }
            guard plan.dimensions.count <= GGUFHeaderParser.maximumDimensions, plan.dimensions.allSatisfy({ $0 >= 0 }) else {
                throw GGUFWriterError.invalidPlan("tensor '\(plan.name)' has an invalid shape \(plan.dimensions)")
            }
            let elements = plan.dimensions.reduce(1, *)
            guard (plan.dimensions.first ?? 1) % plan.type.blockSize == 0 || elements == 0,
                  let bytes = plan.type.byteCount(elements: elements) else {
                throw GGUFWriterError.invalidPlan(
                    "tensor '\(plan.name)' rows of \(plan.dimensions.first ?? 1) are not a multiple of \(plan.type.name)'s block \(plan.type.blockSize)")
            }
            headerBytes += 8 + plan.name.utf8.count + 4 + 8 * plan.dimensions.count + 4 + 8
            sized.append((plan, offset, bytes))
            offset = GGUFHeaderParser.pad(offset + bytes, to: alignment)
        }
        let dataOffset = GGUFHeaderParser.pad(headerBytes, to: alignment)
        let infos = sized.map { plan, relative, bytes in
            GGUFTensorInfo(name: plan.name, dimensions: plan.dimensions, type: plan.type, relativeOffset: relative,
                           absoluteOffset: dataOffset + relative,
                           elementCount: plan.dimensions.reduce(1, *), byteCount: bytes)
        }
        return GGUFHeader(version: 3, metadata: metadata, tensors: infos, alignment: alignment,
                          dataOffset: dataOffset, headerByteCount: headerBytes)
    }
}

public enum GGUFWriterError: Error, CustomStringConvertible, Equatable {
    case invalidPlan(String)
    case tooManyBytes(extra: Int)
    case incomplete(tensor: String, written: Int, expected: Int)
    case sizeMismatch(written: Int, planned: Int)

    public var description: String {
        switch self {
        case .invalidPlan(let why): "cannot write GGUF: \(why)"
        case .tooManyBytes(let extra): "GGUF writer got \(extra) bytes more than the planned tensors hold"
        case .incomplete(let tensor, let written, let expected):
            "GGUF writer: tensor '\(tensor)' got \(written) of its \(expected) bytes; the file was not written"
        case .sizeMismatch(let written, let planned):
            "GGUF writer wrote \(written) bytes but the plan has \(planned); the file was not written"
        }
    }
}
