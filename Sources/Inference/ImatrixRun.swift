import BinaryIO
import Foundation

/// llama-imatrix's pass over a text (`tools/imatrix/imatrix.cpp`, `compute_imatrix`): the tokens
/// (the whole text tokenized once, BOS first when the vocabulary adds it) are cut into
/// `tokens.count / ctx` non-overlapping chunks of `ctx` tokens — at most `chunks` of them, a
/// trailing partial chunk dropped — and each chunk is evaluated from scratch with its first token
/// replaced by BOS when the vocabulary adds one. Every token of every chunk is collected.
///
/// llama-imatrix evaluates several chunks side by side in one batch (`n_batch / ctx` sequences);
/// they do not attend to each other, so evaluating them one at a time gives the same activations.
/// Its expert sums go slot by slot over a whole micro-batch, so when one holds several chunks
/// (ctx below its 512-token micro-batch) they are added in another order than here, chunk by chunk:
/// the same sums up to float rounding.
public struct ImatrixRun: Sendable {
    public var entries: [ImatrixCollector.Entry]
    /// Chunks evaluated: llama-imatrix's `imatrix.chunk_count`.
    public var chunks: Int
    /// Tokens per chunk: `imatrix.chunk_size`.
    public var ctx: Int
    /// Tokens of the whole text.
    public var textTokens: Int
    public var seconds: Double

    /// llama-imatrix refuses a text shorter than two chunks; so do we, so the same inputs work for both.
    public static func minimumTokens(ctx: Int) -> Int { 2 * ctx }

    public static func collect(
        model: LlamaModel, tokens: [Int32], ctx: Int = 512, chunks limit: Int? = nil, firstChunk: Int = 0, threads: Int = 1,
        includesOutput: Bool = false, progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
        isCancelled: (() -> Bool)? = nil
    ) throws -> ImatrixRun {
        guard ctx >= 16 else { throw ImatrixError.contextTooSmall(ctx) }
        guard tokens.count >= minimumTokens(ctx: ctx) else {
            throw ImatrixError.tooFewTokens(tokens: tokens.count, ctx: ctx)
        }
        // `firstChunk` skips chunks another run covers (partials merged later add up to the whole).
        guard firstChunk >= 0, firstChunk < tokens.count / ctx else {
            throw ImatrixError.chunkOutOfRange(first: firstChunk, available: tokens.count / ctx)
        }
        let available = tokens.count / ctx - firstChunk
        let count = limit.map { min(max(1, $0), available) } ?? available
        let hp = model.hyperParameters
        let collector = ImatrixCollector(includesOutput: includesOutput, threads: threads)
        let previous = model.activationObserver
        model.activationObserver = collector
        defer { model.activationObserver = previous }
        let started = Clock.monotonic()
        progress?(0, count)
        for c in 0..<count {
            if isCancelled?() == true { throw ImatrixError.cancelled }
            let start = (firstChunk + c) * ctx
            var chunk = Array(tokens[start..<(start + ctx)])
            if hp.addsBOS { chunk[0] = hp.bosToken }
            try model.observeActivations(tokens: chunk, threads: threads)
            if let tensor = collector.nonFiniteTensor { throw ImatrixError.nonFinite(tensor: tensor, chunk: firstChunk + c) }
            progress?(c + 1, count)
        }
        return ImatrixRun(entries: collector.entries, chunks: count, ctx: ctx, textTokens: tokens.count,
                          seconds: Clock.monotonic() - started)
    }
}

public enum ImatrixError: Error, Equatable, CustomStringConvertible {
    case contextTooSmall(Int)
    case tooFewTokens(tokens: Int, ctx: Int)
    case nonFinite(tensor: String, chunk: Int)
    case chunkOutOfRange(first: Int, available: Int)
    case cancelled

    public var description: String {
        switch self {
        case .contextTooSmall(let ctx):
            "a context of \(ctx) tokens is too small for calibration; use at least 16 (512 is llama-imatrix's default)"
        case .tooFewTokens(let tokens, let ctx):
            "the calibration text has \(tokens) tokens, but a context of \(ctx) needs at least \(2 * ctx) (as llama-imatrix requires); use a longer text or a smaller ctx"
        case .nonFinite(let tensor, let chunk):
            "the activations of '\(tensor)' overflowed to a non-finite value in chunk \(chunk + 1); the model's weights are probably broken (llama-imatrix stops here too)"
        case .chunkOutOfRange(let first, let available):
            "the chunk range starts at chunk \(first + 1), but the text has \(available) whole chunks; give a range within 1-\(available)"
        case .cancelled:
            "calibration was stopped before it finished"
        }
    }
}
