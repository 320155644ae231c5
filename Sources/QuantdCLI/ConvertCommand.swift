import ArgumentParser
import BinaryIO
import GGUF
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// `quantd convert INPUT -o OUTDIR [--type MIX | --pipeline FILE]`: the whole pipeline, once.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Quantize a model into GGUF artifacts in one pass (a mix, or a whole pipeline.json).",
        discussion: """
            INPUT is an F32/F16/BF16 GGUF (requantized as llama-quantize does). Each scheme of the \
            pipeline becomes OUTDIR/<model>-<scheme>.gguf; several schemes share one read of the \
            source. manifest.json is written last, beside them.
            """)

    @Argument(help: "The model: a .gguf file.")
    var input: String

    @Option(name: .shortAndLong, help: "The folder to write the artifacts and manifest.json into (created if missing).")
    var output: String

    @Option(name: .long, help: "One mix, as llama-quantize spells it (Q4_K_M, Q6_K, Q8_0, IQ4_XS, F16, …).")
    var type: String?

    @Option(name: .long, help: "A pipeline.json with calibration, scheme and output stages.")
    var pipeline: String?

    @Option(name: .long, help: "A llama.cpp importance matrix (GGUF or legacy .dat) for the schemes.")
    var imatrix: String?

    @Option(name: .long, help: "Quantizing threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Requantize tensors that are already quantized (loses quality).")
    var allowRequantize = false

    @Flag(name: .long, help: "Print the plan (tensor → type, size, bits per weight) and write nothing.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "Print progress even when standard error is not a terminal.")
    var verbose = false

    func validate() throws {
        if (type == nil) == (pipeline == nil) {
            throw ValidationError("give either --type MIX or --pipeline FILE")
        }
        if let type, QuantMix(name: type) == nil {
            throw ValidationError("'\(type)' is not a mix llama-quantize knows; try Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, F16")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            var config = try loadConfig()
            if let imatrix {
                config.calibration.removeAll { if case .importImatrix = $0 { true } else { false } }
                config.calibration.insert(.importImatrix(file: imatrix), at: 0)
                for i in config.schemes.indices { config.schemes[i].options.hasImportanceMatrix = true }
            }
            if allowRequantize { config.allowRequantize = true }
            let source = try GGUFTensorSource(path: input)
            if dryRun {
                print(try PlanReport.render(config: config, source: source))
                return
            }
            try makeFolder(output)
            let job = PipelineJob(config: config, source: source, outputFolder: output,
                                  baseName: PipelineJob.baseName(forInput: input),
                                  threads: threads ?? (config.threads > 0 ? config.threads : systemCoreCount()))
            job.quantdVersion = QuantdVersion.string
            let line = ProgressLine(enabled: verbose || isatty(2) != 0)
            job.progress = { line.update($0) }
            let result = try job.run()
            line.finish()
            print(ConvertSummary.render(result, folder: output))
        } catch {
            throw CLIFailure.from(error)
        }
    }

    private func loadConfig() throws -> PipelineConfig {
        if let type, let mix = QuantMix(name: type) { return .single(mix: mix) }
        guard let pipeline else { return PipelineConfig() }
        return try PipelineConfig.parse(MappedFile.contents(of: pipeline), file: pipeline)
    }
}

func makeFolder(_ path: String) throws {
    var info = stat()
    if stat(path, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CLIFailure(message: "\(path) exists and is not a folder", hint: "name a folder for the artifacts", exit: QuantdExit.cannotOpen)
        }
        return
    }
    guard mkdir(path, 0o755) == 0 else { throw FileError(path: path, operation: "create folder", errno: errno) }
}

func systemCoreCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
