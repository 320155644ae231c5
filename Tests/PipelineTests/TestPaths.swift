import Foundation
import Pipeline
import QuantdTestSupport
import Testing

enum TestPaths {
    static let repositoryRoot = Repository.root
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "quantd-pipeline-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A pipeline.json's text, parsed as the file `file`.
func parsePipeline(_ text: String, file: String = "p.json") throws(ConfigError) -> PipelineConfig {
    try PipelineConfig.parse(Array(text.utf8), file: file)
}

/// `text` must be refused at JSON path `path` with a message containing `containing`, the error
/// naming the file and the path first.
func expectPipelineError(_ text: String, file: String = "p.json", path: String, containing: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try parsePipeline(text, file: file)
        Issue.record("accepted: \(text)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.path == path, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(containing), "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix("\(file): \(path) "), sourceLocation: sourceLocation)
    }
}

/// One scheme per mix, llama-quantize's defaults; with `imatrix`, that file of `Fixtures/` imported.
func pipelineConfig(mixes: [String], imatrix: String? = nil) -> PipelineConfig {
    var config = PipelineConfig()
    if let imatrix {
        config.calibration = [.importImatrix(file: imatrix)]
        config.baseDirectory = TestPaths.fixtures
    }
    config.schemes = mixes.compactMap { name in
        QuantMix(name: name).map { mix in
            var options = SchemeOptions(mix: mix)
            options.hasImportanceMatrix = imatrix != nil
            return PipelineConfig.Scheme(name: name, options: options)
        }
    }
    return config
}
