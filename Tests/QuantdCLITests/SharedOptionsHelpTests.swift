import Testing

/// The options several commands share (`ThreadOptions`, `ChunkOptions`, `TableJSONOption`) are
/// declared once; every command that uses one must still list it in its help with the same
/// usage, help text and default, and still enforce the shared checks.
struct SharedOptionsHelpTests {
    static let threads = ("[--threads <threads>]", "--threads <threads>     Threads (default: all cores).")
    static let ctx = ("[--ctx <ctx>]", "--ctx <ctx>             Tokens per chunk. (default: 512)")
    static let json = ("[--json]", "--json                  One JSON object instead of a table.")

    @Test(arguments: [
        ("eval", [threads, ctx, json]),
        ("imatrix", [threads, ctx]),
        ("diff", [json]),
    ])
    func helpListsEachSharedOption(command: String, options: [(String, String)]) throws {
        let result = try TestSupport.quantd(command, "--help")
        #expect(result.status == 0, "\(result.stderr)")
        for (usage, line) in options {
            #expect(result.stdout.contains(usage), "quantd \(command) --help lacks \(usage) in its usage:\n\(result.stdout)")
            #expect(result.stdout.contains(line), "quantd \(command) --help lacks '\(line)':\n\(result.stdout)")
        }
    }

    @Test(arguments: [["eval", "model.gguf", "--text", "text.txt"], ["imatrix", "model.gguf", "-o", "out.gguf"]])
    func threadsBelowOneAreRefused(arguments: [String]) throws {
        let result = try TestSupport.run(TestSupport.quantdBinary, arguments + ["--threads", "0"])
        #expect(result.status == 64, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("--threads must be at least 1"), "\(result.stderr)")
    }
}
