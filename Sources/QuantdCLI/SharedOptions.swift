import ArgumentParser

// Options several commands declare with the same meaning, help and checks, each declared once
// here and used through `@OptionGroup`, so the flags cannot drift apart between commands.

/// `--threads N` of the commands that run the forward pass (`eval`, `imatrix`).
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
