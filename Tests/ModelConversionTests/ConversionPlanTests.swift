import GGUF
import ModelConversion
import Testing

@Suite struct ConversionPlanTests {
    /// `--outtype auto`: BF16 weights stay BF16, F16 stay F16, F32 become F16 (the reference's rule).
    @Test(arguments: [("tiny-llama3", OutputType.bf16), ("tiny-qwen2", .f16), ("tiny-qwen3", .f16), ("tiny-llama-fp8", .bf16)])
    func autoType(model: String, expected: OutputType) throws {
        let plan = try ConversionPlan(input: try Fixtures.path("models/\(model)"), outputType: .auto)
        #expect(plan.outputType == expected)
        #expect(plan.metadata["general.file_type"] == .uint32(expected.fileTypeID))
    }

    /// The folder-output name is gguf-py's naming_convention of the reference's general.* values.
    @Test(arguments: ["tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2-spm"])
    func defaultFileName(model: String) throws {
        let expected = try Fixtures.json("expected/\(model).json")["metadata"]
        let name = try #require(expected?["general.name"]?["value"]?.stringValue)
        let size = try #require(expected?["general.size_label"]?["value"]?.stringValue)
        let plan = try ConversionPlan(input: try Fixtures.path("models/\(model)"), outputType: .fixed(.q8_0))
        #expect(plan.defaultFileName == name.replacingOccurrences(of: " ", with: "-") + "-\(size)-Q8_0.gguf")
    }

    @Test func tensorTypesAndBytes() throws {
        let plan = try ConversionPlan(input: try Fixtures.path("models/tiny-qwen2"), outputType: .fixed(.q8_0))
        let types = Dictionary(uniqueKeysWithValues: plan.tensors.map { ($0.name, $0.type) })
        #expect(types["token_embd.weight"] == .q8_0)
        #expect(types["blk.0.attn_q.bias"] == .f32)
        #expect(types["output_norm.weight"] == .f32)
        #expect(types["output.weight"] == nil)  // tied: the checkpoint has no lm_head
        #expect(plan.tensorBytes == plan.tensors.reduce(0) { $0 + ($1.type.byteCount(elements: $1.elementCount) ?? 0) })
    }

    @Test func outputTypeArguments() {
        #expect(OutputTypeChoice(argument: "auto") == .auto)
        #expect(OutputTypeChoice(argument: "q8_0") == .fixed(.q8_0))
        #expect(OutputTypeChoice(argument: "BF16") == .fixed(.bf16))
        #expect(OutputTypeChoice(argument: "q4_k") == nil)
    }
}
