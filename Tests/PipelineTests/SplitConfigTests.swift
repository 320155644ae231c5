import GGUF
import Pipeline
import Testing

/// The `split` output stage and a scheme's own `split`.
struct SplitConfigTests {
    @Test func stageAndSchemeSplitsParse() throws {
        let config = try parsePipeline("""
            {"version": 1, "schemes": [{"mix": "Q4_K_M"}, {"name": "small", "mix": "Q8_0", "split": {"max_tensors": 100}}],
             "outputs": [{"stage": "split", "max_size": "45G"}, {"stage": "manifest"}]}
            """)
        #expect(config.split == .maxBytes(45_000_000_000))
        #expect(config.splitRule(for: config.schemes[0]) == .maxBytes(45_000_000_000))
        #expect(config.splitRule(for: config.schemes[1]) == .maxTensors(100))
        let plain = try parsePipeline(#"{"version":1,"schemes":[{"mix":"Q8_0"},{"name":"s","mix":"Q8_0","split":{"max_size":"500M"}}]}"#)
        #expect(plain.split == nil)
        #expect(plain.splitRule(for: plain.schemes[0]) == nil)
        #expect(plain.splitRule(for: plain.schemes[1]) == .maxBytes(500_000_000))
    }

    @Test func badSplitsNameTheirPath() {
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"outputs":[{"stage":"split","max_size":"45GB"}]}"#,
                    path: "$.outputs[0].max_size", containing: "'45GB' is not a split size")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"outputs":[{"stage":"split"}]}"#,
                    path: "$.outputs[0]", containing: "needs \"max_size\"")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"outputs":[{"stage":"split","max_size":"4G","max_tensors":3}]}"#,
                    path: "$.outputs[0].max_tensors", containing: "cannot go with \"max_size\"")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","split":{"max_tensors":0}}]}"#,
                    path: "$.schemes[0].split.max_tensors", containing: "between 1 and")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","split":{"max_size":"4G","stage":"split"}}]}"#,
                    path: "$.schemes[0].split.stage", containing: "not a known key")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","split":{"max_size":"4G"}}],"outputs":[{"stage":"zstd"}]}"#,
                    path: "$.schemes[0].split", containing: "zstd stage compresses single files only")
    }

    @Test func aSplitSetsArtifactsAreNamedAfterTheModel() {
        #expect(PipelineJob.baseName(forInput: "/m/Llama-405B-F16-00001-of-00017.gguf") == "Llama-405B")
        #expect(PipelineJob.baseName(forInput: "model-00001-of-00003.gguf") == "model")
        #expect(PipelineJob.baseName(forInput: "a-00001-of-0003.gguf") == "a-00001-of-0003")
        #expect(PipelineJob.baseName(forInput: "-00001-of-00003.gguf") == "-00001-of-00003")
    }
}
