import BinaryIO
import Dispatch
import GGUF

/// What `--verify` found in one tensor.
public struct TensorVerification: Sendable {
    public var sha256: String
    public var nonFiniteValues: Int
    public var nonFiniteScales: Int

    public init(sha256: String, nonFiniteValues: Int, nonFiniteScales: Int) {
        self.sha256 = sha256
        self.nonFiniteValues = nonFiniteValues
        self.nonFiniteScales = nonFiniteScales
    }
}

/// How a tensor's elements are stored, as far as the finite check needs to know.
public enum ElementEncoding: Sendable {
    case float32, float16, bfloat16, float64, float8E4M3, float8E5M2
    /// ggml blocks: only the scales can be non-finite.
    case blocks(GGMLType)
    /// Integers and anything else that has no non-finite values.
    case integer

    public init(ggml type: GGMLType) {
        switch type {
        case .f32: self = .float32
        case .f16: self = .float16
        case .bf16: self = .bfloat16
        case .f64: self = .float64
        case _ where type.isQuantized: self = .blocks(type)
        default: self = .integer
        }
    }
}

/// `quantd inspect --verify`: reads every byte of a file: SHA-256 of the whole file and of each tensor, and a count of
/// non-finite values (or block scales) per tensor.
///
/// The whole-file hash runs on one thread while the per-tensor work runs on the others, so a
/// two-core machine reads the file at close to the speed of one SHA-256 stream.
public enum Verification {
    public struct Job: Sendable {
        public var range: Range<Int>
        public var encoding: ElementEncoding

        public init(range: Range<Int>, encoding: ElementEncoding) {
            self.range = range
            self.encoding = encoding
        }
    }

    public static func run(bytes: UnsafeRawBufferPointer, jobs: [Job]) -> (file: String, tensors: [TensorVerification]) {
        let results = UnsafeMutableBufferPointer<TensorVerification>.allocate(capacity: jobs.count)
        results.initialize(repeating: TensorVerification(sha256: "", nonFiniteValues: 0, nonFiniteScales: 0))
        defer { results.deallocate() }
        nonisolated(unsafe) let shared = results
        nonisolated(unsafe) let source = bytes
        nonisolated(unsafe) var fileDigest = ""
        DispatchQueue.concurrentPerform(iterations: 2) { lane in
            if lane == 0 {
                fileDigest = sha256(source)
            } else {
                for (index, job) in jobs.enumerated() {
                    let data = UnsafeRawBufferPointer(rebasing: source[job.range])
                    var result = TensorVerification(sha256: sha256(data), nonFiniteValues: 0, nonFiniteScales: 0)
                    switch job.encoding {
                    case .blocks(let type): result.nonFiniteScales = BlockScaleLayout.countNonFiniteScales(type, data)
                    default: result.nonFiniteValues = countNonFinite(job.encoding, data)
                    }
                    shared[index] = result
                }
            }
        }
        return (fileDigest, Array(results))
    }

    public static func sha256(_ data: UnsafeRawBufferPointer) -> String { SHA256Digest.hex(of: data) }

    /// Counts NaN and infinite values by their exponent bits (all ones means non-finite).
    public static func countNonFinite(_ encoding: ElementEncoding, _ data: UnsafeRawBufferPointer) -> Int {
        switch encoding {
        case .float32: return countExponentAllOnes(data, as: UInt32.self, mask: 0x7F80_0000)
        case .float64: return countExponentAllOnes(data, as: UInt64.self, mask: 0x7FF0_0000_0000_0000)
        case .float16: return countExponentAllOnes(data, as: UInt16.self, mask: 0x7C00)
        case .bfloat16: return countExponentAllOnes(data, as: UInt16.self, mask: 0x7F80)
        case .float8E5M2: return countExponentAllOnes(data, as: UInt8.self, mask: 0x7C)
        case .float8E4M3:
            // The E4M3 "fn" encoding has no infinities; only S.1111.111 is NaN.
            return countExponentAllOnes(data, as: UInt8.self, mask: 0x7F)
        case .blocks, .integer: return 0
        }
    }

    private static func countExponentAllOnes<T: FixedWidthInteger & UnsignedInteger>(
        _ data: UnsafeRawBufferPointer, as _: T.Type, mask: T
    ) -> Int {
        let count = data.count / MemoryLayout<T>.size
        guard count > 0, let base = data.baseAddress else { return 0 }
        var bad = 0
        if Int(bitPattern: base) % MemoryLayout<T>.alignment == 0 {
            let words = UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self), count: count)
            for w in words where w & mask == mask { bad += 1 }
        } else {
            for i in 0..<count where data.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self) & mask == mask {
                bad += 1
            }
        }
        return bad
    }
}
