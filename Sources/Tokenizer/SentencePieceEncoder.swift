/// SentencePiece-style BPE (`tokenizer.ggml.model` "llama"), as llama.cpp's
/// `llm_tokenizer_spm_session`: spaces are spelled `▁`, the fragment starts as one symbol per
/// UTF-8 character, and adjacent symbols whose concatenation is a token are merged, highest
/// token score first (leftmost among equal scores). A symbol left that is not a token is spelled
/// with byte tokens `<0xNN>`.
struct SentencePieceEncoder: Sendable {
    private let vocabulary: Vocabulary
    /// The id of each byte's `<0xNN>` token (or of the one-byte string, llama.cpp's fallback).
    private let byteTokens: [Int32?]
    private let unknownID: Int32?

    init(vocabulary: Vocabulary, unknownID: Int32?) {
        self.vocabulary = vocabulary
        self.unknownID = unknownID
        let hex = Array("0123456789ABCDEF")
        byteTokens = (0..<256).map { byte in
            let name = "<0x\(hex[byte >> 4])\(hex[byte & 15])>"
            if let id = vocabulary.id(of: name) { return id }
            return byte < 128 ? vocabulary.id(of: String(UnicodeScalar(UInt8(byte)))) : nil
        }
    }

    private struct Symbol {
        var start: Int
        var length: Int
        var previous: Int
        var next: Int
    }

    private struct Candidate {
        let score: Float
        let left: Int
        let right: Int
        let size: Int
    }

    /// Appends the ids of `text`, whose spaces are already escaped to `▁`.
    func encode(_ text: [UInt8], into output: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let length = min(Self.utf8Length(leadByte: text[offset]), text.count - offset)
            symbols.append(Symbol(start: offset, length: length, previous: symbols.count - 1,
                                  next: offset + length == text.count ? -1 : symbols.count + 1))
            offset += length
        }
        var queue = PairHeap<Candidate> { a, b in a.score > b.score || (a.score == b.score && a.left < b.left) }
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let start = symbols[left].start
            let size = symbols[left].length + symbols[right].length
            guard let id = vocabulary.id(ofBytes: Array(text[start..<(start + size)])) else { return }
            queue.push(Candidate(score: vocabulary.scores[Int(id)], left: left, right: right, size: size))
        }
        for index in symbols.indices.dropFirst() { consider(index - 1, index) }
        while let pair = queue.pop() {
            let left = symbols[pair.left], right = symbols[pair.right]
            guard left.length > 0, right.length > 0, left.length + right.length == pair.size else { continue }
            symbols[pair.left].length += right.length
            symbols[pair.left].next = right.next
            symbols[pair.right].length = 0
            if right.next >= 0 { symbols[right.next].previous = pair.left }
            consider(left.previous, pair.left)
            consider(pair.left, right.next)
        }
        // llama.cpp's `resegment` also consults the pairs it merged, but only for a symbol that
        // is not a token, and every recorded pair is one — so that branch never runs.
        var index = 0
        while index != -1 {
            let symbol = symbols[index]
            let bytes = text[symbol.start..<(symbol.start + symbol.length)]
            if let id = vocabulary.id(ofBytes: Array(bytes)) {
                output.append(id)
            } else {
                for byte in bytes {
                    // llama.cpp throws (and aborts) when a byte has no token; the unknown token
                    // is the closest safe answer.
                    if let id = byteTokens[Int(byte)] ?? unknownID { output.append(id) }
                }
            }
            index = symbol.next
        }
    }

    /// llama.cpp's `unicode_len_utf8`: the length a lead byte announces (1 for a stray continuation byte).
    static func utf8Length(leadByte: UInt8) -> Int {
        switch leadByte >> 4 {
        case 0xC, 0xD: 2
        case 0xE: 3
        case 0xF: 4
        default: 1
        }
    }
}
