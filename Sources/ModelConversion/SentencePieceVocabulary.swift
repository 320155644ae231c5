import BinaryIO
import GGUF
import Safetensors

/// The vocabulary of a SentencePiece tokenizer.model, as the reference's
/// `_set_vocab_sentencepiece` writes it: `llama` tokenizer, `default` pre-tokenizer, pieces with
/// their scores and types, then added_tokens.json and tokenizer_config.json's added tokens on
/// top, and `[PADn]` for ids up to config.json's vocab_size that the model does not fill.
enum SentencePieceVocabulary {
    /// `phi3`: Phi3MiniModel's variant — vocab_size only from `vocab_size`, added tokens typed by their
    /// `special` flag alone and kept as written, and tokenizer.json's added tokens applied too.
    static func write(files: TokenizerFiles, hparams: HyperParameters, phi3: Bool = false,
                      into m: inout MetadataBuilder) throws(ConversionError) {
        let model = try load(files)
        let configured = try hparams.int(phi3 ? ["vocab_size"] : ["vocab_size_per_layer_input", "vocab_size"])
        // Phi-3: `hparams.get('vocab_size', sp_size)`; the others: `find_hparam(...) or sp_size` (0 counts as unset).
        let nonZero = configured.flatMap { $0 != 0 ? $0 : nil }
        let vocabularySize = phi3 ? (configured ?? model.pieces.count) : (nonZero ?? model.pieces.count)

        var tokens = (0..<vocabularySize).map { "[PAD\($0)]" }
        var scores = [Float](repeating: -10000, count: vocabularySize)
        var types = [SentencePieceModel.PieceType](repeating: .unused, count: vocabularySize)
        for (id, piece) in model.pieces.enumerated() where id < vocabularySize {
            tokens[id] = piece.text
            scores[id] = piece.score
            // SentencePieceProcessor's IsUnknown/IsControl/IsUnused/IsByte; user-defined pieces count as normal.
            types[id] = piece.type == .userDefined ? .normal : piece.type
        }
        if let added = try TokenizerFiles.json(files.path, "added_tokens.json")?.objectValue {
            for (content, idValue) in added {
                guard let id = idValue.intValue, id >= 0, id < vocabularySize else { continue }
                tokens[id] = content
                scores[id] = -1000
                types[id] = .userDefined
            }
        }
        var decoder = (files.tokenizerConfig?["added_tokens_decoder"]?.objectValue ?? []).map { (key: Int($0.key), entry: $0.value) }
        if phi3 {
            decoder += (files.tokenizerJSON?["added_tokens"]?.arrayValue ?? []).map { (key: $0["id"]?.intValue, entry: $0) }
        }
        for (key, entry) in decoder {
            guard let id = key, id >= 0, id < vocabularySize, var content = entry["content"]?.stringValue else { continue }
            if phi3 {
                types[id] = entry["special"]?.boolValue == true ? .control : .userDefined
            } else if entry["special"]?.boolValue == true || Vocabulary.looksSpecial(content) {
                types[id] = .control
            } else {
                content = content.replacingOccurrences(of: "\u{2581}", with: " ")
                types[id] = .userDefined
            }
            scores[id] = -1000
            tokens[id] = content
        }

        m.set(GGUFKeys.Tokenizer.model, .string("llama"))
        m.set(GGUFKeys.Tokenizer.pre, .string("default"))
        if !tokens.isEmpty {
            m.set(GGUFKeys.Tokenizer.list, MetadataBuilder.stringArray(tokens))
            m.set(GGUFKeys.Tokenizer.scores, .array(.float32, scores.map { .float32($0) }))
            m.set(GGUFKeys.Tokenizer.tokenType, .array(.int32, types.map { .int32($0.rawValue) }))
        }
        let special = try SpecialVocabulary(files: files, loadMerges: false, vocabularySize: tokens.count)
        special.write(into: &m)
    }

    static func load(_ files: TokenizerFiles) throws(ConversionError) -> SentencePieceModel {
        let path = files.path + "/tokenizer.model"
        do {
            let file = try MappedFile(path: path)
            return try SentencePieceModel(bytes: file.bytes)
        } catch let error as SentencePieceModel.FormatError {
            throw .tokenizer(path: path, message: "is not a valid SentencePiece model (\(error))", hint: "re-download tokenizer.model")
        } catch {
            throw .tokenizer(path: path, message: "cannot be read (\(error))", hint: "check the file's permissions")
        }
    }
}
