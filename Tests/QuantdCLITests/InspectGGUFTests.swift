import Foundation
import GGUF
import QuantdTestSupport
import Testing

/// `quantd inspect` on GGUF files, checked against gguf-py's reading of the same files.
struct InspectGGUFTests {
    static let tensorKeys = ["name", "type", "shape", "offset", "bytes", "sha256"]
    static let topKeys = ["format", "version", "alignment", "file_size", "data_offset", "metadata"]

    @Test func jsonAgreesWithGGUFPyOnTheSample() throws {
        let result = try TestSupport.quantd("inspect", "--json", "--verify", TestSupport.samplePath)
        #expect(result.status == 0, "\(result.stderr)")
        let ours = try TestSupport.json(result.stdout)
        let reference = try TestSupport.json(try TestSupport.fixture("sample.gguf-py.json"))
        TestSupport.expectSame(ours, reference, keys: Self.topKeys)
        TestSupport.expectSameTensors(ours, reference, keys: Self.tensorKeys)
        let summary = try #require(ours["summary"] as? NSDictionary)
        #expect(summary["parameters"] as? Int == 64 * 4 + 64 + 64 * 64 + 64 * 8 * 2 + 192 + 10)
        #expect((summary["types"] as? NSDictionary)?["F16"] as? Int == 2)
    }

