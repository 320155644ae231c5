// quantd-bench: quantization throughput in MB/s of f32 input, per type and thread count.
//
//   swift build -c release --product quantd-bench
//   .build/release/quantd-bench [--types Q4_K,Q8_0] [--threads 1,2] [--rows 1536] [--cols 2048]
//                               [--imatrix] [--measure] [--f16] [--min-seconds 1.0] [--input rows.f32 --cols N]
//                               [--imatrix-file imatrix.f32] [--output out.bin]
//
// --imatrix-file: raw f32, --cols importance values (implies --imatrix), e.g. the matrix of the tensor
// whose rows --input holds; --output writes the quantized bytes of the last type and thread count.
//
// --measure adds the per-tensor error metrics a job computes; --f16 feeds the rows as F16 converted
// inside the workers, as a job on an F16 model does (MB/s stays per MB of f32-equivalent input).
//
// Input: seeded Gaussian-like weights (deterministic), so runs are comparable.
import Dispatch
import Foundation
import GGUF
import Quantization

struct Options {
    var types = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                 "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4"]
    var threads = [1, 2]
    var rows = 1536
    var cols = 2048
    var imatrix = false
    var measure = false
    var f16 = false
    var minSeconds = 1.0
    var input: String? = nil
    var imatrixFile: String? = nil
    var output: String? = nil
}

func parse() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--types": o.types = (args.next() ?? "").split(separator: ",").map(String.init)
        case "--threads": o.threads = (args.next() ?? "").split(separator: ",").compactMap { Int($0) }
        case "--rows": o.rows = Int(args.next() ?? "") ?? o.rows
        case "--cols": o.cols = Int(args.next() ?? "") ?? o.cols
        case "--imatrix": o.imatrix = true
        case "--measure": o.measure = true
        case "--f16": o.f16 = true
        case "--min-seconds": o.minSeconds = Double(args.next() ?? "") ?? o.minSeconds
        case "--input": o.input = args.next()
        case "--imatrix-file": o.imatrixFile = args.next(); o.imatrix = true
        case "--output": o.output = args.next()
        default:
            FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return o
}

var opts = parse()
struct XorShift {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> Float {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state % 1_000_000) / 1_000_000 - 0.5
    }
}
var rng = XorShift()
var data: [Float]
if let path = opts.input {
    // Raw little-endian f32 rows of --cols values (e.g. weights dumped from a real model).
    guard let raw = FileManager.default.contents(atPath: path), raw.count >= opts.cols * 4 else {
        FileHandle.standardError.write("cannot read \(path) (need raw f32, --cols per row)\n".data(using: .utf8)!)
        exit(2)
    }
    let n = raw.count / 4 / opts.cols * opts.cols
    data = raw.withUnsafeBytes { b in (0..<n).map { Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    opts.rows = n / opts.cols
} else {
    data = [Float](repeating: 0, count: opts.rows * opts.cols)
    for i in data.indices { data[i] = (rng.next() + rng.next() + rng.next() + rng.next()) * 0.03 }
}
var imatrix = [Float](repeating: 0, count: opts.cols)
for i in imatrix.indices { imatrix[i] = abs(rng.next()) * 4 + 0.01 }
if let path = opts.imatrixFile {
    guard let raw = FileManager.default.contents(atPath: path), raw.count == opts.cols * 4 else {
        FileHandle.standardError.write("cannot read \(path) (need raw f32, exactly --cols values)\n".data(using: .utf8)!)
        exit(2)
    }
    imatrix = raw.withUnsafeBytes { b in (0..<opts.cols).map { Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
}
let mb = Double(data.count * 4) / 1_000_000

let halves = opts.f16 ? data.map { FP16.fromFloat($0) } : []
print("quantd-bench: \(opts.rows) x \(opts.cols) f32 (\(String(format: "%.1f", mb)) MB), imatrix: \(opts.imatrix), measure: \(opts.measure), f16 input: \(opts.f16)")
print("type     threads   MB/s    ms/pass  cpu-MB/s")
for name in opts.types {
    guard let type = GGMLType(name: name), Quantizer.supportsQuantize(type) else {
        print("\(name): not supported"); continue
    }
    guard let bytes = try? Quantizer.byteCount(type, rows: opts.rows, rowLength: opts.cols) else {
        print("\(name): row length \(opts.cols) not a multiple of \(type.blockSize)"); continue
    }
    var out = [UInt8](repeating: 0, count: bytes)
    for t in opts.threads {
        // One untimed pass: tables a quantizer builds on first use (the IQ1/IQ2 neighbour lists)
        // are not part of its throughput.
        _ = timePasses(type, data, halves, imatrix, &out, cols: opts.cols, threads: t, useImatrix: opts.imatrix,
                       measure: opts.measure, minSeconds: 0)
        let cpuStart = clock()
        let (passes, elapsed) = timePasses(type, data, halves, imatrix, &out, cols: opts.cols, threads: t,
                                           useImatrix: opts.imatrix, measure: opts.measure, minSeconds: opts.minSeconds)
        let perPass = elapsed / Double(passes)
        // CPU seconds per pass (summed over threads): steadier than wall time on a shared
        // machine, and for one thread the better A/B figure.
        let cpuPerPass = Double(clock() - cpuStart) / Double(CLOCKS_PER_SEC) / Double(passes)
        print(String(format: "%-8@ %7d %8.1f %9.1f %9.1f", name as NSString, t, mb / perPass, perPass * 1000,
                     mb / cpuPerPass))
    }
    if let path = opts.output { FileManager.default.createFile(atPath: path, contents: Data(out)) }
}

/// The timed loop, outside top-level (main-actor) code so no isolation checks run per pass.
nonisolated func timePasses(
    _ type: GGMLType, _ data: [Float], _ halves: [UInt16], _ imatrix: [Float], _ out: inout [UInt8], cols: Int,
    threads: Int, useImatrix: Bool, measure: Bool, minSeconds: Double
) -> (Int, Double) {
    var passes = 0
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed = 0.0
    data.withUnsafeBufferPointer { x in
        halves.withUnsafeBytes { h in
        imatrix.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBytes { y in
                repeat {
                    if h.isEmpty {
                        _ = try? Quantizer.quantize(type, rows: x, rowLength: cols, importance: useImatrix ? w : nil,
                                                    into: y, threads: threads, measure: measure)
                    } else {
                        _ = try? Quantizer.quantize(type, rawRows: h, of: .f16, rowLength: cols,
                                                    importance: useImatrix ? w : nil, into: y, threads: threads,
                                                    measure: measure)
                    }
                    passes += 1
                    elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } while elapsed < minSeconds
            }
        }
        }
    }
    return (passes, elapsed)
}
