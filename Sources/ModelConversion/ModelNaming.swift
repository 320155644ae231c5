import Foundation

/// The `general.name`/`basename`/`finetune`/`version`/`size_label` heuristics of gguf-py
/// (`Metadata.get_model_id_components`, `id_to_title`, `utility.size_label`,
/// `utility.naming_convention`), so names and default file names match the reference's.
public enum ModelNaming {
    /// The parts of a model id such as `HuggingFaceTB/SmolLM2-135M-Instruct`.
    public struct Components: Equatable, Sendable {
        public var fullName: String?
        public var organization: String?
        public var basename: String?
        public var finetune: String?
        public var version: String?
        public var sizeLabel: String?

        public init(fullName: String? = nil, organization: String? = nil, basename: String? = nil,
                    finetune: String? = nil, version: String? = nil, sizeLabel: String? = nil) {
            self.fullName = fullName
            self.organization = organization
            self.basename = basename
            self.finetune = finetune
            self.version = version
            self.sizeLabel = sizeLabel
        }
    }

    private enum Tag: Hashable { case basename, sizeLabel, finetune, version, type }

    // Patterns copied from gguf-py, as literals so the compiler checks them (Regex is not Sendable;
    // these are never mutated).
    nonisolated(unsafe) private static let versionPattern = /(v|iter)?\d+([.]\d+)*/.ignoresCase()
    nonisolated(unsafe) private static let typePattern = /i?q\d(_\w)*|b?fp?(16|32)/.ignoresCase()
    nonisolated(unsafe) private static let sizePattern =
        /(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)/.ignoresCase()
    nonisolated(unsafe) private static let finetunePattern = /chat|instruct|vision|lora/.ignoresCase()
    nonisolated(unsafe) private static let titleExempt = /^(v\d+(?:\.\d+)*|\d.*)$/

    /// `Metadata.get_model_id_components(model_id, total_params)`.
    public static func components(of modelID: String, totalParameters: Int) -> Components {
        if modelID.contains(" ") {
            return Components(fullName: modelID)
        }
        var organization: String?
        var fullName = modelID
        if let slash = modelID.firstIndex(of: "/") {
            organization = String(modelID[..<slash])
            fullName = String(modelID[modelID.index(after: slash)...])
        }
        if let org = organization, org.first == "." { organization = nil }

        var parts = fullName.split(separator: "-", omittingEmptySubsequences: true).map(String.init)
        var tags = Array(repeating: Set<Tag>(), count: parts.count)
        for i in parts.indices {
            var part = parts[i]
            if (try? versionPattern.wholeMatch(in: part)) != nil {
                tags[i].insert(.version)
            } else if (try? typePattern.wholeMatch(in: part)) != nil {
                tags[i].insert(.type)
                parts[i] = part.uppercased()
            } else if i > 0, (try? sizePattern.wholeMatch(in: part)) != nil {
                part = part.replacingOccurrences(of: "_", with: ".")
                var chars = Array(part)
                // bloom-7b1 -> 7.1B
                if let last = chars.last, last.isASCII, last.isNumber, chars.count >= 2 {
                    chars = Array(chars.dropLast(2)) + ["."] + [chars[chars.count - 1], chars[chars.count - 2]]
                }
                if chars.count > 1, chars[chars.count - 2].isASCII, chars[chars.count - 2].isNumber,
                   "kmbt".contains(chars[chars.count - 1]) {
                    chars[chars.count - 1] = Character(chars[chars.count - 1].uppercased())
                }
                part = String(chars)
                if totalParameters != 0, let last = chars.last, let number = Double(String(chars.dropLast())) {
                    let power = " KMBT".firstIndex(of: last).map { " KMBT".distance(from: " KMBT".startIndex, to: $0) } ?? -1
                    let labelParameters = number * pow(1000, Double(power))
                    let total = Double(totalParameters)
                    let tooSmall = totalParameters < 0 && labelParameters < Double(abs(totalParameters) / 8)
                    let farOff = totalParameters > 0 && abs(labelParameters - total) > Double(7 * totalParameters / 8)
                    if tooSmall || farOff {
                        // Likely a context length: a finetune, in lower case.
                        tags[i].insert(.finetune)
                        part = String(chars.dropLast()) + last.lowercased()
                    }
                }
                if tags[i].isEmpty { tags[i].insert(.sizeLabel) }
                parts[i] = part
            } else if i > 0, (try? finetunePattern.wholeMatch(in: part)) != nil {
                tags[i].insert(totalParameters < 0 && part.lowercased() == "lora" ? .type : .finetune)
            }
        }

        // Word sizes ("small") give way to numeric ones.
        if zip(parts, tags).contains(where: { $1.contains(.sizeLabel) && $0.contains { $0.isNumber } }) {
            for i in parts.indices where tags[i].contains(.sizeLabel) && parts[i].allSatisfy(\.isLetter) {
                tags[i].remove(.sizeLabel)
            }
        }
        var atStart = true
        for i in parts.indices {
            if atStart && ((tags[i].isEmpty && (parts[i].first?.isLetter ?? false)) || tags[i].contains(.version)) {
                tags[i].insert(.basename)
            } else {
                atStart = false
                if tags[i].isEmpty { tags[i].insert(.finetune) }
            }
        }
        for i in parts.indices.reversed() {
            if tags[i].contains(.basename) && tags[i].count > 1 { tags[i].remove(.basename) } else { break }
        }

        func joined(_ tag: Tag, excluding: Tag? = nil, unique: Bool = false) -> String? {
            var seen = Set<String>()
            let picked = zip(parts, tags).filter { $1.contains(tag) && !(excluding.map($1.contains) ?? false) }
                .map(\.0).filter { !unique || seen.insert($0).inserted }
            return picked.isEmpty ? nil : picked.joined(separator: "-")
        }
        var result = Components(fullName: fullName, organization: organization,
                                basename: joined(.basename), finetune: joined(.finetune),
                                version: joined(.version, excluding: .basename),
                                sizeLabel: joined(.sizeLabel, unique: true))
        if result.sizeLabel == nil && result.finetune == nil && result.version == nil {
            result.basename = nil
        }
        return result
    }

