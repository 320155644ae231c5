import Synchronization

/// Hands out work item indices `0..<count` to threads, one at a time, first come first served.
///
/// Splitting work statically (worker w takes the w-th slice) makes every matmul wait for the slowest
/// worker; on a machine whose cores are shared with other jobs one worker is often descheduled, and
/// the other then idles. Taking blocks from a counter lets the running worker do the rest. Which
/// thread computes an output value does not change how it is computed, so results stay identical
/// for any thread count and any schedule.
final class WorkCounter: Sendable {
    private let next = Atomic<Int>(0)
    private let count: Int

    init(count: Int) { self.count = count }

    /// The next unclaimed index, or nil when all are taken.
    func take() -> Int? {
        // Past the end the counter keeps rising, by at most one per taker, far from overflow.
        let claimed = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return claimed < count ? claimed : nil
    }
}
