import JSON

/// A JSON-shaped value: what `inspect` reports, rendered either as JSON or as text.
///
/// Unlike `JSONValue` it remembers that a number was a 32-bit float, so text output can show the
/// float's shortest form (`1e-05`) while JSON output writes its exact value.
///
/// Object keys keep their order, so output is deterministic and follows the file.
public enum ReportValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case array([ReportValue])
    case object([(String, ReportValue)])

    public static func == (lhs: ReportValue, rhs: ReportValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// Compact JSON. Floats are written as the exact decimal of their value (a Float widened to
    /// Double), so a reader gets back the very bits stored; NaN and infinities, which JSON cannot
    /// express, become the strings "NaN", "Infinity" and "-Infinity".
    public func json() -> String {
        var out = ""
        out.reserveCapacity(1024)
        appendJSON(to: &out)
        return out
    }

    public func appendJSON(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .float(let v): ReportValue.appendNumber(Double(v), to: &out)
        case .double(let v): ReportValue.appendNumber(v, to: &out)
        case .string(let s): ReportValue.appendQuoted(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.appendJSON(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                ReportValue.appendQuoted(key, to: &out)
                out += ":"
                value.appendJSON(to: &out)
            }
            out += "}"
        }
    }

    static func appendNumber(_ v: Double, to out: inout String) {
        if v.isNaN { out += "\"NaN\"" } else if v.isInfinite { out += v < 0 ? "\"-Infinity\"" : "\"Infinity\"" } else {
            out += "\(v)"
        }
    }

    static func appendQuoted(_ s: String, to out: inout String) { JSONValue.writeString(s, to: &out) }

}
