import ArgumentParser
import BinaryIO
import GGUF
#if canImport(Glibc)
import Glibc
#endif

/// An error as the user sees it: one line saying what and where, one saying what to do, and the
/// exit status for its class. Every command funnels its errors through `from(_:)`.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var hint: String?
    var exit: ExitCode

    var description: String { message + (hint.map { " — \($0)" } ?? "") }

    static func from(_ error: any Error) -> any Error {
        switch error {
        case let failure as CLIFailure:
            return failure.report()
        case let gguf as GGUFError:
            let exit = gguf.kind == .truncated ? QuantdExit.truncated : QuantdExit.badInput
            return CLIFailure(message: gguf.description, hint: nil, exit: exit).report()
        case let split as GGUFSplitError:
            let exit = if case .missingFile = split { QuantdExit.cannotOpen } else { QuantdExit.badInput }
            return CLIFailure(message: split.description, hint: nil, exit: exit).report()
        case let file as FileError:
            return CLIFailure(message: file.description, hint: nil, exit: QuantdExit.cannotOpen).report()
        case let zstd as ZstdError:
            let exit = zstd.message.contains("truncated") ? QuantdExit.truncated : QuantdExit.badInput
            return CLIFailure(message: zstd.description, hint: "check that the file is a complete zstd stream", exit: exit).report()
        default:
            if let classified = SafetensorsInspection.classify(error) { return classified.report() }
            return error
        }
    }

    /// Prints the message to stderr and returns the exit code to throw.
    func report() -> ExitCode {
        var stderr = StandardError()
        print("error: \(description)", to: &stderr)
        return exit
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        // fd 2 directly: the C `stderr` global is not concurrency-safe to touch from Swift 6.
        s.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}
