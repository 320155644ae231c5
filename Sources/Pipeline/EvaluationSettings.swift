import JSON

/// The `evaluate` stage's settings: `"evaluate": {"tokens": N, "ctx": 512, "text": "path"}`,
/// `"evaluate": true` (the defaults) or `"evaluate": false` (off). Absent means on with the
/// defaults: every job measures what quantizing cost unless told not to.
public struct EvaluationSettings: Sendable, Equatable {
    /// Tokens of the text evaluated by default: one chunk of 512 (255 scored positions), the least
    /// llama-perplexity's method allows. Even this more than doubles a job on the oracle's 135M
    /// models (measured in the README, "Evaluation": the forward pass costs ~2 FLOPs per weight per
    /// token and per model, quantizing a few hundred per weight in all), so the default is the
    /// smallest meaningful budget rather than one that meets the doubling goal.
    public static let defaultTokens = 512
    public static let defaultContext = 512

    /// At most this many tokens of the text are evaluated, in whole chunks of `ctx` (as
    /// llama-perplexity's `--chunks tokens/ctx`).
    public var tokens: Int
    /// Tokens per chunk; the second half of each chunk is scored.
    public var ctx: Int
    /// A UTF-8 text file as written in the pipeline; nil: the built-in text (`EvaluationText`).
    public var text: String?

    public init(tokens: Int = defaultTokens, ctx: Int = defaultContext, text: String? = nil) {
        self.tokens = tokens
        self.ctx = ctx
        self.text = text
    }

    /// The JSON that says these settings in a pipeline (for pipelines made on the command line).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("tokens", .number(JSONNumber(tokens))), ("ctx", .number(JSONNumber(ctx))),
        ]
        if let text { members.append(("text", .string(text))) }
        return .object(members)
    }

    /// Parses the root `evaluate` value; nil input (key absent) gives the defaults, `false` gives nil.
    static func parse(_ json: JSONValue?, path: String) throws(ConfigError) -> EvaluationSettings? {
        guard let json else { return EvaluationSettings() }
        if let on = json.boolValue { return on ? EvaluationSettings() : nil }
        guard json.objectValue != nil else {
            throw ConfigError(path: path, message: "must be an object ({\"tokens\": \(defaultTokens), \"ctx\": \(defaultContext), \"text\": \"file.txt\"}) or true/false, not \(json.kindName)")
        }
        var reader = try ConfigReader(json, path: path)
        var settings = EvaluationSettings()
        settings.ctx = try reader.int("ctx", in: 8...131_072) ?? defaultContext
        settings.tokens = try reader.int("tokens", in: 1...Int(Int32.max)) ?? max(defaultTokens, settings.ctx)
        guard settings.tokens >= settings.ctx else {
            throw ConfigError(path: reader.child("tokens"), message: "is \(settings.tokens), less than one chunk of ctx \(settings.ctx); give at least \(settings.ctx)")
        }
        if let text = try reader.string("text") {
            guard !text.isEmpty else { throw ConfigError(path: reader.child("text"), message: "is empty; name a UTF-8 text file or leave the key out for the built-in text") }
            settings.text = text
        }
        try reader.rejectUnknownKeys()
        return settings
    }
}
