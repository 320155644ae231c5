import Dispatch
import GGUF
import Synchronization

extension Quantizer {
    /// Quantizes rows on `threads` threads. Workers take chunks of consecutive rows from a shared
    /// counter (so a worker slowed by other load does not hold up the rest); each row is written
    /// to its own slot, so the output is identical to the serial `quantize` for any thread count. When `measure` is true, each row is dequantized again
    /// and compared with its input; the returned statistics are merged in row order.
    ///
    /// Nothing is allocated per row: a worker owns one row of scratch for the measurement.
    @discardableResult
    public static func quantize(
        _ type: GGMLType, rows: UnsafeBufferPointer<Float>, rowLength: Int,
        importance: UnsafeBufferPointer<Float>?, into output: UnsafeMutableRawBufferPointer,
        threads: Int, measure: Bool = false
    ) throws -> ErrorAccumulator? {
        let nrows = try validate(type, count: rows.count, rowLength: rowLength, importance: importance,
                                 outputBytes: output.count)
        guard nrows > 0, let x = rows.baseAddress, let y = output.baseAddress else {
            return measure ? ErrorAccumulator() : nil
        }
        let rowBytes = type.bytesPerBlock * (rowLength / type.blockSize)
        let qw = usesImportanceWeights(type) ? importance?.baseAddress : nil
        let workers = Swift.max(1, Swift.min(threads, nrows))
        let perRow = measure ? UnsafeMutableBufferPointer<ErrorAccumulator>.allocate(capacity: nrows) : nil
        defer { perRow?.deallocate() }
        // Raw pointers are not Sendable; each worker touches only its own rows of them.
        let job = RowJob(x: x, y: y, qw: qw, perRow: perRow)
        // About 16 chunks per worker, each at least 1 row.
        let chunk = Swift.max(1, nrows / (workers * 16))
        let next = Atomic<Int>(0)
        if workers == 1 {
            work(job, type: type, rowLength: rowLength, rowBytes: rowBytes, nrows: nrows, chunk: chunk, next: next)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                work(job, type: type, rowLength: rowLength, rowBytes: rowBytes, nrows: nrows, chunk: chunk, next: next)
            }
        }
        guard let perRow else { return nil }
        var total = ErrorAccumulator()
        for r in 0..<nrows { total.merge(perRow[r]) }
        return total
    }

    /// One worker: claims chunks of rows until none are left.
    private static func work(
        _ job: RowJob, type: GGMLType, rowLength: Int, rowBytes: Int, nrows: Int, chunk: Int,
        next: borrowing Atomic<Int>
    ) {
        let x = job.x, y = job.y, qw = job.qw
        let scratch = job.perRow != nil ? UnsafeMutableBufferPointer<Float>.allocate(capacity: rowLength) : nil
        defer { scratch?.deallocate() }
        while true {
            let first = next.wrappingAdd(chunk, ordering: .relaxed).oldValue
            if first >= nrows { break }
            let range = first..<Swift.min(nrows, first + chunk)
            if let perRow = job.perRow, let scratch, let out = scratch.baseAddress {
                for r in range {
                    let src = x + r * rowLength, dst = y + r * rowBytes
                    quantizeRow(type, src, count: rowLength, weights: qw, into: dst)
                    dequantizeBlocks(type, UnsafeRawPointer(dst), count: rowLength, into: out)
                    var acc = ErrorAccumulator()
                    acc.add(reference: UnsafeBufferPointer(start: src, count: rowLength),
                            reconstructed: UnsafeBufferPointer(scratch))
                    (perRow.baseAddress! + r).initialize(to: acc)
                }
            } else {
                for r in range {
                    quantizeRow(type, x + r * rowLength, count: rowLength, weights: qw, into: y + r * rowBytes)
                }
            }
        }
    }
}

/// The buffers of one parallel quantization, shared by workers that write disjoint rows.
private struct RowJob: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutableRawPointer
    let qw: UnsafePointer<Float>?
    let perRow: UnsafeMutableBufferPointer<ErrorAccumulator>?
}
