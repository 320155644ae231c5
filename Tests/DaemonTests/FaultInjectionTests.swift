import BinaryIO
import Foundation
import Pipeline
import Synchronization
import Testing
@testable import Daemon

/// Sees every `FileSystem` call under one drop root: records them, fails a chosen one, reports a
/// chosen free space, and stands in for the inotify read.
final class FaultPlan: @unchecked Sendable {
    struct Call: Equatable, CustomStringConvertible {
        var kind: FileSystemCall
        /// The path with ROOT, the job id, temporary-file suffixes and the input's stem replaced,
        /// so calls of different jobs compare equal.
        var path: String
        var description: String { "\(kind.rawValue) \(path)" }
    }

    private struct State {
        var calls: [Call] = []
        var failAt: Int?
        var code: Int32 = 0
        var fired: Call?
        var stem = ""
        var freeBytes: [Int] = []
        var inotify: [FileSystemFault?] = []
        var inotifyReads = 0
        var persistent: (kind: FileSystemCall, pathContains: String, code: Int32)?
    }

    let root: String
    private let state = Mutex(State())
    private var installation: FileSystemFaults.Installation?

    init(root: String) {
        self.root = root
        installation = FileSystemFaults.install(under: root) { [weak self] call, path in self?.decide(call, path) }
    }

    deinit { installation?.remove() }

    /// Starts counting the calls of the job of `input` afresh; `failAt` (0-based) gets `code`.
    func arm(input: String, failAt: Int? = nil, code: Int32 = 0) {
        state.withLock {
            $0.calls = []
            $0.failAt = failAt
            $0.code = code
            $0.fired = nil
            $0.stem = DropFolder.stem(input)
        }
    }

    /// Every matching call fails with `code` until `clearPersistent()`.
    func failEvery(_ kind: FileSystemCall, pathContains: String, code: Int32) {
        state.withLock { $0.persistent = (kind, pathContains, code) }
    }

    func clearPersistent() { state.withLock { $0.persistent = nil } }

    /// statvfs answers these free-byte counts, one per call, then the real ones.
    func reportFree(_ bytes: [Int]) { state.withLock { $0.freeBytes = bytes } }

    /// The inotify reads answer these, one per read; the last one stays (nil: a real read).
    func inotify(_ faults: [FileSystemFault?]) { state.withLock { $0.inotify = faults } }

    var calls: [Call] { state.withLock { $0.calls } }
    var fired: Call? { state.withLock { $0.fired } }
    var inotifyReads: Int { state.withLock { $0.inotifyReads } }

    private func decide(_ kind: FileSystemCall, _ path: String) -> FileSystemFault? {
        state.withLock { state in
            if kind == .inotifyRead {
                state.inotifyReads += 1
                guard let next = state.inotify.first else { return nil as FileSystemFault? }
                if state.inotify.count > 1 { state.inotify.removeFirst() }
                return next
            }
            if let persistent = state.persistent, persistent.kind == kind, path.contains(persistent.pathContains) {
                return .error(persistent.code)
            }
            // progress.json is rewritten on a timer (with an fsync of state/ after each rename), so
            // its calls are not the same in every run.
            if path.contains("progress.json") || path == root + "/state" { return nil }
            let call = Call(kind: kind, path: normalize(path, stem: state.stem))
            let index = state.calls.count
            state.calls.append(call)
            if kind == .statvfs, !state.freeBytes.isEmpty { return .freeBytes(state.freeBytes.removeFirst()) }
            if index == state.failAt {
                state.fired = call
                return .error(state.code)
            }
            return nil
        }
    }

    private func normalize(_ path: String, stem: String) -> String {
        var parts = String(path.dropFirst(root.count)).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for index in parts.indices {
            if index > 0 && parts[index - 1] == "work" { parts[index] = "ID" }
            if let range = parts[index].range(of: ".tmp-") { parts[index] = String(parts[index][..<range.lowerBound]) + ".tmp" }
            if !stem.isEmpty { parts[index] = parts[index].replacingOccurrences(of: stem, with: "NAME") }
        }
        return "ROOT" + parts.joined(separator: "/")
    }
}

