import BinaryIO

#if canImport(Glibc)
import Glibc
#endif

/// What gguf-py's `Metadata.apply_metadata_heuristic` takes from README.md's YAML front matter:
/// authorship strings, license, base models, datasets, tags and languages.
struct ModelCard: Sendable {
    /// Metadata field name (`name`, `author`, `source_url`, ...) to its value, first card key wins
    /// (`use_model_card_metadata` sets a field only while it is still None).
    var fields: [String: String] = [:]
    var license: String?
    var baseModels: [[(String, String)]]?
    var datasets: [[(String, String)]]?
    var tags: [String]?
    var languages: [String]?

    /// (metadata field, card key) in the reference's order: llama.cpp's own keys, their `model_`
    /// forms, then TheBloke-style ones.
    static let stringKeys: [(String, String)] = [
        ("name", "name"), ("author", "author"), ("version", "version"), ("organization", "organization"),
        ("description", "description"), ("finetune", "finetune"), ("basename", "basename"), ("size_label", "size_label"),
        ("source_url", "url"), ("source_doi", "doi"), ("source_uuid", "uuid"), ("source_repo_url", "repo_url"),
        ("name", "model_name"), ("author", "model_author"), ("version", "model_version"),
        ("organization", "model_organization"), ("description", "model_description"), ("finetune", "model_finetune"),
        ("basename", "model_basename"), ("size_label", "model_size_label"), ("source_url", "model_url"),
        ("source_doi", "model_doi"), ("source_uuid", "model_uuid"), ("source_repo_url", "model_repo_url"),
        ("author", "model_creator"), ("basename", "model_type"),
    ]
    static let wanted: Set<String> = Set(stringKeys.map(\.1)).union([
        "base_model", "base_models", "base_model_sources", "datasets", "dataset", "dataset_sources",
        "license", "license_name", "license_link", "tags", "pipeline_tag", "languages", "language",
    ])

    /// `Metadata.load_model_card`: nil without README.md or without front matter.
    static func load(folder: String, totalParameters: Int) throws(ConversionError) -> ModelCard? {
        let path = folder + "/README.md"
        guard FileSystem.exists(path), let file = try? MappedFile(path: path) else { return nil }
        let text = String(decoding: file.bytes, as: UTF8.self)
        do {
            guard let yaml = frontMatter(text),
                  let map = try FrontMatterYAML.parse(yaml, firstLine: 2, wanted: wanted) else { return nil }
            return try ModelCard(map, totalParameters: totalParameters)
        } catch {
            throw .modelFile(path: path, message: (error.line > 0 ? "line \(error.line): " : "front matter: ") + error.message,
                             hint: "simplify that entry (the converter reads scalars and lists of them), or remove the YAML front matter")
        }
    }

    /// The lines between a first line `---` and the next `---`, joined with "\n", with the
    /// reference's two textual fixes (the Norway problem's `- no`, tabs as two spaces).
    static func frontMatter(_ content: String) -> String? {
        let lines = pythonSplitLines(content)
        guard let first = lines.first, first == "---" else { return nil }
        var yaml: [Substring] = []
        for line in lines.dropFirst() {
            if line == "---" { break }
            yaml.append(line)
        }
        var joined = yaml.joined(separator: "\n") + "\n"
        joined = joined.replacingOccurrences(of: "- no\n", with: "- \"no\"\n")
        joined = joined.replacingOccurrences(of: "\t", with: "  ")
        return joined
    }

