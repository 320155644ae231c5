import GGUF

/// GPT-2 byte-level BPE (`tokenizer.ggml.model` "gpt2"), as llama.cpp's `llm_tokenizer_bpe_session`:
/// the text is split into words by the pre-tokenizer, each word is spelled in the byte-level
/// alphabet and merged pair by pair, lowest merge rank first (leftmost among equal ranks).
///
/// Strings are interned so merging compares integers: every vocabulary token keeps its id as
/// its symbol id, and merge halves and results that are not tokens get ids past the vocabulary.
/// A merge `"a b"` is split at its first space after the first byte, as llama.cpp does; symbols
/// never contain a raw space (the byte-level alphabet spells it `Ġ`), so lookups are exact.
final class BytePairEncoder: Sendable {
    private struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    private let vocabulary: Vocabulary
    private let preTokenizer: PreTokenizer
    /// (left symbol << 32 | right symbol) -> the merge's rank and resulting symbol.
    private let merges: [UInt64: Merge]
    /// The symbol of each byte's one-character spelling, or -1 when no merge or token uses it.
    private let byteSymbols: [Int32]
    /// Token ids of the one-byte strings of printable ASCII, for llama.cpp's fallback when a
    /// merged symbol is not a token.
    private let asciiTokens: [Int32?]
    private let cache = WordCache()

    init(vocabulary: Vocabulary, preTokenizer: PreTokenizer, metadata: GGUFMetadata) throws {
        self.vocabulary = vocabulary
        self.preTokenizer = preTokenizer
        guard let mergeValue = metadata[GGUFKeys.Tokenizer.merges] else {
            throw TokenizerError(.missingMetadata, "\(GGUFKeys.Tokenizer.merges) is missing: a gpt2 (BPE) vocabulary needs its merges")
        }
        guard case .array(.string, let mergeValues) = mergeValue else {
            throw TokenizerError(.malformedMetadata, "\(GGUFKeys.Tokenizer.merges) is \(mergeValue.type), expected an array of strings")
        }
        // Byte arrays, not Strings, as keys: see Vocabulary.
        var symbols = vocabulary.idByBytes
        var nextSymbol = Int32(vocabulary.count)
        func intern(_ text: [UInt8]) -> Int32 {
            if let id = symbols[text] { return id }
            let id = nextSymbol
            symbols[text] = id
            nextSymbol += 1
            return id
        }
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeValues.count)
        for (rank, value) in mergeValues.enumerated() {
            let bytes = Array((value.stringValue ?? "").utf8)
            guard bytes.count > 1, let space = bytes[1...].firstIndex(of: 0x20) else { continue }
            let left = Array(bytes[..<space])
            let right = Array(bytes[(space + 1)...])
            guard !right.isEmpty else { continue }
            let key = UInt64(UInt32(bitPattern: intern(left))) << 32 | UInt64(UInt32(bitPattern: intern(right)))
            // The first of duplicate merges keeps its rank (llama.cpp inserts with emplace).
            if merges[key] == nil {
                merges[key] = Merge(rank: Int32(clamping: rank), result: intern(left + right))
            }
        }
        self.merges = merges
        byteSymbols = ByteLevel.scalarOfByte.map { symbols[Array(String($0).utf8)] ?? -1 }
        asciiTokens = (0..<128).map { byte in
            (0x21...0x7E).contains(byte) ? vocabulary.id(of: String(UnicodeScalar(UInt8(byte)))) : nil
        }
    }

    /// Appends the ids of one text fragment (no special tokens in it).
    func encode(_ text: Substring, into output: inout [Int32]) {
        let utf8 = Array(text.utf8)
        var cpts: [UInt32] = []
        cpts.reserveCapacity(utf8.count)
        // offsets[i] is the UTF-8 offset of code point i, so words are cut from the bytes directly.
        var offsets: [Int] = [0]
        offsets.reserveCapacity(utf8.count + 1)
        for scalar in text.unicodeScalars {
            cpts.append(scalar.value)
            offsets.append((offsets.last ?? 0) + UTF8.width(scalar))
        }
        var start = 0
        for length in preTokenizer.split(cpts) {
            encodeWord(Array(utf8[offsets[start]..<offsets[start + length]]), into: &output)
            start += length
        }
    }

    /// `word` as a String is a safe cache key: byte-level spellings use only code points with no
    /// canonical equivalents among themselves, so distinct words never compare equal.
    private func encodeWord(_ bytes: [UInt8], into output: inout [Int32]) {
        let word = ByteLevel.encode(bytes)
        if let cached = cache.lookup(word) {
            output.append(contentsOf: cached)
            return
        }
        var ids: [Int32] = []
        if preTokenizer.ignoreMerges, let id = vocabulary.id(ofBytes: Array(word.utf8)) {
            ids = [id]
        } else {
            ids = merge(bytes)
        }
        cache.store(word, ids)
        output.append(contentsOf: ids)
    }

    private struct Symbol {
        var id: Int32
        var start: Int
        var length: Int
        var previous: Int
        var next: Int
    }

    private struct Candidate {
        let rank: Int32
        let left: Int
        let right: Int
        /// The lengths when the pair was queued: an entry whose symbols have grown since is stale.
        let leftLength: Int
        let rightLength: Int
        let result: Int32
    }

    private func merge(_ bytes: [UInt8]) -> [Int32] {
        var symbols: [Symbol] = bytes.indices.map { index in
            Symbol(id: byteSymbols[Int(bytes[index])], start: index, length: 1, previous: index - 1,
                   next: index + 1 == bytes.count ? -1 : index + 1)
        }
        var queue = PairHeap<Candidate> { a, b in a.rank < b.rank || (a.rank == b.rank && a.left < b.left) }
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let l = symbols[left], r = symbols[right]
            guard l.id >= 0, r.id >= 0 else { return }
            let key = UInt64(UInt32(bitPattern: l.id)) << 32 | UInt64(UInt32(bitPattern: r.id))
            guard let merge = merges[key] else { return }
            queue.push(Candidate(rank: merge.rank, left: left, right: right,
                                 leftLength: l.length, rightLength: r.length, result: merge.result))
        }
        for index in symbols.indices.dropFirst() { consider(index - 1, index) }
        while let pair = queue.pop() {
            let left = symbols[pair.left], right = symbols[pair.right]
            guard left.length > 0, right.length > 0,
                  left.length == pair.leftLength, right.length == pair.rightLength else { continue }
            symbols[pair.left].length += right.length
            symbols[pair.left].id = pair.result
            symbols[pair.left].next = right.next
            symbols[pair.right].length = 0
            if right.next >= 0 { symbols[right.next].previous = pair.left }
            consider(left.previous, pair.left)
            consider(pair.left, right.next)
        }
        var ids: [Int32] = []
        for symbol in symbols where symbol.length > 0 {
            if symbol.id >= 0 && Int(symbol.id) < vocabulary.count {
                ids.append(symbol.id)
                continue
            }
            // Not a token: llama.cpp looks up each byte of the symbol's spelling on its own;
            // only printable ASCII spells itself in one byte, the rest are dropped as it drops them.
            for byte in bytes[symbol.start..<(symbol.start + symbol.length)] where byte < 128 {
                if let id = asciiTokens[Int(byte)] { ids.append(id) }
            }
        }
        return ids
    }
}
