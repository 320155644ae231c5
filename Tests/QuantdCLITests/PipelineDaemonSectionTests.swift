import Foundation
import QuantdTestSupport
import Testing

/// pipeline.json is read by one reader: `validate` checks the `daemon` object too, and `watch`
/// reports a bad daemon key in the same form (file, JSON path, what is wrong) as a bad pipeline key.
struct PipelineDaemonSectionTests {
    static let badDaemon = #"{"version": 1, "schemes": [{"mix": "Q8_0"}], "daemon": {"concurency": 2}}"#
    static let badScheme = #"{"version": 1, "schemes": [{"mix": "Q8_0", "pur": true}], "daemon": {"concurrency": 2}}"#

    @Test func validateRefusesABadDaemonKey() throws {
        let temp = TemporaryFolder("cli-test")
        try Self.badDaemon.write(toFile: temp.file("p.json"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("validate", temp.file("p.json"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("\(temp.file("p.json")): $.daemon.concurency is not a known key (known here: settle_seconds"),
                "\(result.stderr)")
    }

    @Test func validateAcceptsGoodDaemonSettings() throws {
        let temp = TemporaryFolder("cli-test")
        try #"{"version": 1, "schemes": [{"mix": "Q8_0"}], "daemon": {"concurrency": 2, "settle_seconds": 0.5, "metrics_file": null}}"#
            .write(toFile: temp.file("p.json"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("validate", temp.file("p.json"))
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test(arguments: [(badDaemon, "$.daemon.concurency is not a known key"), (badScheme, "$.schemes[0].pur is not a known key")])
    func watchReportsBothSectionsAlike(pipeline: String, expected: String) throws {
        let temp = TemporaryFolder("cli-test")
        try pipeline.write(toFile: temp.file("p.json"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("watch", "--root", temp.file("root"), "--pipeline", temp.file("p.json"))
        #expect(result.status == 78)
        #expect(result.stderr.contains("\(temp.file("p.json")): \(expected)"), "\(result.stderr)")
    }
}
