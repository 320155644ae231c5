import GGUF

/// `--outtype` of the reference converter: the type of the large weight matrices. 1-D tensors,
/// norms and biases stay F32 whatever this is (see `ConversionPlan.tensorType`).
public enum OutputType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", q8_0 = "Q8_0"

    /// Parses `F16`, `f16`, ...; nil for anything else (`auto` is resolved by `OutputTypeChoice`).
    public init?(name: String) {
        self.init(rawValue: name.uppercased())
    }

    /// `general.file_type`: the reference's `LlamaFileType` value.
    public var fileTypeID: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q8_0: 7
        case .bf16: 32
        }
    }

    public var ggmlType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        }
    }
}

/// What the user asked for: a type, or `auto`, which the reference resolves from the first
/// tensor of two or more dimensions in file order: BF16 stays BF16, F16 stays F16, and anything
/// else (F32 included) becomes F16.
public enum OutputTypeChoice: Sendable, Equatable {
    case fixed(OutputType)
    case auto

    public init?(argument: String) {
        if argument.lowercased() == "auto" {
            self = .auto
        } else if let type = OutputType(name: argument) {
            self = .fixed(type)
        } else {
            return nil
        }
    }
}
