// Foundation only for canonical decomposition (NFD), which the standard library does not expose.
import Foundation

/// WordPiece (`tokenizer.ggml.model` "bert"), as llama.cpp's `llm_tokenizer_wpm_session`:
/// BERT's normalizer (optional lower-casing and accent stripping; control characters dropped),
/// words split at whitespace with punctuation, ASCII symbols and CJK ideographs as one-character
/// words, then each word `▁word` matched greedily, longest token first. A word with a part that
/// matches nothing becomes the unknown token. (llama.cpp's converter writes BERT's `##piece`
/// continuation tokens as `piece` and word-initial `piece` as `▁piece`.)
struct WordPieceEncoder: Sendable {
    private let vocabulary: Vocabulary
    private let unknownID: Int32?
    private let lowercase: Bool
    private let stripAccents: Bool
    /// The longest token in bytes: no longer match is tried.
    private let maxTokenLength: Int

    init(vocabulary: Vocabulary, unknownID: Int32?, lowercase: Bool, stripAccents: Bool) {
        self.vocabulary = vocabulary
        self.unknownID = unknownID
        self.lowercase = lowercase
        self.stripAccents = stripAccents
        maxTokenLength = vocabulary.texts.reduce(0) { max($0, $1.utf8.count) }
    }

    func encode(_ text: Substring, into output: inout [Int32]) {
        for word in words(text) {
            let bytes = [0xE2, 0x96, 0x81] + word
            let before = output.count
            var i = 0
            while i < bytes.count {
                var end = min(bytes.count, i + maxTokenLength + 1)
                var matched = false
                while end > i {
                    if let id = vocabulary.id(ofBytes: Array(bytes[i..<end])) {
                        output.append(id)
                        matched = true
                        i = end
                        break
                    }
                    end -= 1
                }
                if !matched {
                    output.removeSubrange(before...)
                    break
                }
            }
            if output.count == before, let unknownID { output.append(unknownID) }
        }
    }

    /// llama.cpp's `preprocess`: normalized words as UTF-8.
    private func words(_ text: Substring) -> [[UInt8]] {
        var words: [[UInt8]] = [[]]
        for scalar in text.unicodeScalars {
            var cpt = scalar.value
            if stripAccents { cpt = Self.firstOfDecomposition(cpt) }
            let flags = CodepointFlags.of(cpt)
            if flags.isWhitespace {
                if !(words.last?.isEmpty ?? true) { words.append([]) }
                continue
            }
            if cpt == 0 || cpt == 0xFFFD || flags.category == .control { continue }
            if stripAccents && flags.category == .accentMark { continue }
            // The tests below use the code point before lower-casing, as llama.cpp does.
            guard let normalized = Unicode.Scalar(lowercase ? Self.lowercased(cpt) : cpt) else { continue }
            let utf8 = Array(String(normalized).utf8)
            let isSymbol = flags.category == .symbol
            if flags.category == .punctuation || (cpt < 0x7F && isSymbol) || Self.isChineseCharacter(cpt) {
                if !(words.last?.isEmpty ?? true) { words.append([]) }
                words[words.count - 1] = utf8
                words.append([])
            } else {
                words[words.count - 1].append(contentsOf: utf8)
            }
        }
        if words.last?.isEmpty ?? false { words.removeLast() }
        return words
    }

    /// llama.cpp's `unicode_cpts_normalize_nfd` keeps only the first code point of each
    /// character's canonical decomposition (the base letter); accents are then dropped.
    private static func firstOfDecomposition(_ cpt: UInt32) -> UInt32 {
        guard cpt >= 0xC0, let scalar = Unicode.Scalar(cpt),
              !CodepointFlags.of(cpt).contains(.undefined) else { return cpt }
        return String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars.first?.value ?? cpt
    }

    /// The simple lower-case mapping (llama.cpp's `unicode_tolower`); the first code point of
    /// Swift's full mapping is it (the full mapping differs only for U+0130, "i̇").
    private static func lowercased(_ cpt: UInt32) -> UInt32 {
        guard let scalar = Unicode.Scalar(cpt) else { return cpt }
        if cpt < 128 { return (0x41...0x5A).contains(cpt) ? cpt + 0x20 : cpt }
        return scalar.properties.lowercaseMapping.unicodeScalars.first?.value ?? cpt
    }

    /// llama.cpp's (and Hugging Face's) CJK ranges, including their 0x2B920 typo.
    private static func isChineseCharacter(_ cpt: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(cpt) || (0x3400...0x4DBF).contains(cpt) || (0x20000...0x2A6DF).contains(cpt)
            || (0x2A700...0x2B73F).contains(cpt) || (0x2B740...0x2B81F).contains(cpt)
            || (0x2B920...0x2CEAF).contains(cpt) || (0xF900...0xFAFF).contains(cpt) || (0x2F800...0x2FA1F).contains(cpt)
    }
}
