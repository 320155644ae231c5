import ArgumentParser
import GGUF
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `quantd shard plan|write|finalize`: one artifact of a model too large for one machine's time,
/// written as the files of a split set by separate tasks (a Slurm array), each reading only its
/// own tensors, then checked, hashed and published in one step. Every step is idempotent: a rerun
/// gives the same bytes.
struct ShardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "Write one artifact as a split set, one file per task: plan, write file K, finalize.",
        discussion: """
            quantd shard plan MODEL --type Q4_K_M --split-max-size 45G -o PLAN.json reads headers only; \
            quantd shard write PLAN.json --file K -o DIR writes file K (any order, any machine with the \
            model and DIR on a shared file system); quantd shard finalize PLAN.json DIR checks the set \
            as llama.cpp's loader does, hashes it into DIR/PREFIX.manifest.json and publishes it. The \
            files are byte for byte those of quantd convert MODEL --type … --split-max-size ….
            """,
        subcommands: [ShardPlanCommand.self, ShardWriteCommand.self, ShardFinalizeCommand.self])
}

struct ShardPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan the split set from the model's headers: every tensor's type, the files, their source byte ranges.")

    @Argument(help: "A Hugging Face model folder or an F32/F16/BF16 GGUF (a split set by its first file).")
    var model: String

    @Option(name: .long, help: "The mix, as llama-quantize spells it (Q4_K_M, Q6_K, IQ4_XS, …).")
    var type: String?

    @Option(name: .long, help: "A pipeline.json; its scheme (--scheme when it has several) and split are used.")
    var pipeline: String?

    @Option(name: .long, help: "The pipeline's scheme to write.")
    var scheme: String?

    @OptionGroup var splitting: SplitOptions

    @Option(name: .long, help: "A llama.cpp importance matrix (GGUF or legacy .dat); every task reads it.")
    var imatrix: String?

    @Flag(name: .long, help: "Requantize tensors that are already quantized (loses quality).")
    var allowRequantize = false

    @Option(name: .shortAndLong, help: "The plan to write (JSON).")
    var output: String

    func validate() throws {
        if type != nil && pipeline != nil { throw ValidationError("give either --type or --pipeline, not both") }
        if type == nil && pipeline == nil { throw ValidationError("say what to make of the model: --type MIX or --pipeline FILE") }
        if scheme != nil && pipeline == nil { throw ValidationError("--scheme chooses a scheme of --pipeline") }
        if let type, QuantMix(name: type) == nil { throw ValidationError("'\(type)' is not a mix llama-quantize knows (Q4_K_M, Q6_K, Q8_0, …)") }
    }

    func run() throws {
        do {
            let settings = ShardPlan.Settings(model: model, type: type, pipeline: pipeline, scheme: scheme, imatrix: imatrix,
                                              allowRequantize: allowRequantize, rule: try splitting.rule())
            let plan = try ShardJob(settings: settings).plan()
            try plan.write(to: output)
            let bytes = plan.files.map { $0.tensors.reduce(0) { $0 + $1.bytes } }
            print("\(output): \(plan.prefix), \(plan.tensorCount) tensors in \(plan.files.count) file\(plan.files.count == 1 ? "" : "s") (split \(plan.rule))")
            for (file, size) in zip(plan.files, bytes) {
                print("  \(file.name)  \(file.tensors.count) tensors  \(size) bytes of tensor data")
            }
        } catch {
            throw shardFailure(error)
        }
    }
}

struct ShardWriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write",
        abstract: "Write file K of a planned split set into DIR's staging folder (complete or not at all).")

    @Argument(help: "The plan (quantd shard plan -o).")
    var plan: String

    @Option(name: .long, help: "The file to write, 1-based (a Slurm array task: $SLURM_ARRAY_TASK_ID).")
    var file: Int

    @Option(name: .shortAndLong, help: "The output folder (shared by every task).")
    var output: String

    /// Without `--threads`, $SLURM_CPUS_PER_TASK when Slurm sets it, else every core.
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard file >= 1 else { throw ValidationError("--file counts from 1") }
    }

    func run() throws {
        do {
            let loaded = try ShardPlan.load(path: plan)
            guard file <= loaded.files.count else { throw ShardError.noSuchFile(plan: plan, index: file, count: loaded.files.count) }
            let job = try ShardJob(settings: loaded.settings)
            try job.check(against: loaded, planPath: plan)
            try ShardPublishing.makeFolder(output)
            let staging = ShardPublishing.stagingFolder(output, prefix: loaded.prefix)
            try ShardPublishing.makeFolder(staging)
            let written = try job.write(file: file - 1, into: staging, threads: threading.threads ?? defaultThreads())
            print("\(written.path): \(written.bytes) bytes, sha256 \(written.sha256)")
        } catch {
            throw shardFailure(error)
        }
    }

    private func defaultThreads() -> Int {
        if let text = getenv("SLURM_CPUS_PER_TASK").map({ String(cString: $0) }), let n = Int(text), n > 0 { return n }
        return systemCoreCount()
    }
}

struct ShardFinalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finalize",
        abstract: "Check the written set as llama.cpp's loader does, hash it into a manifest and publish it.")

    @Argument(help: "The plan (quantd shard plan -o).")
    var plan: String

    @Argument(help: "The output folder the files were written for.")
    var folder: String

    func run() throws {
        do {
            let loaded = try ShardPlan.load(path: plan)
            try ShardPublishing.finalize(plan: loaded, planPath: plan, folder: folder)
            let manifest = ShardPublishing.manifestPath(folder, prefix: loaded.prefix)
            print("\(folder)/\(loaded.files[0].name): \(loaded.files.count) files published, manifest \(manifest)")
        } catch {
            throw shardFailure(error)
        }
    }
}

/// Shard errors as the user sees them: a missing file is something to open (66), the rest bad input (65).
func shardFailure(_ error: any Error) -> any Error {
    guard let shard = error as? ShardError else { return CLIFailure.from(error) }
    let exit = if case .missingShard = shard { QuantdExit.cannotOpen } else { QuantdExit.badInput }
    return CLIFailure(message: shard.description, hint: nil, exit: exit).report()
}
