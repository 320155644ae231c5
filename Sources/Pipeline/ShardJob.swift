#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import Quantization

/// One artifact of a model as a split set whose files are written one at a time, by separate
/// processes (`quantd shard write`): the same scheme, types, metadata and cut as the pipeline's
/// split artifact, rebuilt from the plan's settings and the model's headers, so file K written
/// alone is byte for byte file K of `quantd convert … --split-max-*`.
public final class ShardJob {
    public let settings: ShardPlan.Settings
    public let source: TensorSource
    public let config: PipelineConfig
    public let scheme: PipelineConfig.Scheme
    public let rule: GGUFSplitRule
    /// The set's path prefix without a folder: `<model>-<scheme>`.
    public let prefix: String
    public let types: [GGMLType]
    let plans: [GGUFTensorPlan]
    let metadata: GGUFMetadata
    let importance: ImportanceMatrix?
    /// Tensor index ranges of the files.
    public let ranges: [Range<Int>]
    /// Bytes of each tensor in its planned type.
    let byteCounts: [Int]

    /// Reads the model's headers (and the importance matrix, when given) and plans the artifact.
    public init(settings: ShardPlan.Settings) throws {
        self.settings = settings
        var config: PipelineConfig
        if let type = settings.type {
            guard settings.pipeline == nil else { throw ShardError.settings("give either --type or --pipeline, not both") }
            guard let mix = QuantMix(name: type) else {
                throw ShardError.settings("'\(type)' is not a mix llama-quantize knows (Q4_K_M, Q6_K, Q8_0, …)")
            }
            config = .single(mix: mix)
        } else if let pipeline = settings.pipeline {
            config = try PipelineConfig.load(file: pipeline)
        } else {
            throw ShardError.settings("say what to make of the model: --type MIX or --pipeline FILE")
        }
        if config.computedImatrix != nil {
            throw ShardError.settings("the pipeline computes its importance matrix; the shard path takes one from a file: compute it with quantd imatrix (in parts with --chunks, merged with quantd imatrix merge) and give it with --imatrix")
        }
        if let imatrix = settings.imatrix {
            config.calibration.removeAll { $0 != .weightStats }
            config.calibration.insert(.importImatrix(file: imatrix), at: 0)
            for i in config.schemes.indices { config.schemes[i].options.hasImportanceMatrix = true }
        }
        if settings.allowRequantize { config.allowRequantize = true }
        let scheme: PipelineConfig.Scheme
        if let name = settings.scheme {
            guard let found = config.schemes.first(where: { $0.name == name }) else {
                throw ShardError.settings("the pipeline has no scheme '\(name)'; it has \(config.schemes.map(\.name).joined(separator: ", "))")
            }
            scheme = found
        } else {
            guard config.schemes.count == 1 else {
                throw ShardError.settings("the pipeline has \(config.schemes.count) schemes (\(config.schemes.map(\.name).joined(separator: ", "))): choose one with --scheme NAME")
            }
            scheme = config.schemes[0]
        }
        guard let rule = settings.rule ?? config.splitRule(for: scheme) else {
            throw ShardError.settings("say where the set is cut: --split-max-size SIZE or --split-max-tensors N (or a split stage in the pipeline)")
        }
        self.config = config
        self.scheme = scheme
        self.rule = rule
        source = try Self.openSource(settings.model)
        let model = try ModelHyperparameters(metadata: source.metadata)
        importance = try config.loadImportanceMatrix()
        types = try TensorTypePlanner.plan(source.tensors, model: model, options: scheme.options)
        plans = zip(source.tensors, types).map {
            GGUFTensorPlan(name: $0.name, dimensions: ArtifactWriter.withoutTrailingOnes($0.dimensions), type: $1)
        }
        metadata = ArtifactWriter.metadata(source.metadata, scheme: scheme, importance: importance)
        if let value = metadata[GGUFKeys.General.alignment], value != .uint32(UInt32(GGUFSplitLayout.padding)) {
            throw GGUFSplitError.unsupportedAlignment(Int(value.integerValue ?? 0))
        }
        let single = try GGUFWriter.layOut(metadata: metadata, tensors: plans)
        byteCounts = single.tensors.map(\.byteCount)
        ranges = try GGUFSplitLayout.shards(names: plans.map(\.name), byteCounts: byteCounts, rule: rule)
        prefix = "\(PipelineJob.baseName(forInput: settings.model))-\(scheme.name)"
    }

    /// A folder through quantd's converter, anything else as a GGUF (a split set by its first file).
    static func openSource(_ path: String) throws -> TensorSource {
        if FileSystem.info(path)?.isDirectory == true {
            if case .fallbackFolder(let architecture) = ModelInput.kind(of: path) {
                throw ShardError.settings("\(path): architecture '\(architecture)' is converted by llama.cpp's converter, which the shard path does not run; convert it to an F16 GGUF first and plan from that file")
            }
            return try ConvertedModelSource(folder: path)
        }
        return try GGUFTensorSource(path: path)
    }

    public func fileName(_ index: Int) -> String { GGUFSplitLayout.path(prefix: prefix, index: index, count: ranges.count) }

    /// The plan: every file's tensors, their types and their source byte ranges.
    public func plan() -> ShardPlan {
        let locations = SourceLocations(source)
        let files = ranges.enumerated().map { i, range in
            ShardPlan.File(name: fileName(i), tensors: range.map { t in
                let tensor = source.tensors[t]
                return ShardPlan.Tensor(name: tensor.name, type: types[t], sourceType: tensor.type, dimensions: plans[t].dimensions,
                                        bytes: byteCounts[t], sources: locations.ranges(of: t))
            })
        }
        return ShardPlan(model: settings.model, type: settings.type, pipeline: settings.pipeline, scheme: scheme.name,
                         mix: scheme.options.mix.rawValue, imatrix: settings.imatrix, allowRequantize: config.allowRequantize,
                         rule: rule, prefix: prefix, files: files)
    }

