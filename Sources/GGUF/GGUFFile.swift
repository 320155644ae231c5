import BinaryIO

/// A GGUF file opened for reading: the validated header, and the tensor data through a memory map.
///
/// Opening parses only the header; tensor bytes are touched when `data(for:)` is read.
public final class GGUFFile: Sendable {
    public let path: String
    public let header: GGUFHeader
    public let fileSize: Int
    private let mapped: MappedFile

    /// Opens and validates `path`. Throws `GGUFError` (with `path` set) for a bad file,
    /// `FileError` when the file cannot be opened.
    public init(path: String) throws {
        mapped = try MappedFile(path: path)
        self.path = path
        fileSize = mapped.count
        do {
            header = try GGUFHeaderParser.parse(mapped.bytes, fileSize: mapped.count)
        } catch {
            throw error.at(path: path)
        }
    }

    public var metadata: GGUFMetadata { header.metadata }
    public var tensors: [GGUFTensorInfo] { header.tensors }

    /// The bytes of one tensor, straight from the map. Valid only while this object is alive:
    /// use it within `withExtendedLifetime(file)` where the file is not used afterwards.
    public func data(for tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapped.bytes[tensor.byteRange])
    }

    /// The whole file's bytes.
    public var bytes: UnsafeRawBufferPointer { mapped.bytes }

    public func adviseSequential() { mapped.adviseSequential() }

    /// Lets the kernel drop a tensor's pages from this process once it has been read.
    public func release(_ tensor: GGUFTensorInfo) { mapped.release(tensor.byteRange) }
}
