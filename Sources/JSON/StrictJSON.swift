/// A strict RFC 8259 JSON parser over raw bytes.
///
/// Headers and configs come from files we did not write, so the parser accepts exactly the RFC
/// grammar and nothing more: no comments, no trailing commas, no NaN, no leading zeros, no lone
/// surrogates, no invalid UTF-8, no unescaped control characters, no trailing garbage. It also
/// rejects what the RFC merely allows but which makes a document ambiguous: duplicate object keys
/// (different readers keep different copies) and numbers too large for a Double. Nesting is
/// bounded so a hostile `[[[[...` cannot exhaust the stack.
public enum StrictJSON {
    /// Deep enough for any real config or header, shallow enough to keep recursion bounded.
    public static let defaultMaxDepth = 128

    /// Parses one JSON document filling all of `bytes` (trailing whitespace allowed).
    /// - Parameter baseOffset: added to every offset in an error, so a header parsed from the
    ///   middle of a file reports positions in file bytes.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth, baseOffset: Int = 0
    ) throws(JSONError) -> JSONValue {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth, baseOffset: baseOffset)
        return try parser.parseDocument()
    }

    /// Like `parse(_:maxDepth:baseOffset:)`, also returning the byte offset (plus `baseOffset`)
    /// of each key of the top-level object, in member order, so a caller validating the members
    /// afterwards can still say where in the file a bad member is.
    public static func parseWithTopLevelKeyOffsets(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth, baseOffset: Int = 0
    ) throws(JSONError) -> (value: JSONValue, keyOffsets: [Int]) {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth, baseOffset: baseOffset)
        parser.recordsTopLevelKeys = true
        let value = try parser.parseDocument()
        return (value, parser.topLevelKeyOffsets)
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSONValue {
        let result: Result<JSONValue, JSONError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in try parse(buffer, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

/// Why a document is not valid JSON, and the byte where the problem was found.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the problem (plus the `baseOffset` given to the parser).
    public let offset: Int
    public let message: String
    /// The key involved, for duplicate-key errors.
    public let key: String?

    public init(offset: Int, message: String, key: String? = nil) {
        self.offset = offset
        self.message = message
        self.key = key
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    let baseOffset: Int
    var index = 0
    var recordsTopLevelKeys = false
    var topLevelKeyOffsets: [Int] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int, baseOffset: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.baseOffset = baseOffset
    }

    func error(_ message: String, at position: Int? = nil, key: String? = nil) -> JSONError {
        JSONError(offset: baseOffset + (position ?? index), message: message, key: key)
    }

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw error("a byte order mark is not allowed before a JSON document")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else {
            throw error("unexpected \(describe(bytes[index])) after the end of the JSON value")
        }
        return value
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input; expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case let byte: throw error("unexpected \(describe(byte)); expected a value")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let start = index
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("invalid literal; expected '\(literal)'", at: start) }
        for k in 0..<count where bytes[index + k] != literal.utf8Start[k] {
            throw error("invalid literal; expected '\(literal)'", at: start)
        }
        index += count
    }

    mutating func enterContainer(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        try enterContainer(depth: depth)
        index += 1  // '['
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an array") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(elements)
            case let byte: throw error("unexpected \(describe(byte)) in an array; expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        try enterContainer(depth: depth)
        index += 1  // '{'
        var members: [(key: String, value: JSONValue)] = []
        // Where each key was first seen, to name both places when a key repeats.
        var firstSeen: [String: Int] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[index] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describe(bytes[index])) in an object; expected a string key")
            }
            let keyOffset = index
            let key = try parseString()
            if let first = firstSeen[key] {
                throw error(
                    "duplicate key '\(key)' (first at byte \(baseOffset + first))", at: keyOffset, key: key)
            }
            firstSeen[key] = keyOffset
            if recordsTopLevelKeys && depth == 1 { topLevelKeyOffsets.append(baseOffset + keyOffset) }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw error("expected ':' after key '\(key)'")
            }
            index += 1
            members.append((key: key, value: try parseValue(depth: depth)))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            case let byte: throw error("unexpected \(describe(byte)) in an object; expected ',' or '}'")
            }
        }
    }

    // MARK: Strings

    mutating func parseString() throws(JSONError) -> String {
        let start = index
        index += 1  // opening quote
        var decoded: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw error("unterminated string", at: start) }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                decoded.append(contentsOf: bytes[runStart..<index])
                index += 1
                // Every byte was validated as UTF-8 above, so decoding cannot substitute U+FFFD.
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                decoded.append(contentsOf: bytes[runStart..<index])
                try parseEscape(into: &decoded)
                runStart = index
            case 0x00..<0x20:
                throw error("unescaped control character \(describe(byte)) in a string")
            case 0x20..<0x80:
                index += 1
            default:
                index += try utf8SequenceLength(at: index)
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence (Unicode table 3-7: no overlongs, no surrogates,
    /// nothing above U+10FFFF) and returns its length.
    func utf8SequenceLength(at position: Int) throws(JSONError) -> Int {
        let lead = bytes[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw error("invalid UTF-8 lead byte \(describe(lead))", at: position)
        }
        guard bytes.count - position >= length else { throw error("truncated UTF-8 sequence", at: position) }
        guard secondRange.contains(bytes[position + 1]) else { throw error("invalid UTF-8 sequence", at: position) }
        for k in 2..<length where !(0x80...0xBF).contains(bytes[position + k]) {
            throw error("invalid UTF-8 sequence", at: position)
        }
        return length
    }

    mutating func parseEscape(into decoded: inout [UInt8]) throws(JSONError) {
        let start = index
        index += 1  // backslash
        guard index < bytes.count else { throw error("unterminated escape sequence", at: start) }
        let code = bytes[index]
        index += 1
        switch code {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(code)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xDC00...0xDFFF).contains(scalar) {
                throw error("lone low surrogate \\u\(hex(scalar)) in a string", at: start)
            }
            if (0xD800...0xDBFF).contains(scalar) {
                // UTF-16 in JSON: a high surrogate must be followed at once by an escaped low one.
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw error("high surrogate \\u\(hex(scalar)) not followed by a low surrogate", at: start) }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error("high surrogate \\u\(hex(scalar)) followed by \\u\(hex(low))", at: start)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else {
                throw error("invalid escaped code point", at: start)
            }
            decoded.append(contentsOf: Array(String(Character(unicode)).utf8))
        default:
            throw error("invalid escape '\\\(describeRaw(code))'", at: start)
        }
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit \(describe(byte)) in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit in a number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) {
                throw error("leading zeros are not allowed in numbers", at: start)
            }
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let double = Double(text), double.isFinite else {
            throw error("number \(text.prefix(40)) is too large", at: start)
        }
        return JSONNumber(validatedText: text, isIntegerLiteral: isInteger, doubleValue: double)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    // MARK: Messages

    func describe(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? "character '\(describeRaw(byte))'" : "byte 0x\(hex(UInt32(byte), width: 2))"
    }

    func describeRaw(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "0x\(hex(UInt32(byte), width: 2))"
    }

    func hex(_ value: UInt32, width: Int = 4) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
