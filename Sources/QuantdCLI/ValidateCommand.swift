import ArgumentParser
import BinaryIO
import Daemon
import Pipeline

/// `quantd validate PIPELINE`: checks a pipeline.json without running it.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a pipeline.json without running it.",
        discussion: "Exit status 0 when valid; 65 with the JSON path of the first problem otherwise.")

    @Argument(help: "The pipeline file.")
    var pipeline: String

    func run() throws {
        do {
            let config = try PipelineConfig.parse(MappedFile.contents(of: pipeline), file: pipeline)
            _ = try DaemonSettings.parse(pipeline: config, file: pipeline)
            do {
                try config.converter?.checkScript()
            } catch {
                throw ConfigError(path: "$.converter.fallback", message: "\(error)", file: pipeline)
            }
            print(Self.describe(config, file: pipeline))
        } catch let error as ConfigError {
            throw CLIFailure(message: error.description, hint: "see docs/pipeline.md for the pipeline.json reference", exit: QuantdExit.badInput).report()
        } catch {
            throw CLIFailure.from(error)
        }
    }

    static func describe(_ config: PipelineConfig, file: String) -> String {
        var lines = ["\(file): valid (schema version \(PipelineConfig.schemaVersion))"]
        for stage in config.calibration {
            switch stage {
            case .importImatrix(let path): lines.append("  calibration  imatrix from \(path)")
            case .computeImatrix(let s):
                lines.append("  calibration  imatrix computed on \(s.text ?? "the bundled text (\(CalibrationText.name))"), ctx \(s.ctx)"
                             + (s.chunks.map { ", at most \($0) chunks" } ?? "") + (s.processOutput ? ", output too" : ""))
            case .weightStats: lines.append("  calibration  weight statistics")
            case .gptq(let s): lines.append("  calibration  gptq, damp \(s.damp)" + (s.chunks.map { ", at most \($0) chunks" } ?? ""))
            case .awq(let s): lines.append("  calibration  awq, α grid of \(s.grid + 1)" + (s.chunks.map { ", at most \($0) chunks" } ?? ""))
            }
        }
        for scheme in config.schemes {
            var detail = "mix \(scheme.options.mix.rawValue)"
            if scheme.options.pure { detail += ", pure" }
            if let t = scheme.options.outputTensorType { detail += ", output \(t.name)" }
            if let t = scheme.options.tokenEmbeddingType { detail += ", token embedding \(t.name)" }
            if !scheme.options.rules.isEmpty { detail += ", \(scheme.options.rules.count) rules" }
            if let target = scheme.options.sizeTarget { detail += ", size target \(target.target.label)" }
            if scheme.options.rounding == .refined { detail += ", refined rounding" }
            lines.append("  scheme       \(scheme.name): \(detail)")
        }
        if let e = config.evaluation {
            lines.append("  evaluate     \(e.tokens) tokens in chunks of \(e.ctx) of \(e.text ?? "the built-in text")")
        } else {
            lines.append("  evaluate     off")
        }
        if let zstd = config.zstd {
            lines.append("  output       zstd level \(zstd.level), \(zstd.workers) workers\(zstd.keepPlain ? ", keeps the plain file" : ", plain file dropped")")
        }
        lines.append("  output       manifest \(config.manifest ? "on" : "off")")
        if let converter = config.converter {
            lines.append("  converter    fallback \(converter.scriptPath) (run with \(converter.python)) for architectures not converted natively")
        }
        return lines.joined(separator: "\n")
    }
}
