import BinaryIO
import Dispatch
import GGUF
import Safetensors

#if canImport(Glibc)
import Glibc
#endif

/// Where a running conversion is, for progress reports.
public struct ConversionProgress: Sendable {
    public let tensorIndex: Int
    public let tensorCount: Int
    public let tensorName: String
    public let bytesWritten: Int
    public let totalBytes: Int
}

/// Runs a `ConversionPlan`: each tensor is read from the mapped safetensors, converted in pieces of
/// whole rows and appended to the GGUF writer, so memory stays near one piece (a few MiB) plus the
/// writer's buffer whatever the model's size. Rows of a piece are converted on `threads` threads;
/// each row's bytes depend only on that row, so the output does not depend on the thread count.
public struct Converter: Sendable {
    public var threads: Int
    /// Target size of one piece of output, in bytes.
    public var pieceBytes: Int

    public init(threads: Int = 1, pieceBytes: Int = 4 << 20) {
        self.threads = max(1, threads)
        self.pieceBytes = max(1, pieceBytes)
    }

    /// Writes the plan's GGUF to `destination` (temporary file, fsync, rename: the destination
    /// appears only when complete). `progress` is called after each piece; an error it throws
    /// stops the conversion and leaves no output, which is how a caller cancels.
    public func run(_ plan: ConversionPlan, destination: String,
                    progress: ((ConversionProgress) throws -> Void)? = nil) throws {
        // O_DIRECT: a converted model is written once and not read back by us, and filling fresh
        // page cache was most of the conversion's CPU time (Benchmarks/convert.sh).
        let writer = try GGUFWriter(destination: destination, metadata: plan.metadata,
                                    tensors: plan.tensors.map { GGUFTensorPlan(name: $0.name, dimensions: $0.dimensions, type: $0.type) },
                                    directIO: true)
        do {
            let total = plan.tensorBytes
            var written = 0
            for (index, tensor) in plan.tensors.enumerated() {
                try convert(tensor) { bytes in
                    try writer.append(bytes)
                    written += bytes.count
                    try progress?(ConversionProgress(tensorIndex: index, tensorCount: plan.tensors.count,
                                                 tensorName: tensor.name, bytesWritten: written, totalBytes: total))
                }
            }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
    }

    /// Converts one tensor, handing its output bytes to `emit` piece by piece.
    func convert(_ tensor: PlannedTensor, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let rows = RowReader(tensor)
        guard rows.rowCount > 0, let outRowBytes = ElementConversion.rowBytes(tensor.type, count: rows.rowLength) else { return }

        let rowsPerPiece = max(1, pieceBytes / max(outRowBytes, 1))
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: rowsPerPiece * outRowBytes, alignment: 16)
        defer { piece.deallocate() }
        guard let base = piece.baseAddress else { return }
        let output = PieceBuffer(base: base)

        var first = 0
        while first < rows.rowCount {
            let count = min(rowsPerPiece, rows.rowCount - first)
            let start = first
            let type = tensor.type
            // Rows are independent and each lane writes only its own rows of the piece.
            let work: @Sendable (Int, Int) -> Void = { lo, hi in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rows.rowLength)
                defer { scratch.deallocate() }
                for r in lo..<hi {
                    rows.write(row: start + r, type: type, into: output.base + r * outRowBytes,
                               byteCount: outRowBytes, scratch: scratch)
                }
            }
            let lanes = min(threads, count)
            if lanes > 1 {
                DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                    work(count * lane / lanes, count * (lane + 1) / lanes)
                }
            } else {
                work(0, count)
            }
            try emit(UnsafeRawBufferPointer(start: base, count: count * outRowBytes))
            // Rows read in order: their source pages can go now, so a large tensor (the token
            // embedding, a layer's stacked experts) is never resident whole.
            rows.releaseSource(ofRows: start..<(start + count))
            first += count
        }
        Self.release(tensor)
    }

    /// Drops the source tensor's pages from this process's resident set once it is converted, so
    /// peak RSS follows the largest tensor rather than the model (they stay in the page cache; the
    /// mapping is private and read-only, so a later read just faults them in again). Only whole
    /// pages inside the tensor are released: neighbours may share its first and last page.
    static func releasePages(_ bytes: UnsafeRawBufferPointer) { MappedFile.releasePages(bytes) }
}

/// The output piece, shared by the lanes of one `concurrentPerform`, each writing disjoint rows.
private struct PieceBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
}

