// inference-bench: the forward pass from the command line, for checking it against llama.cpp and
// timing it. Build with -c release.
//
//   inference-bench logits MODEL.gguf TOKENS.txt OUT.f32 [--threads N]
//       writes the logits of one chunk (all tokens) as raw little-endian float32, n_tokens × n_vocab
//   inference-bench ppl MODEL.gguf TOKENS.txt [--ref REF.gguf] [--ctx 512] [--first N] [--threads N]
//       perplexity (and KL divergence against REF) as one JSON line
//   --exact-activations (either mode): F32 activations, not rounded to the weights' vec_dot type
//
// TOKENS.txt holds token ids separated by whitespace (tokenize with llama.cpp; BOS included if the
// model adds it).
import Foundation
import Inference

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}
let threads = option("--threads").flatMap(Int.init) ?? 1
let ctx = option("--ctx").flatMap(Int.init) ?? 512
let first = option("--first").flatMap(Int.init)
let refPath = option("--ref")
// --exact-activations: multiply the activations in F32 instead of rounding them as ggml does.
let exactActivations = args.contains("--exact-activations")
args.removeAll { $0 == "--exact-activations" }
guard args.count >= 3 else { fail("usage: inference-bench logits|ppl MODEL TOKENS [OUT] [options]") }

func readTokens(_ path: String) -> [Int32] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    return text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).compactMap { Int32($0) }
}

do {
    let model = try LlamaModel(path: args[1])
    model.roundsActivationsLikeGGML = !exactActivations
    let tokens = readTokens(args[2])
    switch args[0] {
    case "logits":
        guard args.count >= 4 else { fail("logits needs an output path") }
        let t0 = Date()
        let logits = try model.logits(tokens: tokens, threads: threads)
        let dt = Date().timeIntervalSince(t0)
        let data = logits.withUnsafeBufferPointer { Data(buffer: $0) }
        try data.write(to: URL(fileURLWithPath: args[3]))
        print("{\"tokens\":\(tokens.count),\"vocab\":\(model.vocabularySize),\"seconds\":\(dt),\"tokens_per_second\":\(Double(tokens.count) / dt)}")
    case "ppl":
        if let refPath {
            let ref = try LlamaModel(path: refPath)
            ref.roundsActivationsLikeGGML = !exactActivations
            let r = try PerplexityEvaluator.compare(reference: ref, candidate: model, tokens: tokens, ctx: ctx,
                                                    first: first, threads: threads)
            print("{\"ppl\":\(r.candidate.perplexity),\"ref_ppl\":\(r.reference.perplexity),\"kld_mean\":\(r.kldMean),\"kld_median\":\(r.kldMedian),\"kld_p99\":\(r.kldP99),\"kld_max\":\(r.kldMax),\"top1_agree\":\(r.top1Agreement),\"rms_dp\":\(r.rmsDeltaP),\"scored\":\(r.scoredTokens),\"chunks\":\(r.candidate.chunks)}")
        } else {
            let r = try PerplexityEvaluator.run(model: model, tokens: tokens, ctx: ctx, first: first, threads: threads)
            print("{\"ppl\":\(r.perplexity),\"scored\":\(r.scoredTokens),\"chunks\":\(r.chunks),\"seconds\":\(r.evaluationSeconds),\"tokens_per_second\":\(r.tokensPerSecond)}")
        }
    default:
        fail("unknown mode \(args[0])")
    }
} catch {
    fail("\(error)")
}
