import BinaryIO
import Foundation

/// Perplexity as llama-perplexity computes it (`tools/perplexity/perplexity.cpp`, `perplexity()`).
///
/// The tokens (already tokenized, BOS included when the vocabulary adds one) are cut into
/// `tokens.count / ctx` non-overlapping chunks of `ctx` tokens; a trailing partial chunk is dropped.
/// Each chunk is evaluated from scratch; when the model adds BOS, the chunk's first token is replaced
/// by BOS. Positions `first..<ctx-1` are scored (default `ctx/2`, so every scored token has at least
/// half a context before it), each predicting the next token. PPL = exp(mean negative log-likelihood).
public struct PerplexityResult: Equatable, Sendable {
    public var perplexity: Double
    /// Mean negative log-likelihood (natural log) per scored token.
    public var meanNLL: Double
    public var scoredTokens: Int
    public var chunks: Int
    /// Wall time of the forward passes only.
    public var evaluationSeconds: Double
    /// Tokens evaluated per second (chunks × ctx / evaluationSeconds).
    public var tokensPerSecond: Double
}

public enum PerplexityEvaluator {
    /// The chunks llama-perplexity would evaluate, with BOS substituted when the model adds it.
    public static func chunks(tokens: [Int32], ctx: Int, addBOS: Bool, bos: Int32) throws -> [[Int32]] {
        guard ctx >= 2, tokens.count >= ctx else { throw InferenceError.emptyInput }
        return (0..<(tokens.count / ctx)).map { c in
            var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
            if addBOS { chunk[0] = bos }
            return chunk
        }
    }

    public static func run(
        model: LlamaModel, tokens: [Int32], ctx: Int = 512, first: Int? = nil, threads: Int = 1
    ) throws -> PerplexityResult {
        let hp = model.hyperParameters
        let chunks = try chunks(tokens: tokens, ctx: ctx, addBOS: hp.addsBOS, bos: hp.bosToken)
        let start = min(max(first ?? ctx / 2, 0), ctx - 1)
        var nll = 0.0, count = 0, seconds = 0.0
        for chunk in chunks {
            let t0 = Clock.monotonic()
            let logits = try model.logits(tokens: chunk, threads: threads, from: start)
            seconds += Clock.monotonic() - t0
            logits.withUnsafeBufferPointer { l in
                for i in start..<(ctx - 1) {
                    let row = l.baseAddress! + (i - start) * model.vocabularySize
                    let lp = LogSoftmax.logProbability(row, count: model.vocabularySize, token: Int(chunk[i + 1]))
                    nll -= lp
                    count += 1
                }
            }
        }
        let mean = nll / Double(max(count, 1))
        return PerplexityResult(
            perplexity: exp(mean), meanNLL: mean, scoredTokens: count, chunks: chunks.count,
            evaluationSeconds: seconds, tokensPerSecond: Double(chunks.count * ctx) / max(seconds, 1e-9))
    }
}
