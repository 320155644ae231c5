import BinaryIO
import GGUF

/// `--verify` for a `.gguf.zst`: decompresses the whole stream once, in bounded memory (about
/// one tensor), hashing the file and each tensor as their bytes go by.
public enum CompressedVerification {
    /// The decompressed size, its SHA-256, and what was found in each tensor of `header`, in order.
    public static func run(path: String, header: GGUFHeader) throws
        -> (fileSize: Int, fileSHA256: String, tensors: [TensorVerification]) {
        var tensors: [TensorVerification] = []
        tensors.reserveCapacity(header.tensors.count)
        let stream = try ZstdStreamReader(path: path)
        let fileHasher = SHA256Digest()
        var hashed = 0

        func consume(upTo end: Int) {
            let from = hashed - stream.outputStart
            let to = end - stream.outputStart
            if to > from {
                stream.output.withUnsafeBytes { fileHasher.update(UnsafeRawBufferPointer(rebasing: $0[from..<to])) }
                hashed = end
            }
            stream.discard(before: end)
        }

        for tensor in header.tensors {
            let range = tensor.byteRange
            try stream.fill(upTo: range.upperBound)
            guard stream.outputStart + stream.output.count >= range.upperBound else {
                throw GGUFError(.truncated, .tensorDataBeyondEnd, field: "tensor '\(tensor.name)' data",
                                offset: range.lowerBound,
                                message: "the decompressed stream ends at byte \(stream.outputStart + stream.output.count), inside tensor '\(tensor.name)' (ends at \(range.upperBound))",
                                hint: "the file is truncated; was the copy finished?").at(path: path)
            }
            let verification = stream.output.withUnsafeBytes { all in
                let slice = UnsafeRawBufferPointer(rebasing: all[(range.lowerBound - stream.outputStart)..<(range.upperBound - stream.outputStart)])
                let encoding = ElementEncoding(ggml: tensor.type)
                var v = TensorVerification(sha256: Verification.sha256(slice), nonFiniteValues: 0, nonFiniteScales: 0)
                if case .blocks(let type) = encoding {
                    v.nonFiniteScales = BlockScaleLayout.countNonFiniteScales(type, slice)
                } else {
                    v.nonFiniteValues = Verification.countNonFinite(encoding, slice)
                }
                return v
            }
            tensors.append(verification)
            consume(upTo: range.upperBound)
        }
        while !stream.isAtEnd {
            try stream.fill(upTo: hashed + (4 << 20))
            consume(upTo: stream.outputStart + stream.output.count)
        }
        return (hashed, fileHasher.finalizeHex(), tensors)
    }
}
