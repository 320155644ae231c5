import Synchronization

/// Token ids of words already encoded, shared by every caller of one tokenizer. Natural text
/// repeats a few thousand words, so most words are looked up here instead of merged again.
final class WordCache: Sendable {
    private let entries = Mutex<[String: [Int32]]>([:])
    /// Bounded so that adversarial input (every word new) cannot grow memory without limit.
    private let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    func lookup(_ word: String) -> [Int32]? {
        entries.withLock { $0[word] }
    }

    func store(_ word: String, _ ids: [Int32]) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[word] = ids
        }
    }
}
