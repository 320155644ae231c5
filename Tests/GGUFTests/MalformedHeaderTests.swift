import GGUF
import Testing

/// One test per class of malformed input: each builds the bad bytes and checks the parser names
/// the right cause, kind and field instead of crashing or allocating.
struct MalformedHeaderTests {
    private func parse(_ builder: RawGGUFBuilder) throws(GGUFError) -> GGUFHeader {
        try parseGGUF(builder.bytes)
    }

    private func expectError(_ builder: RawGGUFBuilder, _ code: GGUFError.Code, _ kind: GGUFError.Kind = .malformed,
                             fieldContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parse(builder)
            Issue.record("expected \(code), but the file parsed", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            if let fieldContains {
                #expect(error.field.contains(fieldContains), "\(error.field)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func validMinimalFileParses() throws {
        let header = try parse(.valid())
        #expect(header.tensors.map(\.name) == ["a", "b"])
        #expect(header.dataOffset % 32 == 0)
        #expect(header.tensors[1].absoluteOffset == header.dataOffset + 32)
    }

    @Test func badMagic() {
        var b = RawGGUFBuilder.valid()
        b.bytes[0] = UInt8(ascii: "X")
        expectError(b, .badMagic, fieldContains: "magic")
    }

    @Test func versionOneIsUnsupported() {
        var b = RawGGUFBuilder()
        b.header(version: 1, tensors: 0, kvs: 0)
        expectError(b, .unsupportedVersion, .unsupported)
    }

    @Test func futureVersionIsUnsupported() {
        var b = RawGGUFBuilder()
        b.header(version: 7, tensors: 0, kvs: 0)
        expectError(b, .unsupportedVersion, .unsupported)
    }

    @Test func bigEndianFileIsNamed() {
        var b = RawGGUFBuilder()
        b.header(version: 0x0300_0000, tensors: 0, kvs: 0)
        expectError(b, .wrongEndianness, .unsupported)
    }

    @Test func versionTwoIsRead() throws {
        var b = RawGGUFBuilder()
        b.header(version: 2, tensors: 0, kvs: 1)
        b.kvU32("x", 1)
        #expect(try parse(b).version == 2)
    }

    @Test func tensorCountBeyondFile() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1 << 40, kvs: 0)
        expectError(b, .countTooLarge, fieldContains: "tensor count")
    }

    @Test func tensorCountNegativeAsInt64() {
        var b = RawGGUFBuilder()
        b.header(tensors: UInt64.max, kvs: 0)
        expectError(b, .countTooLarge)
    }

