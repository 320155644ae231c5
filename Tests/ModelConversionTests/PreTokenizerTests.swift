import JSON
import ModelConversion
import Safetensors
import Testing

@Suite struct PreTokenizerTests {
    static func tokenizer(_ pre: String, normalizer: String = "null") throws -> JSONValue {
        try StrictJSON.parse(#"{"normalizer": \#(normalizer), "pre_tokenizer": \#(pre)}"#)
    }

    @Test func smolLM2() throws {
        let t = try Self.tokenizer(#"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]}"#)
        #expect(try PreTokenizer.identify(tokenizerJSON: t, path: "t") == "smollm")
    }

    @Test func gpt2() throws {
        let t = try Self.tokenizer(#"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#)
        #expect(try PreTokenizer.identify(tokenizerJSON: t, path: "t") == "gpt-2")
    }

    @Test func llama3() throws {
        let regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
        let t = try Self.tokenizer(#"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\#(regex)"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}"#)
        #expect(try PreTokenizer.identify(tokenizerJSON: t, path: "t") == "llama-bpe")
    }

    @Test func qwen2() throws {
        let regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
        let t = try Self.tokenizer(#"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\#(regex)"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}"#)
        #expect(try PreTokenizer.identify(tokenizerJSON: t, path: "t") == "qwen2")
    }

    @Test func unknownConfigurationIsRefusedWithItsDescription() throws {
        let t = try Self.tokenizer(#"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}]}"#)
        do {
            _ = try PreTokenizer.identify(tokenizerJSON: t, path: "t")
            Issue.record("an unknown pre-tokenizer was accepted")
        } catch {
            #expect(error.description.contains("Digits(individual_digits: false)"))
            #expect(error.description.contains("smollm"))
        }
    }

    @Test func normalizerIsRefused() throws {
        let t = try Self.tokenizer(#"{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#, normalizer: #"{"type":"NFC"}"#)
        #expect(throws: ConversionError.self) { try PreTokenizer.identify(tokenizerJSON: t, path: "t") }
    }
}
