/// The character classes llama.cpp's pre-tokenizers test (src/unicode.h `unicode_cpt_flags`):
/// one general-category bit, plus White_Space. The bit values are llama.cpp's, because its
/// hand-written splitters test "any flag set" (`as_uint() != 0`) to mean "inside the text".
struct CodepointFlags: OptionSet, Sendable {
    let rawValue: UInt16

    static let undefined = CodepointFlags(rawValue: 0x0001)
    static let number = CodepointFlags(rawValue: 0x0002)  // \p{N}
    static let letter = CodepointFlags(rawValue: 0x0004)  // \p{L}
    static let separator = CodepointFlags(rawValue: 0x0008)  // \p{Z}
    static let accentMark = CodepointFlags(rawValue: 0x0010)  // \p{M}
    static let punctuation = CodepointFlags(rawValue: 0x0020)  // \p{P}
    static let symbol = CodepointFlags(rawValue: 0x0040)  // \p{S}
    static let control = CodepointFlags(rawValue: 0x0080)  // \p{C}
    static let whitespace = CodepointFlags(rawValue: 0x0100)  // \s (Unicode White_Space)

    static let categories = CodepointFlags(rawValue: 0x00FF)

    var isLetter: Bool { contains(.letter) }
    var isNumber: Bool { contains(.number) }
    var isWhitespace: Bool { contains(.whitespace) }
    /// The category bits only, as llama.cpp's `category_flag()`.
    var category: CodepointFlags { intersection(.categories) }

    /// Flags of one code point. Swift's Unicode tables are newer than llama.cpp's; code points
    /// assigned since are reported unassigned, as llama.cpp sees them.
    static func of(_ codepoint: UInt32) -> CodepointFlags {
        if codepoint < 128 { return ascii[Int(codepoint)] }
        return computed(codepoint)
    }

    private static let ascii: [CodepointFlags] = (0..<128).map { computed(UInt32($0)) }

    private static func computed(_ codepoint: UInt32) -> CodepointFlags {
        guard let scalar = Unicode.Scalar(codepoint) else { return .control }  // surrogates are Cs
        var flags = category(of: scalar)
        if flags != .undefined, codepoint >= 0x0800, isAssignedAfterLlamaData(codepoint) {
            flags = .undefined
        }
        if scalar.properties.isWhitespace { flags.insert(.whitespace) }
        return flags
    }

    private static func category(of scalar: Unicode.Scalar) -> CodepointFlags {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        case .spaceSeparator, .lineSeparator, .paragraphSeparator:
            return .separator
        case .nonspacingMark, .spacingMark, .enclosingMark:
            return .accentMark
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return .punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return .symbol
        case .control, .format, .surrogate, .privateUse:
            return .control
        case .unassigned:
            return .undefined
        @unknown default:
            return .undefined
        }
    }

    private static func isAssignedAfterLlamaData(_ codepoint: UInt32) -> Bool {
        let table = assignedAfterLlamaData
        var low = 0
        var high = table.count
        while low < high {
            let mid = (low + high) / 2
            if table[mid].1 < codepoint { low = mid + 1 } else { high = mid }
        }
        return low < table.count && table[low].0 <= codepoint
    }
}
