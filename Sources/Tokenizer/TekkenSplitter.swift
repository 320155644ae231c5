/// Mistral's Tekken pre-tokenizer. llama.cpp has no hand-written matcher for it: it runs
///
///     [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+
///     |[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*
///     |\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// through `std::regex` on its "collapsed" text, where a non-ASCII code point is one byte for
/// its category. So only ASCII letters have a case: a non-ASCII letter is both "not a-z" (upper)
/// and "not A-Z" (lower). This matcher evaluates those alternatives in order at each position,
/// with the backtracking ECMAScript would do, and cuts the text the way `regex_iterator` does.
extension WordSplitters {
    private enum Collapsed {
        static func isLetter(_ c: UInt32) -> Bool {
            if c < 128 { return (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
            let flags = CodepointFlags.of(c)
            return !flags.isWhitespace && flags.category == .letter
        }

        static func isNumber(_ c: UInt32) -> Bool {
            if c < 128 { return (0x30...0x39).contains(c) }
            let flags = CodepointFlags.of(c)
            return !flags.isWhitespace && flags.category == .number
        }

        /// `\s` on the collapsed text: ASCII space, \t..\r, and every non-ASCII White_Space.
        static func isSpace(_ c: UInt32) -> Bool {
            c < 128 ? c == 0x20 || (0x09...0x0D).contains(c) : CodepointFlags.of(c).isWhitespace
        }

        /// `(?=[\p{L}])([^a-z])`
        static func isUpper(_ c: UInt32) -> Bool { isLetter(c) && !(0x61...0x7A).contains(c) }
        /// `(?=[\p{L}])([^A-Z])`
        static func isLower(_ c: UInt32) -> Bool { isLetter(c) && !(0x41...0x5A).contains(c) }
        /// `[^\r\n\p{L}\p{N}]`
        static func isPrefix(_ c: UInt32) -> Bool { c != 0x0D && c != 0x0A && !isLetter(c) && !isNumber(c) }
        /// `[^\s\p{L}\p{N}]`
        static func isOther(_ c: UInt32) -> Bool { !isSpace(c) && !isLetter(c) && !isNumber(c) }
    }

    static func tekken(_ cpts: [UInt32], _ pieces: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(pieces.count)
        var start = 0
        for length in pieces {
            let end = start + length
            var pos = start
            // Every code point starts some alternative, so the matches tile the piece (no gaps).
            while pos < end {
                let matchEnd = tekkenMatch(cpts, at: pos, end: end)
                out.append(matchEnd - pos)
                pos = matchEnd
            }
            start = end
        }
        return out
    }

    /// The end of the match at `pos` (always past `pos`).
    private static func tekkenMatch(_ cpts: [UInt32], at pos: Int, end: Int) -> Int {
        func run(from index: Int, _ test: (UInt32) -> Bool) -> Int {
            var i = index
            while i < end && test(cpts[i]) { i += 1 }
            return i - index
        }
        // With the optional prefix taken first, then without it (ECMAScript's order for `?`).
        let starts = Collapsed.isPrefix(cpts[pos]) && pos + 1 < end ? [pos + 1, pos] : [pos]
        // 1: prefix? upper* lower+ — upper* gives back characters until lower+ can start.
        for s in starts {
            let upper = run(from: s, Collapsed.isUpper)
            for k in stride(from: upper, through: 0, by: -1) where s + k < end && Collapsed.isLower(cpts[s + k]) {
                return s + k + run(from: s + k, Collapsed.isLower)
            }
        }
        // 2: prefix? upper+ lower*
        for s in starts {
            let upper = run(from: s, Collapsed.isUpper)
            if upper > 0 { return s + upper + run(from: s + upper, Collapsed.isLower) }
        }
        let c = cpts[pos]
        // 3: \p{N}
        if Collapsed.isNumber(c) { return pos + 1 }
        // 4: ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        let otherStart = c == 0x20 && pos + 1 < end && Collapsed.isOther(cpts[pos + 1]) ? pos + 1 : pos
        if Collapsed.isOther(cpts[otherStart]) {
            let afterOther = otherStart + run(from: otherStart, Collapsed.isOther)
            return afterOther + run(from: afterOther) { $0 == 0x0D || $0 == 0x0A || $0 == 0x2F }
        }
        // 5-7: whitespace runs.
        let spaces = run(from: pos, Collapsed.isSpace)
        if spaces > 0 {
            var lastLineBreak = -1
            for i in pos..<(pos + spaces) where cpts[i] == 0x0D || cpts[i] == 0x0A { lastLineBreak = i }
            if lastLineBreak >= 0 { return lastLineBreak + 1 }  // \s*[\r\n]+
            if pos + spaces == end { return end }  // \s+(?!\S) at the end of the piece
            if spaces > 1 { return pos + spaces - 1 }  // \s+(?!\S) before a non-space
            return pos + 1  // \s+
        }
        return pos + 1  // not reached: every code point is a letter, number, space or other
    }
}
