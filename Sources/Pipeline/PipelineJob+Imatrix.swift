#if canImport(Glibc)
import Glibc
#endif

/// The job's computed `imatrix` stage (one without `file`): runs before the schemes, on the
/// job's source through `ReferenceModel`, and leaves `<base>.imatrix.gguf` next to the artifacts —
/// the same file llama-imatrix would write, so it can be reused with llama-quantize or in a
/// later pipeline's `{"stage": "imatrix", "file": ...}`.
extension PipelineJob {
    public static func importanceMatrixFileName(baseName: String) -> String { "\(baseName).imatrix.gguf" }

    /// The pipeline the schemes run with: the job's, or — when its computed imatrix stage cannot run
    /// because the forward pass does not run the architecture — the job's without that stage, its
    /// schemes planned as llama-quantize plans them without a matrix, and the reason it was skipped
    /// (`no forward pass for ARCH`). A scheme that cannot do without a matrix then fails the job
    /// (`ImatrixStageError.requiredButSkipped`).
    func schemesConfig() -> (PipelineConfig, imatrixSkipped: String?) {
        guard config.computedImatrix != nil, let reason = EvaluationStage.unsupportedReason(source: source) else {
            return (config, nil)
        }
        var reduced = config
        reduced.calibration.removeAll { if case .computeImatrix = $0 { true } else { false } }
        for i in reduced.schemes.indices { reduced.schemes[i].options.hasImportanceMatrix = false }
        return (reduced, reason)
    }

    /// The matrix the schemes use, or nil when the pipeline computes none.
    func computeImportanceMatrix() throws -> ImportanceMatrix? {
        guard let settings = config.computedImatrix else { return nil }
        var clock = Stopwatch()
        let text: ImatrixCalibration.Text
        if let path = config.calibrationTextPath {
            do {
                text = try .file(path, recordedName: settings.text)
            } catch {
                throw ImatrixStageError.unreadableText(path: path, reason: "\(error)")
            }
        } else {
            text = .bundled
        }
        let model = try referenceModel().open()
        let cancelled = isCancelled, report = imatrixProgress
        var (file, computation) = try ImatrixCalibration.compute(
            model: model, text: text, settings: settings, threads: workerCount,
            progress: { done, total in report?(done, total) }, isCancelled: { cancelled?() == true })
        let name = Self.importanceMatrixFileName(baseName: baseName)
        try file.write(to: "\(outputFolder)/\(name)")
        computation.writtenFile = name
        computation.seconds = clock.lap()
        var matrix = file.importanceMatrix(file: name)
        matrix.computation = computation
        return matrix
    }
}

public enum ImatrixStageError: Error, CustomStringConvertible {
    case unreadableText(path: String, reason: String)
    /// A scheme needs an importance matrix, and the imatrix stage could not compute one.
    case requiredButSkipped(tensor: String, type: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableText(let path, let reason):
            "the imatrix stage's calibration text '\(path)' cannot be read (\(reason)); \"text\" is relative to the pipeline file's folder — fix the path, or leave \"text\" out for the bundled text"
        case .requiredButSkipped(let tensor, let type, let reason):
            "tensor '\(tensor)' would be \(type), which needs an importance matrix, but the imatrix stage was skipped (\(reason)) — import a matrix made elsewhere ({\"stage\": \"imatrix\", \"file\": ...}, e.g. from llama-imatrix) or choose a mix that does without one"
        }
    }
}
