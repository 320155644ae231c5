import Dispatch

/// Element-wise work split into contiguous ranges, one per worker, run at once: worker w of W takes
/// `count·w/W ..< count·(w+1)/W`. For work where every index is computed alone (activation rows,
/// SwiGLU values, scored positions), so the split changes no result. One worker runs inline.
enum ContiguousSplit {
    static func run(_ count: Int, workers: Int, _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(workers, count))
        guard workers > 1 else {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                box.value((count * w / workers)..<(count * (w + 1) / workers))
            }
        }
    }
}
