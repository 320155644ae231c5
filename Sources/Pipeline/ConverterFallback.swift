#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import JSON

/// llama.cpp's own converter for a Hugging Face folder whose architecture quantd does not convert
/// natively: `PYTHON convert_hf_to_gguf.py FOLDER --outtype f16 --outfile SCRATCH/model-f16.gguf`
/// as a child process. The F16 file it writes is then the job's source, exactly as an F16 GGUF
/// given as input would be (`FallbackConvertedSource`), so every later stage is unchanged.
///
/// The folder is only read; everything written goes to the scratch folder, and what the converter
/// printed is kept only to show the end of its standard error when it fails.
public struct ConverterFallback {
    public static let outputName = "model-f16.gguf"
    /// Lines of the converter's standard error shown when it fails.
    static let stderrLines = 12

    public let settings: ConverterSettings

    public init(settings: ConverterSettings) {
        self.settings = settings
    }

    /// Runs the converter on `folder` and returns the F16 GGUF's path inside `scratchFolder`. On any
    /// error nothing is left in the scratch folder.
    public func convert(folder: String, scratchFolder: String, isCancelled: (() -> Bool)? = nil) throws -> String {
        try settings.checkScript()
        let script = Self.absolute(settings.scriptPath)
        let scratch = Self.absolute(scratchFolder)
        let output = "\(scratch)/\(Self.outputName)"
        let stdoutLog = "\(scratch)/.converter-stdout.log", stderrLog = "\(scratch)/.converter-stderr.log"
        FileSystem.removeFile(output)
        defer { FileSystem.removeFile(stdoutLog); FileSystem.removeFile(stderrLog) }
        let child = ChildProcess(executable: settings.python,
                                 arguments: [script, Self.absolute(folder), "--outtype", "f16", "--outfile", output],
                                 standardOutput: stdoutLog, standardError: stderrLog)
        let termination: ChildProcess.Termination
        do {
            termination = try child.run(isCancelled: isCancelled)
        } catch {
            FileSystem.removeFile(output)
            switch error {
            case .cancelled: throw PipelineError.cancelled
            case .cannotStart(_, let reason):
                throw ConverterFallbackError.cannotStart(python: settings.python, script: script, reason: reason)
            case .timedOut(_, let seconds):
                throw ConverterFallbackError.cannotStart(python: settings.python, script: script, reason: "no answer in \(seconds) s")
            }
        }
        guard termination == .exited(0) else {
            let lines = ChildProcess.tail(of: stderrLog, lines: Self.stderrLines)
            FileSystem.removeFile(output)
            throw ConverterFallbackError.failed(python: settings.python, script: script, status: termination.description,
                                                stderr: lines)
        }
        guard let info = FileSystem.info(output), info.isRegularFile, info.size > 0 else {
            FileSystem.removeFile(output)
            throw ConverterFallbackError.invalidOutput(script: script, path: output,
                                                       reason: "it exited with status 0 but wrote no file there")
        }
        return output
    }

    /// What the manifest records about this converter (`scratchFolder` holds git's output meanwhile).
    public func record(scratchFolder: String) -> ConverterRecord {
        let script = Self.absolute(settings.scriptPath)
        return .fallback(path: script, version: Self.version(ofScript: script, scratchFolder: scratchFolder))
    }

    /// llama.cpp's version next to the script: the commit of the git checkout the script is the top of
    /// (`git -C DIR rev-parse --short HEAD`), else the version of the gguf-py package beside it
    /// (`gguf-py X.Y.Z`), else nil.
    public static func version(ofScript script: String, scratchFolder: String) -> String? {
        let folder = script.lastIndex(of: "/").map { String(script[..<$0]) } ?? "."
        let resolved = absolute(folder.isEmpty ? "/" : folder)
        if let commit = gitCommit(of: resolved, scratchFolder: scratchFolder) { return commit }
        return ggufPyVersion(in: resolved)
    }

    /// The short commit when `folder` is the top of a git work tree (a checkout of llama.cpp, not
    /// some repository it happens to sit inside), else nil.
    static func gitCommit(of folder: String, scratchFolder: String) -> String? {
        let base = "\(scratchFolder)/.quantd-git-\(getpid())"
        defer { FileSystem.removeFile(base + ".out"); FileSystem.removeFile(base + ".err") }
        let child = ChildProcess(executable: "git", arguments: ["-C", folder, "rev-parse", "--show-toplevel", "--short", "HEAD"],
                                 standardOutput: base + ".out", standardError: base + ".err")
        guard (try? child.run(timeout: 10)) == .exited(0),
              let text = try? MappedFile.contents(of: base + ".out") else { return nil }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count == 2, absolute(lines[0]) == folder,
              !lines[1].isEmpty, lines[1].allSatisfy({ $0.isHexDigit }) else { return nil }
        return lines[1]
    }

    /// `version = "..."` of `gguf-py/pyproject.toml` in `folder`.
    static func ggufPyVersion(in folder: String) -> String? {
        guard let bytes = try? MappedFile.contents(of: "\(folder)/gguf-py/pyproject.toml") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces == "version" else { continue }
            let value = parts[1].trimmingSpaces
            guard value.count > 2, value.hasPrefix("\""), value.hasSuffix("\"") else { continue }
            let version = value.dropFirst().dropLast()
            guard !version.isEmpty, version.allSatisfy({ $0.isLetter || $0.isNumber || ".-+_".contains($0) }) else { return nil }
            return "gguf-py \(version)"
        }
        return nil
    }

    /// `path` made absolute (symbolic links resolved) when it exists; as given otherwise.
    static func absolute(_ path: String) -> String {
        FileSystem.resolved(path) ?? path
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return s
    }
}

/// Which converter made the job's F16 source, for the manifest's `converter` object.
public enum ConverterRecord: Sendable, Equatable {
    /// quantd's own converter (a Hugging Face folder of an architecture in `Architecture.all`).
    case native
    /// llama.cpp's convert_hf_to_gguf.py at `path`; `version` as `ConverterFallback.version` finds it.
    case fallback(path: String, version: String?)

    public var json: JSONValue {
        switch self {
        case .native: .object([("kind", .string("native"))])
        case .fallback(let path, let version):
            .object([("kind", .string("fallback")), ("path", .string(path)), ("version", version.map { .string($0) } ?? .null)])
        }
    }
}
