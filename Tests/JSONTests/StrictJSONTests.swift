import Testing

@testable import JSON

/// The parser error for `text`, or nil when it parses.
private func parseError(_ text: String, maxDepth: Int = StrictJSON.defaultMaxDepth) -> JSONError? {
    parseError(Array(text.utf8), maxDepth: maxDepth)
}

private func parseError(_ bytes: [UInt8], maxDepth: Int = StrictJSON.defaultMaxDepth) -> JSONError? {
    do {
        _ = try StrictJSON.parse(bytes, maxDepth: maxDepth)
        return nil
    } catch {
        return error
    }
}

@Suite struct StrictJSONTests {
    @Test func parsesScalarsAndContainersKeepingKeyOrder() throws {
        let value = try StrictJSON.parse(#" { "z": [1, -2.5, true, false, null], "a": {"k": "v"}, "m": "" } "#)
        let expected: JSONValue = ["z": [1, -2.5, true, false, nil], "a": ["k": "v"], "m": ""]
        #expect(value == expected)
        #expect(value.objectValue?.map(\.key) == ["z", "a", "m"])
        #expect(value["a"]?["k"]?.stringValue == "v")
        #expect(value["z"]?[1]?.doubleValue == -2.5)
        #expect(value["z"]?[9] == nil)
        #expect(value["missing"] == nil)
    }

    @Test func objectOrderMattersForEquality() throws {
        let ab = try StrictJSON.parse(#"{"a":1,"b":2}"#)
        let ba = try StrictJSON.parse(#"{"b":2,"a":1}"#)
        #expect(ab != ba)
    }

    @Test func decodesEscapesIncludingSurrogatePairs() throws {
        let value = try StrictJSON.parse(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \u20AC \ud83d\ude00 é""#)
        #expect(value.stringValue == "q\" b\\ s/ \u{8}\u{c}\n\r\t é € 😀 é")
    }

    @Test func rejectsBadEscapesAndSurrogates() {
        #expect(parseError(#""\x""#)?.message.contains("invalid escape") == true)
        #expect(parseError(#""\u12""#) != nil)
        #expect(parseError(#""\ud83d""#)?.message.contains("high surrogate") == true)
        #expect(parseError(#""\ud83d\u0041""#)?.message.contains("high surrogate") == true)
        #expect(parseError(#""\ude00""#)?.message.contains("lone low surrogate") == true)
    }

    @Test func numbersKeepExactIntegers() throws {
        let value = try StrictJSON.parse("[0, -0, 42, -17, 9007199254740993, 18446744073709551615, 1.0, 1e2, -1.5E-3]")
        #expect(value[0]?.intValue == 0)
        #expect(value[1]?.intValue == 0)
        #expect(value[1]?.uint64Value == 0)
        #expect(value[2]?.intValue == 42)
        #expect(value[3]?.intValue == -17)
        #expect(value[3]?.uint64Value == nil)
        // 2^53 + 1 is not representable as a Double; the text keeps it exact.
        #expect(value[4]?.int64Value == 9_007_199_254_740_993)
        #expect(value[4]?.uint64Value == 9_007_199_254_740_993)
        #expect(value[4] != value[4].map { _ in JSONValue.number(JSONNumber(Int64(9_007_199_254_740_992))) })
        #expect(value[5]?.uint64Value == UInt64.max)
        #expect(value[5]?.int64Value == nil)
        // Fractions and exponents are not exact integers, even when integral in value.
        #expect(value[6]?.intValue == nil)
        #expect(value[6]?.doubleValue == 1.0)
        #expect(value[7]?.intValue == nil)
        #expect(value[7]?.doubleValue == 100)
        #expect(value[8]?.doubleValue == -0.0015)
        #expect(value[6] == 1)  // numeric equality across spellings
    }

    @Test func rejectsNonRFCNumbers() {
        for text in ["01", "-", "1.", ".5", "+1", "1e", "1e+", "NaN", "Infinity", "-Infinity", "0x10", "1e400"] {
            #expect(parseError(text) != nil, "\(text) should be rejected")
        }
    }

    @Test func rejectsDuplicateKeysNamingKeyAndOffset() throws {
        let error = try #require(parseError(#"{"a": 1, "b": 2, "a": 3}"#))
        #expect(error.key == "a")
        #expect(error.offset == 17)
        #expect(error.message.contains("duplicate key 'a'"))
        #expect(error.message.contains("first at byte 1"))
        // The same key in different objects is fine.
        #expect(parseError(#"{"a": {"a": 1}, "b": {"a": 2}}"#) == nil)
    }

    @Test func enforcesDepthLimit() {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        #expect(parseError(ok) == nil)
        #expect(parseError(deep)?.message.contains("nesting deeper than 128") == true)
        // Far deeper than the limit must fail fast, not overflow the stack.
        #expect(parseError(String(repeating: "[", count: 1_000_000)) != nil)
        #expect(parseError(#"{"a":{"b":1}}"#, maxDepth: 1) != nil)
    }

    @Test func rejectsInvalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],  // never valid
            [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
            [0x22, 0xE0, 0x80, 0x80, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
            [0x22, 0x80, 0x22],  // stray continuation
        ]
        for bytes in cases {
            #expect(parseError(bytes)?.message.contains("UTF-8") == true, "\(bytes)")
        }
        #expect(parseError([0x22, 0xE2, 0x82, 0xAC, 0x22]) == nil)  // "€"
    }

    @Test func rejectsControlCharactersTrailingGarbageAndExtensions() throws {
        let control = try #require(parseError("\"a\u{01}b\""))
        #expect(control.message.contains("control character"))
        #expect(control.offset == 2)
        #expect(parseError("\"tab\there\"") != nil)
        let trailing = try #require(parseError("{} x"))
        #expect(trailing.offset == 3)
        #expect(parseError("{}{}") != nil)
        #expect(parseError("[1,]") != nil)
        #expect(parseError(#"{"a":1,}"#) != nil)
        #expect(parseError("// c\n{}") != nil)
        #expect(parseError("{'a':1}") != nil)
        #expect(parseError("") != nil)
        #expect(parseError("   ") != nil)
        #expect(parseError("tru") != nil)
        #expect(parseError("nul") != nil)
        #expect(parseError("[1 2]") != nil)
        #expect(parseError(#"{"a" 1}"#) != nil)
        #expect(parseError("\"unterminated") != nil)
        #expect(parseError([0xEF, 0xBB, 0xBF, 0x7B, 0x7D])?.message.contains("byte order mark") == true)
        // Whitespace around the value is fine, including the padding safetensors writers add.
        #expect(parseError(" \t\r\n{}\n    ") == nil)
    }

    @Test func baseOffsetShiftsErrorPositions() {
        let bytes = Array("[1,]".utf8)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in try StrictJSON.parse(buffer, baseOffset: 8) }
        }
        guard case let .failure(error) = result else {
            Issue.record("expected a parse error")
            return
        }
        #expect(error.offset == 11)
        #expect(error.description.hasPrefix("invalid JSON at byte 11"))
    }
}

@Suite struct TopLevelKeyOffsetTests {
    @Test func reportsEachTopLevelKeyOffset() throws {
        let bytes = Array(#"{"a": {"x": 1}, "bb": [2],"c":3}"#.utf8)
        let result = try bytes.withUnsafeBytes { buffer in
            try StrictJSON.parseWithTopLevelKeyOffsets(buffer, baseOffset: 100)
        }
        #expect(result.value.objectValue?.map(\.key) == ["a", "bb", "c"])
        // Nested keys ("x") are not top-level and are not reported.
        #expect(result.keyOffsets == [101, 116, 126])
    }
}

@Suite struct JSONWriterTests {
    @Test func compactOutputRoundTripsExactly() throws {
        let text = #"{"z":[1,-2.5e3,9007199254740993,true,null],"a":{"k":"v\"\\\n\u0001é😀"},"e":[],"o":{}}"#
        let value = try StrictJSON.parse(text)
        #expect(value.serialized() == text)
        #expect(try StrictJSON.parse(value.serialized()) == value)
    }

    @Test func prettyOutputIsStable() throws {
        let value: JSONValue = ["name": "q4", "sizes": [1, 2], "empty": [:], "none": []]
        #expect(value.serialized(pretty: true) == """
            {
              "name": "q4",
              "sizes": [
                1,
                2
              ],
              "empty": {},
              "none": []
            }

            """)
    }
}
