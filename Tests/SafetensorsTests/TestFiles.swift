import QuantdTestSupport
import Testing

@testable import Safetensors

/// Opens `bytes` written to a temporary file, returning the error if it fails to open.
func openError(_ bytes: [UInt8], name: String = "model.safetensors") throws -> SafetensorsError? {
    let directory = TemporaryFolder("safetensors")
    let path = try directory.write(name, bytes)
    do {
        _ = try SafetensorsFile(path: path)
        return nil
    } catch {
        return error
    }
}

/// The error for a header and data, which must be `malformed`.
func malformed(header: String, data: [UInt8] = [], sourceLocation: SourceLocation = #_sourceLocation) throws
    -> SafetensorsErrorDetail
{
    let error = try openError(safetensorsBytes(header: header, data: data))
    guard case let .malformed(detail)? = error else {
        Issue.record("expected malformed, got \(String(describing: error))", sourceLocation: sourceLocation)
        throw TestFailure()
    }
    return detail
}
