/// Token ids back to bytes, as llama.cpp's `token_to_piece` and `detokenize` (with
/// `remove_special` false): each token's piece, the first piece's leading space dropped when the
/// vocabulary adds a space prefix, then `clean_spaces`.
extension Tokenizer {
    /// The bytes one token stands for. Control and unknown tokens are empty unless `renderSpecial`.
    public func piece(_ id: Int32, renderSpecial: Bool = false) -> [UInt8] {
        guard let text = vocabulary.text(of: id) else { return [] }
        let attributes = vocabulary.attributes(of: id)
        if !renderSpecial && !attributes.isDisjoint(with: [.control, .unknown]) { return [] }
        if !attributes.isDisjoint(with: [.control, .unknown, .userDefined]) { return Array(text.utf8) }
        if attributes.contains(.normal) {
            switch kind {
            case .bytePairEncoding:
                return ByteLevel.decodeLossy(text)
            case .sentencePiece, .wordPiece:
                return Array(text.replacingSpacePlaceholder().utf8)
            }
        }
        if attributes.contains(.byte) {
            return byteValue(ofByteToken: text, id: id).map { [$0] } ?? []
        }
        return []
    }

    /// The bytes of `ids`; they need not be UTF-8 (a character may be split across calls).
    public func decodeBytes(_ ids: [Int32], renderSpecial: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var removeSpace = addsSpacePrefix
        for id in ids {
            var bytes = piece(id, renderSpecial: renderSpecial)
            if removeSpace, bytes.first == 0x20 { bytes.removeFirst() }
            removeSpace = false
            out.append(contentsOf: bytes)
        }
        return cleansSpaces ? Self.cleanSpaces(out) : out
    }

    /// `<0xNN>` -> NN for SentencePiece; a byte-level token's one byte for BPE.
    private func byteValue(ofByteToken text: String, id: Int32) -> UInt8? {
        switch kind {
        case .sentencePiece, .wordPiece:
            let scalars = Array(text.unicodeScalars)
            guard scalars.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
            return UInt8(String(text.dropFirst(3).dropLast()), radix: 16)
        case .bytePairEncoding:
            return ByteLevel.decode(text)?.first
        }
    }

    /// llama.cpp's three passes: drop the space before `? ! . ,`; drop the spaces around a lone
    /// apostrophe; drop the space before `'s 'm 're 've`.
    static func cleanSpaces(_ input: [UInt8]) -> [UInt8] {
        let space = UInt8(ascii: " "), quote = UInt8(ascii: "'")
        var text = input
        var total = text.isEmpty ? 0 : 1
        for i in text.indices.dropFirst() {
            let x = text[i]
            if text[i - 1] == space && [UInt8(ascii: "?"), UInt8(ascii: "!"), UInt8(ascii: "."), UInt8(ascii: ",")].contains(x) {
                total -= 1
            }
            text[total] = x
            total += 1
        }
        let total2 = total
        total = total2 == 0 ? 0 : 1
        var i = 1
        while i < total2 {
            let x = text[i]
            if x == quote && i + 1 < total2 && text[i - 1] == space && text[i + 1] == space {
                total -= 1
                i += 1
                text[i] = 0
            }
            text[total] = x
            total += 1
            i += 1
        }
        let total3 = total
        total = total3 == 0 ? 0 : 1
        for i in 1..<max(total3, 1) {
            let x = text[i]
            if text[i - 1] == space && x == quote && i + 1 < total3 {
                let x1 = text[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    total -= 1
                } else if i + 2 < total3 {
                    let x2 = text[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        total -= 1
                    }
                }
            }
            text[total] = x
            total += 1
        }
        return Array(text[0..<total])
    }
}

extension String {
    /// SentencePiece spells a space `▁` (U+2581).
    fileprivate func replacingSpacePlaceholder() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 }))
    }
}
