/// DeepSeek V3's pre-tokenizer, after its digit and CJK splits. llama.cpp runs
///
///     [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
///     | ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// through `std::regex` on its collapsed text (one byte per non-ASCII code point, naming its
/// category; ASCII as itself, with llama.cpp's own ASCII punctuation and symbol sets). This
/// evaluates the alternatives in order at each position; code points no alternative matches
/// (digits, controls) collect into the gap pieces `regex_iterator` leaves between matches.
extension WordSplitters {
    private enum DeepSeekClass {
        /// llama.cpp's ASCII members of \p{P} and \p{S} (`k_ucat_map`).
        static let asciiPunctuationOrSymbol: [Bool] = {
            var table = [Bool](repeating: false, count: 128)
            for scalar in "!\"#%&'()*,-./:;?@[\\]_{}$+<=>^`|~".unicodeScalars { table[Int(scalar.value)] = true }
            return table
        }()

        static func category(_ c: UInt32) -> CodepointFlags {
            let flags = CodepointFlags.of(c)
            return flags.isWhitespace ? .whitespace : flags.category
        }

        static func isLetter(_ c: UInt32) -> Bool {
            c < 128 ? (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) : category(c) == .letter
        }

        /// `[\p{L}\p{M}]` (no ASCII code point is a mark)
        static func isLetterOrMark(_ c: UInt32) -> Bool {
            c < 128 ? isLetter(c) : category(c) == .letter || category(c) == .accentMark
        }

        /// `[\p{P}\p{S}]`
        static func isPunctuationOrSymbol(_ c: UInt32) -> Bool {
            c < 128 ? asciiPunctuationOrSymbol[Int(c)] : category(c) == .punctuation || category(c) == .symbol
        }

        /// `[^\r\n\p{L}\p{P}\p{S}]`
        static func isPrefix(_ c: UInt32) -> Bool {
            c != 0x0D && c != 0x0A && !isLetter(c) && !isPunctuationOrSymbol(c)
        }

        static func isSpace(_ c: UInt32) -> Bool {
            c < 128 ? c == 0x20 || (0x09...0x0D).contains(c) : CodepointFlags.of(c).isWhitespace
        }

        /// The ASCII punctuation of the first alternative's bracket: every printable non-alphanumeric.
        static func isASCIIPunctuation(_ c: UInt32) -> Bool {
            (0x21...0x2F).contains(c) || (0x3A...0x40).contains(c) || (0x5B...0x60).contains(c) || (0x7B...0x7E).contains(c)
        }
    }

    static func deepSeek3(_ cpts: [UInt32], _ pieces: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(pieces.count)
        var start = 0
        for length in pieces {
            let end = start + length
            var gapStart = start
            var pos = start
            while pos < end {
                guard let matchEnd = deepSeek3Match(cpts, at: pos, end: end) else { pos += 1; continue }
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

    /// The end of the match at `pos`, nil when no alternative matches there.
    private static func deepSeek3Match(_ cpts: [UInt32], at pos: Int, end: Int) -> Int? {
        typealias C = DeepSeekClass
        func run(from index: Int, _ test: (UInt32) -> Bool) -> Int {
            var i = index
            while i < end && test(cpts[i]) { i += 1 }
            return i - index
        }
        let c = cpts[pos]
        // 1: one ASCII punctuation character, then ASCII letters.
        if C.isASCIIPunctuation(c) && pos + 1 < end {
            let letters = run(from: pos + 1) { c in (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
            if letters > 0 { return pos + 1 + letters }
        }
        // 2: optional prefix, then letters and marks (prefix taken first, as ECMAScript tries it).
        if C.isPrefix(c) && pos + 1 < end {
            let word = run(from: pos + 1, C.isLetterOrMark)
            if word > 0 { return pos + 1 + word }
        }
        let word = run(from: pos, C.isLetterOrMark)
        if word > 0 { return pos + word }
        // 3: ` ?[\p{P}\p{S}]+[\r\n]*`
        let symbolStart = c == 0x20 && pos + 1 < end && C.isPunctuationOrSymbol(cpts[pos + 1]) ? pos + 1 : pos
        if C.isPunctuationOrSymbol(cpts[symbolStart]) {
            let afterSymbols = symbolStart + run(from: symbolStart, C.isPunctuationOrSymbol)
            return afterSymbols + run(from: afterSymbols) { $0 == 0x0D || $0 == 0x0A }
        }
        // 4-6: whitespace runs.
        let spaces = run(from: pos, C.isSpace)
        guard spaces > 0 else { return nil }
        var lastLineBreak = -1
        for i in pos..<(pos + spaces) where cpts[i] == 0x0D || cpts[i] == 0x0A { lastLineBreak = i }
        if lastLineBreak >= 0 { return lastLineBreak + 1 }  // \s*[\r\n]+
        if pos + spaces == end { return end }  // \s+(?!\S) at the end of the piece
        if spaces > 1 { return pos + spaces - 1 }  // \s+(?!\S) before a non-space
        return pos + 1  // \s+
    }
}
