// libFuzzer target: pipeline.json, parsed from bytes as `quantd` and the daemon read it.
import Pipeline

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipelineJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? PipelineConfig.parse(bytes, file: "fuzz/pipeline.json")
    return 0
}