/// Counts the attempts an executor runs.
final class CountingExecutor: JobExecutor, Sendable {
    let inner: any JobExecutor
    let runs = Atomic<Int>(0)
    init(_ inner: any JobExecutor) { self.inner = inner }

    func plannedOutputBytes(for request: JobRequest) throws -> Int? { try inner.plannedOutputBytes(for: request) }

    func run(_ request: JobRequest) throws -> JobOutcome {
        runs.add(1, ordering: .relaxed)
        return try inner.run(request)
    }
}

final class OutObserver: Sendable {
    let problems = Mutex<[String]>([])
    let running = Atomic<Bool>(true)
}

/// Faults injected into the daemon's file-system calls, with real inotify and the inspect-only
/// executor running in this process. Nested in the integration suite so that it is serialized
/// with the other tests using libinotifytools' one per-process session.
extension DaemonIntegrationTests {
    @Suite struct FaultInjection {
        static func settings() -> DaemonSettings {
            var settings = DaemonHarness.settings(settle: 0.2)
            settings.rescanSeconds = 0.5
            settings.retryBackoffSeconds = 0.05
            return settings
        }

        static let sample = (try? Data(contentsOf: URL(fileURLWithPath: DaemonHarness.samplePath))) ?? Data()

        static let removeWork = FaultPlan.Call(kind: .fsync, path: "ROOT/work")
        static let syncLedger = FaultPlan.Call(kind: .fsync, path: "ROOT/state/ledger.jsonl")

        /// Waits until the input named `input` has left the inbox and work/ for done/ or failed/,
        /// and, with `plan`, until the job's last call has been made, so that the next job's count
        /// starts clean: the fsync of work/ after removing work/ID or, when the job's last ledger
        /// record could not be written (`ledgerRetry`), the ledger's fsync at the next rescan.
        static func waitForEnd(_ harness: DaemonHarness, _ input: String, _ what: String, plan: FaultPlan? = nil,
                               ledgerRetry: Bool = false) throws {
            try harness.waitFor(what, timeout: 20) {
                guard (harness.list(harness.folder.done).contains(input)
                    || harness.list(harness.folder.failed).contains(DropFolder.stem(input)))
                    && harness.list(harness.folder.work).isEmpty && !harness.list(harness.folder.inbox).contains(input)
                else { return false }
                guard let plan else { return true }
                let calls = plan.calls
                return ledgerRetry ? calls.last == syncLedger && calls.contains(removeWork) : calls.last == removeWork
            }
            if plan != nil {
                #expect(harness.ledger().last { $0.input == input }?.state.isFinished == true, "\(what): the ledger lacks the end")
            }
        }

        /// The manifest with the input's name replaced, to compare jobs of different inputs.
        static func manifest(_ harness: DaemonHarness, _ input: String) -> String? {
            let path = harness.folder.out + "/" + DropFolder.stem(input) + "/manifest.json"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return text.replacingOccurrences(of: input, with: "INPUT")
        }

