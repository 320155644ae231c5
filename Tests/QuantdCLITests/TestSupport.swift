import Foundation
import QuantdTestSupport
import Testing

/// Paths and process helpers shared by the CLI tests.
enum TestSupport {
    static let repositoryRoot = URL(fileURLWithPath: Repository.root)
    static let samplePath = Repository.sampleGGUF
    static let scripts = Repository.path("scripts/interop")

    /// The python with gguf-py and safetensors (scripts/test.sh sets it up and exports it).
    static let python = Repository.referencePython

    static var quantdBinary: String { Repository.quantdBinary }

    typealias Result = ProcessResult

    static func run(_ executable: String, _ arguments: [String]) throws -> Result { try runProcess(executable, arguments) }

    static func quantd(_ arguments: String...) throws -> Result { try run(quantdBinary, arguments) }

    static func json(_ text: String) throws -> NSDictionary {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        guard let dictionary = object as? NSDictionary else { throw TestFailure("not a JSON object: \(text.prefix(200))") }
        return dictionary
    }

    static func fixture(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw TestFailure("missing fixture \(name)")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Runs a script under QUANTD_PYTHON and returns its standard output.
    static func python(_ script: String, _ arguments: [String]) throws -> String {
        guard let python else { throw TestFailure("QUANTD_PYTHON is not set") }
        let result = try run(python, ["\(scripts)/\(script)"] + arguments)
        guard result.status == 0 else { throw TestFailure("\(script) failed: \(result.stderr)") }
        return result.stdout
    }

    /// Compares two parsed JSON objects key by key, reporting each difference.
    static func expectSame(_ ours: NSDictionary, _ reference: NSDictionary, keys: [String],
                           sourceLocation: SourceLocation = #_sourceLocation) {
        for key in keys {
            let a = ours[key] as? NSObject
            let b = reference[key] as? NSObject
            #expect(a != nil && b != nil && a!.isEqual(b), "\(key) differs:\nquantd: \(String(describing: a).prefix(400))\ngguf-py: \(String(describing: b).prefix(400))",
                    sourceLocation: sourceLocation)
        }
    }

    /// Compares the tensor tables entry by entry, naming the tensor and key of each difference.
    static func expectSameTensors(_ ours: NSDictionary, _ reference: NSDictionary, keys: [String],
                                  sourceLocation: SourceLocation = #_sourceLocation) {
        let a = tensors(ours, keys: keys)
        let b = tensors(reference, keys: keys)
        #expect(a.count == b.count, "tensor count \(a.count) vs \(b.count)", sourceLocation: sourceLocation)
        for (x, y) in zip(a, b) {
            for key in keys where !((x[key] as? NSObject)?.isEqual(y[key]) ?? false) {
                Issue.record("tensor \(y["name"] ?? "?") \(key): quantd \(x[key] ?? "nil"), gguf-py \(y[key] ?? "nil")",
                             sourceLocation: sourceLocation)
            }
        }
    }

    /// The tensors array with only the keys the reference also reports.
    static func tensors(_ object: NSDictionary, keys: [String]) -> [NSDictionary] {
        ((object["tensors"] as? [NSDictionary]) ?? []).map { tensor in
            let filtered = NSMutableDictionary()
            for key in keys { filtered[key] = tensor[key] }
            return filtered
        }
    }
}
