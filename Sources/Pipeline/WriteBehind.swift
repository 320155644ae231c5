import Dispatch
import Quantization
import Synchronization

/// Writes quantized slabs on a background queue while the workers quantize the next slab.
///
/// Appending a slab (copy into the page cache, SHA-256) is serial; done in line it leaves every
/// worker idle for it, which at two threads is a quarter of a cheap type's wall time. Here each
/// quantized slab goes into one of `depth` buffers and is appended behind the quantizer, in order
/// (one serial queue runs every artifact operation, so begin/append/end keep their sequence).
/// A write error stops later writes and is rethrown by `check()` or `drain()`.
final class WriteBehind: @unchecked Sendable {
    private let queue = DispatchQueue(label: "quantd.write-behind")
    private let free: DispatchSemaphore
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var next = 0
    private let failed = Atomic<Bool>(false)
    /// Set once, on the queue, before `failed`; read after `failed` is seen or the queue drained.
    private var firstError: Error?

    init(bufferBytes: Int, depth: Int = 2) {
        buffers = (0..<depth).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: bufferBytes, alignment: 64) }
        free = DispatchSemaphore(value: depth)
    }

    deinit {
        queue.sync {}
        for b in buffers { b.deallocate() }
    }

    /// A buffer of `bytes` to quantize into; waits while all are queued for writing. Pass it to
    /// `append` exactly once.
    func takeBuffer(bytes: Int) -> UnsafeMutableRawBufferPointer {
        free.wait()
        let b = buffers[next]
        next = (next + 1) % buffers.count
        return UnsafeMutableRawBufferPointer(rebasing: b[0..<bytes])
    }

    /// Appends a buffer from `takeBuffer` behind the quantizer, then frees it.
    func append(_ bytes: UnsafeMutableRawBufferPointer, to artifact: ArtifactWriter, error: ErrorAccumulator?) {
        let job = Job(artifact: artifact, bytes: UnsafeRawBufferPointer(bytes))
        queue.async {
            self.run { try job.artifact.append(job.bytes, error: error) }
            self.free.signal()
        }
    }

    /// Gives back a buffer that will not be appended (its quantization failed).
    func release() { free.signal() }

    /// Runs an artifact operation in sequence with the queued writes, and waits for it (for bytes
    /// that stay valid only until the source is read again).
    func now(_ body: () throws -> Void) throws {
        try queue.sync { run(body) }
        try check()
    }

    /// Runs an artifact operation in sequence with the queued writes, without waiting.
    func later(_ artifact: ArtifactWriter, _ body: @escaping @Sendable (ArtifactWriter) -> Void) {
        let job = Job(artifact: artifact, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        queue.async { if !self.failed.load(ordering: .acquiring) { body(job.artifact) } }
    }

    /// Throws the first write error, if one has happened.
    func check() throws {
        if failed.load(ordering: .acquiring) {
            queue.sync {}
            if let firstError { throw firstError }
        }
    }

    /// Waits for every queued operation; throws the first write error.
    func drain() throws {
        queue.sync {}
        if let firstError { throw firstError }
    }

    private func run(_ body: () throws -> Void) {
        guard !failed.load(ordering: .acquiring) else { return }
        do { try body() } catch {
            firstError = error
            failed.store(true, ordering: .releasing)
        }
    }

    /// An artifact and bytes handed to the queue; only the queue touches them until it is done.
    private struct Job: @unchecked Sendable {
        let artifact: ArtifactWriter
        let bytes: UnsafeRawBufferPointer
    }
}
