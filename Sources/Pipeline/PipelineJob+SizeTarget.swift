#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import Inference

/// What a job records of one size-target artifact: its plan and how its verification went.
public struct SizeTargetRecord: Sendable {
    public var scheme: String
    public var plan: SizeTargetPlan
    /// The artifact of the named mix it was compared with (a `size_of` target), by scheme name.
    public var comparedWith: String?
    /// The named-mix artifact was written only for the comparison (removed again when the
    /// size-target artifact measured better).
    public var companionAdded = false
    /// Measured mean KLD of the artifact and of the named mix, on the evaluate stage's text.
    public var measuredKLD: Double?
    public var measuredNamedMixKLD: Double?
    /// nil: not verified (no evaluate stage, or a target without a named mix); true: the artifact
    /// measured below the named mix; false: not below, and the named mix is kept beside it.
    public var beatsNamedMix: Bool?
}

extension PipelineJob {
    /// Plans every size-target scheme (its types by tensor) and adds, for each `size_of` target
    /// without a scheme of that mix in the job, the named mix as a companion artifact to verify
    /// against. Returns the schemes to run and the records to complete after evaluation.
    func planSizeTargets(_ config: PipelineConfig, importance: ImportanceMatrix?) throws -> (PipelineConfig, [SizeTargetRecord]) {
        let targets = config.schemes.indices.filter { config.schemes[$0].options.sizeTarget != nil }
        guard !targets.isEmpty else { return (config, []) }
        var planned = config
        if let reason = EvaluationStage.unsupportedReason(source: source) {
            throw SizeTargetError.noForwardPass(scheme: config.schemes[targets[0]].name, reason: reason)
        }
        let model = try ModelHyperparameters(metadata: source.metadata)
        let reference = try referenceModel().open()
        let planner = SizeTargetPlanner(source: source, model: model, importance: importance, threads: workerCount)
        var records: [SizeTargetRecord] = []
        let cancelled = isCancelled
        for i in targets {
            let scheme = config.schemes[i]
            guard let settings = scheme.options.sizeTarget else { continue }
            let text = try sensitivityText(settings)
            let tokens = try ImatrixCalibration.tokens(of: text, model: reference)
            let plan = try planner.plan(scheme: scheme, reference: reference, tokens: tokens, textName: text.name,
                                        isCancelled: { cancelled?() == true })
            planned.schemes[i].options.plannedTypes = plan.types
            var record = SizeTargetRecord(scheme: scheme.name, plan: plan)
            if case .sizeOf(let mix) = settings.target, config.evaluation != nil {
                let existing = planned.schemes.first {
                    $0.options.sizeTarget == nil && $0.options.rounding == .ggml && $0.options.mix == mix && $0.options.rules.isEmpty
                        && !$0.options.pure && $0.options.outputTensorType == nil && $0.options.tokenEmbeddingType == nil
                }
                if let existing {
                    record.comparedWith = existing.name
                } else {
                    var name = mix.rawValue
                    var suffix = 1
                    while planned.schemes.contains(where: { $0.name == name }) {
                        name = "\(scheme.name)-\(mix.rawValue)" + (suffix > 1 ? "-\(suffix)" : "")
                        suffix += 1
                    }
                    var options = SchemeOptions(mix: mix)
                    options.hasImportanceMatrix = scheme.options.hasImportanceMatrix
                    planned.schemes.append(PipelineConfig.Scheme(name: name, options: options))
                    record.comparedWith = name
                    record.companionAdded = true
                }
            }
            records.append(record)
        }
        return (planned, records)
    }

    func sensitivityText(_ settings: SizeTargetSettings) throws -> ImatrixCalibration.Text {
        if let file = settings.text {
            let path = file.hasPrefix("/") || config.baseDirectory == nil ? file : "\(config.baseDirectory!)/\(file)"
            do {
                return try .file(path, recordedName: file)
            } catch {
                throw ImatrixStageError.unreadableText(path: path, reason: "\(error)")
            }
        }
        if let path = config.calibrationTextPath {
            do {
                return try .file(path, recordedName: config.computedImatrix?.text)
            } catch {
                throw ImatrixStageError.unreadableText(path: path, reason: "\(error)")
            }
        }
        return .bundled
    }

    /// Completes the records with the evaluate stage's measurements; companion artifacts of targets
    /// that measured better are removed again (their file, and their entries in the result).
    func verifySizeTargets(_ records: inout [SizeTargetRecord], result: inout JobResult) {
        func kld(_ scheme: String?) -> Double? {
            guard let scheme, let i = result.artifacts.firstIndex(where: { $0.scheme == scheme }),
                  case .measured(let k)? = result.evaluation?.outcome(artifact: i) else { return nil }
            return k.kldMean
        }
        for r in records.indices {
            records[r].measuredKLD = kld(records[r].scheme)
            records[r].measuredNamedMixKLD = kld(records[r].comparedWith)
            if let a = records[r].measuredKLD, let b = records[r].measuredNamedMixKLD { records[r].beatsNamedMix = a < b }
        }
        // A companion shared by several targets stays when any of them did not beat it.
        let companions = Set(records.filter(\.companionAdded).compactMap(\.comparedWith))
        for name in companions {
            let users = records.filter { $0.comparedWith == name }
            guard users.allSatisfy({ $0.beatsNamedMix == true }),
                  let i = result.artifacts.firstIndex(where: { $0.scheme == name }) else { continue }
            FileSystem.removeFile(result.artifacts[i].path)
            result.artifacts.remove(at: i)
            if result.evaluation?.skipped == nil, result.evaluation?.artifacts.indices.contains(i) == true {
                result.evaluation?.artifacts.remove(at: i)
            }
        }
    }
}
