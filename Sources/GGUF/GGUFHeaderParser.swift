import BinaryIO

/// Parses and validates a GGUF header from a byte buffer.
///
/// The rules are those of ggml's `gguf.cpp` plus the checks that its 2024-2026 CVEs showed were
/// missing: every count and length is checked against the format's limits and the bytes remaining
/// before anything is allocated, and every size computation checks for overflow. `bytes` may be a
/// prefix of the file (the decompressed front of a `.gguf.zst`); running out of bytes is reported
/// as `truncated`, so such a caller can supply more and try again.
public struct GGUFHeaderParser {
    /// ggml's limits (`GGUF_MAX_STRING_LENGTH`, `GGUF_MAX_ARRAY_ELEMENTS`, `GGML_MAX_NAME`, `GGML_MAX_DIMS`).
    public static let maximumStringLength = 1 << 30
    public static let maximumArrayCount = 1 << 30
    public static let maximumNameLength = 63
    public static let maximumDimensions = 4
    /// Our cap on tensors and on metadata entries (ggml's is SIZE_MAX / entry size). The largest
    /// models have about 10^5 tensors; the cap turns a corrupt count into an error at once.
    public static let maximumEntryCount = 1 << 24
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian

    private var cursor: ByteCursor
    /// The size of the whole file when known; tensor data is checked against it.
    private let fileSize: Int?

    /// Parses the header at the start of `bytes`. `fileSize` is the whole file's size (nil when
    /// unknown, e.g. a compressed stream without a declared size).
    public static func parse(_ bytes: UnsafeRawBufferPointer, fileSize: Int?) throws(GGUFError) -> GGUFHeader {
        var parser = GGUFHeaderParser(cursor: ByteCursor(bytes), fileSize: fileSize)
        return try parser.parseHeader()
    }

    private init(cursor: ByteCursor, fileSize: Int?) {
        self.cursor = cursor
        self.fileSize = fileSize
    }

