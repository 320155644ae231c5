import JSON
import GGUF
import Safetensors

/// `config.json` as the reference converter sees it.
///
/// The reference reads `AutoConfig.from_pretrained(dir).to_dict()`, not the raw file: transformers
/// fills in the defaults of the model's config class (Llama's `head_dim = hidden_size /
/// num_attention_heads`, for one), and the converter writes what it finds there. Each architecture
/// lists the defaults it relies on; they are applied here for keys the file does not have. Keys of
/// `text_config` are lifted to the top level, as `TextModel.__init__` does.
public struct HyperParameters: Sendable {
    /// The folder, for error messages.
    public let path: String
    private var members: [String: JSONValue]

    public init(config: JSONValue, path: String, defaults: [(String, @Sendable (HyperParameters) -> JSONValue?)] = [],
                ignoring ignored: [String] = []) {
        self.path = path
        var members: [String: JSONValue] = [:]
        for (key, value) in config.objectValue ?? [] { members[key] = value }
        if let text = config["text_config"]?.objectValue {
            for (key, value) in text { members[key] = value }
        }
        for key in ignored { members[key] = nil }
        self.members = members
        for (key, compute) in defaults where self.members[key] == nil {
            if let value = compute(self) { self.members[key] = value }
        }
    }

    /// `find_hparam`: the value of the first of `keys` present (which may be null).
    public func find(_ keys: [String]) -> JSONValue? {
        for key in keys {
            if let value = members[key] { return value }
        }
        return nil
    }

    public subscript(key: String) -> JSONValue? { members[key] }

    /// The first present key's value as an integer; nil when absent or null; an error when it is
    /// present but not an exact integer.
    public func int(_ keys: [String]) throws(ConversionError) -> Int? {
        guard let value = find(keys), !value.isNull else { return nil }
        guard let int = value.intValue else {
            throw .config(path: path, key: keys.first { members[$0] != nil } ?? keys[0], message: "is \(value.kindName), expected an integer")
        }
        return int
    }

    /// Like `int(_:)` but the key must be there.
    public func requiredInt(_ keys: [String]) throws(ConversionError) -> Int {
        guard let value = try int(keys) else {
            throw .config(path: path, key: keys.joined(separator: "' or '"), message: "is missing")
        }
        return value
    }

    public func double(_ keys: [String]) throws(ConversionError) -> Double? {
        guard let value = find(keys), !value.isNull else { return nil }
        guard let double = value.doubleValue else {
            throw .config(path: path, key: keys.first { members[$0] != nil } ?? keys[0], message: "is \(value.kindName), expected a number")
        }
        return double
    }

    /// gguf-py `add_uint32`: the reference packs Python ints as UINT32.
    func uint32(_ keys: [String]) throws(ConversionError) -> GGUFValue? {
        guard let value = try int(keys) else { return nil }
        guard let narrow = UInt32(exactly: value) else {
            throw .config(path: path, key: keys[0], message: "is \(value), which does not fit in an unsigned 32-bit integer")
        }
        return .uint32(narrow)
    }

    /// gguf-py `add_float32`.
    func float32(_ keys: [String]) throws(ConversionError) -> GGUFValue? {
        guard let value = try double(keys) else { return nil }
        return .float32(Float(value))
    }
}
