import Inference

/// The artifacts of a job opened for a side-by-side measurement against the source (perplexity and
/// KLD, task accuracy): one that cannot be loaded, or whose vocabulary differs from the source's,
/// is skipped with its reason instead of failing the others.
struct ComparableArtifacts {
    /// One entry per artifact path, nil where it was skipped.
    var models: [LlamaModel?] = []
    /// The reason each skipped artifact, by index, was skipped.
    var problems: [Int: String] = [:]

    /// Errors other than the model's own (`InferenceError`) end the measurement.
    init(paths: [String], reference: LlamaModel) throws {
        for (i, path) in paths.enumerated() {
            do {
                let model = try LlamaModel(path: path)
                if model.vocabularySize == reference.vocabularySize {
                    models.append(model)
                } else {
                    problems[i] = "its vocabulary has \(model.vocabularySize) tokens, the source's \(reference.vocabularySize)"
                    models.append(nil)
                }
            } catch let error as InferenceError {
                problems[i] = "it cannot be evaluated: \(error)"
                models.append(nil)
            }
        }
    }
}
