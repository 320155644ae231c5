import Safetensors

extension PlannedTensor {
    /// A region of a checkpoint file the tensor is read from.
    public struct SourceRange: Sendable, Equatable {
        public let file: String
        public let offset: Int
        public let bytes: Int
    }

    /// The whole safetensors tensors this tensor is made from, in reading order (several for
    /// stacked experts); empty for a tensor the converter generates. A strided or split view
    /// names the whole tensor it reads from.
    public var sourceRanges: [SourceRange] { Self.ranges(source) }

    private static func ranges(_ source: TensorSource) -> [SourceRange] {
        switch source {
        case .stored(let file, let info, _, _, _, _), .strided(let file, let info, _, _):
            [SourceRange(file: file.path, offset: info.absoluteOffset, bytes: info.byteCount)]
        case .generated: []
        case .stacked(let parts): parts.flatMap(ranges)
        case .mlaSplit(let inner, _): ranges(inner)
        case .mxfp4(let blocks, let blocksInfo, let scales, let scalesInfo, _):
            [SourceRange(file: blocks.path, offset: blocksInfo.absoluteOffset, bytes: blocksInfo.byteCount),
             SourceRange(file: scales.path, offset: scalesInfo.absoluteOffset, bytes: scalesInfo.byteCount)]
        }
    }
}
