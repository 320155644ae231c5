import ArgumentParser
import GGUF
import JSON
import Quantization

/// `quantd diff A B`: two GGUF files tensor by tensor — types, byte equality, and the error of
/// B against A after dequantizing both.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two GGUF files tensor by tensor (types, identical bytes, error of B against A).",
        discussion: "Exit status 0 when every tensor is byte-identical, 1 when any differs, 65 for a bad file.")

    @Argument(help: "The reference GGUF (e.g. the F16 source).")
    var a: String

    @Argument(help: "The GGUF to compare with it (e.g. a quantized artifact).")
    var b: String

    @OptionGroup var output: TableJSONOption
    private var json: Bool { output.json }

    func run() throws {
        let rows: [DiffRow]
        do {
            rows = try GGUFDiff.compare(GGUFFile(path: a), GGUFFile(path: b))
        } catch {
            throw CLIFailure.from(error)
        }
        print(json ? GGUFDiff.json(rows).serialized(pretty: true) : GGUFDiff.table(rows))
        if rows.contains(where: { !$0.identical }) { throw ExitCode(1) }
    }
}

struct DiffRow {
    var name: String
    var typeA: String?
    var typeB: String?
    var shapeMatches: Bool
    var identical: Bool
    var error: ErrorAccumulator?
}

enum GGUFDiff {
    static func compare(_ a: GGUFFile, _ b: GGUFFile) throws -> [DiffRow] {
        var rows: [DiffRow] = []
        let bByName = Dictionary(b.tensors.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        for ta in a.tensors {
            guard let tb = bByName[ta.name] else {
                rows.append(DiffRow(name: ta.name, typeA: ta.type.name, typeB: nil, shapeMatches: false, identical: false))
                continue
            }
            let da = a.data(for: ta), db = b.data(for: tb)
            let identical = ta.type == tb.type && ta.dimensions == tb.dimensions && da.elementsEqual(db)
            var row = DiffRow(name: ta.name, typeA: ta.type.name, typeB: tb.type.name,
                              shapeMatches: ta.dimensions == tb.dimensions, identical: identical)
            if row.shapeMatches && Quantizer.supportsDequantize(ta.type) && Quantizer.supportsDequantize(tb.type) {
                row.error = try measure(ta, da, tb, db)
            }
            rows.append(row)
        }
        let aNames = Set(a.tensors.map(\.name))
        for tb in b.tensors where !aNames.contains(tb.name) {
            rows.append(DiffRow(name: tb.name, typeA: nil, typeB: tb.type.name, shapeMatches: false, identical: false))
        }
        return rows
    }

    /// Dequantizes both a row-slab at a time (bounded memory) and accumulates B's error.
    static func measure(_ ta: GGUFTensorInfo, _ da: UnsafeRawBufferPointer, _ tb: GGUFTensorInfo,
                        _ db: UnsafeRawBufferPointer) throws -> ErrorAccumulator {
        let rowLength = ta.rowLength
        let rows = ta.elementCount / max(1, rowLength)
        let rowsPerSlab = max(1, (1 << 20) / max(1, rowLength))
        let x = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowsPerSlab * rowLength)
        let y = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowsPerSlab * rowLength)
        defer { x.deallocate(); y.deallocate() }
        let rowBytesA = rowLength / ta.type.blockSize * ta.type.bytesPerBlock
        let rowBytesB = rowLength / tb.type.blockSize * tb.type.bytesPerBlock
        var total = ErrorAccumulator()
        var row = 0
        while row < rows {
            let n = min(rowsPerSlab, rows - row)
            let count = n * rowLength
            let xs = UnsafeMutableBufferPointer(rebasing: x[0..<count]), ys = UnsafeMutableBufferPointer(rebasing: y[0..<count])
            try Quantizer.dequantize(ta.type, UnsafeRawBufferPointer(rebasing: da[(row * rowBytesA)..<((row + n) * rowBytesA)]), count: count, into: xs)
            try Quantizer.dequantize(tb.type, UnsafeRawBufferPointer(rebasing: db[(row * rowBytesB)..<((row + n) * rowBytesB)]), count: count, into: ys)
            total.add(reference: UnsafeBufferPointer(xs), reconstructed: UnsafeBufferPointer(ys))
            row += n
        }
        return total
    }

    static func table(_ rows: [DiffRow]) -> String {
        let width = min(44, rows.map(\.name.count).max() ?? 0)
        var lines = [HumanReport.pad("tensor", width) + "  A       B       same  rel. RMSE   cosine    max |err|"]
        for r in rows {
            var line = HumanReport.pad(r.name, width) + "  " + HumanReport.pad(r.typeA ?? "-", 7) + " " + HumanReport.pad(r.typeB ?? "-", 7)
                + " " + HumanReport.pad(r.identical ? "yes" : "no", 5)
            if let e = r.error {
                line += " " + HumanReport.pad(ConvertSummary.sci(e.relativeRMSE), 11) + " " + HumanReport.pad(String(format: e.cosineSimilarity), 9)
                    + " " + ConvertSummary.sci(e.maxAbsError)
            } else if r.typeA == nil || r.typeB == nil {
                line += " only in \(r.typeA == nil ? "B" : "A")"
            }
            lines.append(line)
        }
        let same = rows.filter(\.identical).count
        lines.append("\(rows.count) tensors: \(same) identical, \(rows.count - same) different")
        return lines.joined(separator: "\n")
    }

    static func json(_ rows: [DiffRow]) -> JSONValue {
        let same = rows.filter(\.identical).count
        return .object([
            ("tensors", .array(rows.map { r in
                var f: [(key: String, value: JSONValue)] = [("name", .string(r.name))]
                f.append(("type_a", r.typeA.map { .string($0) } ?? .null))
                f.append(("type_b", r.typeB.map { .string($0) } ?? .null))
                f.append(("identical", .bool(r.identical)))
                if let e = r.error {
                    f += [("rmse", num(e.rmse)), ("relative_rmse", num(e.relativeRMSE)), ("cosine", num(e.cosineSimilarity)),
                          ("max_abs_error", num(e.maxAbsError)), ("snr_db", num(e.snrDB))]
                }
                return .object(f)
            })),
            ("identical", .number(JSONNumber(same))), ("different", .number(JSONNumber(rows.count - same))),
        ])
    }

    static func num(_ x: Double) -> JSONValue { x.isFinite ? .number(JSONNumber(x)) : .null }
}
