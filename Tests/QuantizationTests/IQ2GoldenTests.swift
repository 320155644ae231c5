import Foundation
import Testing
import GGUF
@testable import Quantization

/// IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S and IQ1_M against libggml (Fixtures/golden_iq2.bin, made by
/// scripts/quant/make_golden.py --types ...), and their neighbour tables against the ones
/// ggml's iq2xs_init_impl builds (Fixtures/iq2_neighbours.txt, from scripts/quant/iq2_neighbours.c).
@Suite struct IQ2GoldenTests {
    static let types = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"]

    static let golden: Golden = {
        if let path = ProcessInfo.processInfo.environment["QUANTD_GOLDEN_IQ2"],
            let data = FileManager.default.contents(atPath: path)
        {
            return Golden(data: [UInt8](data))
        }
        guard let url = Bundle.module.url(forResource: "golden_iq2", withExtension: "bin", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { return Golden() }
        return Golden(data: [UInt8](data))
    }()

    @Test(arguments: types)
    func quantizeMatchesGGML(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        let g = Self.golden
        let cases = g.quantCases.filter { $0.type == type }
        #expect(cases.count >= 10)
        // Both with and without importance weights wherever ggml allows the latter.
        #expect(cases.contains { $0.withImportance })
        #expect(cases.contains { !$0.withImportance } == !Quantizer.requiresImportanceWeights(type))
        try expectQuantizeCasesMatchGGML(cases, of: g, type: type)
    }

    /// The same bytes on 1 and 3 threads (rows are independent).
    @Test(arguments: types)
    func threadsAgree(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        let n = 512, rows = 6
        var state: UInt64 = 12345
        let x = (0..<(n * rows)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 20000
        }
        let qw = (0..<n).map { Float(1 + $0 % 7) }
        let bytes = try Quantizer.byteCount(type, rows: rows, rowLength: n)
        var one = [UInt8](repeating: 0, count: bytes), three = [UInt8](repeating: 1, count: bytes)
        try x.withUnsafeBufferPointer { xb in
            try qw.withUnsafeBufferPointer { w in
                try one.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: xb, rowLength: n, importance: w, into: $0, threads: 1) }
                try three.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: xb, rowLength: n, importance: w, into: $0, threads: 3) }
            }
        }
        #expect(one == three)
    }

    @Test(arguments: ["IQ2_XXS", "IQ2_XS", "IQ1_S"])
    func refusesWithoutImportance(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        let x = [Float](repeating: 0.5, count: 256)
        var out = [UInt8](repeating: 0, count: type.bytesPerBlock)
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBytes { y in
                #expect(throws: QuantizationError.importanceRequired(type)) {
                    try Quantizer.quantize(type, rows: xb, rowLength: 256, importance: nil, into: y)
                }
            }
        }
        #expect("\(QuantizationError.importanceRequired(type))".contains("requires an importance matrix"))
    }

    /// Inputs ggml aborts on (inf and NaN inside its search), and damaged importance weights,
    /// give some output, without a crash.
    @Test(arguments: types)
    func nonFiniteInputsDoNotCrash(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        var x = [Float](repeating: 1e30, count: 512)
        for i in stride(from: 0, to: 256, by: 3) { x[i] = -.infinity }
        for i in stride(from: 1, to: 512, by: 5) { x[i] = .nan }
        var out = [UInt8](repeating: 0, count: 2 * type.bytesPerBlock)
        // Finite values with importance weights a damaged imatrix could hold.
        let finite = (0..<512).map { Float(($0 * 37) % 101 - 50) / 100 }
        let damaged = (0..<512).map { i -> Float in [1, -3, .nan, .infinity, 0, 1e38][i % 6] }
        for (values, weights) in [(x, [Float](repeating: 1, count: 512)), (finite, damaged), (x, damaged)] {
            try values.withUnsafeBufferPointer { xb in
                try weights.withUnsafeBufferPointer { w in
                    try out.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: xb, rowLength: 512, importance: w, into: $0) }
                }
            }
        }
    }

    /// Per codebook: points, points on the codebook, total neighbours and the FNV-1a hash of
    /// the lists in ggml's order, as iq2_neighbours.c prints them for ggml's own tables.
    @Test func neighbourTablesMatchGGML() throws {
        let url = try #require(Bundle.module.url(forResource: "iq2_neighbours", withExtension: "txt", subdirectory: "Fixtures"))
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        let tables = ["IQ2_XXS": IQ2Table.iq2xxs, "IQ2_XS": IQ2Table.iq2xs, "IQ2_S": IQ2Table.iq2s, "IQ1_S": IQ2Table.iq1s]
        #expect(lines.count == 4)
        for line in lines {
            let f = line.split(separator: " ").map(String.init)
            let t = try #require(tables[f[0]])
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            func add(_ v: UInt16) {
                for b in [UInt8(v & 0xff), UInt8(v >> 8)] {
                    hash ^= UInt64(b)
                    hash = hash &* 0x100_0000_01b3
                }
            }
            var points = 0, on = 0, total = 0
            for u in 0..<IQ2Table.mapSize where (0..<8).allSatisfy({ (u >> (2 * $0)) & 3 <= 2 }) {
                points += 1
                if let gi = t.onGrid(u) {
                    on += 1
                    add(0xFFFF)
                    add(UInt16(gi))
                } else {
                    let list = try #require(t.list(u))
                    add(UInt16(list.count))
                    for j in 0..<list.count { add(t.neighbours[list.start + j]) }
                    total += list.count
                }
            }
            #expect("\(points) \(on) \(total)" == "\(f[1]) \(f[2]) \(f[3])", "\(f[0])")
            #expect(String(hash, radix: 16).leftPadded(16) == f[4], "\(f[0])")
        }
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: Swift.max(0, n - count)) + self }
}

