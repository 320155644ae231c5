import ArgumentParser
import BinaryIO
import GGUF
import ModelConversion

#if canImport(Glibc)
import Glibc
#endif

/// `quantd convert FOLDER -o OUTPUT --type F32|F16|BF16|Q8_0|auto`: a Hugging Face model folder
/// to one GGUF with the tensors and metadata llama.cpp's convert_hf_to_gguf.py writes — the
/// plain conversion, without the pipeline (mixes and pipelines go through `PipelineConversion`).
enum FolderConversion {
    /// `split`: the GGUF is written as a split set named after the destination without `.gguf`
    /// (converted to a hidden file beside it first, then cut as llama-gguf-split cuts it).
    static func run(input: String, output: String, choice: OutputTypeChoice, threads: Int?, split: GGUFSplitRule? = nil) throws {
        do {
            let plan = try ConversionPlan(input: input, outputType: choice)
            let destination = Self.destination(output, defaultName: plan.defaultFileName)
            try Self.refuseWritingInto(input: input, destination: destination)
            let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            let converter = Converter(threads: threads ?? max(1, cores))
            let line = ProgressLine(enabled: isatty(2) != 0)
            let written = split == nil ? destination : Self.hiddenSibling(of: destination)
            defer { if split != nil { FileSystem.removeFile(written) } }
            try converter.run(plan, destination: written) { line.update($0) }
            line.finish()
            var shown = destination
            if let split {
                let prefix = destination.hasSuffix(".gguf") ? String(destination.dropLast(5)) : destination
                let shards = try GGUFSplitWriter.split(GGUFFile(path: written), prefix: prefix, rule: split)
                shown = shards.count == 1 ? shards[0].path : "\(shards[0].path) … \(Self.lastComponent(shards[shards.count - 1].path))"
            }
            print("\(shown): \(plan.architecture.ggufName) \(plan.outputType.rawValue), "
                  + "\(plan.tensors.count) tensors, \(plan.metadata.count) metadata keys")
        } catch let error as ConversionError {
            throw classify(error).report()
        }
    }

    private static func hiddenSibling(of path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        return "\(folder.isEmpty ? "" : folder)/.\(lastComponent(path)).unsplit-\(getpid())"
    }

    private static func lastComponent(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    static func classify(_ error: ConversionError) -> CLIFailure {
        let exit = error.isTruncated ? QuantdExit.truncated
            : (Self.isCannotOpen(error) ? QuantdExit.cannotOpen : QuantdExit.badInput)
        return CLIFailure(message: error.description, hint: nil, exit: exit)
    }

    /// An existing directory gets the reference's default file name inside it.
    static func destination(_ output: String, defaultName: String) -> String {
        if FileSystem.info(output)?.isDirectory == true {
            return output.hasSuffix("/") ? output + defaultName : output + "/" + defaultName
        }
        return output
    }

    /// The input folder is never modified, so the output may not go inside it.
    static func refuseWritingInto(input: String, destination: String) throws {
        let parent = destination.contains("/") ? String(destination[..<(destination.lastIndex(of: "/") ?? destination.endIndex)]) : "."
        guard let inputPath = FileSystem.resolved(input), let parentPath = FileSystem.resolved(parent.isEmpty ? "/" : parent) else { return }
        if inputPath == parentPath {
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