    @Test func humanOutputSummarisesFirst() throws {
        let result = try TestSupport.quantd("inspect", TestSupport.samplePath)
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0].hasSuffix("GGUF v3, 19.84 KiB"))
        #expect(lines.contains { $0.contains("architecture") && $0.hasSuffix("llama") })
        #expect(lines.contains { $0.contains("tensor types") && $0.contains("F16 ×2, F32 ×2, Q8_0 ×1, Q4_0 ×1, I32 ×1") })
        #expect(lines.contains { $0.contains("tokenizer") && $0.hasSuffix("gpt2, 4 tokens") })
        // Control characters in values are escaped, never printed raw.
        #expect(lines.contains { $0.contains(#""héllo, wörld ✓ "quoted"\n\ttab""#) })
        #expect(!result.stdout.contains("tensors (7):"), "the tensor table needs --tensors")
        // float32 values in their shortest float32 form (numpy's repr of np.float32), not widened.
        #expect(lines.contains { $0.contains("layer_norm_rms_epsilon") && $0.hasSuffix(" 1e-05") }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("sample.array_f32") && $0.hasSuffix(" [1.5, -0.25, 3e-08]") }, "\(result.stdout)")
        let table = try TestSupport.quantd("inspect", "--tensors", TestSupport.samplePath)
        #expect(table.stdout.contains("blk.0.ffn_down.weight  Q4_0"))
    }

    @Test func exitStatusesNameTheCause() throws {
        let folder = TemporaryFolder("cli-test")
        let sample = try Data(contentsOf: URL(fileURLWithPath: TestSupport.samplePath))

        let truncated = folder.file("cut.gguf")
        try sample.prefix(sample.count - 100).write(to: URL(fileURLWithPath: truncated))
        let cut = try TestSupport.quantd("inspect", truncated)
        #expect(cut.status == 75)
        #expect(cut.stderr.contains("ends at byte") && cut.stderr.contains("was the copy finished?"), "\(cut.stderr)")
        #expect(cut.stdout.isEmpty)

        var bad = sample
        bad[0] = 0x58
        let malformed = folder.file("bad.gguf")
        try bad.write(to: URL(fileURLWithPath: malformed))
        let badResult = try TestSupport.quantd("inspect", malformed)
        #expect(badResult.status == 65)
        #expect(badResult.stderr.hasPrefix("error: \(malformed): not a GGUF file"), "\(badResult.stderr)")

        let missing = try TestSupport.quantd("inspect", folder.file("nope.gguf"))
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("No such file"))

        // The input is never modified: the truncated file is byte for byte what we wrote.
        #expect(try Data(contentsOf: URL(fileURLWithPath: truncated)) == sample.prefix(sample.count - 100))
    }

    @Test func verifyReportsNonFiniteValuesAndScales() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("nan.gguf")
        let nan = Float.nan.bitPattern
        var f32 = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: nan.littleEndian) { f32.replaceSubrange(4..<8, with: $0) }
        var q8 = [UInt8](repeating: 0, count: 34 * 2)
        q8[34] = 0x00; q8[35] = 0x7C  // second block's f16 scale = +inf
        let writer = try GGUFWriter(destination: path, metadata: GGUFMetadata(), tensors: [
            GGUFTensorPlan(name: "f", dimensions: [8], type: .f32),
            GGUFTensorPlan(name: "q", dimensions: [64], type: .q8_0),
        ])
        try writer.append(f32)
        try writer.append(q8)
        try writer.finish()
        let result = try TestSupport.quantd("inspect", "--verify", "--json", path)
        #expect(result.status == 3)
        let tensors = try #require(try TestSupport.json(result.stdout)["tensors"] as? [NSDictionary])
        #expect(tensors[0]["non_finite_values"] as? Int == 1)
        #expect(tensors[1]["non_finite_scales"] as? Int == 1)
    }

    @Test(.enabled(if: TestSupport.python != nil, "needs QUANTD_PYTHON with gguf-py (scripts/test.sh sets it)"))
    func filesGGUFPyWritesReadTheSame() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("fresh.gguf")
        _ = try TestSupport.python("gguf_write_sample.py", [path])
        let reference = try TestSupport.json(try TestSupport.python("gguf_dump_json.py", [path]))
        let ours = try TestSupport.json(try TestSupport.quantd("inspect", "--json", "--verify", path).stdout)
        TestSupport.expectSame(ours, reference, keys: Self.topKeys)
        TestSupport.expectSameTensors(ours, reference, keys: Self.tensorKeys)
    }

    @Test(.enabled(if: TestSupport.python != nil, "needs QUANTD_PYTHON with gguf-py (scripts/test.sh sets it)"))
    func filesQuantdWritesAreReadByGGUFPy() throws {
        let folder = TemporaryFolder("cli-test")
        let path = folder.file("ours.gguf")
        var metadata = GGUFMetadata()
        metadata["general.architecture"] = .string("llama")
        metadata["t.u8"] = .uint8(7); metadata["t.i8"] = .int8(-7); metadata["t.u16"] = .uint16(700)
        metadata["t.i16"] = .int16(-700); metadata["t.u32"] = .uint32(70000); metadata["t.i32"] = .int32(-70000)
        metadata["t.f32"] = .float32(1.1); metadata["t.bool"] = .bool(true); metadata["t.str"] = .string("é\n")
        metadata["t.u64"] = .uint64(.max); metadata["t.i64"] = .int64(.min); metadata["t.f64"] = .float64(2.2)
        metadata["t.arr_str"] = .array(.string, [.string("x"), .string("")])
        metadata["t.arr_f32"] = .array(.float32, [.float32(0.5), .float32(-3)])
        metadata["t.arr_i64"] = .array(.int64, [.int64(1), .int64(-1)])
        metadata["t.arr_bool"] = .array(.bool, [.bool(true)])
        // Every type, with its byte layout (two blocks wide, two rows), except two where gguf 0.19.0
        // on PyPI disagrees with ggml: it predates Q2_0 (id 42), and it sizes a Q8_1 block as 40
        // bytes where ggml's block_q8_1 has 36 (llama.cpp's own gguf-py has since been fixed).
        let types = GGMLType.all.filter { $0 != .q2_0 && $0 != .q8_1 }
        let plans = types.map { GGUFTensorPlan(name: "t.\($0.name.lowercased())", dimensions: [$0.blockSize * 2, 2], type: $0) }
        let writer = try GGUFWriter(destination: path, metadata: metadata, tensors: plans)
        for type in types {
            try writer.append((0..<(type.bytesPerBlock * 4)).map { UInt8(truncatingIfNeeded: $0 * 7 + Int(type.id)) })
        }
        try writer.finish()
        let reference = try TestSupport.json(try TestSupport.python("gguf_dump_json.py", [path]))
        let ours = try TestSupport.json(try TestSupport.quantd("inspect", "--json", "--verify", path).stdout)
        TestSupport.expectSame(ours, reference, keys: Self.topKeys)
        TestSupport.expectSameTensors(ours, reference, keys: Self.tensorKeys)
    }
}
