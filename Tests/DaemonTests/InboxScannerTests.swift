import Foundation
import QuantdTestSupport
import Testing
@testable import Daemon

/// The settle rules with the clock passed in: no waiting.
@Suite struct InboxScannerTests {
    @Test func anEntryWrittenInPlaceIsReadyOnlyAfterStayingUnchanged() throws {
        let inbox = TemporaryFolder("inbox")
        var scanner = InboxScanner(inbox: inbox.path, settle: 5)
        try inbox.write("a.bin", text: "one")
        try inbox.write(".hidden", text: "x")
        try inbox.write("b.part", text: "x")
        try scanner.rescan(now: 100)
        #expect(Array(scanner.candidates.keys) == ["a.bin"])
        #expect(scanner.examine(now: 100).isEmpty)
        #expect(scanner.nextCheck == 105)
        #expect(scanner.examine(now: 104).isEmpty)
        // Changed at 104: the window starts again.
        try inbox.write("a.bin", text: "one two")
        scanner.touch("a.bin", movedIn: false, now: 104)
        #expect(scanner.examine(now: 104).isEmpty)
        #expect(scanner.examine(now: 108.9).isEmpty)
        #expect(scanner.examine(now: 109) == [.ready("a.bin")])
        #expect(scanner.candidates.isEmpty)
    }

    @Test func anEntryRenamedInIsReadyAtOnceUnlessTheDaemonPutItBack() throws {
        let inbox = TemporaryFolder("inbox")
        var scanner = InboxScanner(inbox: inbox.path, settle: 60)
        try inbox.write("m.bin", text: "x")
        scanner.touch("m.bin", movedIn: true, now: 0)
        #expect(scanner.examine(now: 0) == [.ready("m.bin")])

        scanner.hold("m.bin", seconds: 2, now: 10)
        scanner.touch("m.bin", movedIn: true, now: 10)  // the event of our own rename back
        #expect(scanner.examine(now: 10).isEmpty)
        #expect(scanner.examine(now: 12).isEmpty)  // held, and now it must settle like any copy
        #expect(scanner.examine(now: 72) == [.ready("m.bin")])
    }

    @Test func aStillArrivingEntryIsDeferredAndSaidOnce() throws {
        let inbox = TemporaryFolder("inbox")
        var scanner = InboxScanner(inbox: inbox.path, settle: 1)
        let whole = Data(safetensorsBytes(floats: 32))
        try whole.prefix(whole.count - 8).write(to: URL(fileURLWithPath: inbox.path + "/w.safetensors"))
        scanner.touch("w.safetensors", movedIn: true, now: 0)
        guard case .deferred(name: "w.safetensors", reason: _)? = scanner.examine(now: 0).first else {
            Issue.record("not deferred")
            return
        }
        #expect(scanner.examine(now: 1).isEmpty)  // same reason: not logged again
        #expect(scanner.examine(now: 2).isEmpty)
        try whole.write(to: URL(fileURLWithPath: inbox.path + "/w.safetensors"))
        #expect(scanner.examine(now: 3).isEmpty)  // changed: settles again
        #expect(scanner.examine(now: 4) == [.ready("w.safetensors")])
    }

    @Test func vanishedEntriesAreForgotten() throws {
        let inbox = TemporaryFolder("inbox")
        var scanner = InboxScanner(inbox: inbox.path, settle: 1)
        try inbox.write("gone.bin", text: "x")
        try scanner.rescan(now: 0)
        try FileManager.default.removeItem(atPath: inbox.path + "/gone.bin")
        #expect(scanner.examine(now: 5).isEmpty)
        #expect(scanner.candidates.isEmpty)
    }

    /// A copy that stops half-way is reported as stalled once, after `stalledAfter` seconds without a
    /// change, with what is missing; it stays a candidate (never failed), and a change clears it.
    @Test func anIncompleteEntryThatStopsChangingIsReportedStalledOnce() throws {
        let inbox = TemporaryFolder("inbox")
        var scanner = InboxScanner(inbox: inbox.path, settle: 5)
        scanner.stalledAfter = 60
        // A GGUF cut inside its header: still arriving.
        try Data([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 1]).write(to: URL(fileURLWithPath: inbox.path + "/m.gguf"))
        try scanner.rescan(now: 0)
        #expect(scanner.examine(now: 0).isEmpty)
        guard case .deferred(name: "m.gguf", reason: _)? = scanner.examine(now: 5).first else {
            Issue.record("not deferred")
            return
        }
        #expect(scanner.examine(now: 30).isEmpty)
        let decisions = scanner.examine(now: 61)
        guard case .stalled(let entry)? = decisions.first else { Issue.record("not stalled: \(decisions)"); return }
        #expect(entry.name == "m.gguf")
        #expect(entry.reason.contains("ends early"))
        #expect(entry.unchangedSeconds >= 60)
        #expect(scanner.stalled(now: 61).map(\.name) == ["m.gguf"])
        #expect(scanner.examine(now: 200).isEmpty)  // said once
        #expect(scanner.candidates["m.gguf"] != nil)  // still waited for
        // It changes again: no longer stalled.
        try Data([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 1, 2]).write(to: URL(fileURLWithPath: inbox.path + "/m.gguf"))
        scanner.touch("m.gguf", movedIn: false, now: 201)
        _ = scanner.examine(now: 201)
        #expect(scanner.stalled(now: 201).isEmpty)
    }
}
