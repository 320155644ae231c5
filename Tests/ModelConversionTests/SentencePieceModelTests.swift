import Foundation
import ModelConversion
import Testing

@Suite struct SentencePieceModelTests {
    @Test func readsPiecesOfTheFixture() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("models/tiny-llama2-spm/tokenizer.model")))
        let model = try data.withUnsafeBytes { try SentencePieceModel(bytes: $0) }
        #expect(model.pieces.count == 400)
        #expect(model.pieces[0] == .init(text: "<unk>", score: 0, type: .unknown))
        #expect(model.pieces[1].type == .control)
        #expect(model.pieces[3].type == .userDefined)  // <tool_call>
        #expect(model.pieces[4] == .init(text: "<0x00>", score: 0, type: .byte))
    }

    @Test func truncatedModelIsAnError() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("models/tiny-llama2-spm/tokenizer.model")))
        for cut in [1, 7, 100, data.count / 2] {
            let prefix = data.prefix(cut)
            #expect(throws: SentencePieceModel.FormatError.self) { _ = try prefix.withUnsafeBytes { try SentencePieceModel(bytes: $0) } }
        }
    }
}
