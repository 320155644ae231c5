import ArgumentParser

/// The `quantd` command: subcommands are small types, one per file.
public struct Quantd: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "quantd",
        abstract: "Quantize LLM checkpoints into GGUF files, inspect GGUF and safetensors files, and watch a drop folder.",
        version: QuantdVersion.string,
        subcommands: [
            InspectCommand.self, ConvertCommand.self, WatchCommand.self, StatusCommand.self,
            ValidateCommand.self, DiffCommand.self, EvalCommand.self, ImatrixCommand.self,
            RunJobCommand.self, PlanCommand.self, ShardCommand.self,
        ])

    public init() {}
}

public enum QuantdVersion {
    public static let string = "0.1.0"
}
