import JSON
/// One tensor of a safetensors file: what it is and where its bytes are.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Dimensions in safetensors (PyTorch) order: outermost first. Empty for a scalar.
    public let shape: [Int]
    /// Product of `shape` (1 for a scalar, 0 when any dimension is 0).
    public let elementCount: Int
    /// Byte range relative to the start of the data buffer (`data_offsets` in the header).
    public let byteRange: Range<Int>
    /// Byte offset of the first data byte in the file: data start + `byteRange.lowerBound`.
    public let absoluteOffset: Int

    public var byteCount: Int { byteRange.count }
}

/// A validated safetensors header: everything the file says about itself, checked against itself.
///
/// The checks follow the huggingface/safetensors reference (`Metadata::validate`) and add a few:
/// unknown entry keys and non-string metadata are rejected rather than ignored.
public struct SafetensorsHeader: Sendable {
    /// The reference implementation's cap: a larger header is an attack, not a model.
    public static let maxHeaderLength = 100_000_000

    /// N, the length of the JSON header in bytes.
    public let headerLength: Int
    /// `__metadata__`, in header order.
    public let metadata: [(key: String, value: String)]
    /// Tensors in data order (by begin offset; header order among equal offsets).
    public let tensors: [SafetensorsTensorInfo]
    /// Length of the data buffer the tensors tile: the last tensor's end offset.
    public let dataLength: Int

    /// Absolute offset of the data buffer: 8 + N.
    public var dataOffset: Int { 8 + headerLength }
    /// The size the complete file must have: 8 + N + data length.
    public var declaredFileSize: Int { dataOffset + dataLength }

