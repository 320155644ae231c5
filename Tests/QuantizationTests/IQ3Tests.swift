import Foundation
import Testing
import GGUF
@testable import Quantization

/// IQ3_XXS and IQ3_S against ggml: the search tables against the ones ggml's iq3xs_init_impl
/// builds (Fixtures/iq3-tables.bin) and the quantized bytes against ggml_quantize_chunk's
/// (Fixtures/golden-iq3.bin); see Fixtures/README.md for how both were made.
@Suite struct IQ3Tests {
    /// ggml's tables for one grid size, read from the fixture.
    struct GGMLTables {
        var grid: [UInt32] = []
        var map: [Int32] = []
        var neighbours: [UInt16] = []
    }

    static let ggmlTables: [Int: GGMLTables] = {
        guard let url = Bundle.module.url(forResource: "iq3-tables", withExtension: "bin", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { return [:] }
        let bytes = [UInt8](data)
        var p = 0
        func u32() -> UInt32 {
            defer { p += 4 }
            return UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        }
        func u16() -> UInt16 {
            defer { p += 2 }
            return UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8
        }
        var out: [Int: GGMLTables] = [:]
        while p + 4 <= bytes.count {
            var t = GGMLTables()
            let size = Int(u32())
            t.grid = (0..<size).map { _ in u32() }
            t.map = (0..<4096).map { _ in Int32(bitPattern: u32()) }
            let n = Int(u32())
            t.neighbours = (0..<n).map { _ in u16() }
            out[size] = t
        }
        return out
    }()

    @Test(arguments: [256, 512])
    func tablesMatchGGML(_ size: Int) throws {
        let ref = try #require(IQ3Tests.ggmlTables[size])
        let ours = size == 256 ? IQ3Grid.xxs : IQ3Grid.s
        #expect(ours.size == size)
        let grid = (0..<size).map { k -> UInt32 in
            let key = UInt32(ours.keys[k])
            var word: UInt32 = 0
            for i in 0..<4 { word |= (2 * ((key >> UInt32(3 * i)) & 7) + 1) << UInt32(8 * i) }
            return word
        }
        #expect(grid == ref.grid)
        #expect(Array(UnsafeBufferPointer(start: ours.map, count: 4096)) == ref.map)
        #expect(ours.neighbourTotal == ref.neighbours.count)
        #expect(Array(UnsafeBufferPointer(start: ours.neighbours, count: ours.neighbourTotal)) == ref.neighbours)
    }

    /// The search's own encoding of ggml's tables: `entry` is ggml's grid index for a tuple on
    /// the grid, else it names a chunk run whose candidates (levels in `chunkKeys`, grid values
    /// in `planes`) are ggml's neighbour list for the tuple, in ggml's order.
    @Test(arguments: [256, 512])
    func searchEntriesMatchGGMLNeighbourLists(_ size: Int) throws {
        let ref = try #require(IQ3Tests.ggmlTables[size])
        let ours = size == 256 ? IQ3Grid.xxs : IQ3Grid.s
        func refKey(_ index: Int) -> Int {
            var key = 0
            for i in 0..<4 { key |= (((Int(ref.grid[index] >> UInt32(8 * i)) & 0xFF) - 1) / 2) << (3 * i) }
            return key
        }
        var offGrid = 0
        for key in 0..<4096 {
            let e = Int(ours.entry[key])
            if ref.map[key] >= 0 {
                #expect(e == Int(ref.map[key]))
                continue
            }
            offGrid += 1
            let offset = Int(-ref.map[key] - 1)
            let n = Int(ref.neighbours[offset])
            #expect(e < 0)
            let code = -(e + 1), first = code >> 6
            #expect(code & 63 == n)
            for j in 0..<n {
                let expected = refKey(Int(ref.neighbours[offset + 1 + j]))
                #expect(Int(ours.chunkKeys[8 * first + j]) == expected)
                let plane = ours.planes + 4 * (first + j / 8)
                for i in 0..<4 { #expect(plane[i][j % 8] == Float(2 * ((expected >> (3 * i)) & 7) + 1)) }
            }
        }
        #expect(offGrid == 4096 - size)
    }

    @Test(arguments: ["IQ3_XXS", "IQ3_S"])
    func quantizeMatchesGGML(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        let g = Golden.iq3
        let cases = g.quantCases.filter { $0.type == type }
        #expect(cases.count >= 20)
        #expect(cases.contains { $0.withImportance })
        try expectQuantizeCasesMatchGGML(cases, of: g, type: type)
    }

    /// Inputs on which ggml itself aborts (no candidate with a finite distance) or that make
    /// every comparison false must still give a block, on one thread and on several alike.
    @Test(arguments: ["IQ3_XXS", "IQ3_S"])
    func hostileInputsDoNotCrash(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        var rows = [Float](repeating: 0, count: 4 * 256)
        for i in 0..<256 {
            rows[i] = Float(i % 7) * 1e30 * (i % 2 == 0 ? 1 : -1)
            rows[256 + i] = i % 5 == 0 ? .nan : Float(i) * 0.01
            rows[512 + i] = i % 9 == 0 ? .infinity : -Float(i) * 0.01
            rows[768 + i] = i % 3 == 0 ? -.infinity : .greatestFiniteMagnitude
        }
        let importance = (0..<256).map { Float($0 % 4) - 1 }  // negative and zero weights too
        let bytes = try Quantizer.byteCount(type, rows: 4, rowLength: 256)
        for useImportance in [false, true] {
            var serial = [UInt8](repeating: 0, count: bytes), parallel = serial
            try rows.withUnsafeBufferPointer { x in
                try importance.withUnsafeBufferPointer { w in
                    let qw = useImportance ? w : nil
                    try serial.withUnsafeMutableBytes { y in
                        try Quantizer.quantize(type, rows: x, rowLength: 256, importance: qw, into: y)
                    }
                    try parallel.withUnsafeMutableBytes { y in
                        try Quantizer.quantize(type, rows: x, rowLength: 256, importance: qw, into: y, threads: 3)
                    }
                }
            }
            #expect(serial == parallel)
        }
    }
}
