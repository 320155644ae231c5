import GGUF

/// The `--dry-run` plan: for each scheme, every tensor's type and size, and the totals.
public enum PlanReport {
    public static func render(config: PipelineConfig, source: TensorSource) throws -> String {
        let model = try ModelHyperparameters(metadata: source.metadata)
        var lines: [String] = []
        for scheme in config.schemes {
            let types = try TensorTypePlanner.plan(source.tensors, model: model, options: scheme.options)
            lines.append("scheme \(scheme.name) (mix \(scheme.options.mix.rawValue)\(scheme.options.hasImportanceMatrix ? ", imatrix" : "")):")
            if let target = scheme.options.sizeTarget {
                // The types come from forward passes the dry run does not make: the named mix's plan is shown.
                lines.append("  size target \(target.target.label) from \(target.types.map(\.name).joined(separator: ", ")): types are chosen when the job runs; the mix's plan below is the budget's reference")
            }
            var totalBytes = 0, totalElements = 0
            var histogram: [(GGMLType, Int)] = []
            let width = min(48, source.tensors.map(\.name.count).max() ?? 0)
            for (tensor, type) in zip(source.tensors, types) {
                let bytes = tensor.rowCount * tensor.rowBytes(type)
                totalBytes += bytes
                totalElements += tensor.elementCount
                if let i = histogram.firstIndex(where: { $0.0 == type }) { histogram[i].1 += 1 } else { histogram.append((type, 1)) }
                let shape = "[" + tensor.dimensions.map(String.init).joined(separator: ", ") + "]"
                lines.append("  " + pad(tensor.name, width) + "  " + pad(tensor.type.name, 5) + " -> " + pad(type.name, 7)
                             + pad(shape, 16) + " " + mebibytes(bytes))
            }
            let bpw = totalElements > 0 ? Double(totalBytes) * 8 / Double(totalElements) : 0
            lines.append("  total \(mebibytes(totalBytes)), \(format(bpw)) bits per weight; "
                         + histogram.map { "\($0.0.name) ×\($0.1)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// Bytes of tensor data all the pipeline's artifacts will hold (for a free-space check).
    public static func plannedBytes(config: PipelineConfig, source: TensorSource) throws -> Int {
        let model = try ModelHyperparameters(metadata: source.metadata)
        var total = 0
        for scheme in config.schemes {
            let types = try TensorTypePlanner.plan(source.tensors, model: model, options: scheme.options)
            total += zip(source.tensors, types).reduce(0) { $0 + $1.0.rowCount * $1.0.rowBytes($1.1) }
        }
        return total
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    static func mebibytes(_ n: Int) -> String { format(Double(n) / 1_048_576) + " MiB" }
    static func format(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        let s = "\(r)"
        return s.contains(".") && s.split(separator: ".")[1].count == 1 ? s + "0" : s
    }
}
