/// A value of the YAML subset model cards use, typed as PyYAML's `safe_load` (YAML 1.1) types it.
enum YAMLValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    /// A plain scalar PyYAML reads as a date or timestamp, kept as written.
    case timestamp(String)
    case list([YAMLValue])
    case map([(key: String, value: YAMLValue)])

    static func == (a: YAMLValue, b: YAMLValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.float(x), .float(y)): x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)), let (.timestamp(x), .timestamp(y)): x == y
        case let (.list(x), .list(y)): x == y
        case let (.map(x), .map(y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }
}

/// Why a model card's front matter cannot be read: the line (1-based, counted in README.md) and what.
struct FrontMatterError: Error, Equatable, Sendable {
    let line: Int
    let message: String
}

/// A reader for the YAML a Hugging Face model card's front matter holds: a top-level mapping whose
/// values are scalars (plain, 'single' or "double" quoted), flow lists of scalars (`[a, b]`), or
/// block lists (`- a`) whose items are scalars or one-level mappings (`- name: x` + `  org: y`).
///
/// Only the keys in `wanted` are parsed; every other key's block is skipped unread, so the nested
/// structures cards carry elsewhere (`model-index`, `widget`) cost nothing. A wanted key whose
/// value goes beyond the subset (block scalars `|`/`>`, multi-line plain scalars, anchors, aliases,
/// tags, flow mappings, deeper nesting) is an error naming its line rather than a guess, because
/// the reference would write what PyYAML reads there.
struct FrontMatterYAML {
    private struct Line {
        let number: Int
        let indent: Int
        let text: Substring  // without indentation
    }

