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
        return run(RowJob(x: UnsafeRawPointer(x), sourceType: .f32, sourceRowBytes: 4 * rowLength, y: y,
                          qw: usesImportanceWeights(type) ? importance?.baseAddress : nil),
                   type: type, rowLength: rowLength, nrows: nrows, threads: threads, measure: measure)
    }

    /// Quantizes rows stored as `sourceType` (F16, BF16, F32 or any dequantizable type),
    /// converting each row to f32 inside the worker that quantizes it, into a row buffer that
    /// stays in L1: no f32 slab is written to memory and read back, and the conversion is
    /// spread over the threads. The output and the statistics are those of converting first
    /// and calling `quantize(_:rows:...)`.
    @discardableResult
    public static func quantize(
        _ type: GGMLType, rawRows: UnsafeRawBufferPointer, of sourceType: GGMLType, rowLength: Int,
        importance: UnsafeBufferPointer<Float>?, into output: UnsafeMutableRawBufferPointer,
        threads: Int, measure: Bool = false
    ) throws -> ErrorAccumulator? {
        guard supportsDequantize(sourceType) else { throw QuantizationError.dequantizeUnsupported(sourceType) }
        guard rowLength % sourceType.blockSize == 0, let sourceRowBytes = sourceType.byteCount(elements: rowLength) else {
            throw QuantizationError.rowLengthNotMultipleOfBlock(sourceType, rowLength: rowLength)
        }
        let sourceRows = rawRows.count / sourceRowBytes
        guard rawRows.count == sourceRows * sourceRowBytes else {
            throw QuantizationError.inputSizeMismatch(expected: sourceRows * sourceRowBytes, actual: rawRows.count)
        }
        let nrows = try validate(type, count: sourceRows * rowLength, rowLength: rowLength, importance: importance,
                                 outputBytes: output.count)
        guard nrows > 0, let x = rawRows.baseAddress, let y = output.baseAddress else {
            return measure ? ErrorAccumulator() : nil
        }
        return run(RowJob(x: x, sourceType: sourceType, sourceRowBytes: sourceRowBytes, y: y,
                          qw: usesImportanceWeights(type) ? importance?.baseAddress : nil),
                   type: type, rowLength: rowLength, nrows: nrows, threads: threads, measure: measure)
    }

    private static func run(
        _ job: RowJob, type: GGMLType, rowLength: Int, nrows: Int, threads: Int, measure: Bool
    ) -> ErrorAccumulator? {
        let rowBytes = type.bytesPerBlock * (rowLength / type.blockSize)
        let workers = Swift.max(1, Swift.min(threads, nrows))
        let perRow = measure ? UnsafeMutableBufferPointer<ErrorAccumulator>.allocate(capacity: nrows) : nil
        defer { perRow?.deallocate() }
        // About 16 chunks per worker, each at least 1 row.
        let chunk = Swift.max(1, nrows / (workers * 16))
        let next = Atomic<Int>(0)
        if workers == 1 {
            work(job, perRow, type: type, rowLength: rowLength, rowBytes: rowBytes, nrows: nrows, chunk: chunk, next: next)
        } else {
            let shared = PerRow(slots: perRow)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                work(job, shared.slots, type: type, rowLength: rowLength, rowBytes: rowBytes, nrows: nrows, chunk: chunk,
                     next: next)
            }
        }
        guard let perRow else { return nil }
        var total = ErrorAccumulator()
        for r in 0..<nrows { total.merge(perRow[r]) }
        return total
    }

    /// Dequantizes like `dequantize(_:_:count:into:)`, split into runs of whole blocks over
    /// `threads` threads (each value is converted on its own, so the result is the same).
    /// The job runner turns each slab of F16 rows into f32 with it: on one thread that
    /// conversion would stall every worker while it runs.
    public static func dequantize(
        _ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, into output: UnsafeMutableBufferPointer<Float>,
        threads: Int
    ) throws {
        let blocks = count / Swift.max(1, type.blockSize)
        // Below ~64 Ki values a second thread costs more than it saves.
        let pieces = Swift.min(Swift.max(1, threads) * 4, Swift.max(1, count >> 16))
        guard pieces > 1, threads > 1 else {
            return try dequantize(type, bytes, count: count, into: output)
        }
        try checkDequantize(type, bytes, count: count, into: output)
        guard let y = bytes.baseAddress, let x = output.baseAddress else { return }
        let job = ConvertJob(y: y, x: x)
        let perPiece = (blocks + pieces - 1) / pieces
        DispatchQueue.concurrentPerform(iterations: pieces) { p in
            let first = p * perPiece, end = Swift.min(blocks, first + perPiece)
            guard first < end else { return }
            dequantizeBlocks(type, job.y + first * type.bytesPerBlock, count: (end - first) * type.blockSize,
                             into: job.x + first * type.blockSize)
        }
    }

    /// One worker: claims chunks of rows until none are left. Measuring, a row is dequantized
    /// right after it is quantized, while both are still in L1, and compared with its input.
    private static func work(
        _ job: RowJob, _ perRow: UnsafeMutableBufferPointer<ErrorAccumulator>?, type: GGMLType, rowLength: Int,
        rowBytes: Int, nrows: Int, chunk: Int, next: borrowing Atomic<Int>
    ) {
        let y = job.y, qw = job.qw
        let converts = job.sourceType.id != GGMLType.f32.id
        // One row of f32 input (when converting) and one of reconstruction (when measuring).
        let buffers = UnsafeMutablePointer<Float>.allocate(capacity: 2 * rowLength)
        defer { buffers.deallocate() }
        let reconstructed = buffers + rowLength
        while true {
            let first = next.wrappingAdd(chunk, ordering: .relaxed).oldValue
            if first >= nrows { break }
            for r in first..<Swift.min(nrows, first + chunk) {
                let raw = job.x + r * job.sourceRowBytes
                let src: UnsafePointer<Float>
                if converts {
                    dequantizeBlocks(job.sourceType, raw, count: rowLength, into: buffers)
                    src = UnsafePointer(buffers)
                } else {
                    src = raw.assumingMemoryBound(to: Float.self)
                }
                let dst = y + r * rowBytes
                quantizeRow(type, src, count: rowLength, weights: qw, into: dst)
                if let perRow {
                    dequantizeBlocks(type, UnsafeRawPointer(dst), count: rowLength, into: reconstructed)
                    var acc = ErrorAccumulator()
                    acc.add(reference: UnsafeBufferPointer(start: src, count: rowLength),
                            reconstructed: UnsafeBufferPointer(start: reconstructed, count: rowLength))
                    (perRow.baseAddress! + r).initialize(to: acc)
                }
            }
        }
    }
}

/// The buffers of one parallel quantization, shared by workers that write disjoint rows.
/// (Raw pointers are not Sendable; each worker touches only its own rows of them.)
private struct RowJob: @unchecked Sendable {
    let x: UnsafeRawPointer
    let sourceType: GGMLType
    let sourceRowBytes: Int
    let y: UnsafeMutableRawPointer
    let qw: UnsafePointer<Float>?
}

/// Per-row statistics slots; each worker initializes only its own rows'.
private struct PerRow: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<ErrorAccumulator>?
}

/// The buffers of one parallel dequantization; pieces write disjoint ranges.
private struct ConvertJob: @unchecked Sendable {
    let y: UnsafeRawPointer
    let x: UnsafeMutablePointer<Float>
}
