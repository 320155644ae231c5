import Testing

/// The options several commands share (`ThreadOptions`, `ChunkOptions`, `TableJSONOption`) are
/// declared once; every command that uses one must still list it in its help with the same
/// usage, help text and default, and still enforce the shared checks.
struct SharedOptionsHelpTests {
    static let threads = ("[--threads <threads>]", "--threads <threads>     Threads (default: all cores).")
    static let ctx = ("[--ctx <ctx>]", "--ctx <ctx>             Tokens per chunk. (default: 512)")
    /// Commands whose usage line is cut to `[<options>]` are checked on the option's help line only.
    static let threadsHelpOnly = ("", threads.1)
    static let json = ("[--json]", "--json                  One JSON object instead of a table.")

    @Test(arguments: [
        ("eval", [threads, ctx, json]),
        ("imatrix", [threads, ctx]),
        ("convert", [threadsHelpOnly]),
        ("shard write", [threadsHelpOnly]),
        ("diff", [json]),
    ])
    func helpListsEachSharedOption(command: String, options: [(String, String)]) throws {
        let result = try TestSupport.run(TestSupport.quantdBinary, command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0, "\(result.stderr)")
        for (usage, line) in options {
            #expect(usage.isEmpty || result.stdout.contains(usage), "quantd \(command) --help lacks \(usage) in its usage:\n\(result.stdout)")
            #expect(result.stdout.contains(line), "quantd \(command) --help lacks '\(line)':\n\(result.stdout)")
        }
    }

    @Test(arguments: [["eval", "model.gguf", "--text", "text.txt"], ["imatrix", "model.gguf", "-o", "out.gguf"],
                      ["convert", "model", "-o", "out"], ["shard", "write", "plan.json", "--file", "1", "-o", "out"]])
    func threadsBelowOneAreRefused(arguments: [String]) throws {
        let result = try TestSupport.run(TestSupport.quantdBinary, arguments + ["--threads", "0"])
        #expect(result.status == 64, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("--threads must be at least 1"), "\(result.stderr)")
    }

    /// `--split-max-size` / `--split-max-tensors` (`SplitOptions`): the same usage and checks in
    /// every command that writes or plans a split set.
    @Test(arguments: [["convert", "model", "-o", "out"], ["plan", "model", "--nodes", "2"],
                      ["shard", "plan", "model", "--type", "Q8_0", "-o", "plan.json"]])
    func splitOptionsAreSharedWithTheirChecks(command: [String]) throws {
        let words = command.prefix { $0 != "model" }
        let help = try TestSupport.run(TestSupport.quantdBinary, Array(words) + ["--help"])
        #expect(help.stdout.contains("--split-max-size <size> At most SIZE of tensor data per file (45G, 500M), cut"), "\(help.stdout)")
        #expect(help.stdout.contains("--split-max-tensors <n> At most N tensors per file, as llama-gguf-split"), "\(help.stdout)")
        for (extra, message) in [(["--split-max-size", "1G", "--split-max-tensors", "3"], "give either --split-max-size or --split-max-tensors, not both"),
                                 (["--split-max-tensors", "0"], "--split-max-tensors must be at least 1"),
                                 (["--split-max-size", "12"], "--split-max-size: '12' is not a split size")] {
            let result = try TestSupport.run(TestSupport.quantdBinary, command + extra)
            #expect(result.status == 64 && result.stderr.contains(message), "\(command + extra): \(result.stderr)")
        }
    }
}
