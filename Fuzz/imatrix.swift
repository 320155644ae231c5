// libFuzzer target: the importance-matrix readers (GGUF imatrix and llama.cpp's legacy .dat; the
// first four bytes choose, as in `ImportanceMatrix.load`). The loader reads a path, so the input
// is written to a file first.
import Foundation
import Pipeline

private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantd-fuzz-imatrix-\(getpid())")

private let path: String = {
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    // libFuzzer ends with exit() (time or run limit reached): the folder goes with the process.
    atexit { try? FileManager.default.removeItem(at: directory) }
    return directory.appendingPathComponent("input.imatrix").path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImatrix(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard FileManager.default.createFile(atPath: path, contents: bytes) else { return 0 }
    _ = try? ImportanceMatrix.load(path: path)
    return 0
}