/// Reads the rows of one planned tensor in output order. A "row" is the unit that moves: for
/// permuted q/k tensors an HF row (`shape[0]` of them), otherwise a GGUF row of `ne0` elements.
/// The mapped source stays alive for the conversion (the plan holds its file).
private struct RowReader: @unchecked Sendable {
    // Each source kind sets the fields it uses; the rest keep these empty values.
    private(set) var rowLength = 0
    private(set) var rowCount = 0
    private var data = UnsafeRawBufferPointer(start: nil, count: 0)
    private var element = ElementConversion.SourceType.f32
    private var values: [Float] = []
    private var permuteGroups: Int?
    private var scale: DequantizationScale?
    private var shift: Float = 0
    private var scaleData = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Source and output encodings are equal (F16 -> F16, ...): numpy's astype is the identity.
    private var sameEncoding = false

    /// Per-expert readers of a stacked tensor, each `rowsPerPart` rows long; for an MLA half, the
    /// reader of the whole `kv_b_proj`; empty otherwise.
    private var parts: [RowReader] = []
    private var rowsPerPart = 0
    /// Set for an MLA half: a value row is a `kv_b_proj` row; a key "row" is one head, transposed.
    private var split: MLASplit?
    /// Set for a strided view: `data` is the whole source tensor, rows are gathered from it.
    private var view: StridedView?
    /// Set for MXFP4 rows: `data` holds the blocks, `mxfp4Scales` the exponents.
    private var mxfp4: MXFP4Rows?
    private var mxfp4Scales = UnsafeRawBufferPointer(start: nil, count: 0)

    init(_ tensor: PlannedTensor) {
        self.init(source: tensor.source, elementCount: tensor.elementCount, ne0: tensor.dimensions.first ?? 1,
                  type: tensor.type)
    }

    private init(source: TensorSource, elementCount: Int, ne0: Int, type: GGMLType) {
        if case .mlaSplit(let base, let split) = source {
            let kvLora = split.half == .value ? ne0 : elementCount / max(split.heads * split.nope, 1)
            let baseReader = RowReader(source: base, elementCount: split.heads * (split.nope + split.value) * kvLora,
                                       ne0: kvLora, type: type)
            self.init(parts: [baseReader])
            self.split = split
            rowsPerPart = 0
            switch split.half {
            case .value:
                rowCount = split.heads * split.value
                rowLength = kvLora
            case .key:
                rowCount = split.heads
                rowLength = kvLora * split.nope
            }
        } else if case .stacked(let sources) = source {
            // The plan checked that every part has the same shape.
            let perPart = sources.isEmpty ? 0 : elementCount / sources.count
            self.init(parts: sources.map { RowReader(source: $0, elementCount: perPart, ne0: ne0, type: type) })
        } else {
            self.init(single: source, elementCount: elementCount, ne0: ne0, type: type)
        }
    }

