import Foundation
import Testing

@testable import Safetensors

/// Reads a file written by the Python `safetensors` package (the reference implementation) and
/// compares every tensor with what the reference wrote. Runs when QUANTD_PYTHON names a python
/// that has `safetensors` installed; skipped when the variable is unset, failed when it is set
/// but the python cannot write the file (so a broken CI setup is not silently skipped).
@Suite struct SafetensorsInteropTests {
    static let python = ProcessInfo.processInfo.environment["QUANTD_PYTHON"]

    @Test(.enabled(if: python != nil, "set QUANTD_PYTHON to a python with `safetensors` to run"))
    func readsFileWrittenByReferenceImplementation() throws {
        let python = try #require(Self.python)
        let directory = try TemporaryDirectory()
        let script = try directory.write("interop.py", text: Self.script)
        let output = (directory.path as NSString).appendingPathComponent("reference.safetensors")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, output]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let printed = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(python) \(script) failed; is `safetensors` installed?")

        let expected = try StrictJSON.parse(Array(printed))
        let file = try SafetensorsFile(path: output)
        #expect(file.fileSize == expected["file_size"]?.intValue)
        #expect(file.headerLength == expected["header_length"]?.intValue)
        #expect(file.dataOffset == 8 + file.headerLength)
        let metadata = expected["metadata"]?.objectValue?.map { ($0.key, $0.value.stringValue ?? "") } ?? []
        #expect(file.metadata.map(\.key) == metadata.map(\.0))
        #expect(file.metadata.map(\.value) == metadata.map(\.1))

        let tensors = try #require(expected["tensors"]?.arrayValue)
        #expect(file.tensors.count == tensors.count)
        for reference in tensors {
            let name = try #require(reference["name"]?.stringValue)
            let info = try #require(file.tensor(named: name), "missing tensor \(name)")
            let begin = try #require(reference["begin"]?.intValue)
            let end = try #require(reference["end"]?.intValue)
            #expect(info.dtype.rawValue == reference["dtype"]?.stringValue, "\(name)")
            #expect(info.shape == reference["shape"]?.arrayValue?.compactMap(\.intValue), "\(name)")
            #expect(info.byteRange == begin..<end, "\(name)")
            #expect(info.absoluteOffset == file.dataOffset + begin, "\(name)")
            let hex = file.data(for: info).map { String(format: "%02x", $0) }.joined()
            #expect(hex == reference["hex"]?.stringValue, "\(name)")
        }
        #expect(try SafetensorsFile.declaredSize(path: output) == file.fileSize)
    }

    /// Writes a small file with mixed dtypes, a scalar and an empty tensor, through whichever
    /// serialize API the installed `safetensors` has, then prints its header as JSON.
    static let script = #"""
        import json, struct, sys
        import safetensors

        path = sys.argv[1]
        # (name, safetensors dtype name, element size, shape); unsorted names and mixed sizes on purpose.
        specs = [
            ("model.layers.0.mlp.up_proj.weight", "float32", 4, [3, 5]),
            ("model.norm.weight", "bfloat16", 2, [5]),
            ("lm_head.bias", "float16", 2, [7]),
            ("step", "int64", 8, []),
            ("mask", "bool", 1, [2, 3]),
            ("empty", "float32", 4, [0, 3]),
            ("ids", "int32", 4, [3]),
            ("zeta.q", "uint8", 1, [5]),
        ]
        buffers = {}
        for i, (name, dtype, size, shape) in enumerate(specs):
            count = 1
            for d in shape:
                count *= d
            buffers[name] = bytes(((i * 31 + k * 7) % 251) & (1 if dtype == "bool" else 0xFF) for k in range(count * size))
        metadata = {"format": "pt", "source": "quantd interop"}
        if hasattr(safetensors, "TensorSpec"):
            import ctypes
            keep = {n: ctypes.create_string_buffer(b, len(b) or 1) for n, b in buffers.items()}
            tensors = {n: safetensors.TensorSpec(dtype=dtype, shape=shape, data_ptr=ctypes.addressof(keep[n]), data_len=len(buffers[n]))
                       for n, dtype, size, shape in specs}
        else:
            tensors = {n: {"dtype": dtype, "shape": shape, "data": buffers[n]} for n, dtype, size, shape in specs}
        safetensors.serialize_file(tensors, path, metadata=metadata)

        with open(path, "rb") as f:
            raw = f.read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        out = {"file_size": len(raw), "header_length": n, "metadata": header.pop("__metadata__", {}), "tensors": []}
        for name, info in header.items():
            out["tensors"].append({"name": name, "dtype": info["dtype"], "shape": info["shape"],
                                   "begin": info["data_offsets"][0], "end": info["data_offsets"][1],
                                   "hex": buffers[name].hex()})
        print(json.dumps(out))
        """#
}
