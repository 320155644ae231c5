import Testing
import GGUF
@testable import Quantization

/// Q3_K's reference path searches one, two or three super-blocks at a time (6, 4 or 2 lane
/// groups, chosen by the blocks left in the row). Blocks carry no per-row state, so ggml's bytes
/// for the golden inputs must come out for any row length that splits them into whole blocks:
/// 256 (pairs), 512 (quads), 768 (sixes) and the whole input as one row.
@Suite struct Q3KRowSplitTests {
    @Test func everyRowSplitGivesGGMLBytes() throws {
        let g = Golden.shared
        var checked = 0
        for c in g.quantCases where c.type.id == GGMLType.q3_K.id && !c.withImportance {
            let values = g.inputs[c.input].values
            for rowLength in [256, 512, 768, 1024, 1536, values.count] where values.count % rowLength == 0 {
                var out = [UInt8](repeating: 0xAA, count: c.bytes.count)
                try values.withUnsafeBufferPointer { x in
                    try out.withUnsafeMutableBytes { y in
                        try Quantizer.quantize(.q3_K, rows: x, rowLength: rowLength, importance: nil, into: y)
                    }
                }
                let mismatch = out.indices.first { out[$0] != c.bytes[$0] }
                #expect(mismatch == nil, "\(g.inputs[c.input].name) as rows of \(rowLength): first differing byte \(mismatch ?? -1)")
                checked += 1
            }
        }
        #expect(checked >= 20)
    }
}
