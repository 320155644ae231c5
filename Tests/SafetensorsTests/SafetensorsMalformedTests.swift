import Testing
import QuantdTestSupport

@testable import Safetensors

/// One test per way a file can lie about itself. Each checks the error kind (truncated vs
/// malformed), the tensor and field it names, and, where meaningful, the byte offset.
@Suite struct SafetensorsMalformedTests {
    let f32x2 = #""dtype":"F32","shape":[2]"#

    @Test func headerLengthOverLimit() throws {
        let bytes = safetensorsBytes(header: "{}", declaredLength: 100_000_001)
        guard case let .malformed(detail)? = try openError(bytes) else {
            Issue.record("expected malformed")
            return
        }
        #expect(detail.field == "header length")
        #expect(detail.offset == 0)
        #expect(detail.message.contains("100000001"))
        // The largest u64 must not trap on conversion either.
        #expect(try openError(safetensorsBytes(header: "{}", declaredLength: .max))?.isMalformed == true)
    }

    @Test func headerLengthBeyondFileIsTruncated() throws {
        let bytes = safetensorsBytes(header: "{}", declaredLength: 64)
        guard case let .truncated(detail, requiredSize, actualSize)? = try openError(bytes) else {
            Issue.record("expected truncated")
            return
        }
        #expect(requiredSize == 72)
        #expect(actualSize == 10)
        #expect(detail.field == "header length")
        #expect(detail.description.contains("was the copy finished?"))
    }

    @Test func fileShorterThanLengthFieldIsTruncated() throws {
        #expect(try openError([1, 0, 0])?.isTruncated == true)
        #expect(try openError([])?.isTruncated == true)
    }

