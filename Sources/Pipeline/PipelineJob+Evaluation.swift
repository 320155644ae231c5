extension PipelineJob {
    /// The `evaluate` stage of this job: every artifact against the job's source. An architecture
    /// the forward pass does not run is recorded as skipped before any work (a folder source is not
    /// even converted to its temporary F16 reference then).
    func evaluate(settings: EvaluationSettings, text: (name: String, text: String), tasks: [(spec: TaskSpec, contents: [UInt8])],
                  artifacts: [String]) throws -> EvaluationReport {
        if let reason = EvaluationStage.unsupportedReason(source: source) { return .skipped(reason) }
        let stage = EvaluationStage(settings: settings, baseDirectory: config.baseDirectory)
        let cancelled = isCancelled, report = evaluationProgress
        return try stage.run(
            reference: { try self.referenceModel() },
            text: text, artifacts: artifacts, tasks: tasks, threads: threads,
            progress: { p in
                if cancelled?() == true { throw PipelineError.cancelled }
                report?(p)
            })
    }
}
