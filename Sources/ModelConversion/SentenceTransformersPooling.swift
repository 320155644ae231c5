import JSON

#if canImport(Glibc)
import Glibc
#endif

/// `TextModel._try_set_pooling_type`: the pooling of a sentence-transformers folder, read from the
/// first module in modules.json whose type ends in `Pooling` and that module's config.json.
/// nil when the folder has no modules.json or no pooling module (the key is then not written).
enum SentenceTransformersPooling {
    /// gguf-py `PoolingType`.
    enum Kind: UInt32 { case mean = 1, cls = 2, last = 3 }

    static func type(folder: String) throws(ConversionError) -> Kind? {
        guard let modules = try TokenizerFiles.json(folder, "modules.json") else { return nil }
        guard let list = modules.arrayValue else {
            throw .modelFile(path: folder + "/modules.json", message: "is not a list of modules",
                             hint: "fix or remove modules.json (sentence-transformers writes a JSON list)")
        }
        guard let module = list.first(where: { $0["type"]?.stringValue?.hasSuffix("Pooling") == true }) else { return nil }
        guard let path = module["path"]?.stringValue, !path.contains(".."), !path.hasPrefix("/") else {
            throw .modelFile(path: folder + "/modules.json", message: "the pooling module's 'path' is missing or leaves the folder",
                             hint: "give the pooling module's sub-folder, e.g. \"1_Pooling\"")
        }
        let configPath = path.isEmpty ? folder : folder + "/" + path
        guard let config = try TokenizerFiles.json(configPath, "config.json") else {
            throw .modelFile(path: configPath + "/config.json", message: "is missing, but modules.json names a pooling module there",
                             hint: "add the pooling module's config.json saved with the model")
        }
        if config["pooling_mode_mean_tokens"]?.truthy == true { return .mean }
        if config["pooling_mode_cls_token"]?.truthy == true { return .cls }
        if config["pooling_mode_lasttoken"]?.truthy == true { return .last }
        switch config["pooling_mode"]?.stringValue {
        case "mean": return .mean
        case "cls": return .cls
        case "lasttoken": return .last
        default:
            throw .modelFile(path: configPath + "/config.json", message: "sets none of mean, CLS or last-token pooling",
                             hint: "llama.cpp runs only those; set one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_lasttoken")
        }
    }
}

private extension JSONValue {
    /// Python truthiness of a JSON value, as `if pooling.get(key):` tests it.
    var truthy: Bool {
        if isNull { return false }
        if let b = boolValue { return b }
        if let d = doubleValue { return d != 0 }
        if let s = stringValue { return !s.isEmpty }
        if let a = arrayValue { return !a.isEmpty }
        if let o = objectValue { return !o.isEmpty }
        return true
    }
}
