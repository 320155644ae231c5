import Foundation

/// Paths of the repository the tests run from, and the programs some tests start.
public enum Repository {
    /// The checkout's top folder (this file is Tests/TestSupport/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// `relative` under the checkout's top folder.
    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// examples/sample.gguf: a small GGUF written by gguf-py.
    public static let sampleGGUF = path("examples/sample.gguf")

    /// The Hugging Face folder fixtures of the converter's tests.
    public static func modelFixture(_ name: String) -> String { path("Tests/ModelConversionTests/Fixtures/models/" + name) }

    /// The built `quantd` executable: `$QUANTD_BIN`, else the one next to the test bundle in the
    /// build folder, else .build/debug/quantd.
    public static var quantdBinary: String {
        if let explicit = ProcessInfo.processInfo.environment["QUANTD_BIN"] { return explicit }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("quantd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return path(".build/debug/quantd")
    }

    /// `$QUANTD_PYTHON`: a python with gguf-py and safetensors, for the tests that compare with
    /// the reference's own readers (scripts/test.sh sets it up and exports it); nil skips them.
    public static let referencePython: String? = ProcessInfo.processInfo.environment["QUANTD_PYTHON"]
}

/// A test's own failure, with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String = "test failure") { self.description = description }
}
