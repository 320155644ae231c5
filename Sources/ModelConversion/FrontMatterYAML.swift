import Yams

/// A value of a model card's YAML front matter, typed as PyYAML's `safe_load` (YAML 1.1) types it.
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

/// A Hugging Face model card's front matter, read as the reference converter reads it:
/// `yaml.safe_load` (PyYAML). Yams parses the YAML (libyaml, as PyYAML's C loader does); its
/// resolver is given PyYAML's YAML 1.1 patterns for integers and floats, where Yams' own defaults
/// follow YAML 1.2 (`1e5` and `09` are strings for PyYAML, floats for Yams).
enum FrontMatterYAML {
    /// PyYAML's implicit resolvers (`resolver.py`): Yams' bool, null, timestamp, merge and value
    /// rules are already PyYAML's; int and float are replaced by PyYAML's.
    // Built once and only read (Yams' Resolver is an immutable list of compiled patterns).
    nonisolated(unsafe) static let resolver: Resolver = {
        do {
            return try Resolver.default
                .replacing(.int, with: """
                    ^(?:[-+]?0b[0-1_]+\
                    |[-+]?0[0-7_]+\
                    |[-+]?(?:0|[1-9][0-9_]*)\
                    |[-+]?0x[0-9a-fA-F_]+\
                    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$
                    """)
                .replacing(.float, with: """
                    ^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?\
                    |\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?\
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*\
                    |[-+]?\\.(?:inf|Inf|INF)\
                    |\\.(?:nan|NaN|NAN))$
                    """)
        } catch {
            preconditionFailure("PyYAML's resolver patterns do not compile: \(error)")
        }
    }()

    /// The top-level mapping, restricted to `wanted` keys (later duplicates replace earlier ones,
    /// as PyYAML does). nil when the document is not a mapping (the reference then uses nothing).
    /// `firstLine` is the README.md line of the YAML's first line, for errors.
    static func parse(_ yaml: String, firstLine: Int, wanted: Set<String>) throws(FrontMatterError) -> [String: YAMLValue]? {
        let document: Node?
        do {
            document = try Yams.compose(yaml: yaml, resolver)
        } catch let error as YamlError {
            throw Self.error(error, firstLine: firstLine)
        } catch {
            throw FrontMatterError(line: 0, message: "\(error)")
        }
        guard case .mapping(let mapping)? = document else { return nil }
        var values: [String: YAMLValue] = [:]
        for (key, node) in mapping {
            guard case .scalar(let name) = key, wanted.contains(name.string) else { continue }
            values[name.string] = try value(node, firstLine: firstLine)
        }
        return values
    }

    /// How PyYAML types a plain (unquoted) scalar.
    static func plain(_ text: String) -> YAMLValue {
        (try? parse("a: \(text)\n", firstLine: 1, wanted: ["a"]))??["a"] ?? .string(text)
    }

    private static func value(_ node: Node, firstLine: Int) throws(FrontMatterError) -> YAMLValue {
        switch node {
        case .scalar(let scalar):
            // `Node.tag` resolves the implicit tag with the parser's resolver (`scalar.tag` does not).
            return self.scalar(scalar, tag: node.tag)
        case .sequence(let sequence):
            var items: [YAMLValue] = []
            for item in sequence { items.append(try value(item, firstLine: firstLine)) }
            return .list(items)
        case .mapping(let mapping):
            var pairs: [(key: String, value: YAMLValue)] = []
            for (key, item) in mapping {
                guard case .scalar(let name) = key else {
                    throw FrontMatterError(line: firstLine - 1 + (key.mark?.line ?? 1),
                                           message: "a mapping key is not a scalar, which the converter cannot name")
                }
                pairs.append((name.string, try value(item, firstLine: firstLine)))
            }
            return .map(pairs)
        }
    }

    private static func scalar(_ scalar: Node.Scalar, tag: Tag) -> YAMLValue {
        switch Tag.Name(rawValue: tag.description) {
        case .null: return .null
        case .bool: return Bool.construct(from: scalar).map(YAMLValue.bool) ?? .string(scalar.string)
        // An integer beyond 64 bits (a Python int for PyYAML) is kept as written.
        case .int: return Int.construct(from: scalar).map(YAMLValue.int) ?? .string(scalar.string)
        case .float: return Double.construct(from: scalar).map(YAMLValue.float) ?? .string(scalar.string)
        case .timestamp: return .timestamp(scalar.string)
        default: return .string(scalar.string)
        }
    }

    private static func error(_ error: YamlError, firstLine: Int) -> FrontMatterError {
        switch error {
        case .scanner(let context, let problem, let mark, _):
            return FrontMatterError(line: firstLine - 1 + mark.line, message: [context?.text, problem].compactMap { $0 }.joined(separator: " "))
        case .parser(let context, let problem, let mark, _):
            return FrontMatterError(line: firstLine - 1 + mark.line, message: [context?.text, problem].compactMap { $0 }.joined(separator: " "))
        case .composer(let context, let problem, let mark, _):
            return FrontMatterError(line: firstLine - 1 + mark.line, message: [context?.text, problem].compactMap { $0 }.joined(separator: " "))
        default:
            return FrontMatterError(line: 0, message: "\(error)")
        }
    }
}
