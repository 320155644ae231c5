import Testing
import QuantdTestSupport

@testable import Safetensors

/// Valid files written by hand, read back field by field.
@Suite struct SafetensorsFileTests {
    @Test func roundTripsEveryField() throws {
        // Header order differs from data order on purpose: tensors come back in data order.
        let header = #"""
            {"__metadata__":{"format":"pt","note":"é"},\#
            "b.bias":{"dtype":"BF16","shape":[3],"data_offsets":[24,30]},\#
            "a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},\#
            "count":{"dtype":"I64","shape":[],"data_offsets":[30,38]}}
            """#
        let weights = floatBytes([1, 2, 3, 4, 5, 6])
        let bias: [UInt8] = [0x80, 0x3F, 0x00, 0x40, 0x40, 0x40]  // bf16 1, 2, 3
        let count: [UInt8] = [7, 0, 0, 0, 0, 0, 0, 0]
        let bytes = safetensorsBytes(header: header, data: weights + bias + count, padToEight: true)
        let directory = TemporaryFolder("safetensors")
        let path = try directory.write("model.safetensors", bytes)

        let file = try SafetensorsFile(path: path)
        let headerLength = header.utf8.count + (8 - header.utf8.count % 8) % 8
        #expect(file.path == path)
        #expect(file.headerLength == headerLength)
        #expect(file.headerLength % 8 == 0)
        #expect(file.dataOffset == 8 + headerLength)
        #expect(file.fileSize == bytes.count)
        #expect(file.metadata.map(\.key) == ["format", "note"])
        #expect(file.metadata.map(\.value) == ["pt", "é"])
        #expect(file.tensors.map(\.name) == ["a.weight", "b.bias", "count"])
        #expect(file.elementCount == 6 + 3 + 1)

        let weight = try #require(file.tensor(named: "a.weight"))
        #expect(weight.dtype == .f32)
        #expect(weight.shape == [2, 3])
        #expect(weight.elementCount == 6)
        #expect(weight.byteRange == 0..<24)
        #expect(weight.byteCount == 24)
        #expect(weight.absoluteOffset == file.dataOffset)
        #expect(Array(file.data(for: weight)) == weights)

        let biasInfo = try #require(file.tensor(named: "b.bias"))
        #expect(biasInfo.dtype == .bf16)
        #expect(biasInfo.shape == [3])
        #expect(biasInfo.byteRange == 24..<30)
        #expect(biasInfo.absoluteOffset == file.dataOffset + 24)
        #expect(Array(file.data(for: biasInfo)) == bias)

        let scalar = try #require(file.tensor(named: "count"))
        #expect(scalar.shape == [])
        #expect(scalar.elementCount == 1)
        #expect(Array(file.data(for: scalar)) == count)

        #expect(try SafetensorsFile.declaredSize(path: path) == bytes.count)
        #expect(file.tensor(named: "missing") == nil)
    }

    @Test func emptyTensorsAreZeroBytes() throws {
        let header = #"""
            {"z":{"dtype":"F16","shape":[0,4],"data_offsets":[0,0]},\#
            "w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},\#
            "y":{"dtype":"F32","shape":[3,0],"data_offsets":[2,2]}}
            """#
        let directory = TemporaryFolder("safetensors")
        let path = try directory.write("e.safetensors", safetensorsBytes(header: header, data: [9, 8]))
        let file = try SafetensorsFile(path: path)
        #expect(file.tensors.map(\.name) == ["z", "w", "y"])
        let empty = try #require(file.tensor(named: "z"))
        #expect(empty.elementCount == 0)
        #expect(empty.byteCount == 0)
        #expect(file.data(for: empty).count == 0)
        #expect(try Array(file.data(for: #require(file.tensor(named: "w")))) == [9, 8])
    }

    @Test func emptyHeaderIsAValidEmptyFile() throws {
        let directory = TemporaryFolder("safetensors")
        let path = try directory.write("empty.safetensors", safetensorsBytes(header: "{}", padToEight: true))
        let file = try SafetensorsFile(path: path)
        #expect(file.tensors.isEmpty)
        #expect(file.metadata.isEmpty)
        #expect(file.fileSize == 16)
    }

    @Test func scalarTensor() throws {
        let directory = TemporaryFolder("safetensors")
        let header = #"{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}"#
        let path = try directory.write("s.safetensors", safetensorsBytes(header: header, data: Array(repeating: 0, count: 8)))
        let tensor = try #require(try SafetensorsFile(path: path).tensors.first)
        #expect(tensor.shape.isEmpty)
        #expect(tensor.elementCount == 1)
        #expect(tensor.byteCount == 8)
    }

    @Test func subByteDtypesMustFillWholeBytes() throws {
        let directory = TemporaryFolder("safetensors")
        let ok = #"{"p":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}"#
        let path = try directory.write("f4.safetensors", safetensorsBytes(header: ok, data: [1, 2, 3]))
        #expect(try SafetensorsFile(path: path).tensors.first?.byteCount == 3)
        let odd = #"{"p":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#
        let detail = try malformed(header: odd, data: [1, 2])
        #expect(detail.message.contains("not a whole number of bytes"))
    }

    @Test func dtypeTableMatchesReference() {
        // The reference's list, in its order (safetensors 0.8 `Dtype`).
        #expect(SafetensorsDType.allCases.map(\.rawValue) == [
            "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
            "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
        ])
        #expect(SafetensorsDType.bf16.byteSize == 2)
        #expect(SafetensorsDType.f4.byteSize == nil)
        #expect(SafetensorsDType.f6E2M3.byteCount(forElements: 4) == 3)
        #expect(SafetensorsDType.f6E2M3.byteCount(forElements: 3) == nil)
        #expect(SafetensorsDType.f64.byteCount(forElements: Int.max / 8) == nil)
    }

    @Test func dataForForeignInfoIsEmpty() throws {
        let directory = TemporaryFolder("safetensors")
        let header = #"{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#
        let path = try directory.write("t.safetensors", safetensorsBytes(header: header, data: [1, 2, 3, 4]))
        let file = try SafetensorsFile(path: path)
        let forged = SafetensorsTensorInfo(name: "t", dtype: .u8, shape: [400], elementCount: 400,
                                           byteRange: 0..<400, absoluteOffset: file.dataOffset)
        #expect(file.data(for: forged).count == 0)
    }

    @Test func declaredSizeOfAFileStillArriving() throws {
        let header = #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let full = safetensorsBytes(header: header, data: floatBytes([1, 2, 3, 4]))
        let directory = TemporaryFolder("safetensors")
        let partial = try directory.write("p.safetensors", Array(full.prefix(full.count - 5)))
        #expect(try SafetensorsFile.declaredSize(path: partial) == full.count)
        // Only part of the header yet: truncated, with the header's end as a lower bound.
        let early = try directory.write("q.safetensors", Array(full.prefix(20)))
        do {
            _ = try SafetensorsFile.declaredSize(path: early)
            Issue.record("expected truncated")
        } catch {
            guard case let .truncated(_, requiredSize, actualSize) = error else {
                Issue.record("expected truncated, got \(error)")
                return
            }
            #expect(requiredSize == 8 + header.utf8.count)
            #expect(actualSize == 20)
        }
        let sizeFromMemory = try full.withUnsafeBytes { buffer throws(SafetensorsError) in
            try SafetensorsFile.peekDeclaredSize(buffer, path: "mem")
        }
        #expect(sizeFromMemory == full.count)
    }

    @Test func missingFileAndDirectoryAreIOErrors() throws {
        let directory = TemporaryFolder("safetensors")
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: directory.path + "/nope.safetensors") }
        do {
            _ = try SafetensorsFile(path: directory.path)
            Issue.record("a directory must not open")
        } catch {
            guard case .io = error else {
                Issue.record("expected io, got \(error)")
                return
            }
        }
    }
}

@Suite struct SafetensorsScaleTests {
    /// A header the size of a large model's (tens of thousands of tensors, megabytes of JSON)
    /// opens without trouble; data order is restored from a reversed header.
    @Test func manyTensors() throws {
        let count = 20_000
        var entries: [String] = []
        entries.reserveCapacity(count)
        for k in (0..<count).reversed() {
            entries.append(#""model.layers.\#(k).self_attn.q_proj.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[\#(k * 8),\#(k * 8 + 8)]}"#)
        }
        let header = "{" + entries.joined(separator: ",") + "}"
        let directory = TemporaryFolder("safetensors")
        let path = try directory.write("big.safetensors",
                                       safetensorsBytes(header: header, data: Array(repeating: 0, count: count * 8)))
        let file = try SafetensorsFile(path: path)
        #expect(file.tensors.count == count)
        #expect(file.tensors.first?.name == "model.layers.0.self_attn.q_proj.weight")
        #expect(file.tensors.last?.byteRange == (count * 8 - 8)..<(count * 8))
    }
}
