/// Builds an `InspectionReport` from a safetensors file (filled in with the Safetensors reader).
enum SafetensorsInspection {
    static func report(path: String, verify: Bool) throws -> InspectionReport {
        throw CLIFailure(message: "\(path): safetensors inspection is not built yet", hint: nil, exit: QuantdExit.badInput)
    }

    static func classify(_ error: any Error) -> CLIFailure? { nil }
}

enum ModelFolderInspection {
    static func report(path: String, verify: Bool) throws -> InspectionReport {
        throw CLIFailure(message: "\(path): model folder inspection is not built yet", hint: nil, exit: QuantdExit.badInput)
    }
}
