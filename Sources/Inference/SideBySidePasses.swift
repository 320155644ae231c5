import BinaryIO
import Dispatch
import Foundation

/// One forward pass's logits and wall time, written only by the worker that ran it.
final class PassOutput: @unchecked Sendable {
    var logits: [Float] = []
    var seconds = 0.0
    var error: (any Error)?
}

/// Forward passes of several models over the same chunk, run side by side: with T threads and M
/// models, min(T, M) passes at once on T / min(T, M) threads each, instead of one pass at a time on
/// all T. A single pass splits into ~200 parallel sections per chunk (each matmul, attention, the
/// FFN's gate) with a join after each and serial stretches between (norms, RoPE, residuals), so it
/// gains only ~1.5× from a second thread (SmolLM2, 437 → 660 tok/s); independent passes share
/// nothing and gain ~2×. Each model's logits do not depend on its thread count (`MatMul`), so the
/// results are those of passes run one at a time.
enum SideBySidePasses {
    /// Runs `models` (at most `outputs.count`) on `tokens`, logits from position `from`, model i's into
    /// `outputs[i]`. The first error of any pass is thrown after all have ended.
    static func run(_ models: [LlamaModel], tokens: [Int32], from: Int, threads: Int, into outputs: [PassOutput]) throws {
        precondition(models.count <= outputs.count)
        let lanes = max(1, min(threads, models.count))
        let perPass = max(1, threads / lanes)
        let job = UncheckedSendable(models)
        let pass: @Sendable (Int) -> Void = { i in
            let out = outputs[i], t0 = Clock.monotonic()
            do {
                try job.value[i].logits(tokens: tokens, threads: perPass, from: from, into: &out.logits)
            } catch {
                out.error = error
            }
            out.seconds = Clock.monotonic() - t0
        }
        if lanes == 1 {
            for i in models.indices { pass(i) }
        } else {
            DispatchQueue.concurrentPerform(iterations: models.count, execute: pass)
        }
        for out in outputs.prefix(models.count) {
            if let error = out.error {
                out.error = nil
                throw error
            }
        }
    }
}
