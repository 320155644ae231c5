import BinaryIO
import Inference
import JSON
import Tokenizer

/// A task file's kind: llama-perplexity's `--hellaswag`, `--winogrande` and `--multiple-choice`
/// data formats.
public enum TaskKind: String, Sendable, CaseIterable {
    case hellaswag
    case winogrande
    case multipleChoice = "multiple-choice"

    /// llama-perplexity's default number of items (`--hellaswag-tasks` 400; all for the others).
    public var defaultLimit: Int? { self == .hellaswag ? 400 : nil }
}

/// One task of the evaluate stage: `{"kind": "hellaswag", "file": "hellaswag_val_full.txt", "limit": 400}`.
public struct TaskSpec: Sendable, Equatable {
    public var kind: TaskKind
    /// The data file as written in the pipeline (relative paths resolve against its folder).
    public var file: String
    /// Items scored, chosen as llama-perplexity chooses them for its `--*-tasks N`; nil: its default.
    public var limit: Int?

    public init(kind: TaskKind, file: String, limit: Int? = nil) {
        self.kind = kind
        self.file = file
        self.limit = limit
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("kind", .string(kind.rawValue)), ("file", .string(file))]
        if let limit { members.append(("limit", .number(JSONNumber(limit)))) }
        return .object(members)
    }

    static func parse(_ json: JSONValue, path: String) throws(ConfigError) -> TaskSpec {
        guard json.objectValue != nil else {
            throw ConfigError(path: path, message: "must be an object ({\"kind\": \"hellaswag\", \"file\": \"hellaswag_val_full.txt\", \"limit\": 400}), not \(json.kindName)")
        }
        var reader = try ConfigReader(json, path: path)
        guard let kindName = try reader.string("kind") else {
            throw ConfigError(path: reader.child("kind"), message: "is missing; give \"hellaswag\", \"winogrande\" or \"multiple-choice\"")
        }
        guard let kind = TaskKind(rawValue: kindName) else {
            throw ConfigError(path: reader.child("kind"), message: "is \"\(kindName)\"; give \"hellaswag\", \"winogrande\" or \"multiple-choice\"")
        }
        guard let file = try reader.string("file"), !file.isEmpty else {
            throw ConfigError(path: reader.child("file"), message: "is missing or empty; name the task's data file in llama-perplexity's format (docs/quality.md)")
        }
        let limit = try reader.int("limit", in: 1...Int(Int32.max))
        try reader.rejectUnknownKeys()
        return TaskSpec(kind: kind, file: file, limit: limit)
    }
}

/// A task file that cannot be read as its kind says.
public struct TaskFileError: Error, CustomStringConvertible {
    public var file: String
    public var message: String

    public var description: String { "task file \(file): \(message)" }
}

/// The items of a task file, chosen and tokenized as llama-perplexity does it.
public struct LoadedTask: Sendable {
    public var spec: TaskSpec
    /// Items in the file (those llama-perplexity reads as items).
    public var available: Int
    public var items: [ChoiceItem]
}

/// Reading llama-perplexity's three task formats and choosing the items it would score.
public enum TaskFiles {
    /// A task's raw contents, read when the job starts (a missing file fails the job before quantizing).
    public static func read(_ spec: TaskSpec, baseDirectory: String?) throws -> [UInt8] {
        let path = spec.file.hasPrefix("/") || baseDirectory == nil ? spec.file : "\(baseDirectory!)/\(spec.file)"
        do {
            return try MappedFile.contents(of: path)
        } catch {
            throw TaskFileError(file: path, message: "cannot be read (\(error)); fix the task's \"file\"")
        }
    }

