/// The word splitters behind llama.cpp's pre-tokenizer regexes, ported from src/unicode.cpp.
///
/// Each takes the text's code points and the current split (lengths of consecutive pieces, in
/// code points) and splits every piece further, as `unicode_regex_split` does one regex at a time.
/// The GPT-2 and Llama-3 style regexes are llama.cpp's hand-written matchers, copied branch by
/// branch — including their quirks, which is what makes the output identical — rather than run
/// through a regex engine: a real engine differs from them (e.g. on `\s+(?!\S)` at a piece's end).
enum WordSplitters {
    private static let outOfRange: UInt32 = 0xFFFF_FFFF
    private static let apostrophe: UInt32 = 0x27
    private static let space: UInt32 = 0x20
    private static let cr: UInt32 = 0x0D
    private static let lf: UInt32 = 0x0A

    /// The ASCII lower case of a contraction letter; llama.cpp's `unicode_tolower` maps no other
    /// code point onto s, t, m, d, r, e, v or l.
    private static func lower(_ c: UInt32) -> UInt32 {
        (0x41...0x5A).contains(c) ? c + 0x20 : c
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    static func gpt2(_ cpts: [UInt32], _ pieces: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(pieces.count)
        var start = 0
        for length in pieces {
            let ini = start, end = start + length
            start = end
            func cpt(_ p: Int) -> UInt32 { p >= ini && p < end ? cpts[p] : outOfRange }
            func flags(_ p: Int) -> CodepointFlags { p >= ini && p < end ? .of(cpts[p]) : [] }
            var prevEnd = ini
            func add(_ e: Int) {
                if e > prevEnd { out.append(e - prevEnd) }
                prevEnd = e
            }
            var pos = ini
            while pos < end {
                let c = cpt(pos)
                let f = flags(pos)
                if c == apostrophe && pos + 1 < end {
                    let n = cpt(pos + 1)
                    if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 {  // s t m d
                        pos += 2; add(pos); continue
                    }
                    if pos + 2 < end {
                        let nn = cpt(pos + 2)
                        if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {
                            pos += 3; add(pos); continue
                        }
                    }
                }
                var f2 = c == space ? flags(pos + 1) : f
                if f2.isLetter {
                    if c == space { pos += 1 }
                    while f2.isLetter { pos += 1; f2 = flags(pos) }
                    add(pos); continue
                }
                if f2.isNumber {
                    if c == space { pos += 1 }
                    while f2.isNumber { pos += 1; f2 = flags(pos) }
                    add(pos); continue
                }
                if !f2.isWhitespace && !f2.isLetter && !f2.isNumber && !f2.isEmpty {
                    if c == space { pos += 1 }
                    while !f2.isWhitespace && !f2.isLetter && !f2.isNumber && !f2.isEmpty {
                        pos += 1; f2 = flags(pos)
                    }
                    add(pos); continue
                }
                var spaces = 0
                while flags(pos + spaces).isWhitespace { spaces += 1 }
                if spaces > 1 && cpt(pos + spaces) != outOfRange {  // \s+(?!\S)
                    pos += spaces - 1; add(pos); continue
                }
                if spaces > 0 {
                    pos += spaces; add(pos); continue
                }
                pos += 1; add(pos)
            }
        }
        return out
    }

    /// Llama 3 (`maxDigits` 3): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`; Qwen 2 is the same with `\p{N}` (`maxDigits` 1),
    /// Qwen 3.5 also counts combining marks as letters (`[\p{L}\p{M}]+`, `marks`).
    static func llama3(_ cpts: [UInt32], _ pieces: [Int], maxDigits: Int, marks: Bool = false) -> [Int] {
        func isWordPart(_ f: CodepointFlags) -> Bool { f.isLetter || (marks && f.contains(.accentMark)) }
        var out: [Int] = []
        out.reserveCapacity(pieces.count)
        var start = 0
        for length in pieces {
            let ini = start, end = start + length
            start = end
            func cpt(_ p: Int) -> UInt32 { p >= ini && p < end ? cpts[p] : outOfRange }
            func flags(_ p: Int) -> CodepointFlags { p >= ini && p < end ? .of(cpts[p]) : [] }
            var prevEnd = ini
            func add(_ e: Int) {
                if e > prevEnd { out.append(e - prevEnd) }
                prevEnd = e
            }
            var pos = ini
            while pos < end {
                let c = cpt(pos)
                let f = flags(pos)
                if c == apostrophe && pos + 1 < end {
                    let n = lower(cpt(pos + 1))
                    if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 {
                        pos += 2; add(pos); continue
                    }
                    if pos + 2 < end {
                        let nn = lower(cpt(pos + 2))
                        if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {
                            pos += 3; add(pos); continue
                        }
                    }
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if !(c == cr || c == lf || f.isNumber) && (isWordPart(f) || isWordPart(flags(pos + 1))) {
                    pos += 1
                    while isWordPart(flags(pos)) { pos += 1 }
                    add(pos); continue
                }
                // \p{N}{1,maxDigits}
                if f.isNumber {
                    var groupStart = pos
                    while flags(pos).isNumber {
                        pos += 1
                        if pos - groupStart >= maxDigits { add(pos); groupStart = pos }
                    }
                    add(pos); continue
                }
                // <space>?[^\s\p{L}\p{N}]+[\r\n]* — llama.cpp tests the first code point's flags
                // (not the one after the space) for "inside the text"; kept as is.
                var f2 = c == space ? flags(pos + 1) : f
                if !f2.isWhitespace && !isWordPart(f2) && !f2.isNumber && !f.isEmpty {
                    if c == space { pos += 1 }
                    while !f2.isWhitespace && !isWordPart(f2) && !f2.isNumber && !f2.isEmpty {
                        pos += 1; f2 = flags(pos)
                    }
                    while cpt(pos) == cr || cpt(pos) == lf { pos += 1 }
                    add(pos); continue
                }
                var spaces = 0
                var lastLineBreakEnd = 0
                while flags(pos + spaces).isWhitespace {
                    let w = cpt(pos + spaces)
                    if w == cr || w == lf { lastLineBreakEnd = pos + spaces + 1 }
                    spaces += 1
                }
                if lastLineBreakEnd > 0 {  // \s*[\r\n]+
                    pos = lastLineBreakEnd; add(pos); continue
                }
                if spaces > 1 && cpt(pos + spaces) != outOfRange {  // \s+(?!\S)
                    pos += spaces - 1; add(pos); continue
                }
                if spaces > 0 {
                    pos += spaces; add(pos); continue
                }
                pos += 1; add(pos)
            }
        }
        return out
    }

    /// `[^\n]+|[\n]+`: runs of line feeds and runs of anything else.
    static func newlineRuns(_ cpts: [UInt32], _ pieces: [Int]) -> [Int] {
        var out: [Int] = []
        var start = 0
        for length in pieces {
            let end = start + length
            var pos = start
            while pos < end {
                let isNewline = cpts[pos] == lf
                let runStart = pos
                while pos < end && (cpts[pos] == lf) == isNewline { pos += 1 }
                out.append(pos - runStart)
            }
            start = end
        }
        return out
    }

    /// BLOOM's ` ?[^(\s|.,!?…。，、।۔،)]+`, which llama.cpp runs through `std::wregex` on the code
    /// points (non-ASCII whitespace turned into U+000B first): an optional space, then a run of
    /// anything but whitespace and the listed characters; everything between matches is a piece.
    static func bloom(_ cpts: [UInt32], _ pieces: [Int]) -> [Int] {
        let excluded: Set<UInt32> = Set("(|.,!?…。，、।۔،)".unicodeScalars.map(\.value))
        func inClass(_ c: UInt32) -> Bool { !excluded.contains(c) && !CodepointFlags.of(c).isWhitespace }
        var out: [Int] = []
        var start = 0
        for length in pieces {
            let end = start + length
            var gapStart = start
            var pos = start
            while pos < end {
                var first = pos
                if cpts[pos] == space && pos + 1 < end && inClass(cpts[pos + 1]) { first += 1 }
                guard inClass(cpts[first]) else { pos += 1; continue }
                var matchEnd = first + 1
                while matchEnd < end && inClass(cpts[matchEnd]) { matchEnd += 1 }
                if pos > gapStart { out.append(pos - gapStart) }
                out.append(matchEnd - pos)
                pos = matchEnd
                gapStart = matchEnd
            }
            if end > gapStart { out.append(end - gapStart) }
            start = end
        }
        return out
    }

    /// How a character-class regex repeats.
    enum Repetition: Sendable {
        case one  // [class]
        case run  // [class]+
        case exactly(Int)  // [class]{n}
        case upTo(Int)  // [class]{1,n}
    }

    /// A single character class, split the way `std::regex_iterator` does in llama.cpp's
    /// `unicode_regex_split_stl`: matches and the gaps between them each become a piece.
    static func characterClass(
        _ cpts: [UInt32], _ pieces: [Int], _ repetition: Repetition, _ matches: (UInt32) -> Bool
    ) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(pieces.count)
        var start = 0
        for length in pieces {
            let end = start + length
            var gapStart = start
            var pos = start
            while pos < end {
                guard matches(cpts[pos]) else { pos += 1; continue }
                var matchEnd = pos + 1
                switch repetition {
                case .one:
                    break
                case .run:
                    while matchEnd < end && matches(cpts[matchEnd]) { matchEnd += 1 }
                case .exactly(let n):
                    while matchEnd < end && matchEnd - pos < n && matches(cpts[matchEnd]) { matchEnd += 1 }
                    if matchEnd - pos < n { pos += 1; continue }
                case .upTo(let n):
                    while matchEnd < end && matchEnd - pos < n && matches(cpts[matchEnd]) { matchEnd += 1 }
                }
                if pos > gapStart { out.append(pos - gapStart) }
                out.append(matchEnd - pos)
                pos = matchEnd
                gapStart = matchEnd
            }
            if end > gapStart { out.append(end - gapStart) }
            start = end
        }
        return out
    }
}
