import JSON
import GGUF
import Safetensors

/// gguf-py's `SpecialVocab`: merges, special token ids, add_bos/add_eos/add_sep, the chat template
/// and normalizer flags, read from tokenizer.json, tokenizer_config.json (+ chat_template.jinja /
/// .json) and config.json — the same files and precedence the reference uses. (This gguf-py reads
/// neither special_tokens_map.json nor generation_config.json for special tokens.)
struct SpecialVocabulary {
    var merges: [String] = []
    /// In the reference's insertion order, which is the order keys are written.
    var specialTokenIDs: [(String, Int)] = []
    var addSpecialToken: [(String, Bool)] = []
    var chatTemplate: String?
    var normalizerLowercase: Bool?
    var normalizerStripAccents: Bool?
    private var specialTokenTypes = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]

    init(files: TokenizerFiles, loadMerges: Bool, vocabularySize: Int?) throws(ConversionError) {
        let tokenizer = files.tokenizerJSON
        var tokenizerConfig: [String: JSONValue]? = files.tokenizerConfig?.objectValue.map {
            Dictionary($0.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        var addedTokens: [JSONValue] = []
        if let tokenizer {
            if loadMerges, let list = tokenizer["model"]?["merges"]?.arrayValue, !list.isEmpty {
                merges = try Self.merges(list, path: files.path)
            }
            if let normalizer = tokenizer["normalizer"], !normalizer.isNull, normalizer.objectValue?.isEmpty == false {
                parseNormalizer(normalizer)
            }
            addedTokens = tokenizer["added_tokens"]?.arrayValue ?? []
        }
        if tokenizer != nil {
            readPostProcessor(tokenizer?["post_processor"], config: &tokenizerConfig)
        }
        if var config = tokenizerConfig, !config.isEmpty {
            chatTemplate = config["chat_template"]?.stringValue ?? (config["chat_template"] == nil ? files.chatTemplateFile : nil)
            for type in specialTokenTypes {
                if let add = config["add_\(type)_token"]?.boolValue, !addSpecialToken.contains(where: { $0.0 == type }) {
                    addSpecialToken.append((type, add))
                }
                let entry = config["\(type)_token"]
                guard let content = entry?.stringValue ?? entry?["content"]?.stringValue else { continue }
                let id = addedTokens.first { $0["content"]?.stringValue == content }?["id"]
                try setSpecialToken(type, id, vocabularySize: vocabularySize, path: files.path)
            }
            config.removeAll()
        }
        if let modelConfig = files.config {
            for type in specialTokenTypes {
                var id = modelConfig["\(type)_token_id"]
                if id == nil || id?.isNull == true { id = modelConfig["text_config"]?["\(type)_token_id"] }
                try setSpecialToken(type, id, vocabularySize: vocabularySize, path: files.path)
            }
        }
        if loadMerges && merges.isEmpty, let text = files.mergesText {
            merges = Self.mergesFromText(text)
        }
    }

    /// tokenizer.json merges: strings as they are, or (since transformers 4.45) pairs, whose
    /// spaces gguf-py encodes as U+0120 so "a b" stays splittable.
    static func merges(_ list: [JSONValue], path: String) throws(ConversionError) -> [String] {
        if list[0].stringValue != nil {
            return list.compactMap(\.stringValue)
        }
        var out: [String] = []
        out.reserveCapacity(list.count)
        for pair in list {
            guard let parts = pair.arrayValue, parts.count == 2, let a = parts[0].stringValue, let b = parts[1].stringValue else {
                throw .tokenizer(path: path + "/tokenizer.json", message: "model.merges has an entry that is not a string or a pair of strings",
                                 hint: "re-save the tokenizer with a current transformers version")
            }
            out.append(encodeSpaces(a) + " " + encodeSpaces(b))
        }
        return out
    }

    private static func encodeSpaces(_ s: String) -> String {
        s.contains(" ") ? String(s.unicodeScalars.map { $0 == " " ? "\u{120}" : Character($0) }) : s
    }

    /// merges.txt: first line skipped when it is a `#version` comment; lines of two fields.
    static func mergesFromText(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if let first = lines.first, first.trimmingCharacters(in: .whitespaces).hasPrefix("#") { lines.removeFirst() }
        return lines.compactMap { line in
            let parts = line.split(whereSeparator: { $0.isWhitespace })
            return parts.count == 2 ? "\(parts[0]) \(parts[1])" : nil
        }
    }

    /// `_set_special_token(type, tokenizer.get_added_vocab()[content])` of the GLM converters: the
    /// id of the added token `content` becomes the `type` token unless one is already set. The
    /// reference fails when the tokenizer has no such added token; so does this.
    mutating func fill(_ type: String, addedToken content: String, tokenizer: JSONValue, path: String) throws(ConversionError) {
        let entry = tokenizer["added_tokens"]?.arrayValue?.first { $0["content"]?.stringValue == content }
        guard let id = entry?["id"] else {
            throw .tokenizer(path: path + "/tokenizer.json", message: "has no added token '\(content)', which GLM models use as their \(type) token",
                             hint: "use the tokenizer files saved with the GLM model")
        }
        try setSpecialToken(type, id, vocabularySize: nil, path: path)
    }

    private mutating func setSpecialToken(_ type: String, _ id: JSONValue?, vocabularySize: Int?, path: String) throws(ConversionError) {
        guard let id, let number = id.numberValue, number.isIntegerLiteral, let value = number.intValue else { return }
        guard value >= 0 else {
            throw .tokenizer(path: path, message: "special token \(type) has the invalid id \(value)", hint: "fix the id in the tokenizer files")
        }
        if let n = vocabularySize, value >= n { return }
        if specialTokenIDs.contains(where: { $0.0 == type }) { return }
        specialTokenIDs.append((type, value))
    }

    private mutating func parseNormalizer(_ normalizer: JSONValue) {
        switch normalizer["type"]?.stringValue {
        case "Lowercase": normalizerLowercase = true
        case "StripAccents": normalizerStripAccents = true
        case "BertNormalizer":
            if let v = normalizer["lowercase"]?.boolValue { normalizerLowercase = v }
            if let v = normalizer["strip_accents"]?.boolValue { normalizerStripAccents = v }
        case "Sequence":
            for inner in normalizer["normalizers"]?.arrayValue ?? [] { parseNormalizer(inner) }
        default: break
        }
    }

    private mutating func setDefault(_ type: String, _ value: Bool) {
        if !addSpecialToken.contains(where: { $0.0 == type }) { addSpecialToken.append((type, value)) }
    }

    private mutating func set(_ type: String, _ value: Bool) {
        if let i = addSpecialToken.firstIndex(where: { $0.0 == type }) { addSpecialToken[i].1 = value } else { addSpecialToken.append((type, value)) }
    }

    /// The post-processor part of `_try_load_from_tokenizer_json`: ByteLevel adds nothing,
    /// RobertaProcessing adds bos/eos/sep, TemplateProcessing is read from its single-sequence
    /// template (bos/eos) and its pair template (sep between the two sequences).
    private mutating func readPostProcessor(_ postProcessor: JSONValue?, config: inout [String: JSONValue]?) {
        guard let postProcessor, !postProcessor.isNull, postProcessor.objectValue?.isEmpty == false else { return }
        var specialBOS = config?["bos_token"]?.stringValue
        var specialEOS = config?["eos_token"]?.stringValue
        var specialCLS = config?["cls_token"]?.stringValue
        var specialSEP = config?["sep_token"]?.stringValue
        let hasConfig = config?.isEmpty == false
        if (specialBOS ?? "").isEmpty, let cls = specialCLS, !cls.isEmpty, hasConfig {
            config?["bos_token"] = .string(cls); specialBOS = cls
        }
        if (specialEOS ?? "").isEmpty, let sep = specialSEP, !sep.isEmpty, hasConfig {
            config?["eos_token"] = .string(sep); specialEOS = sep
        }
        let processors = postProcessor["processors"]?.arrayValue ?? [postProcessor]
        for processor in processors {
            switch processor["type"]?.stringValue {
            case "ByteLevel":
                setDefault("bos", false)
                setDefault("eos", false)
            case "RobertaProcessing":
                set("bos", true); set("eos", true); set("sep", true)
                if (specialCLS ?? "").isEmpty, hasConfig {
                    specialCLS = processor["cls"]?[0]?.stringValue ?? specialBOS
                    config?["cls_token"] = specialCLS.map(JSONValue.string) ?? .null
                }
                if (specialSEP ?? "").isEmpty, hasConfig {
                    specialSEP = processor["sep"]?[0]?.stringValue ?? specialEOS
                    config?["sep_token"] = specialSEP.map(JSONValue.string) ?? .null
                }
            case "TemplateProcessing":
                let single = processor["single"]?.arrayValue ?? []
                var first: String?
                var last: String?
                if single.count > 1 {
                    if let id = single.first?["SpecialToken"]?["id"]?.stringValue, !id.isEmpty {
                        first = id
                        if !hasConfig {
                            specialBOS = id
                        } else if id != specialBOS && id != specialCLS {
                            if (specialBOS ?? "").isEmpty { config?["bos_token"] = .string(id); specialBOS = id }
                            if (specialCLS ?? "").isEmpty { config?["cls_token"] = .string(id); specialCLS = id }
                        }
                        set("bos", id == specialBOS || id == specialCLS)
                    }
                    if let id = single.last?["SpecialToken"]?["id"]?.stringValue, !id.isEmpty {
                        last = id
                        if !hasConfig {
                            specialEOS = id
                        } else if id != specialEOS {
                            if !specialTokenTypes.contains("eot") {
                                specialTokenTypes.append("eot")
                                config?["eot_token"] = specialEOS.map(JSONValue.string) ?? .null
                            } else if !specialTokenTypes.contains("eom") {
                                specialTokenTypes.append("eom")
                                config?["eom_token"] = specialEOS.map(JSONValue.string) ?? .null
                            }
                            config?["eos_token"] = .string(id)
                            specialEOS = id
                        }
                        set("eos", id == specialEOS)
                    }
                }
                readPairTemplate(processor["pair"]?.arrayValue ?? [], first: first, last: last,
                                 sep: specialSEP, eos: specialEOS, hasConfig: hasConfig, config: &config)
            default:
                break
            }
        }
    }

    /// `A [sep] [eos] B`: whether the pair template puts a separator between the sequences,
    /// once the single template's leading and trailing specials are taken off its ends.
    private mutating func readPairTemplate(_ pair: [JSONValue], first: String?, last: String?, sep: String?, eos: String?,
                                           hasConfig: Bool, config: inout [String: JSONValue]?) {
        guard !pair.isEmpty else { return }
        let start = first != nil && pair.first?["SpecialToken"]?["id"]?.stringValue == first ? 1 : 0
        let stop = last != nil && pair.last?["SpecialToken"]?["id"]?.stringValue == last ? pair.count - 1 : pair.count
        guard start < stop else { return }
        let inner = Array(pair[start..<stop])
        guard inner.first?["Sequence"]?["id"]?.stringValue == "A", inner.last?["Sequence"]?["id"]?.stringValue == "B",
              inner.count > 2 else { return }
        let middle = Array(inner[1..<(inner.count - 1)])
        func isSeparator(_ entry: JSONValue) -> Bool {
            guard let id = entry["SpecialToken"]?["id"]?.stringValue, !id.isEmpty else { return false }
            return id == sep || id == eos
        }
        var addSep = false
        if isSeparator(middle[0]) && last == nil { addSep = true }
        if middle.count == 2, isSeparator(middle[1]) { addSep = true }
        set("sep", addSep)
        if addSep, (sep ?? "").isEmpty, hasConfig {
            config?["sep_token"] = eos.map(JSONValue.string) ?? .null
        }
    }

    /// `SpecialVocab.add_to_gguf`.
    func write(into m: inout MetadataBuilder) {
        if !merges.isEmpty { m.set(GGUFKeys.Tokenizer.merges, MetadataBuilder.stringArray(merges)) }
        let idKeys = ["bos": GGUFKeys.Tokenizer.bosID, "eos": GGUFKeys.Tokenizer.eosID, "unk": GGUFKeys.Tokenizer.unkID,
                      "sep": GGUFKeys.Tokenizer.sepID, "pad": GGUFKeys.Tokenizer.padID, "mask": GGUFKeys.Tokenizer.maskID,
                      "eot": GGUFKeys.Tokenizer.eotID, "eom": GGUFKeys.Tokenizer.eomID]
        for (type, id) in specialTokenIDs {
            // `cls` has no gguf-py handler and is skipped, as there.
            guard let key = idKeys[type], let narrow = UInt32(exactly: id) else { continue }
            m.set(key, .uint32(narrow))
        }
        let addKeys = ["bos": GGUFKeys.Tokenizer.addBOS, "eos": GGUFKeys.Tokenizer.addEOS, "sep": GGUFKeys.Tokenizer.addSEP]
        for (type, value) in addSpecialToken {
            if let key = addKeys[type] { m.set(key, .bool(value)) }
        }
        if let chatTemplate { m.set(GGUFKeys.Tokenizer.chatTemplate, .string(chatTemplate)) }
        if let v = normalizerLowercase { m.set(GGUFKeys.Tokenizer.normalizerLowercase, .bool(v)) }
        if let v = normalizerStripAccents { m.set(GGUFKeys.Tokenizer.normalizerStripAccents, .bool(v)) }
    }
}