#if canImport(Glibc)
import Glibc
#endif

/// IQ1's sort: the rank order (no NaN) and the merge sort must give glibc qsort's order.
@Suite struct IQ1SortTests {
    static func values(_ n: Int, seed: UInt64, nan: Bool) -> [Float] {
        var state = seed
        return (0..<n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let r = Int((state >> 33) % 7)
            if nan && r == 0 { return .nan }
            // few distinct values: many ties, and -0 against +0
            return [Float(-0.0), 0, 0.5, -0.5, 0.25, 1, -1][r] * (i % 3 == 0 ? 1 : -1)
        }
    }

    @Test func rankOrderIsTheStableOrder() {
        for seed in 1...200 as ClosedRange<UInt64> {
            for n in [16, 32] {
                let x = Self.values(n, seed: seed, nan: false)
                var merge = (0..<n).map { Int32($0) }, rank = [Int32](repeating: -1, count: n)
                var tmp = [Int32](repeating: 0, count: n)
                x.withUnsafeBufferPointer { xb in
                    IQ1.sortOrder(xb.baseAddress!, &merge, n, tmp: &tmp)
                    #expect(IQ1.rankOrder(xb.baseAddress!, &rank, n))
                }
                #expect(merge == rank, "seed \(seed) n \(n)")
            }
        }
    }

    #if canImport(Glibc)
    /// With NaN the order depends on the algorithm; this checks the replica against the C
    /// library it reproduces (glibc 2.36, whose qsort is a merge sort for small arrays).
    static var glibcVersion: String? {
        guard let f = dlsym(dlopen(nil, RTLD_NOW), "gnu_get_libc_version") else { return nil }
        typealias Version = @convention(c) () -> UnsafePointer<CChar>
        return String(cString: unsafeBitCast(f, to: Version.self)())
    }

    @Test(.enabled(if: glibcVersion == "2.36"))
    func mergeSortIsGlibcQsort() {
        for seed in 1...200 as ClosedRange<UInt64> {
            for n in [16, 32] {
                let x = Self.values(n, seed: seed, nan: true)
                var pairs = [(Float, Int32)]()
                for i in 0..<n { pairs.append((x[i], Int32(i))) }
                pairs.withUnsafeMutableBufferPointer { p in
                    qsort(p.baseAddress!, n, 8) { l, r in
                        let a = l!.load(as: Float.self), b = r!.load(as: Float.self)
                        return a < b ? -1 : a > b ? 1 : 0
                    }
                }
                var merge = (0..<n).map { Int32($0) }
                var tmp = [Int32](repeating: 0, count: n)
                x.withUnsafeBufferPointer { IQ1.sortOrder($0.baseAddress!, &merge, n, tmp: &tmp) }
                #expect(merge == pairs.map(\.1), "seed \(seed) n \(n)")
            }
        }
    }
    #endif
}
