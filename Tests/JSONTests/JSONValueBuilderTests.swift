import Testing
@testable import JSON

/// The typed builders `inspect` writes its report with: integers exact at their extremes, a
/// Double as the shortest text that parses back to the same bits, non-finite values as strings.
struct JSONValueBuilderTests {
    @Test func integersKeepEveryDigit() throws {
        #expect(JSONValue.int(Int64.min).serialized() == "-9223372036854775808")
        #expect(JSONValue.uint(UInt64.max).serialized() == "18446744073709551615")
        #expect(try StrictJSON.parse(Array(JSONValue.uint(UInt64.max).serialized().utf8)).numberValue?.uint64Value == UInt64.max)
    }

    @Test(arguments: [Double(Float(1e-5)), 0.1, -2.5e-300, 1e300, 3.0])
    func doublesReadBackToTheSameBits(value: Double) throws {
        let text = JSONValue.double(value).serialized()
        let parsed = try #require(try StrictJSON.parse(Array(text.utf8)).doubleValue)
        #expect(parsed.bitPattern == value.bitPattern, "\(text)")
    }

    @Test func nonFiniteValuesBecomeStrings() {
        #expect(JSONValue.double(.nan).serialized() == #""NaN""#)
        #expect(JSONValue.double(.infinity).serialized() == #""Infinity""#)
        #expect(JSONValue.double(-.infinity).serialized() == #""-Infinity""#)
    }
}
