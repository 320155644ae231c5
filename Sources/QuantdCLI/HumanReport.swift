import JSON

/// Renders an `InspectionReport` for a person: summary, metadata (abbreviated), tensor table.
struct HumanReport {
    static let maximumStringLength = 96
    static let arrayPreview = 6

    var report: InspectionReport

    func render(tensors showTensors: Bool) -> String {
        var lines: [String] = []
        let r = report
        var title = "\(r.path): \(r.format.uppercased())"
        if let version = r.version { title += " v\(version)" }
        if let compressed = r.compressedSize {
            title += ", \(Self.bytes(compressed)) compressed (\(Self.bytes(r.fileSize)) uncompressed)"
        } else {
            title += ", \(Self.bytes(r.fileSize))"
        }
        lines.append(title)
        let s = r.summary
        var rows: [(String, String)] = []
        if let a = s.architecture { rows.append(("architecture", a)) }
        if let n = s.name { rows.append(("name", Self.escaped(n))) }
        rows.append(("parameters", Self.count(s.parameters)))
        if let bpw = s.bitsPerWeight { rows.append(("bits per weight", String(format2: bpw))) }
        if !s.types.isEmpty { rows.append(("tensor types", s.types.map { "\($0.0) ×\($0.1)" }.joined(separator: ", "))) }
        if s.tokenizerModel != nil || s.vocabularySize != nil {
            rows.append(("tokenizer", [s.tokenizerModel, s.vocabularySize.map { "\($0) tokens" }].compactMap { $0 }.joined(separator: ", ")))
        }
        if let c = s.contextLength { rows.append(("context length", "\(c)")) }
        var layout = "\(r.tensors.count), data at byte \(r.dataOffset)"
        if r.format == "hf-folder" { layout = "\(r.tensors.count), in \(Set(r.tensors.compactMap(\.file)).count) safetensors files" }
        if r.format == "gguf", r.tensors.contains(where: { $0.file != nil }) {
            layout = "\(r.tensors.count), in the \(Set(r.tensors.compactMap(\.file)).count) files of a split set"
        }
        if let alignment = r.alignment { layout += ", alignment \(alignment)" }
        rows.append(("tensors", layout))
        for (key, value) in r.extra { rows.append((String(key.map { $0 == "_" ? " " : $0 }), Self.inline(value))) }
        if let sha = r.fileSHA256 { rows.append(("sha256", sha)) }
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows { lines.append("  " + Self.pad(label, width) + "  " + value) }

        lines.append("")
        lines.append("metadata (\(r.metadata.count) keys):")
        let keyWidth = min(r.metadata.map(\.0.count).max() ?? 0, 48)
        for (key, value) in r.metadata {
            lines.append("  " + Self.pad(Self.escaped(key), keyWidth) + "  " + Self.inline(value))
        }

        let verified = r.tensors.contains { $0.verification != nil }
        if showTensors || verified {
            lines.append("")
            lines.append("tensors (\(r.tensors.count)):")
            let nameWidth = min(r.tensors.map(\.name.count).max() ?? 0, 64)
            for (i, t) in r.tensors.enumerated() {
                var line = "  " + Self.pad("\(i)", 4) + " " + Self.pad(t.name, nameWidth) + "  " + Self.pad(t.type, 7)
                    + " " + Self.pad("[" + t.shape.map(String.init).joined(separator: ", ") + "]", 18)
                    + " " + Self.pad(Self.bytes(t.bytes), 10) + " @ \(t.offset)"
                if let v = t.verification {
                    line += "  sha256 \(v.sha256)"
                    if v.nonFiniteValues > 0 { line += "  NON-FINITE VALUES: \(v.nonFiniteValues)" }
                    if v.nonFiniteScales > 0 { line += "  NON-FINITE BLOCK SCALES: \(v.nonFiniteScales)" }
                }
                lines.append(line)
            }
        }
        if verified {
            let bad = r.tensors.filter { ($0.verification?.nonFiniteValues ?? 0) + ($0.verification?.nonFiniteScales ?? 0) > 0 }
            lines.append("")
            lines.append(bad.isEmpty
                ? "verify: all \(r.tensors.count) tensors read; no non-finite values or block scales"
                : "verify: \(bad.count) of \(r.tensors.count) tensors hold non-finite values or block scales: "
                    + bad.prefix(8).map(\.name).joined(separator: ", ") + (bad.count > 8 ? ", …" : ""))
        }
        return lines.joined(separator: "\n")
    }

    /// One line for a value: long strings cut, long arrays previewed, control characters escaped.
    static func inline(_ value: JSONValue) -> String {
        switch value {
        case .string(let s):
            let e = escaped(s)
            if e.count <= maximumStringLength { return "\"\(e)\"" }
            return "\"\(e.prefix(maximumStringLength))…\" (\(s.count) characters)"
        case .array(let items):
            let shown = items.prefix(arrayPreview).map(inline).joined(separator: ", ")
            if items.count <= arrayPreview { return "[\(shown)]" }
            return "[\(shown), …] (\(items.count) items)"
        case .number(let n) where !n.isIntegerLiteral && Double(Float(n.doubleValue)) == n.doubleValue:
            // A GGUF float32 arrives widened to Double; its shortest Float form reads back as the
            // same Float: 1e-05, not 9.99…e-06.
            return "\(Float(n.doubleValue))"
        case .object(let fields):
            return "{" + fields.map { "\($0.key): \(inline($0.value))" }.joined(separator: ", ") + "}"
        default:
            return value.serialized()
        }
    }

    /// Control characters and the escape itself made visible, so a value cannot move the cursor
    /// or inject terminal sequences.
    static func escaped(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format2: value) + " " + units[unit]
    }

    static func count(_ n: Int) -> String {
        switch n {
        case 1_000_000_000...: return String(format2: Double(n) / 1e9) + " B (\(n))"
        case 1_000_000...: return String(format2: Double(n) / 1e6) + " M (\(n))"
        case 1_000...: return String(format2: Double(n) / 1e3) + " K (\(n))"
        default: return "\(n)"
        }
    }
}

extension String {
    /// Two decimals, without Foundation's locale-dependent formatting.
    init(format2 value: Double) {
        let scaled = (value * 100).rounded()
        let whole = Int(scaled / 100)
        let frac = Int(abs(scaled).truncatingRemainder(dividingBy: 100))
        self = "\(scaled < 0 && whole == 0 ? "-" : "")\(whole)." + (frac < 10 ? "0" : "") + "\(frac)"
    }
}
