import ArgumentParser
import BinaryIO
import GGUF
import ModelConversion

#if canImport(Glibc)
import Glibc
#endif

/// `quantd convert INPUT -o OUTPUT --type T`: a Hugging Face model folder to a GGUF file, with
/// the tensors and metadata llama.cpp's convert_hf_to_gguf.py writes.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face model folder (safetensors) into a GGUF file.",
        discussion: """
            Supported architectures: \(Architecture.supportedNames.joined(separator: ", ")). \
            Tensors are streamed from the mapped safetensors into the output, which appears only \
            when complete. Exit status: 0 done; 65 unsupported or malformed input; 66 cannot open; \
            75 truncated input (a shard may still be arriving).
            """)

    @Argument(help: "A Hugging Face model folder: config.json, *.safetensors, tokenizer files.")
    var input: String

    @Option(name: [.short, .customLong("output")],
            help: "The GGUF file to write, or an existing folder to write <Name>-<SizeLabel>-<TYPE>.gguf into.")
    var output: String

    @Option(name: [.short, .customLong("type")],
            help: "F32, F16, BF16, Q8_0, or auto (the weights' 16-bit type; F16 for F32 weights).")
    var type: String = "auto"

    @Option(name: .long, help: "Threads converting rows of a tensor (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard OutputTypeChoice(argument: type) != nil else {
            throw ValidationError("--type must be F32, F16, BF16, Q8_0 or auto, not '\(type)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        do {
            let choice = OutputTypeChoice(argument: type) ?? .auto
            let plan = try ConversionPlan(input: input, outputType: choice)
            let destination = Self.destination(output, defaultName: plan.defaultFileName)
            try Self.refuseWritingInto(input: input, destination: destination)
            let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            let converter = Converter(threads: threads ?? max(1, cores))
            let meter = isatty(2) != 0 ? ProgressMeter() : nil
            try converter.run(plan, destination: destination) { meter?.update($0) }
            meter?.finish()
            print("\(destination): \(plan.architecture.ggufName) \(plan.outputType.rawValue), "
                  + "\(plan.tensors.count) tensors, \(plan.metadata.count) metadata keys")
        } catch let error as ConversionError {
            let exit = error.isTruncated ? QuantdExit.truncated
                : (Self.isCannotOpen(error) ? QuantdExit.cannotOpen : QuantdExit.badInput)
            throw CLIFailure(message: error.description, hint: nil, exit: exit).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }

    /// An existing directory gets the reference's default file name inside it.
    static func destination(_ output: String, defaultName: String) -> String {
        var info = stat()
        if stat(output, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            return output.hasSuffix("/") ? output + defaultName : output + "/" + defaultName
        }
        return output
    }

    /// The input folder is never modified, so the output may not go inside it.
    static func refuseWritingInto(input: String, destination: String) throws {
        let parent = destination.contains("/") ? String(destination[..<(destination.lastIndex(of: "/") ?? destination.endIndex)]) : "."
        guard let inputPath = realpath(input, nil), let parentPath = realpath(parent.isEmpty ? "/" : parent, nil) else { return }
        defer { free(inputPath); free(parentPath) }
        if String(cString: inputPath) == String(cString: parentPath) {
            throw CLIFailure(message: "\(destination): the output would be written into the model folder \(input)",
                             hint: "quantd never modifies its input; write the GGUF somewhere else (-o OTHER_FOLDER)",
                             exit: QuantdExit.badInput).report()
        }
    }

    static func isCannotOpen(_ error: ConversionError) -> Bool {
        if case .folder(.notADirectory) = error { return true }
        return false
    }
}
