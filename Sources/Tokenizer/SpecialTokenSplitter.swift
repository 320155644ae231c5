/// Cuts special tokens out of the text before any pre-tokenization, as llama.cpp's
/// `tokenizer_st_partition`: control, user-defined and unknown tokens are searched for as plain
/// bytes, longest text first, and each occurrence becomes its id; the text between them is
/// tokenized normally. Without `parseSpecial`, control and unknown tokens are left in the text
/// (user-defined tokens are still cut out, as Hugging Face tokenizers do).
struct SpecialTokenSplitter: Sendable {
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    private struct Special: Sendable {
        let id: Int32
        let bytes: [UInt8]
        let parsedOnlyWhenAsked: Bool
    }

    private let specials: [Special]

    init(vocabulary: Vocabulary) {
        var specials: [Special] = []
        for index in 0..<vocabulary.count {
            let attributes = vocabulary.attributes[index]
            guard !attributes.isDisjoint(with: TokenAttributes.matchedInText) else { continue }
            specials.append(Special(
                id: Int32(index), bytes: Array(vocabulary.texts[index].utf8),
                parsedOnlyWhenAsked: !attributes.isDisjoint(with: [.control, .unknown])))
        }
        // Longest first, so "<|im_start|>" is not cut as "<|im" + ... by a shorter token.
        // llama.cpp's std::sort leaves equal lengths in an unspecified order; ids break ties here.
        specials.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        self.specials = specials
    }

    func split(_ utf8: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !utf8.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<utf8.count)]
        utf8.withUnsafeBufferPointer { text in
            for special in specials where parseSpecial || !special.parsedOnlyWhenAsked {
                guard fragments.contains(where: { if case .text = $0 { true } else { false } }) else { break }
                var next: [Fragment] = []
                next.reserveCapacity(fragments.count + 2)
                for fragment in fragments {
                    guard case .text(let range) = fragment else {
                        next.append(fragment)
                        continue
                    }
                    var start = range.lowerBound
                    while let match = Self.find(special.bytes, in: text, from: start, to: range.upperBound) {
                        if match > start { next.append(.text(start..<match)) }
                        next.append(.token(special.id))
                        start = match + special.bytes.count
                    }
                    if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
                }
                fragments = next
            }
        }
        return fragments
    }

    /// The first position in `lower..<upper` where `needle` starts and fits entirely.
    private static func find(_ needle: [UInt8], in text: UnsafeBufferPointer<UInt8>, from lower: Int, to upper: Int) -> Int? {
        guard let first = needle.first, upper - lower >= needle.count else { return nil }
        let last = upper - needle.count
        var position = lower
        while position <= last {
            if text[position] == first {
                var index = 1
                while index < needle.count && text[position + index] == needle[index] { index += 1 }
                if index == needle.count { return position }
            }
            position += 1
        }
        return nil
    }
}
