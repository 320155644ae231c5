// Tokens per second of Tokenizer.encode on a text, release build, warm word cache excluded:
// the first pass (cold cache) and the mean of later passes are both reported.
// Built and run by scripts/tokenizer/bench.sh.
import Foundation
import Tokenizer

let arguments = CommandLine.arguments
guard arguments.count >= 3, let text = try? String(contentsOfFile: arguments[2], encoding: .utf8) else {
    print("usage: bench VOCAB.gguf TEXT.txt [PASSES]")
    exit(2)
}
let passes = arguments.count > 3 ? Int(arguments[3]) ?? 20 : 20
do {
    let t0 = Date()
    let tokenizer = try Tokenizer(contentsOf: arguments[1])
    let load = Date().timeIntervalSince(t0)
    var t = Date()
    let ids = tokenizer.encode(text, addSpecial: false)
    let cold = Date().timeIntervalSince(t)
    t = Date()
    var total = 0
    for _ in 0..<passes { total += tokenizer.encode(text, addSpecial: false).count }
    let warm = Date().timeIntervalSince(t) / Double(passes)
    print(String(format: "load %.3f s; %d tokens; cold %.0f tokens/s; warm %.0f tokens/s (%d passes)",
                 load, ids.count, Double(ids.count) / cold, Double(ids.count) / warm, passes))
} catch {
    print("error: \(error)")
    exit(1)
}