    /// `Metadata.id_to_title`: words title-cased unless they are versions or start with a digit.
    public static func title(_ id: String) -> String {
        let words = id.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "-", with: " ")
            .split(whereSeparator: { $0.isWhitespace }).map(String.init)
        return words.map { word in
            let isLower = word.contains { $0.isCased } && !word.contains { $0.isCased && !$0.isLowercase }
            guard isLower, (try? titleExempt.wholeMatch(in: word)) == nil else { return word }
            return pythonTitle(word)
        }.joined(separator: " ")
    }

    /// Python's `str.title()`: a cased letter after an uncased character is upper-cased, others lower.
    static func pythonTitle(_ word: String) -> String {
        var out = ""
        var previousCased = false
        for c in word {
            out += c.isCased ? (previousCased ? c.lowercased() : c.uppercased()) : String(c)
            previousCased = c.isCased
        }
        return out
    }

    /// `utility.model_weight_count_rounded_notation` / `size_label` for a dense model: "135M", "6.4M".
    /// gguf-py's `size_label` over `GGUFWriter.get_total_parameter_count`: with expert tensors
    /// (`*_exps.*` of three or more dimensions, experts in the outermost one) the label is
    /// `<experts>x<shared + one expert's share>`, else the total; nil for a model without parameters.
    static func sizeLabel(for tensors: [(name: String, dimensions: [Int])]) -> String? {
        var total = 0, shared = 0, expert = 0, expertSum = 0, expertTensors = 0
        for tensor in tensors {
            let size = tensor.dimensions.reduce(1, *)
            total += size
            // GGUF order is reversed: numpy's shape[-3] (or shape[-2] for a bias) is ne2 (ne1).
            let index = tensor.name.contains(".bias") ? 1 : 2
            if tensor.name.contains("_exps."), tensor.dimensions.count >= 3, tensor.dimensions[index] > 0 {
                let count = tensor.dimensions[index]
                expert += size / count
                expertSum += count
                expertTensors += 1
            } else {
                shared += size
            }
        }
        if expertTensors > 0, expertSum / expertTensors > 0 {
            return "\(expertSum / expertTensors)x" + sizeLabel(parameterCount: shared + expert)
        }
        return total > 0 ? sizeLabel(parameterCount: total) : nil
    }

    public static func sizeLabel(parameterCount: Int) -> String {
        let count = Double(abs(parameterCount))
        let (scaled, suffix): (Double, String) =
            count > 1e12 ? (count * 1e-12, "T") : count > 1e9 ? (count * 1e-9, "B")
            : count > 1e6 ? (count * 1e-6, "M") : (count * 1e-3, "K")
        let rounded = String(Int(scaled.rounded(.toNearestOrEven)))
        let digits = rounded.drop { $0 == "0" }.count
        let fractionDigits = max(2 - digits, 0)
        return String(format: "%.\(fractionDigits)f", scaled) + suffix
    }

    /// `utility.naming_convention`: `<Basename|Name>-<SizeLabel>-<Finetune>-<Version>-<TYPE>`.
    public static func fileName(name: String?, basename: String?, finetune: String?, version: String?,
                                sizeLabel: String?, outputType: String?) -> String {
        func clean(_ s: String) -> String {
            s.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " ", with: "-")
        }
        let base = basename.map { clean($0).replacingOccurrences(of: "/", with: "-") }
            ?? name.map { clean($0).replacingOccurrences(of: "/", with: "-") } ?? "ggml-model"
        return base + (sizeLabel.map { "-\($0)" } ?? "") + (finetune.map { "-\(clean($0))" } ?? "")
            + (version.map { "-\(clean($0))" } ?? "") + (outputType.map { "-\(clean($0).uppercased())" } ?? "")
    }
}
