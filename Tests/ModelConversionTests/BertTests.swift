import Foundation
import GGUF
import JSON
@testable import ModelConversion
import QuantdTestSupport
import Testing

/// BERT specifics beyond the reference fixture: the phantom-space vocabulary, tensor filtering and
/// the sentence-transformers pooling type.
@Suite struct BertTests {
    @Test func phantomSpaceComparesScalarsNotCharacters() {
        #expect(WordPieceVocabulary.phantomSpace("[CLS]", .control) == "[CLS]")
        #expect(WordPieceVocabulary.phantomSpace("##ing", .normal) == "ing")
        #expect(WordPieceVocabulary.phantomSpace("the", .normal) == "\u{2581}the")
        // U+093E joins the second "#" into one Character; Python still sees the "##" prefix.
        #expect(WordPieceVocabulary.phantomSpace("##\u{093E}", .normal) == "\u{093E}")
    }

    @Test func tensorNamesAndFilter() throws {
        let bert = Architecture.bert
        let plain = HyperParameters(config: .object([]), path: "x")
        #expect(bert.filterTensor("bert.encoder.layer.3.attention.output.LayerNorm.gamma", plain) == "encoder.layer.3.attention.output.LayerNorm.weight")
        #expect(bert.filterTensor("bert.pooler.dense.weight", plain) == nil)
        #expect(bert.filterTensor("cls.predictions.transform.dense.weight", plain) == nil)
        #expect(bert.filterTensor("embeddings.position_ids", plain) == nil)
        // A classifier: `cls` with transformers' two dummy labels, `cls.output` with real ones.
        #expect(bert.filterTensor("classifier.weight", plain).flatMap(bert.ggufTensorName) == "cls.weight")
        let labelled = HyperParameters(config: try StrictJSON.parse(Array(#"{"id2label": {"1": "yes", "0": "no"}}"#.utf8)), path: "x")
        #expect(bert.filterTensor("classifier.bias", labelled).flatMap(bert.ggufTensorName) == "cls.output.bias")
        #expect(try BertClassifierLabels.labels(labelled) == ["no", "yes"])
        let one = HyperParameters(config: try StrictJSON.parse(Array(#"{"num_labels": 1}"#.utf8)), path: "x")
        #expect(try BertClassifierLabels.labels(one) == ["LABEL_0"])
        #expect(bert.ggufTensorName("encoder.layer.11.output.LayerNorm.bias") == "blk.11.layer_output_norm.bias")
        #expect(bert.ggufTensorName("encoder.layer.1.intermediate.dense.weight") == "blk.1.ffn_up.weight")
        #expect(bert.ggufTensorName("embeddings.token_type_embeddings.weight") == "token_types.weight")
        #expect(bert.ggufTensorName("encoder.layer.x.output.dense.weight") == nil)
        #expect(TensorRules.type(ggufName: "position_embd.weight", numpyShape: [512, 64], outputType: .f16) == .f32)
    }

    /// Without tokenizer.json the vocabulary comes from vocab.txt (the same tokens and types as
    /// tiny-bert's expected ones) and, as in the reference (checked with compare_gguf on this
    /// folder, with and without tokenizer_config.json's added_tokens_decoder and with neither
    /// config file), only config.json's pad id is a special id; no normalizer or add_* flags.
    @Test func vocabTextWithoutTokenizerJSON() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-bert")
        try FileManager.default.removeItem(atPath: folder + "/tokenizer.json")
        let metadata = try ConversionPlan(input: folder, outputType: .fixed(.f16)).metadata
        let expected = try Fixtures.json("expected/tiny-bert.json")["metadata"]
        for key in ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.model", "tokenizer.ggml.pre"] {
            let want = try #require(expected?[key])
            #expect(ReferenceFixtureTests.matches(try #require(metadata[key]), want), "\(key)")
        }
        #expect(metadata["tokenizer.ggml.padding_token_id"] == .uint32(0))
        let tokenizerKeys = metadata.entries.map(\.key).filter { $0.hasPrefix("tokenizer.") }
        #expect(tokenizerKeys == ["tokenizer.ggml.token_type_count", "tokenizer.ggml.model", "tokenizer.ggml.pre",
                                  "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.padding_token_id"])
    }

    @Test(arguments: [
        (#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}"#, UInt32(1)),
        (#"{"pooling_mode_cls_token": true}"#, UInt32(2)),
        (#"{"pooling_mode_lasttoken": true}"#, UInt32(3)),
        (#"{"pooling_mode": "mean"}"#, UInt32(1)),
    ])
    func poolingTypeFromSentenceTransformersConfig(config: String, expected: UInt32) throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-bert")
        try config.write(toFile: folder + "/1_Pooling/config.json", atomically: true, encoding: .utf8)
        let plan = try ConversionPlan(input: folder, outputType: .fixed(.f16))
        #expect(plan.metadata["bert.pooling_type"] == .uint32(expected))
    }

    @Test func noModulesMeansNoPoolingKeyAndUnknownPoolingIsAnError() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-bert")
        try FileManager.default.removeItem(atPath: folder + "/modules.json")
        #expect(try ConversionPlan(input: folder, outputType: .fixed(.f16)).metadata["bert.pooling_type"] == nil)

        let otherTemp = TemporaryFolder("convert-test")
        let other = try otherTemp.copy(fixture: "tiny-bert")
        try #"{"pooling_mode_max_tokens": true}"#.write(toFile: other + "/1_Pooling/config.json", atomically: true, encoding: .utf8)
        #expect { _ = try ConversionPlan(input: other, outputType: .fixed(.f16)) } throws: {
            "\($0)".contains("1_Pooling/config.json") && "\($0)".contains("pooling")
        }
    }
}