    @Test func metadataCountBeyondFile() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1 << 50)
        expectError(b, .countTooLarge, fieldContains: "metadata count")
    }

    @Test func stringLongerThanGGMLAllows() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.u64((1 << 30) + 1)  // key length
        b.zeros(16)
        expectError(b, .stringTooLong)
    }

    @Test func stringRunningPastTheEndIsTruncated() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("key")
        b.u32(8)
        b.u64(1000)  // value length, but only 3 bytes follow
        b.bytes += Array("abc".utf8)
        expectError(b, .unexpectedEnd, .truncated, fieldContains: "metadata['key']")
    }

    @Test func arrayLongerThanGGMLAllows() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("arr")
        b.u32(9)
        b.u32(0)
        b.u64((1 << 30) + 1)
        expectError(b, .arrayTooLong)
    }

    @Test func arrayCountBeyondFileAllocatesNothing() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("arr")
        b.u32(9)
        b.u32(10)  // u64 elements
        b.u64(1 << 29)  // 4 GiB of elements claimed in a 50-byte file
        expectError(b, .unexpectedEnd, .truncated, fieldContains: "metadata['arr']")
    }

    @Test func invalidValueType() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(13)
        b.u32(0)
        expectError(b, .invalidValueType, fieldContains: "metadata['k']")
    }

    @Test func nestedArrayRejected() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(9)
        b.u32(9)
        b.u64(0)
        expectError(b, .nestedArray)
    }

    @Test func emptyKey() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.kvU32("", 1)
        expectError(b, .emptyKey)
    }

    @Test func duplicateKey() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 2)
        b.kvU32("general.x", 1)
        b.kvU32("general.x", 2)
        expectError(b, .duplicateKey, fieldContains: "general.x")
    }

    @Test func alignmentOfWrongType() {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.kvString("general.alignment", "32")
        expectError(b, .badAlignmentType)
    }

    @Test(arguments: [0, 48, 2 << 20])
    func alignmentNotAPowerOfTwoOrTooLarge(alignment: UInt32) {
        var b = RawGGUFBuilder()
        b.header(tensors: 0, kvs: 1)
        b.kvU32("general.alignment", alignment)
        expectError(b, .badAlignment)
    }

    @Test func tensorNameTooLong() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo(String(repeating: "n", count: 64), dims: [8], type: 0, offset: 0)
        b.padTo(32)
        b.zeros(32)
        expectError(b, .nameTooLong)
    }

    @Test func tensorNameOf63BytesIsAccepted() throws {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo(String(repeating: "n", count: 63), dims: [8], type: 0, offset: 0)
        b.padTo(32)
        b.zeros(32)
        #expect(try parse(b).tensors.count == 1)
    }

    @Test func duplicateTensorName() {
        var b = RawGGUFBuilder()
        b.header(tensors: 2, kvs: 0)
        b.tensorInfo("w", dims: [8], type: 0, offset: 0)
        b.tensorInfo("w", dims: [8], type: 0, offset: 32)
        b.padTo(32)
        b.zeros(64)
        expectError(b, .duplicateTensorName)
    }

    @Test func tooManyDimensions() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [1, 1, 1, 1, 1], type: 0, offset: 0)
        expectError(b, .tooManyDimensions)
    }

    @Test func negativeDimension() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [8, UInt64(bitPattern: -2)], type: 0, offset: 0)
        expectError(b, .negativeDimension, fieldContains: "dimension 1")
    }

    @Test func elementCountOverflow() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [1 << 32, 1 << 32], type: 0, offset: 0)
        expectError(b, .elementCountOverflow)
    }

    @Test func byteSizeOverflow() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [1 << 31, 1 << 31], type: 0, offset: 0)  // 2^62 F32 = 2^64 bytes
        expectError(b, .tensorSizeOverflow)
    }

    @Test func unknownTensorType() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [8], type: 99, offset: 0)
        expectError(b, .unknownTensorType)
    }

    @Test(arguments: [4, 5, 31, 32, 33, 36, 37, 38] as [UInt32])
    func removedTensorTypes(id: UInt32) {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [256], type: id, offset: 0)
        expectError(b, .removedTensorType, .unsupported)
    }

    @Test func rowNotAMultipleOfTheBlock() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [33, 2], type: 2, offset: 0)  // Q4_0 blocks of 32
        expectError(b, .rowNotBlockMultiple)
    }

    /// A tensor info with zero dimensions (found by mutation fuzzing: it trapped the parser) is a
    /// scalar for ggml: one F32 element is valid; a block type cannot hold one element.
    @Test func zeroDimensionTensor() throws {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("s", dims: [], type: 0, offset: 0)
        b.padTo(32)
        b.zeros(32)
        let header = try parseGGUF(b.bytes)
        #expect(header.tensors.first?.elementCount == 1)

        var q = RawGGUFBuilder()
        q.header(tensors: 1, kvs: 0)
        q.tensorInfo("s", dims: [], type: 2, offset: 0)
        expectError(q, .rowNotBlockMultiple)
    }

    @Test func misalignedTensorOffset() {
        var b = RawGGUFBuilder()
        b.header(tensors: 2, kvs: 0)
        b.tensorInfo("a", dims: [8], type: 0, offset: 0)
        b.tensorInfo("b", dims: [8], type: 0, offset: 40)
        b.padTo(32)
        b.zeros(96)
        expectError(b, .misalignedTensorOffset, fieldContains: "'b'")
    }

    @Test func overlappingTensors() {
        var b = RawGGUFBuilder()
        b.header(tensors: 2, kvs: 0)
        b.tensorInfo("a", dims: [16], type: 0, offset: 0)  // 64 bytes
        b.tensorInfo("b", dims: [8], type: 0, offset: 32)
        b.padTo(32)
        b.zeros(96)
        expectError(b, .overlappingTensors, fieldContains: "'b'")
    }

    @Test func gapBetweenTensors() {
        var b = RawGGUFBuilder()
        b.header(tensors: 2, kvs: 0)
        b.tensorInfo("a", dims: [8], type: 0, offset: 0)
        b.tensorInfo("b", dims: [8], type: 0, offset: 64)
        b.padTo(32)
        b.zeros(128)
        expectError(b, .tensorOffsetGap)
    }

    @Test func tensorDataBeyondTheEndIsTruncated() {
        var b = RawGGUFBuilder.valid()
        b.bytes.removeLast(10)
        expectError(b, .tensorDataBeyondEnd, .truncated, fieldContains: "'b'")
    }

    @Test func hugeOffsetIsRejected() {
        var b = RawGGUFBuilder()
        b.header(tensors: 1, kvs: 0)
        b.tensorInfo("a", dims: [8], type: 0, offset: UInt64.max - 31)
        expectError(b, .tensorSizeOverflow)
    }

    @Test func errorMessageSaysWhatWhereAndWhatToDo() {
        var b = RawGGUFBuilder.valid()
        b.bytes.removeLast(10)
        do {
            _ = try parse(b)
            Issue.record("parsed a truncated file")
        } catch {
            let text = error.at(path: "m.gguf").description
            #expect(text.hasPrefix("m.gguf: tensor 'b' ends at byte"))
            #expect(text.contains("was the copy finished?"))
        }
    }
}