    @Test func invalidJSON() throws {
        let detail = try malformed(header: #"{"a": }"#)
        #expect(detail.field == "header")
        #expect(detail.offset == 8 + 6)  // absolute: the 8-byte length comes first
        #expect(detail.message.contains("not valid JSON"))
        #expect(try malformed(header: "{\"a\u{1}\":1}").message.contains("control character"))
        // Invalid UTF-8 in a key: 0xC3 must be followed by a continuation byte.
        let raw: [UInt8] = Array("{\"".utf8) + [0xC3, 0x28] + Array("\":{}}".utf8)
        let bytes = withUnsafeBytes(of: UInt64(raw.count).littleEndian) { Array($0) } + raw
        guard case let .malformed(utf8)? = try openError(bytes) else {
            Issue.record("expected malformed for invalid UTF-8")
            return
        }
        #expect(utf8.message.contains("UTF-8"))
        #expect(utf8.offset == 8 + 2)
    }

    @Test func duplicateTensorName() throws {
        let first = #"{"w":{\#(f32x2),"data_offsets":[0,8]},"#
        let header = first + #""w":{\#(f32x2),"data_offsets":[8,16]}}"#
        let detail = try malformed(header: header, data: Array(repeating: 0, count: 16))
        #expect(detail.message.contains("duplicate key 'w'"))
        #expect(detail.message.contains("at byte \(8 + first.utf8.count)"))
        #expect(detail.offset == 8 + first.utf8.count)
    }

    @Test func headerNotAnObject() throws {
        for header in ["[]", "\"x\"", "null", "42"] {
            let detail = try malformed(header: header)
            #expect(detail.message.contains("not a JSON object"), "\(header)")
        }
        #expect(try malformed(header: #"{"t": [1,2]}"#).message.contains("tensor 't' is an array"))
    }

    @Test func unknownDtype() throws {
        let detail = try malformed(header: #"{"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#,
                                   data: Array(repeating: 0, count: 16))
        #expect(detail.tensor == "t")
        #expect(detail.field == "dtype")
        #expect(detail.message.contains("unknown dtype 'F128'"))
        #expect(detail.offset == 8 + 1)
        #expect(try malformed(header: #"{"t":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}"#,
                              data: [0, 0, 0, 0]).field == "dtype")
        #expect(try malformed(header: #"{"t":{"dtype":4,"shape":[],"data_offsets":[0,4]}}"#,
                              data: [0, 0, 0, 0]).field == "dtype")
    }

    @Test func badShapes() throws {
        for shape in ["[-1]", "[1.5]", "[\"2\"]", "[2e0]", "[null]", "2", "[18446744073709551616]"] {
            let detail = try malformed(header: #"{"t":{"dtype":"U8","shape":\#(shape),"data_offsets":[0,2]}}"#,
                                       data: [0, 0])
            #expect(detail.tensor == "t", "\(shape)")
            #expect(detail.field == "shape", "\(shape)")
        }
        // Each dimension fits, the product does not: overflow is caught, not wrapped.
        let huge = #"{"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#
        #expect(try malformed(header: huge).message.contains("overflows"))
        // The product fits but the byte count (× 8) does not.
        let wide = #"{"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#
        #expect(try malformed(header: wide).field == "shape")
    }

    @Test func missingAndMistypedFields() throws {
        #expect(try malformed(header: #"{"t":{"shape":[0],"data_offsets":[0,0]}}"#).message.contains("no 'dtype'"))
        #expect(try malformed(header: #"{"t":{"dtype":"U8","data_offsets":[0,0]}}"#).message.contains("no 'shape'"))
        #expect(try malformed(header: #"{"t":{"dtype":"U8","shape":[0]}}"#).message.contains("no 'data_offsets'"))
        for offsets in ["[0]", "[0,1,2]", "[-1,0]", "[0.0,1]", "{}", "[0,\"1\"]"] {
            let detail = try malformed(header: #"{"t":{"dtype":"U8","shape":[1],"data_offsets":\#(offsets)}}"#, data: [0])
            #expect(detail.field == "data_offsets", "\(offsets)")
        }
    }

    @Test func beginAfterEnd() throws {
        let detail = try malformed(header: #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}"#)
        #expect(detail.tensor == "t")
        #expect(detail.field == "data_offsets")
        #expect(detail.message.contains("begin is after end"))
    }

    @Test func sizeMismatchWithShapeAndDtype() throws {
        let detail = try malformed(header: #"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#,
                                   data: Array(repeating: 0, count: 12))
        #expect(detail.tensor == "t")
        #expect(detail.message.contains("needs 16 bytes"))
        #expect(detail.message.contains("span 12 bytes"))
    }

    @Test func holeBetweenTensors() throws {
        let header = #"{"a":{\#(f32x2),"data_offsets":[0,8]},"b":{\#(f32x2),"data_offsets":[12,20]}}"#
        let detail = try malformed(header: header, data: Array(repeating: 0, count: 20))
        #expect(detail.tensor == "b")
        #expect(detail.message.contains("hole"))
        #expect(detail.offset == 8 + header.utf8.count + 8)
        // A hole before the first tensor is a hole too.
        let first = #"{"a":{\#(f32x2),"data_offsets":[4,12]}}"#
        #expect(try malformed(header: first, data: Array(repeating: 0, count: 12)).message.contains("start of the data"))
    }

    @Test func overlappingTensors() throws {
        let header = #"{"a":{\#(f32x2),"data_offsets":[0,8]},"b":{\#(f32x2),"data_offsets":[4,12]}}"#
        let detail = try malformed(header: header, data: Array(repeating: 0, count: 12))
        #expect(detail.tensor == "b")
        #expect(detail.message.contains("inside tensor 'a'"))
        // Two names for the same bytes are an overlap as well.
        let alias = #"{"a":{\#(f32x2),"data_offsets":[0,8]},"b":{\#(f32x2),"data_offsets":[0,8]}}"#
        #expect(try malformed(header: alias, data: Array(repeating: 0, count: 8)).message.contains("overlapping"))
    }

    @Test func trailingBytesAfterData() throws {
        let header = #"{"a":{\#(f32x2),"data_offsets":[0,8]}}"#
        let detail = try malformed(header: header, data: Array(repeating: 0, count: 9))
        #expect(detail.message.contains("1 byte after the last tensor"))
        #expect(detail.offset == 8 + header.utf8.count + 8)
        #expect(try openError(safetensorsBytes(header: "{}") + [0x00])?.isMalformed == true)
    }

    @Test func dataShorterThanDeclaredIsTruncatedNotMalformed() throws {
        let header = #"{"a":{\#(f32x2),"data_offsets":[0,8]},"x":{\#(f32x2),"data_offsets":[8,16]}}"#
        let bytes = safetensorsBytes(header: header, data: Array(repeating: 0, count: 11))
        guard case let .truncated(detail, requiredSize, actualSize)? = try openError(bytes) else {
            Issue.record("expected truncated")
            return
        }
        let dataOffset = 8 + header.utf8.count
        #expect(requiredSize == dataOffset + 16)
        #expect(actualSize == bytes.count)
        #expect(detail.tensor == "x")
        #expect(detail.description == "\(detail.path): tensor 'x' ends at byte \(dataOffset + 16) but the file has "
            + "\(bytes.count) bytes — the file is truncated; was the copy finished?")
        // The same shortfall with a lying header is malformed: layout is checked before size.
        let lying = #"{"a":{\#(f32x2),"data_offsets":[0,8]},"x":{\#(f32x2),"data_offsets":[9,17]}}"#
        #expect(try openError(safetensorsBytes(header: lying, data: Array(repeating: 0, count: 11)))?.isMalformed == true)
    }

    @Test func badMetadata() throws {
        let nonString = try malformed(header: #"{"__metadata__":{"format":"pt","n":1}}"#)
        #expect(nonString.tensor == "__metadata__")
        #expect(nonString.field == "n")
        #expect(nonString.message.contains("must be strings"))
        #expect(nonString.offset == 8 + 1)
        #expect(try malformed(header: #"{"__metadata__":["pt"]}"#).message.contains("not an object"))
        #expect(try malformed(header: #"{"__metadata__":{"a":{"b":"c"}}}"#).field == "a")
        #expect(try malformed(header: #"{"__metadata__":null}"#).tensor == "__metadata__")
    }

    @Test func unknownEntryKey() throws {
        let detail = try malformed(header: #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"offsets":[0,1]}}"#,
                                   data: [0])
        #expect(detail.tensor == "t")
        #expect(detail.field == "offsets")
        #expect(detail.message.contains("unknown key 'offsets'"))
        #expect(detail.offset == 8 + 1)  // the entry's key, just after the '{'
    }

    @Test func hugeOffsetsDoNotTrap() throws {
        let max = Int.max
        let header = #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[\#(max),\#(max)]}}"#
        #expect(try malformed(header: header).message.contains("hole"))
    }
}
