import JSON

/// The `evaluate` stage's settings: `"evaluate": {"tokens": N, "ctx": 512, "text": "path"}`,
/// `"evaluate": true` (the defaults) or `"evaluate": false` (off). Absent means on with the
/// defaults: every job measures what quantizing cost unless told not to.
public struct EvaluationSettings: Sendable, Equatable {
    /// Tokens of the text evaluated by default: one chunk of 256 (127 scored positions, each with at
    /// least 128 tokens of context). The budget is that evaluation at most doubles a job on the
    /// oracle's models, and a job of SmolLM2-135M quantizes its three artifacts in about 1.5 s: four
    /// forward passes (the source and three artifacts) of 256 tokens fit that, of 512 do not, whatever
    /// the forward pass's speed (at llama-perplexity's own, four passes of 512 would take ~3× the
    /// job). Measured in docs/performance.md, "Evaluate stage cost". KLD and top-1 over 127 positions still rank the
    /// mixes; a longer text (`tokens`) or ctx 512 (llama-perplexity's default) reads finer.
    public static let defaultTokens = 256
    public static let defaultContext = 256

    /// At most this many tokens of the text are evaluated, in whole chunks of `ctx` (as
    /// llama-perplexity's `--chunks tokens/ctx`).
    public var tokens: Int
    /// Tokens per chunk; the second half of each chunk is scored.
    public var ctx: Int
    /// A UTF-8 text file as written in the pipeline; nil: the built-in text (`EvaluationText`).
    public var text: String?
    /// Choice tasks scored for the source and every artifact (`"tasks": [{"kind": …, "file": …, "limit": …}]`).
    public var tasks: [TaskSpec]

    public init(tokens: Int = defaultTokens, ctx: Int = defaultContext, text: String? = nil, tasks: [TaskSpec] = []) {
        self.tokens = tokens
        self.ctx = ctx
        self.text = text
        self.tasks = tasks
    }

    /// The JSON that says these settings in a pipeline (for pipelines made on the command line).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("tokens", .number(JSONNumber(tokens))), ("ctx", .number(JSONNumber(ctx))),
        ]
        if let text { members.append(("text", .string(text))) }
        if !tasks.isEmpty { members.append(("tasks", .array(tasks.map(\.json)))) }
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
        if let tasks = try reader.array("tasks") {
            settings.tasks = try tasks.enumerated().map { (i, task) throws(ConfigError) in
                try TaskSpec.parse(task, path: "\(reader.child("tasks"))[\(i)]")
            }
        }
        try reader.rejectUnknownKeys()
        return settings
    }
}