        /// Nothing in out/ but complete folders (exactly manifest.json, which parses), and no
        /// temporary files left anywhere a user looks.
        static func checkNothingPartial(_ harness: DaemonHarness, expecting count: Int? = nil) -> [String] {
            var problems: [String] = []
            for area in [harness.folder.out, harness.folder.done, harness.folder.failed] {
                for name in harness.list(area) where name.hasPrefix(".") { problems.append("\(area)/\(name) left behind") }
            }
            for name in harness.list(harness.folder.out) {
                let folder = harness.folder.out + "/" + name
                let files = harness.list(folder)
                if count.map({ files.count != $0 }) ?? (files != ["manifest.json"]) || !files.contains("manifest.json") {
                    problems.append("out/\(name) holds \(files)")
                }
                let data = (try? Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))) ?? Data()
                if (try? JSONSerialization.jsonObject(with: data)) == nil { problems.append("out/\(name)/manifest.json does not parse") }
            }
            return problems
        }

        /// A drop root on tmpfs where there is one: the faults are injected, so real fsyncs (a few
        /// ms each on a disk, dozens per job) would only slow the hundreds of jobs down.
        static func harness() -> DaemonHarness {
            access("/dev/shm", W_OK) == 0 ? DaemonHarness(base: "/dev/shm/") : DaemonHarness()
        }

        /// Runs one clean job of `content` dropped as PREFIX.gguf and records its calls, then the
        /// same job once per call, that call failing with EINTR, then ENOSPC, then EIO. `check` judges
        /// each job's end; out/ is watched throughout for anything incomplete.
        static func failEveryCall(_ harness: DaemonHarness, _ plan: FaultPlan, prefix: String, content: Data,
                                  check: (_ input: String, _ code: Int32, _ context: String) throws -> Void) throws {
            plan.arm(input: prefix + ".gguf")
            try harness.dropByRename(prefix + ".gguf") { try content.write(to: URL(fileURLWithPath: $0)) }
            try waitForEnd(harness, prefix + ".gguf", "the clean run", plan: plan)
            let clean = plan.calls
            #expect(clean.count >= 15, "calls of a clean job: \(clean)")
            let lastLedgerWrite = try #require(clean.lastIndex { $0.kind == .write && $0.path == "ROOT/state/ledger.jsonl" })
            try check(prefix + ".gguf", 0, "clean run")

            let observer = OutObserver()
            let watcher = Thread {
                while observer.running.load(ordering: .relaxed) {
                    let problems = checkNothingPartial(harness).filter { !$0.contains(" left behind") }
                    if !problems.isEmpty { observer.problems.withLock { $0.append(contentsOf: problems) } }
                    Thread.sleep(forTimeInterval: 0.002)
                }
            }
            watcher.start()
            defer { observer.running.store(false, ordering: .relaxed) }

            for (code, label) in [(EINTR, "eintr"), (ENOSPC, "enospc"), (EIO, "eio")] {
                for k in clean.indices {
                    let input = "\(prefix)-\(k)-\(label).gguf"
                    plan.arm(input: input, failAt: k, code: code)
                    try harness.dropByRename(input) { try content.write(to: URL(fileURLWithPath: $0)) }
                    let context = "\(label) at call \(k) (\(clean[k]))"
                    let ledgerRetry = code != EINTR && k >= lastLedgerWrite && clean[k].path == "ROOT/state/ledger.jsonl"
                    try waitForEnd(harness, input, "\(input) to end (\(context))", plan: plan, ledgerRetry: ledgerRetry)
                    let calls = plan.calls.map(\.description).joined(separator: "\n")
                    #expect(plan.fired == clean[k], "\(context): the calls differ from the clean run's:\n\(calls)")
                    try check(input, code, context)
                    #expect(checkNothingPartial(harness) == [], "\(context)")
                }
            }
            observer.running.store(false, ordering: .relaxed)
            #expect(observer.problems.withLock { $0 } == [])
        }

        @Test func everyCallOfAPublishedJobFailedInTurn() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings())
            defer { try? harness.stop() }
            var expected: String?
            try Self.failEveryCall(harness, plan, prefix: "good", content: Self.sample) { input, code, context in
                let stem = DropFolder.stem(input)
                let record = harness.ledger().last { $0.input == input }
                // One failed call costs at most one attempt; an interrupted one costs nothing.
                #expect(record?.state == .done, "\(context): \(harness.list(harness.folder.failed))")
                #expect(record?.attempts ?? 9 <= (code == EINTR || code == 0 ? 1 : 2), "\(context)")
                #expect(harness.list(harness.folder.out).filter { $0 == stem || $0.hasPrefix(stem + "-") } == [stem],
                        "\(context): published exactly once")
                let manifest = Self.manifest(harness, input)
                if expected == nil { expected = manifest }
                #expect(manifest != nil && manifest == expected, "\(context): the artifact differs from the clean run's")
                #expect((try? Data(contentsOf: URL(fileURLWithPath: harness.folder.done + "/" + input))) == Self.sample,
                        "\(context): the input changed")
            }
        }

        @Test func everyCallOfAQuarantinedJobFailedInTurn() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings())
            defer { try? harness.stop() }
            let garbage = Data("this is not a GGUF file".utf8)
            try Self.failEveryCall(harness, plan, prefix: "bad", content: garbage) { input, code, context in
                let failed = harness.folder.failed + "/" + DropFolder.stem(input)
                #expect(harness.list(failed) == [input, "error.json"].sorted(), "\(context)")
                #expect((try? Data(contentsOf: URL(fileURLWithPath: failed + "/" + input))) == garbage, "\(context): the input changed")
                let report = (try? Data(contentsOf: URL(fileURLWithPath: failed + "/error.json")))
                    .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                // The verdict is the input's, whatever call failed on the way.
                #expect((report?["error"] as? [String: Any])?["type"] as? String == "GGUFError", "\(context): \(String(describing: report))")
                #expect(harness.list(harness.folder.failed).filter { $0.hasPrefix(DropFolder.stem(input)) } == [DropFolder.stem(input)],
                        "\(context): quarantined exactly once")
                #expect(!harness.list(harness.folder.out).contains(DropFolder.stem(input)), "\(context)")
                if code == EINTR || code == 0 {
                    #expect(harness.ledger().last { $0.input == input }?.attempts == 1, "\(context)")
                }
            }
        }

        /// The same with the real pipeline in the daemon's process (`isolate_jobs: false`): a Hugging
        /// Face folder converted and quantized to Q8_0, its GGUF and manifest written by GGUFWriter and
        /// AtomicFileWriter. One job per call, the errno taking turns (EINTR, ENOSPC, EIO).
        @Test func everyCallOfAPipelineJobFailedInTurn() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            var config = PipelineConfig.single(mix: .q8_0)
            config.evaluation = nil
            try harness.start(PipelineJobExecutor(config: config, version: "test"), settings: Self.settings())
            defer { try? harness.stop() }
            let model = DaemonHarness.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-llama3").path
            let originals = try FileManager.default.contentsOfDirectory(atPath: model).sorted()
            func drop(_ name: String) throws {
                try harness.dropByRename(name) { try FileManager.default.copyItem(atPath: model, toPath: $0) }
            }

            plan.arm(input: "llama")
            try drop("llama")
            try Self.waitForEnd(harness, "llama", "the clean pipeline run", plan: plan)
            let clean = plan.calls
            let artifacts = harness.list(harness.folder.out + "/llama")
            #expect(artifacts.contains("manifest.json") && artifacts.contains { $0.hasSuffix(".gguf") }, "\(artifacts)")
            let gguf = try #require(artifacts.first { $0.hasSuffix(".gguf") })
            let expected = try Data(contentsOf: URL(fileURLWithPath: harness.folder.out + "/llama/" + gguf))
            #expect(clean.filter { $0.kind == .write && $0.path.hasSuffix(".gguf.tmp") }.count >= 1, "\(clean)")
            let lastLedgerWrite = try #require(clean.lastIndex { $0.kind == .write && $0.path == "ROOT/state/ledger.jsonl" })

            // The folder's name is the model's general.name: every job drops it as `llama`, and the
            // previous job's output and input are moved out of the way first.
            let kept = harness.root + "/kept"
            try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
            func keep(_ k: Int) throws {
                try FileManager.default.moveItem(atPath: harness.folder.out + "/llama", toPath: kept + "/out-\(k)")
                try FileManager.default.moveItem(atPath: harness.folder.done + "/llama", toPath: kept + "/done-\(k)")
            }
            try keep(-1)
            for k in clean.indices {
                let (code, label) = [(EINTR, "eintr"), (ENOSPC, "enospc"), (EIO, "eio")][k % 3]
                plan.arm(input: "llama", failAt: k, code: code)
                try drop("llama")
                let context = "\(label) at call \(k) (\(clean[k]))"
                let ledgerRetry = code != EINTR && k >= lastLedgerWrite && clean[k].path == "ROOT/state/ledger.jsonl"
                try Self.waitForEnd(harness, "llama", "the job to end (\(context))", plan: plan, ledgerRetry: ledgerRetry)
                #expect(plan.fired == clean[k], "\(context): \(plan.calls)")
                let record = harness.ledger().last { $0.input == "llama" }
                #expect(record?.state == .done && (record?.attempts ?? 9) <= (code == EINTR ? 1 : 2), "\(context)")
                #expect(harness.list(harness.folder.out) == ["llama"], "\(context): published exactly once")
                #expect(harness.list(harness.folder.out + "/llama") == artifacts, "\(context)")
                #expect((try? Data(contentsOf: URL(fileURLWithPath: harness.folder.out + "/llama/" + gguf))) == expected,
                        "\(context): the GGUF differs from the clean run's")
                #expect(originals.allSatisfy { FileManager.default.contentsEqual(atPath: model + "/" + $0, andPath: harness.folder.done + "/llama/" + $0) }
                        && harness.list(harness.folder.done + "/llama") == originals, "\(context): the input changed")
                #expect(Self.checkNothingPartial(harness, expecting: artifacts.count) == [], "\(context)")
                try keep(k)
            }
        }

        @Test func aDecidedJobIsNeverRunAgainWhileItsLastMovesFail() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            let executor = CountingExecutor(InspectOnlyExecutor(version: "test"))
            try harness.start(executor, settings: Self.settings())
            defer { try? harness.stop() }

            // Inputs cannot leave work/ID/input/: neither to done/ nor beside error.json.
            plan.failEvery(.rename, pathContains: "/input/", code: EIO)
            try harness.dropSample(as: "good.gguf")
            try harness.dropByRename("bad.gguf") { try Data("not a GGUF file".utf8).write(to: URL(fileURLWithPath: $0)) }
            try harness.waitFor("both moves to fail twice") {
                harness.log.filter { $0.contains("ERROR done: good.gguf: published to out/good, but cannot move the input to done/") }.count >= 2
                    && harness.log.filter { $0.contains("ERROR fail: bad.gguf: cannot move it to failed/") }.count >= 2
            }
            #expect(harness.list(harness.folder.out) == ["good"])
            #expect(harness.list(harness.folder.work).count == 2, "both inputs wait in work/")
            #expect(harness.list(harness.folder.failed).isEmpty && harness.list(harness.folder.done).isEmpty)

            plan.clearPersistent()
            try Self.waitForEnd(harness, "good.gguf", "good.gguf to reach done/")
            try Self.waitForEnd(harness, "bad.gguf", "bad.gguf to reach failed/")
            #expect(executor.runs.load(ordering: .relaxed) == 2, "each job ran once")
            #expect(harness.list(harness.folder.out) == ["good"])
            #expect(harness.list(harness.folder.failed + "/bad") == ["bad.gguf", "error.json"])
            #expect((try? Data(contentsOf: URL(fileURLWithPath: harness.folder.done + "/good.gguf"))) == Self.sample)
            #expect(Dictionary(harness.ledger().map { ($0.input, $0.state) }, uniquingKeysWith: { $1 }) == ["good.gguf": .done, "bad.gguf": .failed])
            #expect(Self.checkNothingPartial(harness) == [])
        }

        @Test func aFullDiskIsRefusedAndRetriedThenTheInputIsQuarantined() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings())
            defer { try? harness.stop() }

            // Full for two attempts, then space again: done on the third.
            plan.reportFree([0, 0])
            try harness.dropSample(as: "later.gguf")
            try Self.waitForEnd(harness, "later.gguf", "later.gguf to finish")
            #expect(harness.list(harness.folder.out) == ["later"])
            let later = harness.ledger().last { $0.input == "later.gguf" }
            #expect(later?.state == .done && later?.attempts == 3)
            #expect(harness.log.filter { $0.contains("retry: later.gguf: ") && $0.contains("only 0.0 MiB are free under \(harness.root)") }.count == 2)

            // Full for good: refused at every attempt, then quarantined with the reason.
            plan.reportFree([0, 0, 0])
            try harness.dropSample(as: "never.gguf")
            try Self.waitForEnd(harness, "never.gguf", "never.gguf to be quarantined")
            #expect(harness.list(harness.folder.failed + "/never") == ["error.json", "never.gguf"].sorted())
            #expect(try Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/never/never.gguf")) == Self.sample)
            let report = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/never/error.json"))) as? [String: Any]
            let error = report?["error"] as? [String: Any]
            #expect(error?["type"] as? String == "InsufficientSpace")
            #expect(error?["code"] as? String == "ENOSPC")
            #expect((error?["message"] as? String)?.hasPrefix("after 3 attempts: the job needs 1.0 MiB for its output") == true, "\(String(describing: error))")
            #expect((error?["hint"] as? String)?.contains("free space") == true)
            #expect(!harness.list(harness.folder.out).contains("never"))
            #expect(Self.checkNothingPartial(harness) == [])
        }

        @Test func persistentWriteErrorsQuarantineTheInputAndStateWritesOnlyWarn() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings())
            defer { try? harness.stop() }

            // Every write of the artifact fails: three attempts, then failed/ with the I/O error.
            plan.failEvery(.write, pathContains: "/out/.manifest.json", code: EIO)
            try harness.dropSample(as: "broken.gguf")
            try Self.waitForEnd(harness, "broken.gguf", "broken.gguf to be quarantined")
            plan.clearPersistent()
            #expect(harness.list(harness.folder.failed + "/broken") == ["broken.gguf", "error.json"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/broken/broken.gguf")) == Self.sample)
            let report = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/broken/error.json"))) as? [String: Any]
            let error = report?["error"] as? [String: Any]
            #expect(error?["type"] as? String == "FileError")
            #expect(error?["kind"] as? String == "transient")
            #expect(report?["attempts"] as? Int == 3)
            let message = error?["message"] as? String ?? ""
            #expect(message.hasPrefix("after 3 attempts: ") && message.contains("manifest.json") && message.contains("cannot write: Input/output error"), "\(message)")
            #expect((error?["hint"] as? String)?.contains("gave up after 3 attempts") == true)
            #expect(!harness.list(harness.folder.out).contains("broken"))

            // The ledger and progress.json cannot be written: logged, and the job is unaffected.
            plan.failEvery(.write, pathContains: "/state/", code: EIO)
            try harness.dropSample(as: "fine.gguf")
            try Self.waitForEnd(harness, "fine.gguf", "fine.gguf to finish")
            #expect(harness.list(harness.folder.out).contains("fine"))
            #expect(harness.list(harness.folder.done).contains("fine.gguf"))
            #expect(harness.log.contains { $0.contains("cannot append to \(harness.folder.ledgerPath)") && $0.contains("Input/output error") })
            #expect(harness.ledger().last { $0.input == "fine.gguf" } == nil)
            // Once the disk takes writes again, the records it refused are written at the next rescan.
            plan.clearPersistent()
            try harness.waitFor("fine.gguf's records in the ledger") { harness.ledger().last { $0.input == "fine.gguf" }?.state == .done }
            let lines = (try? String(contentsOfFile: harness.folder.ledgerPath, encoding: .utf8))?.split(separator: "\n") ?? []
            #expect(lines.filter { $0.contains("\"fine.gguf\"") }.count == 3, "claimed, running and done: \(lines)")
            #expect(harness.log.contains { $0.contains("ledger: wrote 3 record(s) that could not be written before") })
            #expect(Self.checkNothingPartial(harness) == [])
        }

        @Test func anInputDroppedWhileInotifyOverflowsIsFoundByTheRescan() throws {
            let harness = Self.harness()
            let plan = FaultPlan(root: harness.root)
            var settings = Self.settings()
            settings.rescanSeconds = 3600  // no periodic rescan: only the overflow's can find it
            plan.inotify([.inotifyLoss])
            try harness.start(InspectOnlyExecutor(version: "test"), settings: settings)
            defer { try? harness.stop() }
            try harness.waitFor("the watcher to read events") { plan.inotifyReads > 1 }

            try harness.dropSample(as: "unseen.gguf")
            // Its events are lost: it stays in the inbox for as long as the test cares to look.
            let deadline = Date().addingTimeInterval(1.5)
            while Date() < deadline {
                #expect(harness.list(harness.folder.inbox) == ["unseen.gguf"])
                #expect(harness.list(harness.folder.work).isEmpty)
                Thread.sleep(forTimeInterval: 0.1)
            }

            plan.inotify([.inotifyOverflow, nil])
            try Self.waitForEnd(harness, "unseen.gguf", "unseen.gguf to be found after the overflow")
            #expect(harness.list(harness.folder.out) == ["unseen"])
            #expect(harness.log.contains { $0.contains("inotify queue overflowed; rescanning the inbox") })
            // Events flow again afterwards: a renamed-in drop is claimed without waiting for a rescan.
            try harness.dropSample(as: "after.gguf")
            try Self.waitForEnd(harness, "after.gguf", "after.gguf to finish")
            #expect(harness.list(harness.folder.out) == ["after", "unseen"])
        }
    }
}