    /// The items llama-perplexity would score for `spec`, tokenized with `tokenizer` (BOS as the
    /// vocabulary says, special-token text read as plain text, as its `common_tokenize`).
    public static func load(_ spec: TaskSpec, contents: [UInt8], tokenizer: Tokenizer) throws -> LoadedTask {
        let encode = { (text: [UInt8]) in tokenizer.encode(String(decoding: text, as: UTF8.self), addSpecial: true, parseSpecial: false) }
        switch spec.kind {
        case .hellaswag:
            let (available, chosen) = try hellaswag(contents, file: spec.file, limit: spec.limit ?? 400)
            let items = chosen.map { h in
                ChoiceItem(sequences: h.endings.map { encode(h.context + [0x20] + $0) }, rule: .hellaswag,
                           correct: (0..<4).map { $0 == h.gold })
            }
            return LoadedTask(spec: spec, available: available, items: items)
        case .winogrande:
            let (available, chosen) = winogrande(contents, limit: spec.limit)
            guard available > 0 else {
                throw TaskFileError(file: spec.file, message: "has no WinoGrande item (lines of index,sentence with _,choice 1,choice 2,answer 1 or 2)")
            }
            let items = chosen.map { w in
                ChoiceItem(sequences: w.choices.map { encode(w.first + $0 + w.second) },
                           rule: .winogrande(bases: w.choices.map { encode(w.first + $0).count }),
                           correct: [w.answer == 1, w.answer == 2])
            }
            return LoadedTask(spec: spec, available: available, items: items)
        case .multipleChoice:
            let (available, chosen) = try multipleChoice(contents, file: spec.file, limit: spec.limit)
            let items = try chosen.enumerated().map { i, task in
                guard !task.question.isEmpty, !task.answers.isEmpty, !task.answers.contains(where: \.isEmpty) else {
                    throw TaskFileError(file: spec.file, message: "item \(i + 1) of those chosen has an empty question or answer; llama-perplexity refuses such a file")
                }
                return ChoiceItem(sequences: task.answers.map { encode(task.question + [0x20] + $0) }, rule: .multipleChoice,
                                  correct: task.labels.map { $0 == 1 })
            }
            return LoadedTask(spec: spec, available: available, items: items)
        }
    }

    // MARK: HellaSwag

    struct HellaSwagItem: Equatable {
        var context: [UInt8]
        var gold: Int
        var endings: [[UInt8]]
    }

