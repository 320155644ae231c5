import JSON
import BinaryIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, fully validated `.safetensors` file, mapped read-only.
///
/// Opening reads only the header pages; tensor data is touched when `data(for:)` is read. By the
/// time `init` returns, every tensor's bytes are known to lie inside the file, to tile the data
/// buffer exactly, and to match their dtype and shape, so `data(for:)` never needs to check again.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let fileSize: Int
    /// N: length of the JSON header in bytes.
    public let headerLength: Int
    /// Absolute offset of the data buffer: 8 + N.
    public let dataOffset: Int
    /// `__metadata__` in header order (empty when absent).
    public let metadata: [(key: String, value: String)]
    /// Tensors in data order (by begin offset).
    public let tensors: [SafetensorsTensorInfo]

    private let file: MappedFile
    private let indexByName: [String: Int]

    public init(path: String) throws(SafetensorsError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let error as FileError {
            throw .io(error)
        } catch {
            throw .io(FileError(path: path, operation: "open", errno: EIO, detail: "\(error)"))
        }
        let header = try Self.header(from: file.bytes, path: path)
        let actual = file.count - header.dataOffset
        if header.dataLength > actual {
            // The first tensor past the end names the problem; the data is sorted by offset.
            let cut = header.tensors.first { $0.byteRange.upperBound > actual }
            let what = cut.map { "tensor '\($0.name)' ends at byte \(header.dataOffset + $0.byteRange.upperBound)" }
                ?? "the data ends at byte \(header.declaredFileSize)"
            throw .truncated(
                SafetensorsErrorDetail(
                    path: path, tensor: cut?.name, field: "data_offsets", offset: file.count,
                    message: "\(what) but the file has \(file.count) bytes", hint: SafetensorsHint.truncated),
                requiredSize: header.declaredFileSize, actualSize: file.count)
        }
        if header.dataLength < actual {
            let extra = actual - header.dataLength
            throw .malformed(
                SafetensorsErrorDetail(
                    path: path, field: "data_offsets", offset: header.declaredFileSize,
                    message: "the file has \(extra) byte\(extra == 1 ? "" : "s") after the last tensor's data "
                        + "(the header accounts for \(header.declaredFileSize) bytes, the file has \(file.count))",
                    hint: "trailing bytes are not allowed; the file may be two files joined or damaged — re-export it"))
        }
        self.path = path
        self.file = file
        self.fileSize = file.count
        self.headerLength = header.headerLength
        self.dataOffset = header.dataOffset
        self.metadata = header.metadata
        self.tensors = header.tensors
        var index: [String: Int] = [:]
        for (position, tensor) in header.tensors.enumerated() { index[tensor.name] = position }
        self.indexByName = index
    }

    /// The tensor named `name`, if the file has one.
    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        indexByName[name].map { tensors[$0] }
    }

    /// The raw little-endian bytes of `tensor`, straight from the map.
    ///
    /// The buffer is valid only while this `SafetensorsFile` is alive. Only infos from this file's
    /// `tensors` are valid here; any other info gets an empty buffer rather than a stray read.
    public func data(for tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        guard let position = indexByName[tensor.name], tensors[position] == tensor else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let start = dataOffset + tensor.byteRange.lowerBound
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + tensor.byteCount)])
    }

    /// Tells the kernel the data will be read front to back (conversion, `--verify`).
    public func adviseSequential() { file.adviseSequential() }

    /// Total number of elements over all tensors (the model's parameter count for a checkpoint).
    public var elementCount: Int { tensors.reduce(0) { $0 &+ $1.elementCount } }

    // MARK: Declared size

    /// The size in bytes the complete file will have, read from its header alone.
    ///
    /// The daemon compares this with the current size to tell a file still being copied from a
    /// finished one. Throws `.truncated` when not even the header has arrived yet (then
    /// `requiredSize` is a lower bound), `.malformed` when the header is invalid.
    public static func declaredSize(path: String) throws(SafetensorsError) -> Int {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let error as FileError {
            throw .io(error)
        } catch {
            throw .io(FileError(path: path, operation: "open", errno: EIO, detail: "\(error)"))
        }
        defer { withExtendedLifetime(file) {} }
        return try peekDeclaredSize(file.bytes, path: path)
    }

    /// `declaredSize(path:)` for bytes already in memory: the start of a file (at least its
    /// header) or all of it.
    public static func peekDeclaredSize(_ prefix: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> Int {
        try header(from: prefix, path: path).declaredFileSize
    }

    /// Reads and validates the header at the start of `bytes` (the first 8 + N bytes of a file,
    /// or more) without looking at the data: `inspect` can show a file that is still arriving.
    /// Throws `.truncated` when `bytes` ends before the header does.
    public static func header(from bytes: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> SafetensorsHeader {
        let headerLength = try SafetensorsHeader.readHeaderLength(bytes, path: path)
        // headerLength ≤ 100 MB, so 8 + headerLength cannot overflow.
        let headerEnd = 8 + headerLength
        guard headerEnd <= bytes.count else {
            throw .truncated(
                SafetensorsErrorDetail(
                    path: path, field: "header length", offset: 0,
                    message: "the header is declared as \(headerLength) bytes, ending at byte \(headerEnd), "
                        + "but the file has \(bytes.count) bytes",
                    hint: SafetensorsHint.truncated),
                requiredSize: headerEnd, actualSize: bytes.count)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<headerEnd])
        let header = try SafetensorsHeader.parse(headerBytes: headerBytes, path: path)
        guard header.dataLength <= Int.max - headerEnd else {
            throw .malformed(
                SafetensorsErrorDetail(
                    path: path, field: "data_offsets", offset: 8,
                    message: "the tensors' data ends at data byte \(header.dataLength), beyond any possible file size",
                    hint: SafetensorsHint.corrupt))
        }
        return header
    }
}
