import Dispatch
import GGUF

extension Quantizer {
    /// Quantizes rows on `threads` threads. Rows are split into contiguous ranges, one per
    /// worker; each row is written to its own slot, so the output is identical to the serial
    /// `quantize` for any thread count. When `measure` is true, each row is dequantized again
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
        let run: @Sendable (Int) -> Void = { worker in
            let x = job.x, y = job.y, qw = job.qw, perRow = job.perRow
            let first = nrows * worker / workers, last = nrows * (worker + 1) / workers
            if let perRow {
                let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowLength)
                defer { scratch.deallocate() }
                for r in first..<last {
                    let src = x + r * rowLength, dst = y + r * rowBytes
                    quantizeRow(type, src, count: rowLength, weights: qw, into: dst)
                    dequantizeBlocks(type, UnsafeRawPointer(dst), count: rowLength, into: scratch.baseAddress!)
                    var acc = ErrorAccumulator()
                    acc.add(reference: UnsafeBufferPointer(start: src, count: rowLength),
                            reconstructed: UnsafeBufferPointer(scratch))
                    (perRow.baseAddress! + r).initialize(to: acc)
                }
            } else {
                for r in first..<last {
                    quantizeRow(type, x + r * rowLength, count: rowLength, weights: qw, into: y + r * rowBytes)
                }
            }
        }
        if workers == 1 {
            run(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: run)
        }
        guard let perRow else { return nil }
        var total = ErrorAccumulator()
        for r in 0..<nrows { total.merge(perRow[r]) }
        return total
    }
}

/// The buffers of one parallel quantization, shared by workers that write disjoint rows.
private struct RowJob: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutableRawPointer
    let qw: UnsafePointer<Float>?
    let perRow: UnsafeMutableBufferPointer<ErrorAccumulator>?
}
