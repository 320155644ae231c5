import ArgumentParser
import GGUF
import JSON
import Pipeline

/// `quantd plan MODEL --nodes N`: from headers only, how one artifact of a model would be cut into
/// split files, which node of a cluster writes which file, and how long that takes, predicted from
/// this machine's measured throughput per type.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan an artifact as split files written by N nodes, and predict the wall time (reads headers only).",
        discussion: """
            Every tensor's type is chosen as the pipeline chooses it; the artifact's files are cut as \
            --split-max-size/--split-max-tensors cut them (default: the size that gives every node \
            a file, at most 45G); each file is one task on one node, longest first to the node free \
            first. A task's time is its tensors' values over this machine's measured per-core rate \
            for their types (reading the source into f32, quantizing), divided by --cores-per-node, \
            plus its source bytes over --read-mbps when given.
            """)

    @Argument(help: "A Hugging Face model folder (only the safetensors headers are read) or a GGUF file.")
    var model: String

    @Option(name: .long, help: ArgumentHelp("Nodes that write files in parallel; several counts (1,8,64) compare them on one measurement.", valueName: "n[,n…]"))
    var nodes: String

    /// The node counts asked for.
    var nodeCounts: [Int] { nodes.split(separator: ",").compactMap { Int($0) } }

    @Option(name: .long, help: "The mix, as llama-quantize spells it.")
    var type = "Q4_K_M"

    @OptionGroup var splitting: SplitOptions

    @Option(name: .long, help: "Cores of each node (default: this machine's).")
    var coresPerNode: Int?

    @Option(name: .long, help: "Source read rate of each node in MB/s (default: reading is not counted).")
    var readMbps: Double?

    @Flag(name: .long, help: "Plan for a pipeline with an importance matrix: the mix's imatrix rules, and rates of the weighted quantizers.")
    var imatrix = false

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        let counts = nodes.split(separator: ",", omittingEmptySubsequences: false)
        guard !counts.isEmpty, counts.allSatisfy({ Int($0).map { (1...65535).contains($0) } ?? false }) else {
            throw ValidationError("--nodes takes node counts between 1 and 65535, comma-separated (e.g. 8 or 1,8,64)")
        }
        if json && counts.count > 1 { throw ValidationError("--json takes one node count") }
        guard QuantMix(name: type) != nil else { throw ValidationError("'\(type)' is not a mix llama-quantize knows (Q4_K_M, Q6_K, Q8_0, …)") }
        if let coresPerNode, coresPerNode < 1 { throw ValidationError("--cores-per-node must be at least 1") }
        if let readMbps, !(readMbps > 0) { throw ValidationError("--read-mbps must be a positive rate") }
    }

    func run() throws {
        do {
            let source = try modelSource(at: model)
            let mix = QuantMix(name: type) ?? .q4_K_M
            var options = SchemeOptions(mix: mix)
            options.hasImportanceMatrix = imatrix
            let scheme = PipelineConfig.Scheme(name: mix.rawValue, options: options)
            let hyper = try ModelHyperparameters(metadata: source.metadata)
            let targets = try TensorTypePlanner.plan(source.tensors, model: hyper, options: scheme.options)
            let tensors = source.tensors
            let rule = try splitting.rule()
            let converted = zip(tensors, targets).filter { $0.type != $1 }
            let throughput = try TypeThroughput.measure(sources: Set(converted.map(\.0.type)), targets: Set(converted.map(\.1)),
                                                        importance: imatrix)
            let cores = coresPerNode ?? systemCoreCount()
            let prefix = "\(PipelineJob.baseName(forInput: model))-\(scheme.name)"
            let plans = try nodeCounts.map {
                try ClusterPlan.make(tensors: tensors, targets: targets, prefix: prefix, nodes: $0, coresPerNode: cores,
                                     rule: rule, throughput: throughput, readBytesPerSecond: readMbps.map { $0 * 1_000_000 })
            }
            let sourceBytes = ClusterPlan.sourceBytes(tensors)
            let parameters = tensors.reduce(0) { $0 + $1.elementCount }
            if json {
                print(Self.json(plans[0], throughput: throughput, parameters: parameters, sourceBytes: sourceBytes).serialized())
            } else if plans.count == 1 {
                print(Self.render(plans[0], model: model, mix: mix, throughput: throughput, parameters: parameters, sourceBytes: sourceBytes))
            } else {
                print(Self.compare(plans, model: model, mix: mix, throughput: throughput, parameters: parameters, sourceBytes: sourceBytes))
            }
        } catch {
            throw CLIFailure.from(error)
        }
    }

    static func json(_ plan: ClusterPlan, throughput: TypeThroughput, parameters: Int, sourceBytes: Int) -> JSONValue {
        .object([
            ("parameters", .int(Int64(parameters))), ("source_bytes", .int(Int64(sourceBytes))),
            ("split", .string(plan.rule.description)), ("nodes", .int(Int64(plan.nodes))), ("cores_per_node", .int(Int64(plan.coresPerNode))),
            ("read_rates", .object(throughput.readRates.sorted { $0.key.id < $1.key.id }.map { ($0.key.name, .double($0.value)) })),
            ("write_rates", .object(throughput.writeRates.sorted { $0.key.id < $1.key.id }.map { ($0.key.name, .double($0.value)) })),
            ("hash_bytes_per_second", throughput.hashRate.map { .double($0) } ?? .null),
            ("files", .array(plan.files.map { f in
                .object([("file", .string(f.name)), ("first_tensor", .int(Int64(f.tensors.lowerBound))),
                         ("tensors", .int(Int64(f.tensors.count))), ("bytes", .int(Int64(f.bytes))),
                         ("seconds", .double(f.seconds)), ("node", .int(Int64(f.node)))])
            })),
            ("node_seconds", .array(plan.nodeSeconds.map { .double($0) })),
            ("core_seconds", .double(plan.coreSeconds)), ("wall_seconds", .double(plan.wallSeconds)),
        ])
    }

    static func header(model: String, throughput: TypeThroughput, parameters: Int, sourceBytes: Int) -> [String] {
        [
            "\(model): \(HumanReport.count(parameters)) parameters, \(gigabytes(sourceBytes)) as the pipeline reads it",
            "measured per core on this machine (values/s): "
                + throughput.readRates.sorted { $0.key.id < $1.key.id }.map { "read \($0.key.name) \(millions($0.value))" }.joined(separator: ", ")
                + (throughput.readRates.isEmpty ? "" : ", ")
                + throughput.writeRates.sorted { $0.key.id < $1.key.id }.map { "\($0.key.name) \(millions($0.value))" }.joined(separator: ", ")
                + (throughput.hashRate.map { "; SHA-256 \(gigabytes(Int($0)))/s" } ?? ""),
        ]
    }

    static func summary(_ plan: ClusterPlan) -> String {
        let busy = plan.nodeSeconds.filter { $0 > 0 }.count
        return "\(plan.nodes) node\(plan.nodes == 1 ? "" : "s") of \(plan.coresPerNode) cores (\(busy) with work), \(plan.files.count) file\(plan.files.count == 1 ? "" : "s") (split \(plan.rule)): "
            + "predicted wall time \(duration(plan.wallSeconds)) (\(duration(plan.coreSeconds)) of one core)"
    }

    static func compare(_ plans: [ClusterPlan], model: String, mix: QuantMix, throughput: TypeThroughput, parameters: Int, sourceBytes: Int) -> String {
        let artifactBytes = plans[0].files.reduce(0) { $0 + $1.bytes }
        return (header(model: model, throughput: throughput, parameters: parameters, sourceBytes: sourceBytes)
                + ["\(mix.rawValue): \(gigabytes(artifactBytes))"] + plans.map(summary)).joined(separator: "\n")
    }

    static func render(_ plan: ClusterPlan, model: String, mix: QuantMix, throughput: TypeThroughput, parameters: Int, sourceBytes: Int) -> String {
        let artifactBytes = plan.files.reduce(0) { $0 + $1.bytes }
        var lines = header(model: model, throughput: throughput, parameters: parameters, sourceBytes: sourceBytes) + [
            "\(mix.rawValue): \(gigabytes(artifactBytes)) in \(plan.files.count) file\(plan.files.count == 1 ? "" : "s") (split \(plan.rule))",
            "",
            "file                                              tensors  size        node  predicted",
        ]
        for f in plan.files {
            lines.append(HumanReport.pad(f.name, 49) + " " + HumanReport.pad("\(f.tensors.count)", 8) + " "
                         + HumanReport.pad(gigabytes(f.bytes), 11) + " " + HumanReport.pad("\(f.node + 1)", 5) + " " + duration(f.seconds))
        }
        lines.append("")
        lines.append(summary(plan))
        return lines.joined(separator: "\n")
    }

    static func gigabytes(_ n: Int) -> String {
        let g = Double(n) / 1e9
        return g >= 1 ? "\(((g * 100).rounded() / 100)) GB" : "\(((Double(n) / 1e6 * 100).rounded() / 100)) MB"
    }

    static func millions(_ x: Double) -> String { "\(((x / 1e6) * 10).rounded() / 10) M" }

    static func duration(_ s: Double) -> String {
        if s >= 3600 { return "\(Int(s) / 3600) h \(String(format2z: Double((Int(s) % 3600) / 60))) min" }
        if s >= 60 { return "\(Int(s) / 60) min \(Int(s) % 60) s" }
        return "\(((s * 10).rounded() / 10)) s"
    }
}

extension String {
    /// Two-digit whole number (minutes within an hour).
    fileprivate init(format2z value: Double) {
        let n = Int(value)
        self = n < 10 ? "0\(n)" : "\(n)"
    }
}
