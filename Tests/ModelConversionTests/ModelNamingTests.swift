import ModelConversion
import Testing

/// Expected values are what gguf-py 0.19 (`Metadata.get_model_id_components`, `id_to_title`,
/// `size_label`, `naming_convention`) returns for the same inputs.
@Suite struct ModelNamingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let id: String
        let parameters: Int
        let expected: ModelNaming.Components
        let title: String
        var testDescription: String { id }
    }

    static let cases: [Case] = [
        Case(id: "HuggingFaceTB/SmolLM2-135M-Instruct", parameters: 134_515_008,
             expected: .init(fullName: "SmolLM2-135M-Instruct", organization: "HuggingFaceTB", basename: "SmolLM2",
                             finetune: "Instruct", version: nil, sizeLabel: "135M"), title: "SmolLM2 135M Instruct"),
        Case(id: "smollm2-135m-pad768-f16", parameters: 162_000_000,
             expected: .init(fullName: "smollm2-135m-pad768-f16", basename: "smollm2", finetune: "pad768", sizeLabel: "135M"),
             title: "Smollm2 135m Pad768 F16"),
        Case(id: "Mixtral-8x7B-Instruct-v0.1", parameters: 46_700_000_000,
             expected: .init(fullName: "Mixtral-8x7B-Instruct-v0.1", basename: "Mixtral", finetune: "Instruct",
                             version: "v0.1", sizeLabel: "8x7B"), title: "Mixtral 8x7B Instruct v0.1"),
        Case(id: "bloom-7b1", parameters: 7_000_000_000,
             expected: .init(fullName: "bloom-7b1", basename: "bloom", sizeLabel: "7.1B"), title: "Bloom 7b1"),
        Case(id: "Meta-Llama-3.1-8B-Instruct", parameters: 8_030_000_000,
             expected: .init(fullName: "Meta-Llama-3.1-8B-Instruct", basename: "Meta-Llama-3.1", finetune: "Instruct",
                             sizeLabel: "8B"), title: "Meta Llama 3.1 8B Instruct"),
        Case(id: "tiny-llama-h64-f16", parameters: 6_400_000,
             expected: .init(fullName: "tiny-llama-h64-f16"), title: "Tiny Llama H64 F16"),
        Case(id: "Qwen2.5-0.5B-Instruct", parameters: 494_000_000,
             expected: .init(fullName: "Qwen2.5-0.5B-Instruct", basename: "Qwen2.5", finetune: "Instruct", sizeLabel: "0.5B"),
             title: "Qwen2.5 0.5B Instruct"),
        Case(id: "Llama-2-7b-chat-32k", parameters: 6_740_000_000,
             expected: .init(fullName: "Llama-2-7b-chat-32k", basename: "Llama-2", finetune: "chat-32k", sizeLabel: "7B"),
             title: "Llama 2 7b Chat 32k"),
        Case(id: "gpt2-small", parameters: 124_000_000,
             expected: .init(fullName: "gpt2-small", basename: "gpt2", sizeLabel: "small"), title: "Gpt2 Small"),
        Case(id: "phi-2", parameters: 2_780_000_000,
             expected: .init(fullName: "phi-2", basename: "phi", version: "2"), title: "Phi 2"),
    ]

    @Test(arguments: cases)
    func components(_ c: Case) {
        #expect(ModelNaming.components(of: c.id, totalParameters: c.parameters) == c.expected)
        #expect(ModelNaming.title(c.expected.fullName ?? "") == c.title)
    }

    @Test func sizeLabels() {
        #expect(ModelNaming.sizeLabel(parameterCount: 6_400_512) == "6.4M")
        #expect(ModelNaming.sizeLabel(parameterCount: 134_515_008) == "135M")
        #expect(ModelNaming.sizeLabel(parameterCount: 999) == "1.0K")
        #expect(ModelNaming.sizeLabel(parameterCount: 26_000_000) == "26M")
        #expect(ModelNaming.sizeLabel(parameterCount: 1_234_567_890_123) == "1.2T")
        #expect(ModelNaming.sizeLabel(parameterCount: 500) == "0.50K")
    }

    @Test func fileNames() {
        #expect(ModelNaming.fileName(name: "Tiny Llama H64 F16", basename: nil, finetune: nil, version: nil,
                                     sizeLabel: "6.4M", outputType: "Q8_0") == "Tiny-Llama-H64-F16-6.4M-Q8_0")
        #expect(ModelNaming.fileName(name: "Smollm2 135m Pad768 F16", basename: "smollm2", finetune: "pad768", version: nil,
                                     sizeLabel: "135M", outputType: "F16") == "smollm2-135M-pad768-F16")
        #expect(ModelNaming.fileName(name: nil, basename: nil, finetune: nil, version: nil, sizeLabel: nil,
                                     outputType: "BF16") == "ggml-model-BF16")
        #expect(ModelNaming.fileName(name: "Meta Llama 3.1", basename: "Meta-Llama", finetune: "Instruct", version: "v0.1",
                                     sizeLabel: "8B", outputType: "f16") == "Meta-Llama-8B-Instruct-v0.1-F16")
    }
}
