// libFuzzer target: the safetensors header reader, on a file's first bytes (or all of them).
import Safetensors

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensorsHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? SafetensorsFile.header(from: bytes, path: "fuzz.safetensors")
    return 0
}
