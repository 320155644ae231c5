// Encodes texts with Tokenizer for scripts/tokenizer/fuzz.py: reads a JSON array of strings from
// a file and prints a JSON array of id arrays. Optional key overrides: pre=NAME, remove=KEY,
// KEY=true|false.
//     encode_cli VOCAB.gguf TEXTS.json ADD_SPECIAL PARSE_SPECIAL [overrides...]
import Foundation
import GGUF
import Tokenizer

let arguments = CommandLine.arguments
guard arguments.count >= 5, let data = FileManager.default.contents(atPath: arguments[2]),
      let texts = try? JSONDecoder().decode([String].self, from: data) else {
    FileHandle.standardError.write(Data("usage: encode_cli VOCAB.gguf TEXTS.json ADD_SPECIAL PARSE_SPECIAL [overrides]\n".utf8))
    exit(2)
}
do {
    var metadata = try GGUFFile(path: arguments[1]).metadata
    for override in arguments.dropFirst(5) {
        let parts = override.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { continue }
        if parts[0] == "pre" { metadata["tokenizer.ggml.pre"] = .string(parts[1]) }
        else if parts[0] == "remove" { metadata[parts[1]] = nil }
        else { metadata[parts[0]] = .bool(parts[1] == "true") }
    }
    let tokenizer = try Tokenizer(metadata: metadata)
    let addSpecial = arguments[3] == "true", parseSpecial = arguments[4] == "true"
    let ids = texts.map { tokenizer.encode($0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    FileHandle.standardOutput.write(try JSONEncoder().encode(ids))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