    private init(single source: TensorSource, elementCount: Int, ne0: Int, type: GGMLType) {
        switch source {
        case .strided(let file, let info, let element, let view):
            data = file.data(for: info)
            self.element = element
            rowLength = view.rowLength
            rowCount = elementCount / max(view.rowLength, 1)
            self.view = view
        case .mxfp4(let blocks, let blocksInfo, let scales, let scalesInfo, let rows):
            data = blocks.data(for: blocksInfo)
            rowLength = ne0
            rowCount = elementCount / max(ne0, 1)
            mxfp4 = rows
            mxfp4Scales = scales.data(for: scalesInfo)
        case .stacked, .mlaSplit:
            // Never reached (these kinds have their own initializer); an empty reader writes nothing.
            break
        case .generated(let values):
            self.values = values
            rowLength = max(values.count, 1)
            rowCount = values.isEmpty ? 0 : 1
        case .stored(let file, let info, let element, let groups, let scale, let shift):
            data = file.data(for: info)
            self.element = element
            permuteGroups = groups
            self.scale = scale
            self.shift = shift
            scaleData = scale.map { $0.file.data(for: $0.info) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let rows = groups != nil ? (info.shape.first ?? 1) : elementCount / max(ne0, 1)
            rowCount = elementCount == 0 ? 0 : max(rows, 1)
            rowLength = rowCount == 0 ? 0 : elementCount / rowCount
            sameEncoding = scale == nil && shift == 0
                && ((element == .f32 && type == .f32) || (element == .f16 && type == .f16)
                    || (element == .bf16 && type == .bf16))
        }
    }

    private init(parts: [RowReader]) {
        self.parts = parts
        rowsPerPart = parts.first?.rowCount ?? 0
        rowCount = rowsPerPart * parts.count
        rowLength = parts.first?.rowLength ?? 0
    }

    /// Hands back the source pages of rows `range` once they are converted, where the rows were read
    /// in order with nothing else (see `sourceBytes`); a stacked tensor does so per expert.
    func releaseSource(ofRows range: Range<Int>) {
        if split != nil { return }  // rows are read out of order; released with the tensor
        if let view {
            // A group's rows read only its slab of the source: release the groups this range completes.
            releaseGroups(completedIn: range, rowsPerGroup: view.rowsPerGroup, bytesPerGroup: view.groupStride * element.byteSize,
                          in: data)
            return
        }
        if let mxfp4 {
            let rowBytes = mxfp4.blocksPerRow * 16
            releaseGroups(completedIn: range, rowsPerGroup: mxfp4.rowsPerGroup, bytesPerGroup: mxfp4.groupStride * rowBytes, in: data)
            releaseGroups(completedIn: range, rowsPerGroup: mxfp4.rowsPerGroup,
                          bytesPerGroup: mxfp4.groupStride * mxfp4.blocksPerRow, in: mxfp4Scales)
            return
        }
        if !parts.isEmpty {
            guard rowsPerPart > 0 else { return }
            var row = range.lowerBound
            while row < range.upperBound {
                let part = row / rowsPerPart
                let end = min(range.upperBound, (part + 1) * rowsPerPart)
                parts[part].releaseSource(ofRows: (row - part * rowsPerPart)..<(end - part * rowsPerPart))
                row = end
            }
            return
        }
        if let consumed = sourceBytes(ofRows: range) { MappedFile.releasePages(consumed) }
    }

    private func releaseGroups(completedIn range: Range<Int>, rowsPerGroup: Int, bytesPerGroup: Int, in bytes: UnsafeRawBufferPointer) {
        guard rowsPerGroup > 0, bytesPerGroup > 0, !range.isEmpty else { return }
        // Group g is complete once its last row, (g + 1) * rowsPerGroup - 1, has been written.
        let firstGroup = range.lowerBound / rowsPerGroup
        let endGroup = range.upperBound / rowsPerGroup
        guard firstGroup < endGroup else { return }
        let lower = firstGroup * bytesPerGroup
        let upper = min(endGroup * bytesPerGroup, bytes.count)
        guard lower < upper else { return }
        MappedFile.releasePages(UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]))
    }

    /// The tensor is written as its source's bytes, unchanged and in order (same encoding, not
    /// permuted, scaled or shifted): `write` is a copy.
    var copiesSource: Bool {
        sameEncoding && permuteGroups == nil && values.isEmpty && parts.isEmpty && split == nil && view == nil && mxfp4 == nil
    }

    /// The source bytes of rows `range` when they are read in order and nothing else is read
    /// with them (not permuted, not FP8-scaled), else nil.
    func sourceBytes(ofRows range: Range<Int>) -> UnsafeRawBufferPointer? {
        guard values.isEmpty, permuteGroups == nil, scale == nil, view == nil, mxfp4 == nil, data.baseAddress != nil else {
            return nil
        }
        let rowBytes = rowLength * element.byteSize
        guard range.upperBound * rowBytes <= data.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: data[(range.lowerBound * rowBytes)..<(range.upperBound * rowBytes)])
    }

    func write(row: Int, type: GGMLType, into out: UnsafeMutableRawPointer, byteCount: Int,
               scratch: UnsafeMutablePointer<Float>) {
        if let split {
            writeMLA(split, row: row, type: type, into: out, byteCount: byteCount, scratch: scratch)
            return
        }
        if !parts.isEmpty {
            parts[row / rowsPerPart].write(row: row % rowsPerPart, type: type, into: out, byteCount: byteCount, scratch: scratch)
            return
        }
        if let view {
            writeStrided(view, row: row, type: type, into: out, scratch: scratch)
            return
        }
        if let mxfp4 {
            let source = mxfp4.sourceRow(row)
            let blocks = mxfp4.blocksPerRow
            guard let codes = data.baseAddress, let exponents = mxfp4Scales.baseAddress else { return }
            for b in 0..<blocks {
                let index = source * blocks + b
                MXFP4Rows.repack(codes: codes + index * 16, exponent: exponents.load(fromByteOffset: index, as: UInt8.self),
                                 into: out + b * 17)
            }
            return
        }
        if !values.isEmpty {
            for (i, v) in values.enumerated() { scratch[i] = v }
            ElementConversion.encode(UnsafeBufferPointer(start: scratch, count: rowLength), to: type, into: out)
            return
        }
        let source = permuteGroups.map { TensorRules.permutedSourceRow(row, rows: rowCount, groups: $0) } ?? row
        let rowBytes = rowLength * element.byteSize
        let bytes = UnsafeRawBufferPointer(rebasing: data[(source * rowBytes)..<((source + 1) * rowBytes)])
        if sameEncoding, let from = bytes.baseAddress {
            out.copyMemory(from: from, byteCount: byteCount)
        } else {
            ElementConversion.decode(bytes, type: element, count: rowLength, into: scratch)
            if let scale { applyScale(scale, row: source, to: scratch) }
            if shift != 0 { applyShift(to: scratch) }
            ElementConversion.encode(UnsafeBufferPointer(start: scratch, count: rowLength), to: type, into: out)
        }
    }

    private func writeMLA(_ split: MLASplit, row: Int, type: GGMLType, into out: UnsafeMutableRawPointer, byteCount: Int,
                          scratch: UnsafeMutablePointer<Float>) {
        let base = parts[0]
        let perHead = split.nope + split.value
        switch split.half {
        case .value:
            let source = (row / split.value) * perHead + split.nope + row % split.value
            base.write(row: source, type: type, into: out, byteCount: byteCount, scratch: scratch)
        case .key:
            // `row` is head `row`: its `nope` key rows of kvLora values, written kvLora rows of `nope`.
            let kvLora = base.rowLength
            let keyRows = UnsafeMutablePointer<Float>.allocate(capacity: max(split.nope * kvLora, 1))
            defer { keyRows.deallocate() }
            for j in 0..<split.nope { base.decode(row: row * perHead + j, into: keyRows + j * kvLora) }
            for c in 0..<kvLora {
                for j in 0..<split.nope { scratch[c * split.nope + j] = keyRows[j * kvLora + c] }
            }
            ElementConversion.encode(UnsafeBufferPointer(start: scratch, count: rowLength), to: type, into: out)
        }
    }

    /// Gathers output row `row` of a strided view into contiguous source elements, then converts it.
    private func writeStrided(_ view: StridedView, row: Int, type: GGMLType, into out: UnsafeMutableRawPointer,
                              scratch: UnsafeMutablePointer<Float>) {
        let size = element.byteSize
        guard let base = data.baseAddress else { return }
        let gathered = UnsafeMutableRawPointer.allocate(byteCount: max(rowLength * size, 1), alignment: 16)
        defer { gathered.deallocate() }
        let start = view.start(ofRow: row)
        for c in 0..<rowLength {
            (gathered + c * size).copyMemory(from: base + (start + c * view.elementStride) * size, byteCount: size)
        }
        ElementConversion.decode(UnsafeRawBufferPointer(start: gathered, count: rowLength * size), type: element,
                                 count: rowLength, into: scratch)
        ElementConversion.encode(UnsafeBufferPointer(start: scratch, count: rowLength), to: type, into: out)
    }

    /// Source row `row` as floats, scaled and shifted as `write` would (not permuted).
    private func decode(row: Int, into values: UnsafeMutablePointer<Float>) {
        let rowBytes = rowLength * element.byteSize
        let bytes = UnsafeRawBufferPointer(rebasing: data[(row * rowBytes)..<((row + 1) * rowBytes)])
        ElementConversion.decode(bytes, type: element, count: rowLength, into: values)
        if let scale { applyScale(scale, row: row, to: values) }
        if shift != 0 { applyShift(to: values) }
    }

    /// `data_torch + shift`: F16 tensors reach the reference's modify_tensors still in half
    /// precision, so the sum is rounded to F16 there; F32 and BF16 (already widened) add in F32.
    private func applyShift(to values: UnsafeMutablePointer<Float>) {
        for c in 0..<rowLength {
            let sum = values[c] + shift
            values[c] = element == .f16 ? Float(Float16(sum)) : sum
        }
    }

    /// `weight.float() * scale` for one (source) row, in single precision as torch does it.
    private func applyScale(_ scale: DequantizationScale, row: Int, to values: UnsafeMutablePointer<Float>) {
        let size = scale.element.byteSize
        func value(_ index: Int) -> Float {
            var out: Float = 0
            let bytes = UnsafeRawBufferPointer(rebasing: scaleData[(index * size)..<((index + 1) * size)])
            ElementConversion.decode(bytes, type: scale.element, count: 1, into: &out)
            return out
        }
        if let block = scale.blockSize, block.count == 2, let columns = scale.info.shape.last {
            let base = (row / block[0]) * columns
            var cached = -1
            var s: Float = 0
            for c in 0..<rowLength {
                let index = base + c / block[1]
                if index != cached { s = value(index); cached = index }
                values[c] *= s
            }
        } else {
            // No block size: one scale for the tensor, or one per row (unsqueezed to [rows, 1]).
            let s = value(scale.info.elementCount == 1 ? 0 : row)
            for c in 0..<rowLength { values[c] *= s }
        }
    }
}