    /// Python's `str.splitlines()`.
    static func pythonSplitLines(_ s: String) -> [Substring] {
        var lines: [Substring] = []
        var start = s.startIndex
        var index = s.startIndex
        while index < s.endIndex {
            let c = s[index]
            // "\r\n" is one Character in Swift, so every break is a single Character here.
            if c == "\n" || c == "\r" || c == "\r\n" || c == "\u{0B}" || c == "\u{0C}" || c == "\u{1C}" || c == "\u{1D}"
                || c == "\u{1E}" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}" {
                lines.append(s[start..<index])
                start = s.index(after: index)
            }
            index = s.index(after: index)
        }
        if start < s.endIndex { lines.append(s[start...]) }
        return lines
    }

    private init(_ card: [String: YAMLValue], totalParameters: Int) throws(FrontMatterError) {
        for (field, key) in Self.stringKeys where fields[field] == nil && card[key] != nil {
            if let value = try Self.string(card[key]!, key: key) { fields[field] = value }
        }
        if let value = card["base_model"] ?? card["base_models"] ?? card["base_model_sources"] {
            baseModels = try Self.sources(value, key: "base_model", totalParameters: totalParameters)
        }
        if let value = card["datasets"] ?? card["dataset"] ?? card["dataset_sources"] {
            datasets = try Self.sources(value, key: "datasets", totalParameters: totalParameters)
        }
        if let value = card["license"] {
            if case .list(let items) = value {
                license = try items.map { item throws(FrontMatterError) -> String in
                    guard case .string(let s) = item else {
                        throw FrontMatterError(line: 0, message: "'license' has the item \(Self.describe(item)), not a string — quote it")
                    }
                    return s
                }.joined(separator: ",")
            } else {
                license = try Self.string(value, key: "license")
            }
        }
        for key in ["license_name", "license_link"] where card[key] != nil {
            fields[key] = try Self.string(card[key]!, key: key)
        }
        tags = try Self.appendList(nil, card["tags"], key: "tags")
        tags = try Self.appendList(tags, card["pipeline_tag"], key: "pipeline_tag")
        languages = try Self.appendList(nil, card["languages"], key: "languages")
        languages = try Self.appendList(languages, card["language"], key: "language")
    }

    /// A string field: null means absent; other non-strings would not be written by gguf-py.
    private static func string(_ value: YAMLValue, key: String) throws(FrontMatterError) -> String? {
        switch value {
        case .null: return nil
        case .string(let s): return s
        default:
            throw FrontMatterError(line: 0, message: "'\(key)' is \(describe(value)), not a string — quote it")
        }
    }

    /// `use_array_model_card_metadata`: a string is appended, a list extended; items must be strings.
    private static func appendList(_ current: [String]?, _ value: YAMLValue?, key: String) throws(FrontMatterError) -> [String]? {
        guard let value, value != .null else { return current }
        var out = current ?? []
        switch value {
        case .string(let s): out.append(s)
        case .list(let items):
            for item in items {
                guard case .string(let s) = item else {
                    throw FrontMatterError(line: 0, message: "'\(key)' has the item \(describe(item)), not a string — quote it")
                }
                out.append(s)
            }
        default: break  // the reference ignores other kinds here
        }
        return out
    }

    /// Base models or datasets: Hugging Face ids and URLs become name/organization/version/repo_url,
    /// mappings are taken as they are.
    private static func sources(_ value: YAMLValue, key: String, totalParameters: Int) throws(FrontMatterError) -> [[(String, String)]] {
        let items: [YAMLValue]
        switch value {
        case .string: items = [value]
        case .list(let list): items = list
        default: items = []
        }
        return try items.map { item throws(FrontMatterError) -> [(String, String)] in
            switch item {
            case .string(let id):
                return source(id: id, totalParameters: totalParameters)
            case .map(let entries):
                var out: [(String, String)] = []
                for (k, v) in entries {
                    guard case .string(let s) = v else {
                        throw FrontMatterError(line: 0, message: "'\(key)' entry field '\(k)' is \(describe(v)), not a string — quote it")
                    }
                    out.append((k, s))
                }
                return out
            default:
                return []  // "not in a known format": the reference logs it and keeps an empty entry
            }
        }
    }

    private static func source(id: String, totalParameters: Int) -> [(String, String)] {
        var out: [(String, String)] = []
        func add(_ c: ModelNaming.Components) {
            if let name = c.fullName { out.append(("name", ModelNaming.title(name))) }
            if let org = c.organization { out.append(("organization", ModelNaming.title(org))) }
            if let version = c.version { out.append(("version", version)) }
        }
        if id.hasPrefix("http://") || id.hasPrefix("https://") || id.hasPrefix("ssh://") {
            out.append(("repo_url", id))
            if id.contains("huggingface.co"), let hfID = huggingFaceID(inURL: id) {
                add(ModelNaming.components(of: hfID, totalParameters: totalParameters))
            }
        } else {
            let c = ModelNaming.components(of: id, totalParameters: totalParameters)
            add(c)
            if let org = c.organization, let name = c.fullName {
                out.append(("repo_url", "https://huggingface.co/\(org)/\(name)"))
            }
        }
        return out
    }

    /// `re.match(r"https?://huggingface.co/([^/]+/[^/]+)$", url)`: the `org/name` of the URL.
    static func huggingFaceID(inURL url: String) -> String? {
        var rest = Substring(url)
        for prefix in ["https://huggingface", "http://huggingface"] where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            // The pattern's "." matches any character but a line break.
            guard let dot = rest.first, dot != "\n", rest.dropFirst().hasPrefix("co/") else { return nil }
            rest = rest.dropFirst(4)
            if rest.hasSuffix("\n") { rest = rest.dropLast() }  // `$` also matches before a final newline
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
                  !parts.contains(where: { $0.contains("\n") }) else { return nil }
            return String(rest)
        }
        return nil
    }

    private static func describe(_ value: YAMLValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): "the boolean \(b)"
        case .int(let i): "the number \(i)"
        case .float(let f): "the number \(f)"
        case .timestamp(let t): "the date \(t)"
        case .string(let s): "'\(s)'"
        case .list: "a list"
        case .map: "a mapping"
        }
    }
}