    /// The file's lines as llama-perplexity reads a `-f` file: one trailing newline dropped, then
    /// split at each newline (a last empty piece is no line).
    static func lines(_ contents: [UInt8]) -> [ArraySlice<UInt8>] {
        var text = contents[...]
        if text.last == 0x0A { text = text.dropLast() }
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Six lines per item (context, gold ending 0–3, four endings); `limit` items drawn as
    /// llama-perplexity draws them: a 32-bit Mersenne Twister seeded with 1, each draw uniform over
    /// the items left (libstdc++'s `uniform_int_distribution`), the drawn item removed.
    static func hellaswag(_ contents: [UInt8], file: String, limit: Int) throws -> (available: Int, items: [HellaSwagItem]) {
        var lines = lines(contents)
        guard !lines.isEmpty, lines.count % 6 == 0 else {
            throw TaskFileError(file: file, message: "has \(lines.count) lines, not a multiple of 6 (context, gold ending 0–3, four endings per item)")
        }
        let available = lines.count / 6
        var rng = MersenneTwister(seed: 1)
        var items: [HellaSwagItem] = []
        for _ in 0..<min(limit, available) {
            let idx = rng.uniform(below: UInt32(lines.count / 6))
            let block = Array(lines[(idx * 6)..<(idx * 6 + 6)])
            guard let gold = leadingInteger(block[1]), (0...3).contains(gold) else {
                throw TaskFileError(file: file, message: "the item at line \(lineNumber(of: block[1], in: contents)) has gold ending '\(String(decoding: block[1].prefix(20), as: UTF8.self))', not 0–3")
            }
            items.append(HellaSwagItem(context: Array(block[0]), gold: gold, endings: block[2...].map { Array($0) }))
            lines.removeSubrange((idx * 6)..<(idx * 6 + 6))
        }
        return (available, items)
    }

    static func lineNumber(of line: ArraySlice<UInt8>, in contents: [UInt8]) -> Int {
        contents[..<line.startIndex].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// An integer at the start of `text` after blanks, as `std::stoi` and `istream >> int` read one.
    static func leadingInteger(_ text: ArraySlice<UInt8>) -> Int? {
        var i = text.startIndex
        while i < text.endIndex, [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains(text[i]) { i += 1 }
        var negative = false
        if i < text.endIndex, text[i] == 0x2D || text[i] == 0x2B {
            negative = text[i] == 0x2D
            i += 1
        }
        var value = 0, digits = 0
        while i < text.endIndex, (0x30...0x39).contains(text[i]) {
            value = value * 10 + Int(text[i] - 0x30)
            digits += 1
            guard value <= Int(Int32.max) else { return nil }
            i += 1
        }
        return digits > 0 ? (negative ? -value : value) : nil
    }

    // MARK: WinoGrande

    struct WinoGrandeItem: Equatable {
        var first: [UInt8]
        var second: [UInt8]
        var choices: [[UInt8]]
        var answer: Int
    }

    /// CSV lines `index,sentence,choice 1,choice 2,answer`, the sentence optionally in double quotes,
    /// its blank marked by `_`. Read as llama-perplexity reads them: lines that do not parse (a header)
    /// are passed over, and so is the file's last line, which its reader ends on before using. With a
    /// `limit` below the item count, items are drawn as it draws them (Mersenne Twister seeded with 1,
    /// `int(2^-32 · draw · left)` in float, the drawn slot refilled from the end).
    static func winogrande(_ contents: [UInt8], limit: Int?) -> (available: Int, items: [WinoGrandeItem]) {
        var text = contents[...]
        if text.last == 0x0A { text = text.dropLast() }
        var pieces = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        pieces.removeLast()   // not ended by a newline: llama-perplexity stops before using it
        var data: [WinoGrandeItem] = []
        for line in pieces {
            if let item = winograndeLine(Array(line)) { data.append(item) }
        }
        let available = data.count
        guard let limit, limit < data.count else { return (available, data) }
        var rng = MersenneTwister(seed: 1)
        var aux = Array(data.indices)
        var selected: [WinoGrandeItem] = []
        for _ in 0..<limit {
            let j = min(drawSlot(rng.next(), count: aux.count), aux.count - 1)
            selected.append(data[aux[j]])
            aux[j] = aux[aux.count - 1]
            aux.removeLast()
        }
        return (available, selected)
    }

    /// `int(scale * draw * count)` as llama-perplexity computes it, in float (scale = 2^-32).
    static func drawSlot(_ draw: UInt32, count: Int) -> Int {
        let scale: Float = 1 / (1 + Float(UInt32.max))
        return Int(scale * Float(draw) * Float(count))
    }

    static func winograndeLine(_ line: [UInt8]) -> WinoGrandeItem? {
        var commas: [Int] = []
        var quoted = false
        for (i, c) in line.enumerated() {
            if !quoted {
                if c == 0x2C {
                    commas.append(i)
                    if commas.count == 4 { break }
                } else if c == 0x22 {
                    quoted = true
                }
            } else if c == 0x22 {
                quoted = false
            }
        }
        guard commas.count == 4 else { return nil }
        func piece(_ start: Int, _ length: Int) -> [UInt8] {
            // std::string::substr: a length past the end (or a negative one, read as huge) stops at the end.
            guard start <= line.count else { return [] }
            let end = length < 0 ? line.count : min(line.count, start + length)
            return Array(line[start..<end])
        }
        let sentence = commas[0] + 1 < line.count && line[commas[0] + 1] == 0x22
            ? piece(commas[0] + 2, commas[1] - commas[0] - 3) : piece(commas[0] + 1, commas[1] - commas[0] - 1)
        let choice1 = piece(commas[1] + 1, commas[2] - commas[1] - 1)
        let choice2 = piece(commas[2] + 1, commas[3] - commas[2] - 1)
        let answer = piece(commas[3] + 1, line.count - commas[3] - 1)
        guard let blank = sentence.firstIndex(of: 0x5F) else { return nil }
        guard let value = leadingInteger(answer[...]), value == 1 || value == 2 else { return nil }
        return WinoGrandeItem(first: Array(sentence[..<blank]), second: Array(sentence[(blank + 1)...]),
                              choices: [choice1, choice2], answer: value)
    }

    // MARK: Multiple choice

    struct MultipleChoiceItem: Equatable {
        var question: [UInt8]
        var answers: [[UInt8]]
        var labels: [Int32]
    }

    /// llama-perplexity's binary format (`--multiple-choice -bf FILE`), little-endian: u32 item count,
    /// a u32 byte offset per item, then each item: its question (u32 length + bytes) and two answer
    /// sets (u32 count ≤ 100, that many strings, that many i32 labels; 1 marks a correct answer). The
    /// first set is scored. All items are read in order when `limit` is nil or not below the count;
    /// otherwise drawn as WinoGrande's and read at their offsets.
    static func multipleChoice(_ contents: [UInt8], file: String, limit: Int?) throws -> (available: Int, items: [MultipleChoiceItem]) {
        var reader = LittleEndianReader(bytes: contents, file: file)
        let count = Int(try reader.u32("the item count"))
        guard count > 0 else { throw TaskFileError(file: file, message: "has no items (its first 4 bytes, the item count, are 0)") }
        guard count <= (contents.count - 4) / 4 else {
            throw TaskFileError(file: file, message: "says it has \(count) items, more than its \(contents.count) bytes can hold; is it a multiple-choice binary file?")
        }
        var offsets: [Int] = []
        for i in 0..<count { offsets.append(Int(try reader.u32("the offset of item \(i + 1)"))) }
        if limit == nil || limit! >= count {
            var items: [MultipleChoiceItem] = []
            for i in 0..<count { items.append(try reader.item(number: i + 1)) }
            return (count, items)
        }
        var rng = MersenneTwister(seed: 1)
        var aux = Array(0..<count)
        var items: [MultipleChoiceItem] = []
        for _ in 0..<limit! {
            let j = min(drawSlot(rng.next(), count: aux.count), aux.count - 1)
            let idx = aux[j]
            aux[j] = aux[aux.count - 1]
            aux.removeLast()
            reader.offset = offsets[idx]
            items.append(try reader.item(number: idx + 1))
        }
        return (count, items)
    }

    struct LittleEndianReader {
        let bytes: [UInt8]
        let file: String
        var offset = 0

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        mutating func u32(_ what: String) throws -> UInt32 {
            guard offset >= 0, offset <= bytes.count - 4 else {
                throw TaskFileError(file: file, message: "ends at byte \(bytes.count) before \(what) (at byte \(offset)); the file is cut short or not in llama-perplexity's multiple-choice format")
            }
            let v = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            offset += 4
            return v
        }

        mutating func string(_ what: String) throws -> [UInt8] {
            let length = Int(try u32("the length of \(what)"))
            guard length <= bytes.count - offset else {
                throw TaskFileError(file: file, message: "\(what) at byte \(offset) is \(length) bytes long, past the file's end (\(bytes.count) bytes)")
            }
            defer { offset += length }
            return Array(bytes[offset..<(offset + length)])
        }

        mutating func answers(_ what: String) throws -> (answers: [[UInt8]], labels: [Int32]) {
            let n = Int(try u32("the answer count of \(what)"))
            guard n <= 100 else { throw TaskFileError(file: file, message: "\(what) has \(n) answers; llama-perplexity reads at most 100") }
            var answers: [[UInt8]] = []
            for a in 0..<n { answers.append(try string("answer \(a + 1) of \(what)")) }
            var labels: [Int32] = []
            for a in 0..<n { labels.append(Int32(bitPattern: try u32("label \(a + 1) of \(what)"))) }
            return (answers, labels)
        }

        mutating func item(number: Int) throws -> MultipleChoiceItem {
            let question = try string("the question of item \(number)")
            let single = try answers("item \(number)")
            _ = try answers("item \(number)'s second answer set")
            return MultipleChoiceItem(question: question, answers: single.answers, labels: single.labels)
        }
    }
}

/// std::mt19937 (32-bit Mersenne Twister, the C++ standard's parameters), and libstdc++'s
/// `uniform_int_distribution` over it: the draws llama-perplexity's item selection makes.
struct MersenneTwister {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    mutating func next() -> UInt32 {
        if index >= 624 {
            for i in 0..<624 {
                let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
                state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_B0DF)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// A draw uniform over 0..<range (range ≥ 1) as libstdc++ makes it from a 32-bit engine:
    /// Lemire's multiply-and-reject (`_S_nd`): the high half of draw × range, redrawn while the low
    /// half is under 2^32 mod range.
    mutating func uniform(below range: UInt32) -> Int {
        var product = UInt64(next()) * UInt64(range)
        var low = UInt32(truncatingIfNeeded: product)
        if low < range {
            let threshold = (0 &- range) % range
            while low < threshold {
                product = UInt64(next()) * UInt64(range)
                low = UInt32(truncatingIfNeeded: product)
            }
        }
        return Int(product >> 32)
    }
}