    /// Reads the 8-byte header length. Fewer than 8 bytes is `truncated`: the file may still be
    /// arriving. A length over the cap is `malformed`.
    static func readHeaderLength(_ prefix: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> Int {
        guard prefix.count >= 8 else {
            throw .truncated(
                SafetensorsErrorDetail(
                    path: path, field: "header length", offset: 0,
                    message: "the file has \(prefix.count) bytes, fewer than the 8-byte header length",
                    hint: SafetensorsHint.truncated),
                requiredSize: 8, actualSize: prefix.count)
        }
        let raw = UInt64(littleEndian: prefix.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard raw <= UInt64(maxHeaderLength) else {
            throw .malformed(
                SafetensorsErrorDetail(
                    path: path, field: "header length", offset: 0,
                    message: "the header length is \(raw) bytes, over the \(maxHeaderLength)-byte limit",
                    hint: SafetensorsHint.corrupt))
        }
        return Int(raw)
    }

    /// Validates the header in `headerBytes` (exactly N bytes, starting at file byte 8).
    /// Offsets in errors are absolute file offsets.
    static func parse(headerBytes: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> SafetensorsHeader {
        let check = HeaderChecker(path: path, dataOffset: 8 + headerBytes.count)
        let root: JSONValue
        let keyOffsets: [Int]
        do {
            (root, keyOffsets) = try StrictJSON.parseWithTopLevelKeyOffsets(headerBytes, baseOffset: 8)
        } catch {
            throw check.malformed(field: "header", offset: error.offset,
                                  "the header is not valid JSON at byte \(error.offset): \(error.message)", hint: SafetensorsHint.corrupt)
        }
        guard case let .object(members) = root else {
            throw check.malformed(field: "header", offset: 8,
                                  "the header is \(root.kindName), not a JSON object", hint: SafetensorsHint.corrupt)
        }
        var metadata: [(key: String, value: String)] = []
        var tensors: [SafetensorsTensorInfo] = []
        for (member, keyOffset) in zip(members, keyOffsets) {
            // Field errors point at the entry's key: the JSON value keeps no positions.
            let entry = HeaderChecker(path: path, dataOffset: check.dataOffset, entryOffset: keyOffset)
            if member.key == "__metadata__" {
                metadata = try entry.metadata(member.value)
            } else {
                tensors.append(try entry.tensor(named: member.key, member.value))
            }
        }
        let ordered = try check.tiling(tensors)
        return SafetensorsHeader(
            headerLength: headerBytes.count, metadata: metadata, tensors: ordered,
            dataLength: ordered.last?.byteRange.upperBound ?? 0)
    }
}

/// The per-field checks of a header, each throwing an error that names the tensor and field.
private struct HeaderChecker {
    let path: String
    let dataOffset: Int
    /// File offset of the header entry being checked (its key), for errors without a data offset.
    var entryOffset: Int?

    /// An error at `offset` (a data position) or, failing that, at the entry's key.
    func malformed(tensor: String? = nil, field: String?, offset: Int? = nil, _ message: String,
                   hint: String = SafetensorsHint.reExport) -> SafetensorsError {
        .malformed(SafetensorsErrorDetail(path: path, tensor: tensor, field: field, offset: offset ?? entryOffset,
                                          message: message, hint: hint))
    }

    func metadata(_ value: JSONValue) throws(SafetensorsError) -> [(key: String, value: String)] {
        guard case let .object(members) = value else {
            throw malformed(tensor: "__metadata__", field: "__metadata__",
                            "'__metadata__' is \(value.kindName), not an object of strings")
        }
        var result: [(key: String, value: String)] = []
        for member in members {
            guard case let .string(text) = member.value else {
                throw malformed(tensor: "__metadata__", field: member.key,
                                "'__metadata__' key '\(member.key)' is \(member.value.kindName); metadata values must be strings")
            }
            result.append((key: member.key, value: text))
        }
        return result
    }

    func tensor(named name: String, _ value: JSONValue) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard case let .object(fields) = value else {
            throw malformed(tensor: name, field: nil, "tensor '\(name)' is \(value.kindName), not an object")
        }
        for field in fields where !["dtype", "shape", "data_offsets"].contains(field.key) {
            throw malformed(tensor: name, field: field.key,
                            "tensor '\(name)' has unknown key '\(field.key)' (allowed: dtype, shape, data_offsets)")
        }
        let dtype = try self.dtype(of: name, value["dtype"])
        let (shape, elementCount) = try self.shape(of: name, value["shape"])
        let range = try self.offsets(of: name, value["data_offsets"])

        guard let expected = dtype.byteCount(forElements: elementCount) else {
            throw malformed(tensor: name, field: "shape",
                            "tensor '\(name)' has \(elementCount) \(dtype) elements, which is too many bytes or not a whole number of bytes")
        }
        guard range.count == expected else {
            throw malformed(tensor: name, field: "data_offsets", offset: absolute(range.lowerBound),
                            "tensor '\(name)' is \(dtype) with shape \(shape), which needs \(expected) bytes, "
                                + "but its data_offsets [\(range.lowerBound), \(range.upperBound)] span \(range.count) bytes")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, elementCount: elementCount,
                                     byteRange: range, absoluteOffset: absolute(range.lowerBound))
    }

    /// An offset into the data buffer as a file offset; saturates rather than trapping so a
    /// huge bogus offset still yields a message.
    func absolute(_ dataRelative: Int) -> Int {
        let (sum, overflow) = dataOffset.addingReportingOverflow(dataRelative)
        return overflow ? Int.max : sum
    }

    func dtype(of name: String, _ value: JSONValue?) throws(SafetensorsError) -> SafetensorsDType {
        guard let value else { throw malformed(tensor: name, field: "dtype", "tensor '\(name)' has no 'dtype'") }
        guard case let .string(text) = value else {
            throw malformed(tensor: name, field: "dtype", "tensor '\(name)' has a 'dtype' that is \(value.kindName), not a string")
        }
        guard let dtype = SafetensorsDType(rawValue: text) else {
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw malformed(tensor: name, field: "dtype", "tensor '\(name)' has unknown dtype '\(text)' (known: \(known))",
                            hint: "convert the tensor to a supported dtype before exporting")
        }
        return dtype
    }

    func shape(of name: String, _ value: JSONValue?) throws(SafetensorsError) -> (shape: [Int], elements: Int) {
        guard let value else { throw malformed(tensor: name, field: "shape", "tensor '\(name)' has no 'shape'") }
        guard case let .array(dimensions) = value else {
            throw malformed(tensor: name, field: "shape", "tensor '\(name)' has a 'shape' that is \(value.kindName), not an array")
        }
        var shape: [Int] = []
        var elements = 1
        for (axis, dimension) in dimensions.enumerated() {
            guard let size = dimension.intValue, size >= 0 else {
                throw malformed(tensor: name, field: "shape",
                                "tensor '\(name)' has shape dimension \(axis) = \(describe(dimension)); dimensions must be non-negative integers")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw malformed(tensor: name, field: "shape", "tensor '\(name)' has a shape whose element count overflows")
            }
            shape.append(size)
            elements = product
        }
        return (shape, elements)
    }

    func offsets(of name: String, _ value: JSONValue?) throws(SafetensorsError) -> Range<Int> {
        guard let value else {
            throw malformed(tensor: name, field: "data_offsets", "tensor '\(name)' has no 'data_offsets'")
        }
        guard case let .array(pair) = value, pair.count == 2,
            let begin = pair[0].intValue, let end = pair[1].intValue, begin >= 0, end >= 0
        else {
            throw malformed(tensor: name, field: "data_offsets",
                            "tensor '\(name)' has data_offsets \(describe(value)); expected [begin, end] with non-negative integers")
        }
        guard begin <= end else {
            throw malformed(tensor: name, field: "data_offsets", offset: absolute(begin),
                            "tensor '\(name)' has data_offsets [\(begin), \(end)]: begin is after end")
        }
        return begin..<end
    }

    /// Checks that the tensors, sorted by offset, cover the data buffer from 0 with no hole and
    /// no overlap, and returns them in that order. A hole would be bytes nobody accounts for
    /// (a place to hide a payload); an overlap would let one write alias two tensors.
    func tiling(_ tensors: [SafetensorsTensorInfo]) throws(SafetensorsError) -> [SafetensorsTensorInfo] {
        // Stable sort: zero-size tensors sharing an offset keep their header order.
        let ordered = tensors.enumerated().sorted {
            ($0.element.byteRange.lowerBound, $0.element.byteRange.upperBound, $0.offset)
                < ($1.element.byteRange.lowerBound, $1.element.byteRange.upperBound, $1.offset)
        }.map(\.element)
        var expected = 0
        var previous: String?
        for tensor in ordered {
            let begin = tensor.byteRange.lowerBound
            if begin > expected {
                let after = previous.map { "after tensor '\($0)'" } ?? "at the start of the data"
                throw malformed(tensor: tensor.name, field: "data_offsets", offset: absolute(expected),
                                "data bytes \(expected)..<\(begin) \(after) belong to no tensor (a hole before tensor '\(tensor.name)')")
            }
            if begin < expected {
                throw malformed(tensor: tensor.name, field: "data_offsets", offset: absolute(begin),
                                "tensor '\(tensor.name)' starts at data byte \(begin), inside tensor '\(previous ?? "?")' which ends at \(expected) (overlapping tensors)")
            }
            expected = tensor.byteRange.upperBound
            previous = tensor.name
        }
        return ordered
    }

    func describe(_ value: JSONValue) -> String {
        switch value {
        case let .number(number): return number.text
        case let .string(text): return "\"\(text.prefix(40))\""
        case let .array(elements): return "[" + elements.prefix(8).map(describe).joined(separator: ", ") + (elements.count > 8 ? ", ..." : "") + "]"
        default: return value.kindName
        }
    }
}
