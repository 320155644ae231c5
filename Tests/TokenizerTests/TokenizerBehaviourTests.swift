import GGUF
import Testing
import Tokenizer

/// Properties that follow from llama.cpp's behaviour but are not one fixture case each.
@Suite struct TokenizerBehaviourTests {
    private static func tokenizer(_ file: String) throws -> Tokenizer {
        try Tokenizer(contentsOf: OracleFixtures.url(file).path)
    }

    /// Byte-level BPE loses nothing and SmolLM2 does not clean spaces: decoding gives the text back.
    @Test func byteLevelRoundTrip() throws {
        let tokenizer = try Self.tokenizer("smollm2-digits-vocab.gguf")
        for (name, text) in OracleFixtures.texts {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            #expect(tokenizer.decode(ids, renderSpecial: true) == text, "\(name)")
        }
    }

    /// The shared word cache gives concurrent callers the same ids as another tokenizer's.
    @Test func concurrentEncodingAgrees() async throws {
        let tokenizer = try Self.tokenizer("smollm2-digits-vocab.gguf")
        let texts = OracleFixtures.texts.sorted { $0.key < $1.key }.map(\.value)
        let fresh = try Self.tokenizer("smollm2-digits-vocab.gguf")
        let reference = texts.map { fresh.encode($0) }
        let results = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for round in 0..<4 {
                for (index, text) in texts.enumerated() where index % 4 == round || round == 0 {
                    group.addTask { (index, tokenizer.encode(text)) }
                }
            }
            var all: [(Int, [Int32])] = []
            for await result in group { all.append(result) }
            return all
        }
        for (index, ids) in results { #expect(ids == reference[index]) }
    }

    /// Special tokens are cut out bytewise and only when asked; user-defined ones always.
    @Test func specialTokenParsing() throws {
        let bpe = try Self.tokenizer("smollm2-digits-vocab.gguf")
        #expect(bpe.encode("<|im_start|>", addSpecial: false, parseSpecial: true) == [1])
        #expect(bpe.encode("<|im_start|>", addSpecial: false, parseSpecial: false).count > 1)
        let spm = try Self.tokenizer("spm-vocab.gguf")
        let userDefined = try #require((0..<Int32(spm.vocabularySize)).first { spm.tokenText($0) == "<|im_start|>" })
        #expect(spm.tokenAttributes(userDefined).contains(.userDefined))
        #expect(spm.encode("<|im_start|>", addSpecial: false, parseSpecial: false) == [userDefined])
    }

    @Test func specialIDsAndDefaults() throws {
        let spm = try Self.tokenizer("spm-vocab.gguf")
        #expect(spm.kind == .sentencePiece && spm.addsBOS && spm.addsSpacePrefix)
        #expect(spm.encode("") == [1] && spm.encode("", addSpecial: false) == [])
        let wpm = try Self.tokenizer("wpm-vocab.gguf")
        #expect(wpm.kind == .wordPiece && wpm.bosTokenID == 2 && wpm.separatorTokenID == 3)
        #expect(wpm.encode("") == [2, 3])
        var metadata = try GGUFFile(path: OracleFixtures.url("smollm2-digits-vocab.gguf").path).metadata
        metadata["tokenizer.ggml.pre"] = .string("llama-bpe")
        metadata["tokenizer.ggml.add_bos_token"] = nil
        let llama3 = try Tokenizer(metadata: metadata)
        #expect(llama3.addsBOS && llama3.encode("") == [1])
    }
}
