import Foundation
import GGUF
import QuantdTestSupport
import Testing

struct WriterRoundTripTests {
    static let everyValueType: GGUFMetadata = GGUFMetadata([
        GGUFKeyValue("general.architecture", .string("llama")),
        GGUFKeyValue("t.u8", .uint8(255)), GGUFKeyValue("t.i8", .int8(-128)),
        GGUFKeyValue("t.u16", .uint16(65535)), GGUFKeyValue("t.i16", .int16(-32768)),
        GGUFKeyValue("t.u32", .uint32(.max)), GGUFKeyValue("t.i32", .int32(.min)),
        GGUFKeyValue("t.f32", .float32(-0.0)), GGUFKeyValue("t.f32nan", .float32(.nan)),
        GGUFKeyValue("t.bool", .bool(true)), GGUFKeyValue("t.string", .string("ünï\u{1}code\n")),
        GGUFKeyValue("t.u64", .uint64(.max)), GGUFKeyValue("t.i64", .int64(.min)),
        GGUFKeyValue("t.f64", .float64(.pi)),
        GGUFKeyValue("t.empty_array", .array(.float32, [])),
        GGUFKeyValue("t.array_u8", .array(.uint8, [.uint8(1), .uint8(2)])),
        GGUFKeyValue("t.array_i64", .array(.int64, [.int64(-1)])),
        GGUFKeyValue("t.array_f64", .array(.float64, [.float64(1e-300)])),
        GGUFKeyValue("t.array_bool", .array(.bool, [.bool(false), .bool(true)])),
        GGUFKeyValue("t.array_string", .array(.string, [.string(""), .string("x")])),
    ])

    /// One tensor of every ggml type, two blocks per row and three rows, filled with a pattern.
    static func everyTensorType() -> [(GGUFTensorPlan, [UInt8])] {
        GGMLType.all.map { type in
            let plan = GGUFTensorPlan(name: "t.\(type.name.lowercased())", dimensions: [type.blockSize * 2, 3], type: type)
            let count = type.bytesPerBlock * 2 * 3
            return (plan, (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(type.id)) })
        }
    }

    private func write(_ path: String, metadata: GGUFMetadata, tensors: [(GGUFTensorPlan, [UInt8])], chunk: Int = 7) throws {
        let writer = try GGUFWriter(destination: path, metadata: metadata, tensors: tensors.map(\.0))
        // Feed data in odd-sized pieces that straddle tensor boundaries.
        let all = tensors.flatMap(\.1)
        var start = 0
        while start < all.count {
            let end = min(start + chunk, all.count)
            try writer.append(Array(all[start..<end]))
            start = end
        }
        try writer.finish()
    }

    @Test func everyValueTypeAndTensorTypeRoundTrips() throws {
        let folder = TemporaryFolder("gguf")
        let path = folder.path + "/rt.gguf"
        let tensors = Self.everyTensorType()
        try write(path, metadata: Self.everyValueType, tensors: tensors)
        let file = try GGUFFile(path: path)
        // NaN != NaN, so compare that entry by bits and the rest by value.
        for (read, written) in zip(file.metadata.entries, Self.everyValueType.entries) {
            #expect(read.key == written.key)
            if case .float32(let a) = read.value, case .float32(let b) = written.value {
                #expect(a.bitPattern == b.bitPattern)
            } else {
                #expect(read.value == written.value, "\(read.key)")
            }
        }
        #expect(file.tensors.count == tensors.count)
        for (info, (plan, bytes)) in zip(file.tensors, tensors) {
            #expect(info.name == plan.name && info.type == plan.type && info.dimensions == plan.dimensions)
            #expect(info.absoluteOffset % 32 == 0)
            #expect(Array(file.data(for: info)) == bytes, "\(info.name)")
        }
    }

    @Test func outputIsDeterministic() throws {
        let folder = TemporaryFolder("gguf")
        let tensors = Self.everyTensorType()
        try write(folder.path + "/a.gguf", metadata: Self.everyValueType, tensors: tensors, chunk: 5)
        try write(folder.path + "/b.gguf", metadata: Self.everyValueType, tensors: tensors, chunk: 4096)
        let a = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/a.gguf"))
        let b = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/b.gguf"))
        #expect(a == b)
    }

    @Test func customAlignmentIsHonoured() throws {
        let folder = TemporaryFolder("gguf")
        var metadata = GGUFMetadata()
        metadata["general.alignment"] = .uint32(64)
        let tensors = [(GGUFTensorPlan(name: "a", dimensions: [3], type: .f32), [UInt8](repeating: 1, count: 12)),
                       (GGUFTensorPlan(name: "b", dimensions: [5], type: .f32), [UInt8](repeating: 2, count: 20))]
        try write(folder.path + "/al.gguf", metadata: metadata, tensors: tensors)
        let file = try GGUFFile(path: folder.path + "/al.gguf")
        #expect(file.header.alignment == 64)
        #expect(file.tensors.map(\.relativeOffset) == [0, 64])
        #expect(file.header.dataOffset % 64 == 0)
    }

    @Test func nothingAppearsUntilFinishAndAnIncompleteFileNeverDoes() throws {
        let folder = TemporaryFolder("gguf")
        let path = folder.path + "/partial.gguf"
        let writer = try GGUFWriter(destination: path, metadata: GGUFMetadata(),
                                    tensors: [GGUFTensorPlan(name: "a", dimensions: [8], type: .f32)])
        try writer.append([UInt8](repeating: 0, count: 16))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(throws: GGUFWriterError.incomplete(tensor: "a", written: 16, expected: 32)) { try writer.finish() }
        #expect(!FileManager.default.fileExists(atPath: path))
        // The temporary file is gone too: the folder is empty.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    @Test func tooManyBytesIsAnError() throws {
        let folder = TemporaryFolder("gguf")
        let writer = try GGUFWriter(destination: folder.path + "/x.gguf", metadata: GGUFMetadata(),
                                    tensors: [GGUFTensorPlan(name: "a", dimensions: [1], type: .f32)])
        #expect(throws: GGUFWriterError.tooManyBytes(extra: 4)) { try writer.append([UInt8](repeating: 0, count: 8)) }
        writer.abort()
    }

    @Test func invalidPlansAreRefused() {
        #expect(throws: GGUFWriterError.self) {
            _ = try GGUFWriter.layOut(metadata: GGUFMetadata(), tensors: [GGUFTensorPlan(name: "q", dimensions: [33], type: .q4_0)])
        }
        #expect(throws: GGUFWriterError.self) {
            _ = try GGUFWriter.layOut(metadata: GGUFMetadata(), tensors: [
                GGUFTensorPlan(name: "d", dimensions: [1], type: .f32), GGUFTensorPlan(name: "d", dimensions: [1], type: .f32)])
        }
    }

    @Test func typeTableMatchesGGML() {
        // Sizes from ggml-common.h's block structs; ids from ggml.h.
        #expect(GGMLType.all.count == 35)
        #expect(Set(GGMLType.all.map(\.id)).count == 35)
        #expect(GGMLType(id: 4) == nil && GGMLType(id: 43) == nil)
        #expect(GGMLType(name: "q4_k") == .q4_K)
        #expect(GGMLType.q4_K.bitsPerWeight == 4.5)
        #expect(GGMLType.q6_K.bitsPerWeight == 6.5625)
        #expect(GGMLType.iq4_XS.bitsPerWeight == 4.25)
    }
}
