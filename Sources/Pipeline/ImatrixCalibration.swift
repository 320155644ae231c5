import BinaryIO
import Inference
import Tokenizer

/// The `imatrix` calibration stage without a `file`: the importance matrix computed by quantd's
/// own forward pass, as llama-imatrix computes it (`-f TEXT -c CTX [--chunks N] [--process-output]`).
public struct ImatrixSettings: Sendable, Equatable {
    /// The calibration text as written in the pipeline (nil: the text bundled with quantd,
    /// `CalibrationText`).
    public var text: String?
    /// Tokens per chunk (llama-imatrix's `-c`, default 512).
    public var ctx: Int
    /// At most this many chunks (nil: every whole chunk of the text).
    public var chunks: Int?
    /// Collect `output.weight` too (llama-imatrix's `--process-output`).
    public var processOutput: Bool
    /// Chunks skipped at the start (0-based index of the first chunk evaluated): a partial over a
    /// chunk range, to be merged with the others (`ImatrixFile.merged`).
    public var firstChunk = 0

    public init(text: String? = nil, ctx: Int = 512, chunks: Int? = nil, processOutput: Bool = false) {
        self.text = text
        self.ctx = ctx
        self.chunks = chunks
        self.processOutput = processOutput
    }
}

/// What the manifest records of a computed matrix.
public struct ImatrixComputation: Sendable, Equatable {
    /// The text's name: its path as given, or the bundled text's name.
    public var text: String
    public var textSHA256: String
    public var textTokens: Int
    public var chunks: Int
    public var ctx: Int
    public var processOutput: Bool
    public var seconds: Double
    /// The imatrix GGUF written next to the artifacts (file name), if any.
    public var writtenFile: String?
}

/// Tokenizes a calibration text with the model's own vocabulary and collects the importance
/// statistics over it; the result is both the llama.cpp imatrix file and the matrix the scheme
/// stages use.
public enum ImatrixCalibration {
    /// A calibration text and the name it is recorded under.
    public struct Text: Sendable {
        public var name: String
        public var bytes: [UInt8]

        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }

        /// The bundled public-domain text.
        public static var bundled: Text { Text(name: CalibrationText.name, bytes: Array(CalibrationText.text.utf8)) }

        /// `path` read from disk (`recordedName`: how it is named in the file and manifest).
        public static func file(_ path: String, recordedName: String? = nil) throws -> Text {
            Text(name: recordedName ?? path, bytes: try MappedFile.contents(of: path))
        }
    }

    /// The token ids llama-imatrix evaluates for this text: one trailing newline dropped (as its
    /// `-f` option reads a file), then tokenized with BOS/EOS as the vocabulary says and special
    /// tokens left as text (`--parse-special` off).
    public static func tokens(of text: Text, model: LlamaModel) throws -> [Int32] {
        var bytes = text.bytes
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        let tokenizer = try Tokenizer(metadata: model.metadata)
        return tokenizer.encode(String(decoding: bytes, as: UTF8.self), addSpecial: true, parseSpecial: false)
    }

    public static func compute(
        model: LlamaModel, text: Text, settings: ImatrixSettings, threads: Int,
        progress: ((_ done: Int, _ total: Int) -> Void)? = nil, isCancelled: (() -> Bool)? = nil
    ) throws -> (file: ImatrixFile, computation: ImatrixComputation) {
        let tokens = try tokens(of: text, model: model)
        let run = try ImatrixRun.collect(model: model, tokens: tokens, ctx: settings.ctx, chunks: settings.chunks,
                                         firstChunk: settings.firstChunk, threads: threads, includesOutput: settings.processOutput,
                                         progress: progress, isCancelled: isCancelled)
        let file = ImatrixFile(
            entries: run.entries.map { ImatrixFile.Entry(name: $0.name, sums: $0.sums, counts: $0.counts.map { Float($0) }) },
            datasets: [text.name], chunkCount: run.chunks, chunkSize: run.ctx)
        let sha = text.bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) }
        let computation = ImatrixComputation(text: text.name, textSHA256: sha, textTokens: tokens.count, chunks: run.chunks,
                                             ctx: run.ctx, processOutput: settings.processOutput, seconds: run.seconds,
                                             writtenFile: nil)
        return (file, computation)
    }
}