/// The seam itself, on the artifact writer alone.
@Suite struct FileSystemSeamTests {
    static func folder() throws -> String {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm/" : NSTemporaryDirectory()
        let path = base + "quantd-seam-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let content: [UInt8] = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    /// 9 MiB through AtomicFileWriter in three pieces: with its 4 MiB buffer, three writes, then
    /// the fsync, the rename and the folder's fsync.
    static func writeFile(_ path: String) throws {
        let writer = try AtomicFileWriter(destination: path)
        for _ in 0..<3 { try writer.write(content) }
        try writer.commit()
    }

    @Test func theArtifactWriterLeavesTheWholeFileOrNothing() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = Mutex<(calls: [FileSystemCall], failAt: Int, code: Int32)>(([], -1, 0))
        let installation = FileSystemFaults.install(under: root) { call, _ in
            counter.withLock { state in
                state.calls.append(call)
                return state.calls.count - 1 == state.failAt ? .error(state.code) : nil
            }
        }
        defer { installation.remove() }
        try Self.writeFile(root + "/clean.bin")
        let clean = counter.withLock { $0.calls }
        #expect(clean == [.write, .write, .write, .fsync, .rename, .fsync])
        let expected = try Data(contentsOf: URL(fileURLWithPath: root + "/clean.bin"))

        for code in [EINTR, ENOSPC, EIO] {
            for k in clean.indices {
                let name = "f-\(code)-\(k).bin"
                counter.withLock { $0 = ([], k, code) }
                let result = Result { try Self.writeFile(root + "/" + name) }
                let files = try FileManager.default.contentsOfDirectory(atPath: root)
                // No temporary file is ever left behind, whatever failed.
                #expect(!files.contains { $0.hasPrefix(".") }, "\(code) at \(k): \(files)")
                if code == EINTR {
                    #expect((try? result.get()) != nil, "EINTR at call \(k) is retried")
                }
                if case let .failure(error) = result {
                    #expect((error as? FileError)?.errno == code, "\(code) at \(k): \(error)")
                    // Only the folder's fsync comes after the rename: the file is whole or absent.
                    #expect(files.contains(name) == (clean[k] == .fsync && k == clean.count - 1), "\(code) at \(k)")
                }
                if files.contains(name) {
                    #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/" + name)) == expected, "\(code) at \(k)")
                }
            }
        }
    }

    @Test func anInjectorSeesOnlyItsOwnFolder() throws {
        let mine = try Self.folder()
        let other = try Self.folder()
        defer {
            try? FileManager.default.removeItem(atPath: mine)
            try? FileManager.default.removeItem(atPath: other)
        }
        let installation = FileSystemFaults.install(under: mine) { _, _ in .error(EIO) }
        #expect(throws: FileError.self) { try Self.writeFile(mine + "/x.bin") }
        try Self.writeFile(other + "/x.bin")
        #expect(FileSystem.freeBytes(mine) == nil)
        #expect((FileSystem.freeBytes(other) ?? 0) > 0)
        installation.remove()
        try Self.writeFile(mine + "/x.bin")
        #expect(FileManager.default.fileExists(atPath: mine + "/x.bin"))
    }
}
