// libFuzzer target: a model folder's JSON files, read by `ConversionPlan(input:outputType:)`.
// The first byte chooses the file the rest of the input replaces (0: config.json,
// 1: tokenizer.json, 2: tokenizer_config.json, modulo 3); the folder's other files are the
// tiny-llama3 fixture's (Tests/ModelConversionTests/Fixtures/models/tiny-llama3), found through
// QUANTD_FUZZ_FIXTURE or relative to this file.
import Foundation
import ModelConversion

private let replaceable = ["config.json", "tokenizer.json", "tokenizer_config.json"]

private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantd-fuzz-model-\(getpid())")

private let folder: (path: String, originals: [Data]) = {
    let fixture = ProcessInfo.processInfo.environment["QUANTD_FUZZ_FIXTURE"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-llama3").path
    let manager = FileManager.default
    try? manager.removeItem(at: directory)
    try! manager.createDirectory(at: directory, withIntermediateDirectories: true)
    for name in try! manager.contentsOfDirectory(atPath: fixture) {
        try! manager.copyItem(atPath: fixture + "/" + name, toPath: directory.appendingPathComponent(name).path)
    }
    let originals = replaceable.map { manager.contents(atPath: fixture + "/" + $0) ?? Data() }
    // libFuzzer ends with exit() (time or run limit reached): the copy goes with the process.
    atexit { try? FileManager.default.removeItem(at: directory) }
    return (directory.path, originals)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFolder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size >= 1, let data else { return 0 }
    let chosen = Int(data[0]) % replaceable.count
    let content = Data(UnsafeBufferPointer(start: data + 1, count: size - 1))
    for (index, name) in replaceable.enumerated() {
        let path = folder.path + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: index == chosen ? content : folder.originals[index])
        else { return 0 }
    }
    _ = try? ConversionPlan(input: folder.path, outputType: .auto)
    return 0
}
