// libFuzzer target: the GGUF header reader, on a whole file's bytes.
import GGUF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUFHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // Both ways the reader is called: with the file's size known (a plain file) and unknown (the
    // decompressed front of a .gguf.zst).
    _ = try? GGUFHeaderParser.parse(bytes, fileSize: size)
    _ = try? GGUFHeaderParser.parse(bytes, fileSize: nil)
    return 0
}
