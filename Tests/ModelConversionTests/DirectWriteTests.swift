import BinaryIO
import Foundation
import QuantdTestSupport
import Testing

/// The converter writes with O_DIRECT (`AtomicFileWriter(directIO: true)`): whole aligned buffers
/// bypass the page cache and the unaligned tail goes through it. The file must hold exactly the
/// bytes written, for pieces of any size and a total that is not a multiple of the block size.
@Suite struct DirectWriteTests {
    @Test(arguments: [0, 1, 4095, 4096, 4097, (4 << 20) + 12345, (9 << 20) + 3])
    func directWriteGivesTheSameBytes(total: Int) throws {
        let temp = TemporaryFolder("convert-test")
        var bytes = [UInt8](repeating: 0, count: total)
        var state: UInt32 = 12345
        for i in bytes.indices {
            state = state &* 1_103_515_245 &+ 12345
            bytes[i] = UInt8(truncatingIfNeeded: state >> 16)
        }
        let writer = try AtomicFileWriter(destination: temp.file("out"), directIO: true)
        var offset = 0
        var step = 1
        try bytes.withUnsafeBytes { raw in
            while offset < total {  // pieces of growing, unaligned sizes, some larger than the buffer
                let n = min(step, total - offset)
                try writer.write(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)]))
                offset += n
                step = step * 3 + 7
            }
        }
        try writer.commit()
        let read = try Data(contentsOf: URL(fileURLWithPath: temp.file("out")))
        #expect(read.count == total)
        #expect([UInt8](read) == bytes)
    }
}
