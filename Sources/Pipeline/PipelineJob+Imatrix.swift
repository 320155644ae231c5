#if canImport(Glibc)
import Glibc
#endif

/// The job's computed `imatrix` stage (one without `file`): runs before the schemes, on the
/// job's source through `ReferenceModel`, and leaves `<base>.imatrix.gguf` next to the artifacts —
/// the same file llama-imatrix would write, so it can be reused with llama-quantize or in a
/// later pipeline's `{"stage": "imatrix", "file": ...}`.
extension PipelineJob {
    public static func importanceMatrixFileName(baseName: String) -> String { "\(baseName).imatrix.gguf" }

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

    public var description: String {
        switch self {
        case .unreadableText(let path, let reason):
            "the imatrix stage's calibration text '\(path)' cannot be read (\(reason)); \"text\" is relative to the pipeline file's folder — fix the path, or leave \"text\" out for the bundled text"
        }
    }
}
