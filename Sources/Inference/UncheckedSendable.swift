/// Lets a non-Sendable value (models, a closure, buffers) cross into `concurrentPerform`, which joins
/// before returning; the callers give each worker its own part of it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
