import Pipeline
import Testing

/// pipeline.json: what is accepted, and that every mistake is reported with its JSON path.
struct PipelineConfigTests {
    @Test func fullPipelineParses() throws {
        let config = try parsePipeline("""
            {"version": 1, "threads": 2,
             "calibration": [{"stage": "imatrix", "file": "m.imatrix.gguf"}, {"stage": "weight-stats"}],
             "schemes": [{"mix": "Q4_K_M"},
                         {"name": "q6-custom", "mix": "q6_k", "pure": true, "output_tensor_type": "Q8_0",
                          "token_embedding_type": "q8_0", "rules": [{"match": "attn_v", "type": "Q8_0"}]}],
             "outputs": [{"stage": "zstd", "level": 5, "workers": 0, "keep_plain": false}, {"stage": "manifest"}]}
            """)
        #expect(config.threads == 2)
        #expect(config.importanceMatrixFile == "m.imatrix.gguf")
        #expect(config.importanceMatrixPath == "m.imatrix.gguf", "relative to the pipeline file's folder, here the current one")
        #expect(config.collectsWeightStats)
        #expect(config.schemes.map(\.name) == ["Q4_K_M", "q6-custom"])
        #expect(config.schemes[1].options.mix == .q6_K && config.schemes[1].options.pure)
        #expect(config.schemes[1].options.outputTensorType == .q8_0 && config.schemes[1].options.rules.count == 1)
        #expect(config.schemes.allSatisfy { $0.options.hasImportanceMatrix })
        #expect(config.zstd == PipelineConfig.ZstdStage(level: 5, workers: 0, keepPlain: false))
    }

    @Test func relativeImatrixResolvesAgainstThePipelineFolder() throws {
        let config = try PipelineConfig.parse(Array(#"{"version":1,"calibration":[{"stage":"imatrix","file":"x.dat"}],"schemes":[{"mix":"Q8_0"}]}"#.utf8),
                                              file: "/etc/quantd/pipeline.json")
        #expect(config.importanceMatrixPath == "/etc/quantd/x.dat")
        #expect(config.importanceMatrixFile == "x.dat")
    }

    @Test func unknownKeysAreRejectedWithTheirPath() {
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q4_K_M","mixx":1}]}"#, path: "$.schemes[0].mixx", containing: "not a known key")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q4_K_M"}],"extra":true}"#, path: "$.extra", containing: "not a known key")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"outputs":[{"stage":"zstd","levle":3}]}"#, path: "$.outputs[0].levle", containing: "not a known key")
    }

    @Test func badValuesNameTheirPath() {
        expectPipelineError(#"{"schemes":[{"mix":"Q4_K_M"}]}"#, path: "$.version", containing: "required")
        expectPipelineError(#"{"version":2,"schemes":[{"mix":"Q4_K_M"}]}"#, path: "$.version", containing: "schema version 1")
        expectPipelineError(#"{"version":1,"schemes":[]}"#, path: "$.schemes", containing: "at least one")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q4_K_X"}]}"#, path: "$.schemes[0].mix", containing: "not a mix")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","output_tensor_type":"Q8_K"}]}"#, path: "$.schemes[0].output_tensor_type", containing: "not a type quantd can write")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","rules":[{"match":"([","type":"Q8_0"}]}]}"#, path: "$.schemes[0].rules[0].match", containing: "regular expression")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"},{"mix":"Q8_0"}]}"#, path: "$.schemes[1].name", containing: "names two schemes")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","name":"../x"}]}"#, path: "$.schemes[0].name", containing: "file name")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"outputs":[{"stage":"zstd","level":40}]}"#, path: "$.outputs[0].level", containing: "between 1 and 22")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"}],"calibration":[{"stage":"magic"}]}"#, path: "$.calibration[0].stage", containing: "not a calibration stage")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0","pure":"yes"}]}"#, path: "$.schemes[0].pure", containing: "true or false")
        expectPipelineError(#"{"version":1,"schemes":[{"mix":"Q8_0"},]}"#, path: "$", containing: "not valid JSON")
    }

    @Test func theShippedPipelinesAreValid() throws {
        let root = TestPaths.repositoryRoot
        for file in ["pipeline.json", "examples/imatrix-q4_k_m.json", "examples/k-quants-zstd.json", "examples/custom-rules.json", "examples/daemon-pipeline.json"] {
            let path = root + "/" + file
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do { _ = try PipelineConfig.parse(Array(text.utf8), file: path) } catch { Issue.record("\(file): \(error)") }
        }
    }
}