extension Converter {
    /// Writes GGUF rows `rows` (of `ne0` elements) of a planned tensor, in its planned type, to
    /// `out`: how the pipeline reads a Hugging Face folder a slab at a time, through exactly the
    /// conversion `run` applies. Where the converter moves smaller units (a permuted 1-D bias moves
    /// element by element), the units that make up those GGUF rows are written in order.
    public static func writeRows(of tensor: PlannedTensor, rows: Range<Int>, into out: UnsafeMutableRawPointer) {
        let reader = RowReader(tensor)
        let ne0 = max(tensor.dimensions.first ?? 1, 1)
        let ggufRows = max(tensor.elementCount / ne0, 1)
        guard reader.rowCount > 0, let unitBytes = ElementConversion.rowBytes(tensor.type, count: reader.rowLength) else { return }
        let unitsPerRow = max(reader.rowCount / ggufRows, 1)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(reader.rowLength, 1))
        defer { scratch.deallocate() }
        if reader.rowCount < ggufRows {
            // A unit spans several GGUF rows (an MLA key head): write whole units, keep the rows asked for.
            let rowsPerUnit = ggufRows / reader.rowCount
            guard let rowBytes = ElementConversion.rowBytes(tensor.type, count: ne0) else { return }
            let unit = UnsafeMutableRawPointer.allocate(byteCount: unitBytes, alignment: 16)
            defer { unit.deallocate() }
            var offset = 0
            var row = rows.lowerBound
            while row < rows.upperBound {
                let index = row / rowsPerUnit
                reader.write(row: index, type: tensor.type, into: unit, byteCount: unitBytes, scratch: scratch)
                let end = min(rows.upperBound, (index + 1) * rowsPerUnit)
                let first = row - index * rowsPerUnit
                (out + offset).copyMemory(from: unit + first * rowBytes, byteCount: (end - row) * rowBytes)
                offset += (end - row) * rowBytes
                row = end
            }
            return
        }
        var offset = 0
        for unit in (rows.lowerBound * unitsPerRow)..<(rows.upperBound * unitsPerRow) {
            reader.write(row: unit, type: tensor.type, into: out + offset, byteCount: unitBytes, scratch: scratch)
            offset += unitBytes
        }
    }

    /// The bytes `writeRows` would write for the whole of `tensor`, when they are its source's own
    /// bytes (an F16 weight of an F16 checkpoint: same encoding, not permuted, scaled or shifted), so
    /// a reader can use them in place from the folder's memory map; nil when the tensor has to be
    /// converted. Valid while the plan that holds the tensor is alive.
    public static func sourceBytesIfUnchanged(_ tensor: PlannedTensor) -> UnsafeRawBufferPointer? {
        let reader = RowReader(tensor)
        guard reader.copiesSource else { return nil }
        return reader.sourceBytes(ofRows: 0..<reader.rowCount)
    }

    /// Hands a converted tensor's source pages back to the kernel (see `releasePages`).
    public static func release(_ tensor: PlannedTensor) { release(tensor.source) }

    private static func release(_ source: TensorSource) {
        switch source {
        case .stored(let file, let info, _, _, _, _): releasePages(file.data(for: info))
        case .stacked(let parts): parts.forEach(release)
        case .mlaSplit(let base, _): release(base)
        case .strided(let file, let info, _, _): releasePages(file.data(for: info))
        case .mxfp4(let blocks, let blocksInfo, let scales, let scalesInfo, _):
            releasePages(blocks.data(for: blocksInfo))
            releasePages(scales.data(for: scalesInfo))
        case .generated: break
        }
    }
}
