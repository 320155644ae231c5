import Foundation
import QuantdTestSupport
import JSON
import Testing

@testable import Safetensors

/// Reads a file written by the Python `safetensors` package (the reference implementation) and
/// compares every tensor with what the reference wrote. Runs when QUANTD_PYTHON names a python
/// that has `safetensors` installed; skipped when the variable is unset, failed when it is set
/// but the python cannot write the file (so a broken CI setup is not silently skipped).
@Suite struct SafetensorsInteropTests {
    static let python = Repository.referencePython

    @Test(.enabled(if: python != nil, "set QUANTD_PYTHON to a python with `safetensors` to run"))
    func readsFileWrittenByReferenceImplementation() throws {
        let python = try #require(Self.python)
        let directory = TemporaryFolder("safetensors")
        let script = try directory.write("interop.py", text: Self.script)
        let output = (directory.path as NSString).appendingPathComponent("reference.safetensors")

        let printed = try Self.run(python, [script, output])
        let expected = try StrictJSON.parse(printed)
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

    /// The files this reader refuses, the reference refuses too, and the files it accepts, the
    /// reference accepts: the two agree on what a safetensors file is. (Where quantd is stricter
    /// on purpose — unknown entry keys, duplicate names — the reference is not consulted.)
    @Test(.enabled(if: python != nil, "set QUANTD_PYTHON to a python with `safetensors` to run"))
    func agreesWithReferenceOnValidity() throws {
        let python = try #require(Self.python)
        let f32x2 = #""dtype":"F32","shape":[2]"#
        let zeros = { (count: Int) in [UInt8](repeating: 0, count: count) }
        let cases: [(name: String, bytes: [UInt8], valid: Bool)] = [
            ("over-limit", safetensorsBytes(header: "{}", declaredLength: 100_000_001), false),
            ("header-beyond-file", safetensorsBytes(header: "{}", declaredLength: 64), false),
            ("invalid-json", safetensorsBytes(header: #"{"a": }"#), false),
            ("not-object", safetensorsBytes(header: "[]"), false),
            ("unknown-dtype", safetensorsBytes(header: #"{"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, data: zeros(16)), false),
            ("negative-shape", safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}"#), false),
            ("begin-after-end", safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}"#), false),
            ("size-mismatch", safetensorsBytes(header: #"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, data: zeros(12)), false),
            ("hole", safetensorsBytes(header: #"{"a":{\#(f32x2),"data_offsets":[0,8]},"b":{\#(f32x2),"data_offsets":[12,20]}}"#, data: zeros(20)), false),
            ("overlap", safetensorsBytes(header: #"{"a":{\#(f32x2),"data_offsets":[0,8]},"b":{\#(f32x2),"data_offsets":[4,12]}}"#, data: zeros(12)), false),
            ("trailing", safetensorsBytes(header: #"{"a":{\#(f32x2),"data_offsets":[0,8]}}"#, data: zeros(9)), false),
            ("short", safetensorsBytes(header: #"{"a":{\#(f32x2),"data_offsets":[0,8]}}"#, data: zeros(7)), false),
            ("metadata-number", safetensorsBytes(header: #"{"__metadata__":{"n":1}}"#), false),
            ("valid", safetensorsBytes(header: #"{"__metadata__":{"k":"v"},"a":{\#(f32x2),"data_offsets":[0,8]}}"#, data: zeros(8), padToEight: true), true),
            ("valid-empty-and-scalar", safetensorsBytes(header: #"{"e":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#, data: zeros(8)), true),
            ("valid-empty-file", safetensorsBytes(header: "{}", padToEight: true), true),
        ]
        let directory = TemporaryFolder("safetensors")
        var paths: [String] = []
        for item in cases {
            let path = try directory.write(item.name + ".safetensors", item.bytes)
            paths.append(path)
            let ours = (try? SafetensorsFile(path: path)) != nil
            #expect(ours == item.valid, "quantd on \(item.name)")
        }
        let script = try directory.write("validity.py", text: Self.validityScript)
        let verdicts = try StrictJSON.parse(try Self.run(python, [script] + paths))
        for (position, item) in cases.enumerated() {
            #expect(verdicts[position]?.boolValue == item.valid, "reference on \(item.name)")
        }
    }

    /// Runs `python` with `arguments` and returns its standard output; a non-zero exit fails the test.
    static func run(_ python: String, _ arguments: [String]) throws -> [UInt8] {
        let result = try runProcess(python, arguments)
        try #require(result.status == 0, "\(python) \(arguments) failed; is `safetensors` installed? \(result.stderr)")
        return Array(result.stdout.utf8)
    }

    /// Prints, as a JSON list, whether the reference deserializer accepts each file named.
    static let validityScript = #"""
        import json, sys
        from safetensors import deserialize
        verdicts = []
        for path in sys.argv[1:]:
            with open(path, "rb") as f:
                raw = f.read()
            try:
                deserialize(raw)
                verdicts.append(True)
            except Exception:
                verdicts.append(False)
        print(json.dumps(verdicts))
        """#

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
