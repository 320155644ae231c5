import ArgumentParser
import BinaryIO
import GGUF
import ModelConversion
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// `quantd convert INPUT -o OUTPUT [--type T | --pipeline FILE]`: a Hugging Face folder or a GGUF
/// through conversion and the pipeline, in one pass.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face model folder to GGUF, or quantize a model into GGUF artifacts in one pass.",
        discussion: """
            A Hugging Face folder with --type F32, F16, BF16, Q8_0 or auto (the default) is converted \
            as convert_hf_to_gguf.py converts it: OUTPUT is a file, or a folder that gets \
            <Name>-<SizeLabel>-<TYPE>.gguf. Any other mix, or --pipeline, runs the pipeline: from a \
            folder exactly as convert_hf_to_gguf.py --outtype f16 followed by llama-quantize, from an \
            F32/F16/BF16 GGUF as llama-quantize; each scheme becomes OUTPUT/<model>-<scheme>.gguf, \
            all from one read of the source, then each artifact's perplexity and KL divergence \
            against the source are measured on a built-in text (--no-eval skips this), with \
            manifest.json written last. Architectures converted natively: \
            \(Architecture.supportedNames.joined(separator: ", ")). A folder of any other \
            architecture is converted by llama.cpp's convert_hf_to_gguf.py when one is configured \
            (--converter-fallback, or "converter" in the pipeline) and then quantized as an F16 GGUF \
            input is: give --type MIX or --pipeline.
            """)

    @Argument(help: "The model: a Hugging Face model folder, or an F32/F16/BF16 .gguf file.")
    var input: String

    @Option(name: .shortAndLong, help: "The GGUF file or folder (conversion), or the folder for the artifacts and manifest.json (pipeline).")
    var output: String

    @Option(name: .long, help: "F32, F16, BF16, Q8_0, auto (conversion of a folder), or a mix as llama-quantize spells it (Q4_K_M, Q6_K, IQ4_XS, …).")
    var type: String?

    @Option(name: .long, help: "A pipeline.json with calibration, scheme and output stages.")
    var pipeline: String?

    @Option(name: .long, help: "A llama.cpp importance matrix (GGUF or legacy .dat) for the schemes.")
    var imatrix: String?

    /// Without `--threads`, the pipeline's `threads`, else every core.
    @OptionGroup var threading: ThreadOptions

    @Flag(name: .long, help: "Requantize tensors that are already quantized (loses quality).")
    var allowRequantize = false

    @Flag(name: .long, help: "Skip the evaluate stage (perplexity and KL divergence of every artifact against the source).")
    var noEval = false

    @Option(name: .long, help: "Tokens of the evaluation text to evaluate (default \(EvaluationSettings.defaultTokens), in chunks of \(EvaluationSettings.defaultContext)).")
    var evalTokens: Int?

    @Flag(name: .long, help: "Print the plan (tensor → type, size, bits per weight) and write nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("llama.cpp's convert_hf_to_gguf.py, for a folder whose architecture quantd does not convert natively (overrides the pipeline's \"converter\").", valueName: "path"))
    var converterFallback: String?

    @Option(name: .long, help: ArgumentHelp("The python that runs the fallback converter (default: the pipeline's, else \(ConverterSettings.defaultPython)).", valueName: "python"))
    var converterPython: String?

    /// Each artifact (or the converted GGUF) as a split set.
    @OptionGroup var splitting: SplitOptions

    @Flag(name: .shortAndLong, help: "Print progress even when standard error is not a terminal.")
    var verbose = false

    func validate() throws {
        if type != nil && pipeline != nil {
            throw ValidationError("give either --type or --pipeline, not both")
        }
        if let type, QuantMix(name: type) == nil, OutputTypeChoice(argument: type) == nil {
            throw ValidationError("'\(type)' is not a type or mix quantd knows; try auto, F16, Q8_0, Q4_K_M, Q6_K, IQ4_XS")
        }
        if noEval && evalTokens != nil { throw ValidationError("give either --no-eval or --eval-tokens, not both") }
        if let evalTokens, evalTokens < 1 { throw ValidationError("--eval-tokens must be at least 1") }
        if converterFallback == "" { throw ValidationError("--converter-fallback needs the path of convert_hf_to_gguf.py") }
        if converterPython == "" { throw ValidationError("--converter-python needs a python interpreter") }
    }

    /// The command line's split, which replaces any the pipeline asks for.
    private func applySplitOptions(_ config: inout PipelineConfig) throws {
        guard let rule = try splitting.rule() else { return }
        config.split = rule
        for i in config.schemes.indices { config.schemes[i].split = nil }
        if config.zstd != nil {
            throw CLIFailure(message: "--split-max-\(splitting.splitMaxSize != nil ? "size" : "tensors") splits the artifacts, and the pipeline's zstd stage compresses single files only",
                             hint: "drop the zstd stage or the split option", exit: ExitCode.validationFailure)
        }
    }

    /// Anything but a GGUF file (a folder, a lone .safetensors, a missing path) with a plain
    /// conversion type and no pipeline is a conversion, whose errors name what is missing; the
    /// rest is the pipeline.
    private var isFolderConversion: Bool {
        guard pipeline == nil, imatrix == nil, !dryRun, !isGGUFFile(input) else { return false }
        return OutputTypeChoice(argument: type ?? "auto") != nil
    }

    /// The architecture of an input folder quantd does not convert natively (llama.cpp's converter's work).
    private var fallbackArchitecture: String? {
        if case .fallbackFolder(let architecture) = ModelInput.kind(of: input) { return architecture }
        return nil
    }

    func run() throws {
        if let architecture = fallbackArchitecture {
            try runWithFallback(architecture: architecture)
            return
        }
        if isFolderConversion {
            do {
                try FolderConversion.run(input: input, output: output, choice: OutputTypeChoice(argument: type ?? "auto") ?? .auto,
                                         threads: threading.threads, split: splitting.rule())
            } catch {
                throw CLIFailure.from(error)
            }
            return
        }
        guard type != nil || pipeline != nil else {
            throw CLIFailure(message: "\(input) is a GGUF file: say what to make of it with --type MIX or --pipeline FILE",
                             hint: "e.g. quantd convert \(input) -o out --type Q4_K_M", exit: ExitCode.validationFailure).report()
        }
        do {
            var config = try loadConfig()
            if let imatrix {
                config.calibration.removeAll { $0 != .weightStats }
                config.calibration.insert(.importImatrix(file: imatrix), at: 0)
                for i in config.schemes.indices { config.schemes[i].options.hasImportanceMatrix = true }
            }
            if allowRequantize { config.allowRequantize = true }
            try applyEvaluationOptions(&config)
            try applySplitOptions(&config)
            let source = try modelSource(at: input)
            if dryRun {
                print(try PlanReport.render(config: config, source: source))
                return
            }
            try makeFolder(output)
            try runJob(config: config, source: source)
        } catch let error as ConversionError {
            throw FolderConversion.classify(error).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }

    private func runJob(config: PipelineConfig, source: TensorSource) throws {
        let job = PipelineJob(config: config, source: source, outputFolder: output,
                              baseName: PipelineJob.baseName(forInput: input),
                              threads: threading.threads ?? (config.threads > 0 ? config.threads : systemCoreCount()))
        job.quantdVersion = QuantdVersion.string
        let line = ProgressLine(enabled: verbose || isatty(2) != 0)
        job.progress = { line.update($0) }
        job.evaluationProgress = { line.update($0) }
        job.imatrixProgress = { line.updateImatrix(chunksDone: $0, of: $1) }
        let result = try job.run()
        line.finish()
        print(ConvertSummary.render(result, folder: output))
    }

    /// A folder quantd does not convert natively: llama.cpp's converter writes its F16 form into a
    /// hidden folder inside OUTPUT (removed at the end, however the command ends), which is then
    /// quantized as an F16 GGUF input is.
    private func runWithFallback(architecture: String) throws {
        do {
            var config = try loadConfig(fallback: true)
            if let converterFallback {
                config.converter = ConverterSettings(fallback: converterFallback, python: converterPython ?? config.converter?.python
                                                     ?? ConverterSettings.defaultPython)
            } else if let converterPython {
                guard config.converter != nil else {
                    throw CLIFailure(message: "--converter-python is given, but no fallback converter",
                                     hint: "add --converter-fallback PATH/convert_hf_to_gguf.py", exit: ExitCode.validationFailure)
                }
                config.converter?.python = converterPython
            }
            guard let converter = config.converter else { throw ModelInput.notConfigured(folder: input, architecture: architecture) }
            guard type != nil || pipeline != nil else {
                throw CLIFailure(message: "\(input): architecture '\(architecture)' is converted by llama.cpp's converter to F16, "
                                 + "then quantized as an F16 GGUF is: say what to make of it with --type MIX or --pipeline FILE",
                                 hint: "e.g. --type Q8_0, or --type F16 for the converter's F16 file", exit: ExitCode.validationFailure)
            }
            if let imatrix {
                config.calibration.removeAll { $0 != .weightStats }
                config.calibration.insert(.importImatrix(file: imatrix), at: 0)
                for i in config.schemes.indices { config.schemes[i].options.hasImportanceMatrix = true }
            }
            if allowRequantize { config.allowRequantize = true }
            try applyEvaluationOptions(&config)
            try applySplitOptions(&config)
            try converter.checkScript()
            if !dryRun {
                try makeFolder(output)
                try FolderConversion.refuseWritingInto(input: input, destination: output + "/" + Manifest.fileName)
            }
            let scratch = try ConverterScratch(in: dryRun ? (isDirectory(output) ? output : "/tmp") : output)
            let showsProgress = verbose || isatty(2) != 0
            var stderr = StandardError()
            if showsProgress { stderr.write("converting \(architecture) with \(converter.scriptPath) (\(converter.python))\n") }
            let source = try withExtendedLifetime(scratch) {
                try ModelInput.open(path: input, converter: converter, scratchFolder: scratch.path)
            }
            try withExtendedLifetime(scratch) {
                if dryRun {
                    print(try PlanReport.render(config: config, source: source))
                } else {
                    try runJob(config: config, source: source)
                }
            }
        } catch let error as ConverterFallbackError {
            let exit = if case .scriptMissing = error { QuantdExit.cannotOpen } else { QuantdExit.badInput }
            throw CLIFailure(message: error.description, hint: nil, exit: exit).report()
        } catch let error as ConversionError {
            throw FolderConversion.classify(error).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }

    /// `--no-eval` turns the evaluate stage off; `--eval-tokens N` turns it on with that budget.
    private func applyEvaluationOptions(_ config: inout PipelineConfig) throws {
        if noEval { config.evaluation = nil }
        guard let evalTokens else { return }
        var settings = config.evaluation ?? EvaluationSettings()
        guard evalTokens >= settings.ctx else {
            throw CLIFailure(message: "--eval-tokens \(evalTokens) is less than one chunk of \(settings.ctx) tokens",
                             hint: "give at least \(settings.ctx), or --no-eval", exit: ExitCode.validationFailure)
        }
        settings.tokens = evalTokens
        config.evaluation = settings
    }

    /// The pipeline from `--type MIX` or `--pipeline`. `--type` must name a mix: for a GGUF input, and
    /// for a folder converted by the fallback (the converter always writes F16, so `auto` and the
    /// conversion types have nothing to choose from).
    private func loadConfig(fallback: Bool = false) throws -> PipelineConfig {
        if let type {
            guard let mix = QuantMix(name: type) else {
                throw fallback
                    ? CLIFailure(message: "--type \(type) picks a type for quantd's own converter; \(input) goes through llama.cpp's converter to F16",
                                 hint: "name a mix: F16 for the converter's output as it is, or Q8_0, Q4_K_M, ...", exit: ExitCode.validationFailure)
                    : CLIFailure(message: "--type \(type) converts a Hugging Face folder; \(input) is a GGUF file",
                                 hint: "name a mix such as Q4_K_M, or F16 to re-write it as llama-quantize would", exit: ExitCode.validationFailure)
            }
            return .single(mix: mix)
        }
        guard let pipeline else { return PipelineConfig() }
        return try PipelineConfig.parse(MappedFile.contents(of: pipeline), file: pipeline)
    }
}

func makeFolder(_ path: String) throws {
    if let info = FileSystem.info(path) {
        guard info.isDirectory else {
            throw CLIFailure(message: "\(path) exists and is not a folder", hint: "name a folder for the artifacts", exit: QuantdExit.cannotOpen)
        }
        return
    }
    try FileSystem.createNewFolder(path)
}

func isGGUFFile(_ path: String) -> Bool {
    FileSystem.info(path)?.isRegularFile == true && !path.hasSuffix(".safetensors")
}

func isDirectory(_ path: String) -> Bool {
    FileSystem.info(path)?.isDirectory == true
}

/// The pipeline's view of a model given on the command line: a Hugging Face folder through the
/// converter, anything else as a GGUF.
func modelSource(at path: String) throws -> TensorSource {
    isDirectory(path) ? try ConvertedModelSource(folder: path) : try GGUFTensorSource(path: path)
}

func systemCoreCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