    private mutating func parseHeader() throws(GGUFError) -> GGUFHeader {
        let magic: UInt32 = try read("magic")
        guard magic == GGUFHeaderParser.magic else {
            throw GGUFError(.malformed, .badMagic, field: "magic", offset: 0,
                            message: "not a GGUF file: the first four bytes are \(hex(magic)), not 'GGUF'",
                            hint: "check that this is a .gguf file (a .gguf.zst must end in .zst)")
        }
        let version: UInt32 = try read("version")
        try checkVersion(version)

        let tensorCount = try readCount("tensor count")
        let keyCount = try readCount("metadata count")

        var entries: [GGUFKeyValue] = []
        entries.reserveCapacity(min(keyCount, cursor.remaining / 12))
        var seenKeys = Set<String>()
        for index in 0..<keyCount {
            let keyOffset = cursor.offset
            let key = try readString("metadata key \(index)")
            guard !key.isEmpty else {
                throw malformed(.emptyKey, "metadata key \(index)", keyOffset, "metadata key \(index) is empty")
            }
            guard seenKeys.insert(key).inserted else {
                throw malformed(.duplicateKey, "metadata['\(key)']", keyOffset, "metadata key '\(key)' appears twice")
            }
            let value = try readValue(field: "metadata['\(key)']")
            entries.append(GGUFKeyValue(key, value))
        }
        let metadata = GGUFMetadata(entries)
        let alignment = try alignment(in: metadata)

        var infos: [(name: String, dims: [Int], type: GGMLType, offset: Int, elements: Int, bytes: Int, at: Int)] = []
        infos.reserveCapacity(min(tensorCount, cursor.remaining / 24))
        var seenNames = Set<String>()
        for index in 0..<tensorCount {
            let infoOffset = cursor.offset
            let name = try readString("tensor \(index) name")
            guard name.utf8.count <= GGUFHeaderParser.maximumNameLength else {
                throw malformed(.nameTooLong, "tensor \(index) name", infoOffset,
                                "tensor name '\(name.prefix(80))' has \(name.utf8.count) bytes; ggml allows at most \(GGUFHeaderParser.maximumNameLength)")
            }
            guard seenNames.insert(name).inserted else {
                throw malformed(.duplicateTensorName, "tensor '\(name)'", infoOffset, "tensor name '\(name)' appears twice")
            }
            let (dims, elements) = try readDimensions(tensor: name)
            let type = try readTensorType(tensor: name)
            // Zero dimensions is a scalar for ggml (every ne is 1): one row of one element.
            let rowLength = dims.first ?? 1
            guard elements == 0 || rowLength % type.blockSize == 0 else {
                throw malformed(.rowNotBlockMultiple, "tensor '\(name)' shape", infoOffset,
                                "tensor '\(name)' has rows of \(rowLength) elements, not a multiple of \(type.name)'s block of \(type.blockSize)")
            }
            guard let bytes = type.byteCount(elements: elements) else {
                throw malformed(.tensorSizeOverflow, "tensor '\(name)' shape", infoOffset,
                                "tensor '\(name)' of \(elements) \(type.name) elements has a byte size that overflows")
            }
            let offsetField = cursor.offset
            let offset: UInt64 = try read("tensor '\(name)' offset")
            guard let relative = Int(exactly: offset), relative <= Int.max - bytes - alignment else {
                throw malformed(.tensorSizeOverflow, "tensor '\(name)' offset", offsetField,
                                "tensor '\(name)' has offset \(offset), past any possible file")
            }
            infos.append((name, dims, type, relative, elements, bytes, offsetField))
        }

        let headerEnd = cursor.offset
        let dataOffset = tensorCount > 0 ? GGUFHeaderParser.pad(headerEnd, to: alignment) : headerEnd
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(infos.count)
        // ggml requires the tensors to be packed in header order, each starting at the previous
        // one's end padded to the alignment; anything else is rejected with the specific reason.
        var expected = 0
        var previous: String?
        for info in infos {
            guard info.offset % alignment == 0 else {
                throw malformed(.misalignedTensorOffset, "tensor '\(info.name)' offset", info.at,
                                "tensor '\(info.name)' starts at data offset \(info.offset), not a multiple of the alignment \(alignment)")
            }
            if info.offset < expected {
                throw malformed(.overlappingTensors, "tensor '\(info.name)' offset", info.at,
                                "tensor '\(info.name)' at data offset \(info.offset) overlaps tensor '\(previous ?? "")', which ends at \(expected)")
            }
            if info.offset > expected {
                throw malformed(.tensorOffsetGap, "tensor '\(info.name)' offset", info.at,
                                "tensor '\(info.name)' starts at data offset \(info.offset), but ggml requires it at \(expected), right after '\(previous ?? "the data start")'")
            }
            // Without a known file size nothing else bounds these sums, so check them.
            let (absolute, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = absolute.addingReportingOverflow(info.bytes)
            guard !o1, !o2, end <= Int.max - alignment else {
                throw malformed(.tensorSizeOverflow, "tensor '\(info.name)' offset", info.at,
                                "tensor '\(info.name)' ends past any possible file")
            }
            if let fileSize, end > fileSize {
                throw GGUFError(.truncated, .tensorDataBeyondEnd, field: "tensor '\(info.name)' data", offset: absolute,
                                message: "tensor '\(info.name)' ends at byte \(end) but the file has \(fileSize) bytes",
                                hint: "the file is truncated; was the copy finished?")
            }
            tensors.append(GGUFTensorInfo(name: info.name, dimensions: info.dims, type: info.type,
                                          relativeOffset: info.offset, absoluteOffset: absolute,
                                          elementCount: info.elements, byteCount: info.bytes))
            expected = GGUFHeaderParser.pad(info.offset + info.bytes, to: alignment)
            previous = info.name
        }
        return GGUFHeader(version: version, metadata: metadata, tensors: tensors, alignment: alignment,
                          dataOffset: dataOffset, headerByteCount: headerEnd)
    }

    // MARK: - Fields

    private func checkVersion(_ version: UInt32) throws(GGUFError) {
        switch version {
        case 2, 3: return
        case 1:
            throw GGUFError(.unsupported, .unsupportedVersion, field: "version", offset: 4,
                            message: "GGUF version 1 is no longer supported by ggml",
                            hint: "re-convert the model with a current llama.cpp or quantd")
        case _ where version & 0xFFFF == 0:
            throw GGUFError(.unsupported, .wrongEndianness, field: "version", offset: 4,
                            message: "the version field reads \(version): this is a big-endian GGUF",
                            hint: "convert it to little-endian (gguf-py's gguf_convert_endian.py)")
        default:
            throw GGUFError(.unsupported, .unsupportedVersion, field: "version", offset: 4,
                            message: "GGUF version \(version) is newer than the versions this quantd reads (2, 3)",
                            hint: "upgrade quantd")
        }
    }

    /// Reads a u64 count of tensors or metadata entries. More than `maximumEntryCount` is
    /// malformed (no real model comes near); a count whose entries run past the end of the
    /// bytes is found while reading them and reported as truncated, since the file may still be
    /// arriving. Callers reserve memory only for what the remaining bytes can hold.
    private mutating func readCount(_ field: String) throws(GGUFError) -> Int {
        let at = cursor.offset
        let raw: UInt64 = try read(field)
        guard raw <= UInt64(GGUFHeaderParser.maximumEntryCount) else {
            throw malformed(.countTooLarge, field, at,
                            "\(field) is \(raw); no GGUF holds more than \(GGUFHeaderParser.maximumEntryCount)")
        }
        return Int(raw)
    }

    private mutating func read<T: FixedWidthInteger>(_ field: String) throws(GGUFError) -> T {
        guard let value = cursor.readInteger(T.self) else { throw endOfData(field, needed: MemoryLayout<T>.size) }
        return value
    }

    private mutating func readString(_ field: String) throws(GGUFError) -> String {
        let at = cursor.offset
        let length: UInt64 = try read("\(field) length")
        guard length <= UInt64(GGUFHeaderParser.maximumStringLength) else {
            throw malformed(.stringTooLong, field, at,
                            "\(field) claims \(length) bytes; ggml allows strings of at most 1 GiB")
        }
        guard let bytes = cursor.readBytes(Int(length)) else { throw endOfData(field, needed: Int(length)) }
        // Token strings are meant to be UTF-8; invalid sequences are shown as U+FFFD rather than
        // rejected, as ggml does not reject them either.
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func readValueType(_ field: String) throws(GGUFError) -> GGUFValueType {
        let at = cursor.offset
        let raw: UInt32 = try read("\(field) type")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw malformed(.invalidValueType, "\(field) type", at, "\(field) has value type \(raw), which GGUF does not define")
        }
        return type
    }

    private mutating func readValue(field: String) throws(GGUFError) -> GGUFValue {
        let type = try readValueType(field)
        if type != .array { return try readScalar(type, field: field) }

        let elementType = try readValueType("\(field) element")
        guard elementType != .array else {
            throw malformed(.nestedArray, field, cursor.offset - 4, "\(field) is an array of arrays, which ggml does not support")
        }
        let at = cursor.offset
        let raw: UInt64 = try read("\(field) count")
        guard raw <= UInt64(GGUFHeaderParser.maximumArrayCount) else {
            throw malformed(.arrayTooLong, field, at, "\(field) claims \(raw) elements; ggml allows at most 2^30")
        }
        let count = Int(raw)
        // Reserve only what the remaining bytes can hold; a count that runs past the end is
        // reported as truncated when the reads run out.
        var values: [GGUFValue] = []
        values.reserveCapacity(min(count, cursor.remaining / elementType.minimumSize))
        for index in 0..<count {
            values.append(try readScalar(elementType, field: "\(field)[\(index)]"))
        }
        return .array(elementType, values)
    }

    private mutating func readScalar(_ type: GGUFValueType, field: String) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(field))
        case .int8: return .int8(try read(field))
        case .uint16: return .uint16(try read(field))
        case .int16: return .int16(try read(field))
        case .uint32: return .uint32(try read(field))
        case .int32: return .int32(try read(field))
        case .float32: return .float32(Float(bitPattern: try read(field)))
        case .bool:
            let byte: UInt8 = try read(field)
            return .bool(byte != 0)
        case .string: return .string(try readString(field))
        case .uint64: return .uint64(try read(field))
        case .int64: return .int64(try read(field))
        case .float64: return .float64(Double(bitPattern: try read(field)))
        case .array:
            throw malformed(.nestedArray, field, cursor.offset, "\(field) is an array of arrays, which ggml does not support")
        }
    }

    private func alignment(in metadata: GGUFMetadata) throws(GGUFError) -> Int {
        guard let value = metadata[GGUFKeys.General.alignment] else { return GGUFHeader.defaultAlignment }
        guard case .uint32(let raw) = value else {
            throw malformed(.badAlignmentType, GGUFKeys.General.alignment, 0,
                            "\(GGUFKeys.General.alignment) is a \(value.type), but ggml requires UINT32")
        }
        let alignment = Int(raw)
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= GGUFHeader.maximumAlignment else {
            throw malformed(.badAlignment, GGUFKeys.General.alignment, 0,
                            "\(GGUFKeys.General.alignment) is \(alignment); it must be a power of two no larger than 1 MiB")
        }
        return alignment
    }

    private mutating func readDimensions(tensor name: String) throws(GGUFError) -> ([Int], Int) {
        let at = cursor.offset
        let count: UInt32 = try read("tensor '\(name)' dimension count")
        guard count <= UInt32(GGUFHeaderParser.maximumDimensions) else {
            throw malformed(.tooManyDimensions, "tensor '\(name)' dimension count", at,
                            "tensor '\(name)' has \(count) dimensions; ggml allows at most 4")
        }
        var dims: [Int] = []
        var elements = 1
        for axis in 0..<Int(count) {
            let dimOffset = cursor.offset
            let raw: UInt64 = try read("tensor '\(name)' dimension \(axis)")
            // ggml reads dimensions as int64: anything past Int64.max is negative there.
            guard raw <= UInt64(Int64.max) else {
                throw malformed(.negativeDimension, "tensor '\(name)' dimension \(axis)", dimOffset,
                                "tensor '\(name)' dimension \(axis) is negative (\(Int64(bitPattern: raw)))")
            }
            let dim = Int(raw)
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw malformed(.elementCountOverflow, "tensor '\(name)' shape", dimOffset,
                                "tensor '\(name)' has more elements than fit in 64 bits")
            }
            elements = product
            dims.append(dim)
        }
        return (dims, elements)
    }

    private mutating func readTensorType(tensor name: String) throws(GGUFError) -> GGMLType {
        let at = cursor.offset
        let id: UInt32 = try read("tensor '\(name)' type")
        if let type = GGMLType(id: id) { return type }
        if GGMLType.removedTypeIDs.contains(id) {
            throw GGUFError(.unsupported, .removedTensorType, field: "tensor '\(name)' type", offset: at,
                            message: "tensor '\(name)' uses ggml type \(id), which ggml has removed",
                            hint: "re-quantize the model from its source with a current llama.cpp or quantd")
        }
        throw malformed(.unknownTensorType, "tensor '\(name)' type", at,
                        "tensor '\(name)' has type id \(id), which ggml does not define")
    }

    // MARK: - Errors

    private func malformed(_ code: GGUFError.Code, _ field: String, _ offset: Int, _ message: String) -> GGUFError {
        GGUFError(.malformed, code, field: field, offset: offset, message: message,
                  hint: "the file is corrupt or was not written by a GGUF writer; re-create it from its source")
    }

    private func endOfData(_ field: String, needed: Int) -> GGUFError {
        let size = fileSize.map { "\($0)" } ?? "\(cursor.buffer.count)"
        return GGUFError(.truncated, .unexpectedEnd, field: field, offset: cursor.offset,
                         message: "the file ends while reading \(field) (\(needed) bytes needed at byte \(cursor.offset), the file has \(size))",
                         hint: "the file is truncated; was the copy finished?")
    }

    static func pad(_ value: Int, to alignment: Int) -> Int {
        (value + alignment - 1) / alignment * alignment
    }
}

private func hex(_ value: UInt32) -> String {
    let bytes = withUnsafeBytes(of: value.littleEndian) { Array($0) }
    return bytes.map { b in
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }.joined(separator: " ")
}
