import ArgumentParser
import Inference
import ModelConversion
import Pipeline
import Tokenizer
#if canImport(Glibc)
import Glibc
#endif

/// `quantd imatrix MODEL -o OUT.imatrix.gguf [--text FILE]`: llama-imatrix without llama.cpp —
/// the importance matrix of a model over a calibration text, as a llama.cpp imatrix GGUF that
/// `llama-quantize --imatrix` and quantd's pipelines (`{"stage": "imatrix", "file": ...}`) accept.
struct ImatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imatrix",
        abstract: "Compute an importance matrix (llama-imatrix's GGUF format) from a calibration text.",
        discussion: """
            The method is llama-imatrix's: the text is tokenized with the model's vocabulary, cut \
            into non-overlapping chunks of --ctx tokens (the first replaced by BOS when the \
            vocabulary adds one), and for every weight matrix of the layers (blk.*) the sum of each \
            input column's squared activation over all tokens is collected, with the token count. \
            Without --text, a public-domain text bundled with quantd is used (\(CalibrationText.name): \
            the King James Version's Genesis 1-11). GGUF architectures: \(LlamaHyperParameters.supportedArchitectures.sorted().joined(separator: ", ")). \
            --chunks A-B computes a partial over chunks A to B (1-based); quantd imatrix merge adds \
            partials into the whole run's matrix.
            """)

    @Argument(help: "The model: an F32/F16/BF16 (or quantized) GGUF, or a Hugging Face model folder; or the word merge, followed by imatrix files to merge.")
    var model: String

    @Argument(help: ArgumentHelp("After merge: the imatrix partials to add, in order (quantd imatrix merge A.gguf B.gguf -o M.gguf).", valueName: "partial"))
    var partials: [String] = []

    /// `quantd imatrix merge …` (a model folder literally named `merge` is given as `./merge`).
    private var merges: Bool { model == "merge" }

    @Option(name: .shortAndLong, help: "The imatrix GGUF to write.")
    var output: String

    @Option(name: .long, help: "A UTF-8 calibration text (default: the bundled text).")
    var text: String?

    @OptionGroup var chunking: ChunkOptions

    @Option(name: .long, help: ArgumentHelp("At most N chunks, or chunks A to B (1-based, inclusive) for a partial to merge (default: every whole chunk of the text).", valueName: "n|a-b"))
    var chunks: String?

    /// The first chunk (0-based) and how many, from `--chunks`.
    var chunkRange: (first: Int, count: Int?)? {
        guard let chunks else { return (0, nil) }
        let parts = chunks.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1, let n = Int(parts[0]), n >= 1 { return (0, n) }
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 1, b >= a else { return nil }
        return (a - 1, b - a + 1)
    }

    @OptionGroup var threading: ThreadOptions

    @Flag(name: .customLong("process-output"), help: "Collect output.weight too (llama-imatrix's --process-output).")
    var processOutput = false

    private var ctx: Int { chunking.ctx }

    func validate() throws {
        if merges {
            guard !partials.isEmpty else { throw ValidationError("give the imatrix files to merge: quantd imatrix merge A.gguf B.gguf -o M.gguf") }
            guard text == nil, chunks == nil, !processOutput else { throw ValidationError("merge adds existing files: --text, --chunks and --process-output belong to computing one") }
            return
        }
        guard partials.isEmpty else { throw ValidationError("give one model (or merge A.gguf B.gguf … to add partials)") }
        guard ctx >= 16 else { throw ValidationError("--ctx must be at least 16") }
        if chunkRange == nil { throw ValidationError("--chunks takes a count (8) or a range A-B of chunks, 1-based, A ≤ B (1-4)") }
    }

    func run() throws {
        if merges {
            try ImatrixMerging.run(inputs: partials, output: output)
            return
        }
        do {
            let workers = threading.workers
            let calibration: ImatrixCalibration.Text = try text.map { try .file($0) } ?? .bundled
            let source = try modelSource(at: model)
            var folder = output.contains("/") ? String(output[..<(output.lastIndex(of: "/") ?? output.endIndex)]) : "."
            if folder.isEmpty { folder = "/" }
            guard isDirectory(folder) else {
                throw CLIFailure(message: "\(output): the folder \(folder) does not exist", hint: "create it first, or write the file elsewhere",
                                 exit: QuantdExit.cannotOpen)
            }
            let reference = try ReferenceModel(source: source, scratchFolder: folder, threads: workers)
            let forward = try reference.open()
            let showsProgress = isatty(2) != 0
            var settings = ImatrixSettings(text: text, ctx: ctx, chunks: chunkRange?.count, processOutput: processOutput)
            settings.firstChunk = chunkRange?.first ?? 0
            let (file, computation) = try ImatrixCalibration.compute(
                model: forward, text: calibration, settings: settings, threads: workers,
                progress: { done, total in
                    guard showsProgress else { return }
                    var stderr = StandardError()
                    print("\r\u{1B}[2Kchunk \(done)/\(total)", terminator: done == total ? "\n" : "", to: &stderr)
                })
            try file.write(to: output)
            let rate = Double(computation.chunks * computation.ctx) / max(computation.seconds, 1e-9)
            print("\(output): \(file.entries.count) entries, \(computation.chunks) chunks of \(computation.ctx) tokens "
                  + "from \(calibration.name) (\(computation.textTokens) tokens), "
                  + "\(EvalCommand.fixed(computation.seconds, 1)) s, \(EvalCommand.fixed(rate, 1)) tokens/s")
        } catch let failure as CLIFailure {
            throw failure.report()
        } catch where error is ImatrixError || error is InferenceError || error is TokenizerError {
            // What the model or text cannot give (architecture, vocabulary, too few tokens): bad input.
            throw CLIFailure(message: "\(model): \(error)", hint: nil, exit: QuantdExit.badInput).report()
        } catch let error as ConversionError {
            throw FolderConversion.classify(error).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }
}

/// `quantd imatrix merge A.gguf B.gguf … -o M.gguf`: partials added as llama-imatrix adds the
/// files given with several `--in-file`.
enum ImatrixMerging {
    static func run(inputs: [String], output: String) throws {
        do {
            let files = try inputs.map { try ImatrixFile.load(path: $0) }
            let merged = try ImatrixFile.merged(files, names: inputs)
            try merged.write(to: output)
            print("\(output): \(merged.entries.count) entries, \(merged.chunkCount) chunks of \(merged.chunkSize) tokens from \(inputs.count) file\(inputs.count == 1 ? "" : "s")")
        } catch let error as ImatrixFile.MergeError {
            throw CLIFailure(message: error.description, hint: nil, exit: QuantdExit.badInput).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }
}