    /// The top-level mapping, restricted to `wanted` keys (later duplicates replace earlier ones,
    /// as PyYAML does). nil when the document is not a mapping (the reference then uses nothing).
    static func parse(_ yaml: String, firstLine: Int, wanted: Set<String>) throws(FrontMatterError) -> [String: YAMLValue]? {
        var lines: [Line] = []
        for (offset, raw) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = raw.drop { $0 == " " }
            if text.isEmpty || text.hasPrefix("#") { continue }
            lines.append(Line(number: firstLine + offset, indent: raw.count - text.count, text: text))
        }
        guard !lines.isEmpty else { return nil }
        if lines[0].indent != 0 || lines[0].text.hasPrefix("- ") || lines[0].text == "-" || lines[0].text.hasPrefix("[") {
            return nil
        }
        var result: [String: YAMLValue] = [:]
        var i = 0
        while i < lines.count {
            let line = lines[i]
            guard line.indent == 0, let (key, rest) = try splitKey(line.text, line: line.number) else {
                throw FrontMatterError(line: line.number, message: "expected 'key: value' at the top level")
            }
            var end = i + 1
            // A key's block: the more-indented lines after it, and "- " items at indent 0.
            while end < lines.count, lines[end].indent > 0 || lines[end].text.hasPrefix("- ") || lines[end].text == "-" { end += 1 }
            if wanted.contains(key) {
                result[key] = try value(rest, block: lines[(i + 1)..<end], key: key, line: line.number)
            }
            i = end
        }
        return result
    }

    /// `key: rest` (rest possibly empty); nil when the line is not a mapping entry.
    private static func splitKey(_ text: Substring, line: Int) throws(FrontMatterError) -> (String, Substring)? {
        var key: String
        var rest: Substring
        if let quote = text.first, quote == "\"" || quote == "'" {
            guard let (scalar, after) = try quoted(text, line: line) else { return nil }
            key = scalar
            rest = after.drop { $0 == " " }
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst()
        } else {
            var colon: Substring.Index?
            var index = text.startIndex
            while index < text.endIndex {
                if text[index] == ":" {
                    let next = text.index(after: index)
                    if next == text.endIndex || text[next] == " " { colon = index; break }
                }
                index = text.index(after: index)
            }
            guard let colon else { return nil }
            key = String(text[..<colon]).trimmingSpaces()
            rest = text[text.index(after: colon)...]
        }
        guard !key.isEmpty else { return nil }
        return (key, rest.drop { $0 == " " })
    }

    private static func value(_ inline: Substring, block: ArraySlice<Line>, key: String, line: Int) throws(FrontMatterError) -> YAMLValue {
        let inline = stripComment(inline)
        if !inline.isEmpty {
            let value = try inlineValue(inline, key: key, line: line)
            guard block.isEmpty else {
                throw FrontMatterError(line: line, message: "'\(key)' continues on the next lines (a multi-line scalar), which this reader does not join; write it on one line")
            }
            return value
        }
        guard let first = block.first else { return .null }
        guard first.text.hasPrefix("- ") || first.text == "-" else {
            throw FrontMatterError(line: first.number, message: "'\(key)' holds a nested mapping, which this reader does not read")
        }
        let itemIndent = first.indent
        var items: [YAMLValue] = []
        var i = block.startIndex
        while i < block.endIndex {
            let item = block[i]
            guard item.indent == itemIndent, item.text.hasPrefix("- ") || item.text == "-" else {
                throw FrontMatterError(line: item.number, message: "unexpected indentation in the list of '\(key)'")
            }
            let content = item.text.dropFirst(1).drop { $0 == " " }
            var end = i + 1
            while end < block.endIndex, block[end].indent > itemIndent { end += 1 }
            let more = block[(i + 1)..<end]
            if let (firstKey, firstRest) = try splitKey(stripComment(content), line: item.number), !content.hasPrefix("[") {
                // "- name: x" and the "  key: y" lines under it: a one-level mapping.
                var entries: [(key: String, value: YAMLValue)] = [(firstKey, try itemScalar(firstRest, key: key, line: item.number))]
                let entryIndent = item.indent + (item.text.count - content.count)
                for entry in more {
                    guard entry.indent == entryIndent, let (k, rest) = try splitKey(entry.text, line: entry.number) else {
                        throw FrontMatterError(line: entry.number, message: "'\(key)' has a list item nested deeper than one mapping level, which this reader does not read")
                    }
                    entries.removeAll { $0.key == k }
                    entries.append((k, try itemScalar(rest, key: key, line: entry.number)))
                }
                items.append(.map(entries))
            } else {
                guard more.isEmpty else {
                    throw FrontMatterError(line: item.number, message: "a list item of '\(key)' continues on the next lines, which this reader does not read")
                }
                let text = stripComment(content)
                items.append(text.isEmpty ? .null : try inlineValue(text, key: key, line: item.number))
            }
            i = end
        }
        return .list(items)
    }

    /// The value of an entry inside a list item's mapping: a scalar on the same line.
    private static func itemScalar(_ text: Substring, key: String, line: Int) throws(FrontMatterError) -> YAMLValue {
        let text = stripComment(text)
        if text.isEmpty { return .null }
        let value = try inlineValue(text, key: key, line: line)
        if case .list = value {
            throw FrontMatterError(line: line, message: "'\(key)' has a list inside a list item, which this reader does not read")
        }
        return value
    }

    private static func inlineValue(_ text: Substring, key: String, line: Int) throws(FrontMatterError) -> YAMLValue {
        switch text.first {
        case "[":
            guard text.last == "]" else {
                throw FrontMatterError(line: line, message: "'\(key)': a flow list must close on its line")
            }
            return .list(try flowItems(text.dropFirst().dropLast(), key: key, line: line))
        case "\"", "'":
            guard let (scalar, after) = try quoted(text, line: line), after.allSatisfy({ $0 == " " }) else {
                throw FrontMatterError(line: line, message: "'\(key)': text after a quoted string")
            }
            return .string(scalar)
        case "{", "|", ">", "&", "*", "!", "%", "@", "`":
            throw FrontMatterError(line: line, message: "'\(key)' starts with '\(text.first!)' (flow mapping, block scalar, anchor, alias or tag), which this reader does not read")
        default:
            return plain(text.trimmingSpaces())
        }
    }

    private static func flowItems(_ inner: Substring, key: String, line: Int) throws(FrontMatterError) -> [YAMLValue] {
        var items: [YAMLValue] = []
        var rest = inner.drop { $0 == " " }
        while !rest.isEmpty {
            if rest.first == "\"" || rest.first == "'" {
                guard let (scalar, after) = try quoted(rest, line: line) else {
                    throw FrontMatterError(line: line, message: "'\(key)': unterminated quoted string")
                }
                items.append(.string(scalar))
                rest = after.drop { $0 == " " }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                let item = rest[..<end]
                if item.contains(where: { "[]{}".contains($0) }) {
                    throw FrontMatterError(line: line, message: "'\(key)' nests flow collections, which this reader does not read")
                }
                let trimmed = item.trimmingSpaces()
                if !trimmed.isEmpty { items.append(plain(trimmed)) }
                rest = rest[end...]
            }
            if rest.first == "," { rest = rest.dropFirst().drop { $0 == " " } } else if !rest.isEmpty {
                throw FrontMatterError(line: line, message: "'\(key)': expected ',' between flow list items")
            }
        }
        return items
    }

    /// A quoted scalar at the start of `text` and what follows it, or nil when it does not close.
    private static func quoted(_ text: Substring, line: Int) throws(FrontMatterError) -> (String, Substring)? {
        guard let quote = text.first else { return nil }
        var out = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let c = text[index]
            index = text.index(after: index)
            if quote == "'" {
                if c == "'" {
                    if index < text.endIndex, text[index] == "'" { out.append("'"); index = text.index(after: index); continue }
                    return (out, text[index...])
                }
                out.append(c)
            } else {
                if c == "\"" { return (out, text[index...]) }
                guard c == "\\" else { out.append(c); continue }
                guard index < text.endIndex else { return nil }
                let e = text[index]
                index = text.index(after: index)
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "0": out.append("\0")
                case "\"", "\\", "/", " ": out.append(e)
                case "u", "x", "U":
                    let count = e == "x" ? 2 : e == "u" ? 4 : 8
                    let digits = text[index...].prefix(count)
                    guard digits.count == count, let v = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(v) else {
                        throw FrontMatterError(line: line, message: "bad \\\(e) escape in a double-quoted string")
                    }
                    out.unicodeScalars.append(scalar)
                    index = text.index(index, offsetBy: count)
                default:
                    throw FrontMatterError(line: line, message: "the escape \\\(e) in a double-quoted string is not read by this reader")
                }
            }
        }
        return nil
    }

    /// Drops a ` #` comment from the end of an unquoted value.
    private static func stripComment(_ text: Substring) -> Substring {
        var inQuote: Character?
        var previous: Character = " "
        for index in text.indices {
            let c = text[index]
            if let q = inQuote {
                if c == q { inQuote = nil }
            } else if c == "\"" || c == "'" {
                if previous == " " || previous == "[" || previous == "," { inQuote = c }
            } else if c == "#", previous == " " || previous == "\t" {
                return text[..<index].trimmingSpacesAtEnd()
            }
            previous = c
        }
        return text.trimmingSpacesAtEnd()
    }

    /// PyYAML's implicit resolvers (YAML 1.1) for a plain scalar.
    static func plain(_ s: String) -> YAMLValue {
        switch s {
        case "", "~", "null", "Null", "NULL": return .null
        case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": return .bool(true)
        case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": return .bool(false)
        default: break
        }
        if let int = yamlInt(s) { return .int(int) }
        if let float = yamlFloat(s) { return .float(float) }
        if isTimestamp(s) { return .timestamp(s) }
        return .string(s)
    }

    private static func yamlInt(_ s: String) -> Int? {
        var body = Substring(s)
        var sign = 1
        if let f = body.first, f == "-" || f == "+" { sign = f == "-" ? -1 : 1; body = body.dropFirst() }
        guard let first = body.first else { return nil }
        let digits: Substring
        let radix: Int
        if body.hasPrefix("0b") { digits = body.dropFirst(2); radix = 2 }
        else if body.hasPrefix("0x") { digits = body.dropFirst(2); radix = 16 }
        else if first == "0" && body.count > 1 { digits = body.dropFirst(); radix = 8 }
        else { digits = body; radix = 10 }
        guard !digits.isEmpty, first != "_" else { return nil }
        if radix == 10, digits.contains(":") { return nil }  // sexagesimal: not worth reading
        let clean = digits.filter { $0 != "_" }
        guard !clean.isEmpty, let v = Int(clean, radix: radix) else { return nil }
        return sign * v
    }

    private static func yamlFloat(_ s: String) -> Double? {
        var body = Substring(s)
        var sign = 1.0
        if let f = body.first, f == "-" || f == "+" { sign = f == "-" ? -1 : 1; body = body.dropFirst() }
        if [".inf", ".Inf", ".INF"].contains(body) { return sign * .infinity }
        if s == ".nan" || s == ".NaN" || s == ".NAN" { return .nan }
        // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  or  \.[0-9_]+([eE][-+][0-9]+)?
        guard let dot = body.firstIndex(of: ".") else { return nil }
        let whole = body[..<dot]
        var fraction = body[body.index(after: dot)...]
        var exponent: Substring = ""
        if let e = fraction.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = fraction[fraction.index(after: e)...]
            fraction = fraction[..<e]
            guard let sign = exponent.first, sign == "-" || sign == "+", exponent.count > 1,
                  exponent.dropFirst().allSatisfy(\.isASCIIDigit) else { return nil }
        }
        let digitsOrUnderscore: (Character) -> Bool = { $0.isASCIIDigit || $0 == "_" }
        if whole.isEmpty {
            // `\.[0-9][0-9_]*`: no sign, a digit right after the dot.
            guard s.first == ".", let first = fraction.first, first.isASCIIDigit, fraction.allSatisfy(digitsOrUnderscore) else { return nil }
        } else {
            guard whole.first!.isASCIIDigit, whole.allSatisfy(digitsOrUnderscore), fraction.allSatisfy(digitsOrUnderscore) else { return nil }
        }
        let text = String(whole.filter { $0 != "_" }) + "." + String(fraction.filter { $0 != "_" })
            + (exponent.isEmpty ? "" : "e" + exponent)
        return Double(text == "." ? "0" : text).map { sign * $0 }
    }

    /// YYYY-MM-DD, optionally followed by a time: PyYAML makes these dates.
    private static func isTimestamp(_ s: String) -> Bool {
        let parts = s.prefix { $0 != "T" && $0 != "t" && $0 != " " }.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4 else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isASCIIDigit) }
    }
}

private extension Character {
    var isASCIIDigit: Bool { self >= "0" && self <= "9" }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    func trimmingSpacesAtEnd() -> SubSequence {
        var end = endIndex
        while end > startIndex, self[index(before: end)] == " " || self[index(before: end)] == "\t" { end = index(before: end) }
        return self[..<end]
    }
}
