#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Token ids of words already encoded, shared by every caller of one tokenizer. Natural text
/// repeats a few thousand words, so most words are looked up here instead of merged again.
/// A pthread mutex (allocated, so its address is stable) guards it: the Synchronization module's
/// Mutex needs macOS 15 and the package supports 14.
final class WordCache: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var entries: [String: [Int32]] = [:]
    /// Bounded so that adversarial input (every word new) cannot grow memory without limit.
    private let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = capacity
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func lookup(_ word: String) -> [Int32]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return entries[word]
    }

    func store(_ word: String, _ ids: [Int32]) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[word] = ids
    }
}
