import ArgumentParser
import GGUF

// Options several commands declare with the same meaning, help and checks, each declared once
// here and used through `@OptionGroup`, so the flags cannot drift apart between commands.

/// `--threads N` of the commands that quantize or run the forward pass (`convert`, `shard write`,
/// `eval`, `imatrix`); each command says what it uses when the option is absent.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The threads to use: the number given, else every online core.
    var workers: Int { threads ?? systemCoreCount() }
}

/// `--ctx N`: the chunk length a text is cut into (`eval`, `imatrix`). Each command checks its
/// own minimum, which differs with what it computes.
struct ChunkOptions: ParsableArguments {
    @Option(name: .long, help: "Tokens per chunk.")
    var ctx: Int = 512
}

/// `--json` of the commands that otherwise print a table (`diff`, `eval`).
struct TableJSONOption: ParsableArguments {
    @Flag(name: .long, help: "One JSON object instead of a table.")
    var json = false
}

/// `--split-max-size SIZE` / `--split-max-tensors N`: an artifact as a split set llama.cpp loads,
/// cut where llama-gguf-split cuts (`convert`, `plan`, `shard plan`).
struct SplitOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("At most SIZE of tensor data per file (45G, 500M), cut where llama-gguf-split --split-max-size cuts.", valueName: "size"))
    var splitMaxSize: String?

    @Option(name: .long, help: ArgumentHelp("At most N tensors per file, as llama-gguf-split --split-max-tensors.", valueName: "n"))
    var splitMaxTensors: Int?

    func validate() throws { _ = try rule() }

    /// The split asked for, checked; nil when neither option is given.
    func rule() throws -> GGUFSplitRule? {
        switch (splitMaxSize, splitMaxTensors) {
        case (nil, nil): return nil
        case (_?, _?): throw ValidationError("give either --split-max-size or --split-max-tensors, not both")
        case (let size?, nil):
            do { return try GGUFSplitRule.size(size) } catch { throw ValidationError("--split-max-size: \(error)") }
        case (nil, let n?):
            guard n >= 1 else { throw ValidationError("--split-max-tensors must be at least 1") }
            return .maxTensors(n)
        }
    }
}