    /// Throws when `plan` is not what this job plans now (another model, mix, imatrix or cut).
    public func check(against plan: ShardPlan, planPath: String) throws {
        let now = self.plan()
        func mismatch(_ problem: String) -> ShardError { .planMismatch(plan: planPath, problem: problem) }
        guard now.prefix == plan.prefix else { throw mismatch("the set is now named \(now.prefix), the plan says \(plan.prefix)") }
        guard now.files.count == plan.files.count else { throw mismatch("the model now cuts into \(now.files.count) files, the plan says \(plan.files.count)") }
        for (a, b) in zip(now.files, plan.files) {
            guard a.tensors.count == b.tensors.count else { throw mismatch("\(a.name) now holds \(a.tensors.count) tensors, the plan says \(b.tensors.count)") }
            for (x, y) in zip(a.tensors, b.tensors) where x.name != y.name || x.type != y.type || x.dimensions != y.dimensions || x.bytes != y.bytes {
                throw mismatch("tensor \(x.name) (\(x.type.name)) in \(a.name) is \(y.name) (\(y.type.name)) in the plan")
            }
        }
    }

    /// Writes file `index` (0-based) into `folder` under its name, complete or not at all (a hidden
    /// temporary name until it is whole and on disk). Reads only that file's tensors from the
    /// source. Returns the file's path, bytes and SHA-256.
    @discardableResult
    public func write(file index: Int, into folder: String, threads: Int, slabElements: Int = 1 << 22) throws -> ArtifactFile {
        precondition(ranges.indices.contains(index))
        let range = ranges[index]
        let path = "\(folder)/\(fileName(index))"
        let writer = try GGUFWriter(destination: path,
                                    metadata: GGUFSplitLayout.metadata(metadata, index: index, count: ranges.count, tensorCount: plans.count),
                                    tensors: Array(plans[range]), hashing: true)
        do {
            let maxRow = source.tensors[range].map(\.rowLength).max() ?? 1
            let capacity = max(slabElements, maxRow) * 4
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
            defer { out.deallocate() }
            for t in range { try writeTensor(t, to: writer, buffer: out, slabElements: max(slabElements, maxRow), threads: threads) }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
        return ArtifactFile(path: path, bytes: writer.bytesWritten, sha256: writer.sha256 ?? "")
    }

    /// One tensor as the pipeline's runner writes it for a single artifact: copied when its type
    /// does not change, else quantized from the source's rows, expert by expert with each
    /// expert's importance weights.
    private func writeTensor(_ index: Int, to writer: GGUFWriter, buffer: UnsafeMutableRawBufferPointer, slabElements: Int, threads: Int) throws {
        let tensor = source.tensors[index]
        let target = types[index]
        if target != tensor.type && tensor.type.isQuantized && !config.allowRequantize {
            throw PipelineError.requantizeRefused(tensor: tensor.name, type: tensor.type.name)
        }
        let weights = try PipelineRunner.importanceWeights(for: tensor, importance: importance, targets: [target], mixes: [scheme.options.mix])
        let rowsPerSlab = max(1, slabElements / max(1, tensor.rowLength))
        let rowsPerExpert = tensor.dimensions.count > 1 ? max(1, tensor.dimensions[1]) : 1
        var row = 0
        while row < tensor.rowCount {
            let expertEnd = (row / rowsPerExpert + 1) * rowsPerExpert
            let rows = row..<min(tensor.rowCount, row + rowsPerSlab, expertEnd)
            let raw = try source.rawRows(index, rows: rows)
            if target == tensor.type {
                try writer.append(raw)
            } else {
                let out = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(rows.count * tensor.rowBytes(target))])
                _ = try weights.withOptionalBuffer(for: target, expert: row / rowsPerExpert, rowLength: tensor.rowLength) { importance in
                    try Quantizer.quantize(target, rawRows: raw, of: tensor.type, rowLength: tensor.rowLength, importance: importance,
                                           into: out, threads: threads)
                }
                try writer.append(UnsafeRawBufferPointer(out))
            }
            row = rows.upperBound
        }
        source.finished(index)
    }
}

/// Where each tensor of a GGUF source lies in its file (a split set's tensors in their own files),
/// for the plan. Tensors of a folder source are read and converted by quantd's converter; their
/// ranges are those of the safetensors tensors they come from when there is one.
struct SourceLocations {
    private var byName: [String: [ShardPlan.SourceRange]] = [:]
    private let names: [String]

    init(_ source: TensorSource) {
        names = source.tensors.map(\.name)
        if let gguf = source as? GGUFTensorSource {
            let files: [GGUFFile]
            if GGUFSplitSet.isSplit(gguf.file), let set = try? GGUFSplitSet(first: gguf.file) { files = set.files } else { files = [gguf.file] }
            for file in files {
                for info in file.tensors {
                    byName[info.name] = [ShardPlan.SourceRange(file: file.path, offset: info.absoluteOffset, bytes: info.byteCount)]
                }
            }
        } else if let folder = source as? ConvertedModelSource {
            for tensor in folder.plan.tensors {
                byName[tensor.name] = tensor.sourceRanges.map { ShardPlan.SourceRange(file: $0.file, offset: $0.offset, bytes: $0.bytes) }
            }
        }
    }

    func ranges(of index: Int) -> [ShardPlan.SourceRange] { byName[names[index]] ?? [] }
}
