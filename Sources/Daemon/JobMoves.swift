import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// The renames that move a job through the drop folder, each made durable with folder fsyncs.
///
/// Order matters for crash safety. An input is always in exactly one place: inbox/, work/ID/input/,
/// work/ID/failed/, out/'s neighbour done/, or failed/. Artifacts reach out/ by one rename of a
/// complete folder, after `work/ID/published` records that the rename is under way. Whatever the
/// moment of a kill -9, `Recovery` can tell from the folders alone what is left to do.
///
/// A move whose rename succeeded has happened: when an fsync after it fails, the move stands and
/// `warn` says so. Only a power cut before the disk recovers could undo it, and the undone move
/// leaves a state `Recovery` already handles. The fsyncs before a rename (the artifacts, the
/// published marker, error.json) are not optional: their failure fails the move.
struct JobMoves: Sendable {
    let folder: DropFolder
    var warn: @Sendable (String) -> Void = { _ in }

    /// fsyncs the folders a rename changed; a failure is reported, not thrown (see above).
    private func syncAfterMove(_ folders: String...) {
        for path in folders {
            do {
                try FileSystem.syncFolder(path)
            } catch {
                warn("\(error); the move stands (a crash before the disk recovers may undo it; start-up recovery then redoes that step)")
            }
        }
    }

    /// Renames `inbox/NAME` to `work/ID/input/NAME` and returns ID, or nil when the entry vanished.
    func claim(_ name: String, now: Double) throws -> String? {
        var id = ""
        for _ in 0..<100 {
            let random = String(UInt16.random(in: 0...UInt16.max), radix: 16)
            id = Clock.compactStamp(now) + "-" + String(repeating: "0", count: 4 - random.count) + random
            do {
                try FileSystem.createNewFolder(folder.work + "/" + id)
                break
            } catch let error as FileError where error.errno == EEXIST {
                continue
            }
        }
        let job = folder.job(id)
        try FileSystem.makeDirectory(job.input)
        do {
            try FileSystem.rename(folder.inbox + "/" + name, job.input + "/" + name, operation: "claim (rename into \(job.input))")
        } catch {
            try? FileSystem.removeTree(job.path)
            if (error as? FileError)?.errno == ENOENT { return nil }
            throw error
        }
        syncAfterMove(job.input, folder.inbox, job.path, folder.work)
        return id
    }

    /// Empties the job's output and scratch folders before an attempt, so every attempt (and every
    /// redo after a crash) starts from the same state.
    func prepareAttempt(_ id: String) throws {
        let job = folder.job(id)
        // An input already moved beside error.json goes back first: the folders must never lose it.
        for name in (try? FileSystem.list(job.failing)) ?? [] where name != "error.json" && !name.hasPrefix(".") {
            try FileSystem.rename(job.failing + "/" + name, job.input + "/" + name)
        }
        for path in [job.out, job.scratch, job.publishedMarker, job.failing] { try FileSystem.removeTree(path) }
        try FileSystem.makeDirectory(job.out)
        try FileSystem.makeDirectory(job.scratch)
        try FileSystem.sync(job.path)
    }

    /// Renames the finished `work/ID/out` to `out/STEM` (or `STEM-2`, ...) and returns that name.
    func publish(_ id: String, input: String) throws -> String {
        let job = folder.job(id)
        try FileSystem.sync(job.out)
        try FileSystem.writeAtomically(job.publishedMarker, DropFolder.stem(input) + "\n")
        let name = try FileSystem.moveWithoutReplacing(job.out, into: folder.out, name: DropFolder.stem(input))
        syncAfterMove(folder.out, job.path)
        return name
    }

    /// Moves the processed input to `done/` (returning its name there) or removes it.
    func retireInput(_ id: String, input: String, keep: Bool) throws -> String? {
        let path = folder.job(id).input + "/" + input
        guard FileSystem.exists(path) else { return nil }
        if keep {
            let name = try FileSystem.moveWithoutReplacing(path, into: folder.done, name: input)
            syncAfterMove(folder.done, folder.job(id).input)
            return name
        }
        try FileSystem.removeTree(path)
        return nil
    }

    /// Moves the untouched input with its error.json to `failed/STEM/` and returns STEM (suffixed
    /// when taken). error.json is written first, so a failed/ folder is never without it.
    func fail(_ id: String, input: String, report: JSONValue) throws -> String {
        let job = folder.job(id)
        try FileSystem.makeDirectory(job.failing)
        try FileSystem.writeAtomically(job.failing + "/error.json", report.serialized(pretty: true))
        let source = job.input + "/" + input
        if FileSystem.exists(source) {
            try FileSystem.rename(source, job.failing + "/" + input)
            syncAfterMove(job.failing, job.input)
        }
        let name = try FileSystem.moveWithoutReplacing(job.failing, into: folder.failed, name: DropFolder.stem(input))
        syncAfterMove(folder.failed, job.path)
        return name
    }

    /// Puts an input that turned out to be still arriving back into the inbox, under its name
    /// (suffixed if a new entry took that name meanwhile), and returns the name.
    func returnToInbox(_ id: String, input: String) throws -> String {
        let name = try FileSystem.moveWithoutReplacing(folder.job(id).input + "/" + input, into: folder.inbox, name: input)
        syncAfterMove(folder.inbox, folder.job(id).input)
        return name
    }

    /// Removes `work/ID` once nothing in it is needed.
    func remove(_ id: String) throws {
        try FileSystem.removeTree(folder.job(id).path)
        syncAfterMove(folder.work)
    }

    /// The input's name inside `work/ID/input/` (one entry, placed there by `claim`).
    func inputName(_ id: String) -> String? {
        (try? FileSystem.list(folder.job(id).input))?.first
    }

    /// The error.json document: the typed error plus what a person needs to find the job again.
    func errorReport(_ failure: JobFailure, record: JobRecord, version: String, now: Double) -> JSONValue {
        jsonObject([
            ("error", failure.json()),
            ("input", .string(record.input)),
            ("job", .string(record.id)),
            ("attempts", .number(JSONNumber(record.attempts))),
            ("failed_at", .string(Clock.iso8601(now))),
            ("quantd_version", .string(version)),
        ])
    }

    /// Removes temporaries a crash may have left where users look: hidden `.NAME.tmp-*` files of
    /// AtomicFileWriter (the ledger's, progress.json's, error.json's and the metrics file's).
    func removeStrayTemporaries(metricsFile: String?) {
        for area in [folder.out, folder.failed, folder.done, folder.state] {
            for name in (try? FileSystem.list(area)) ?? [] where name.hasPrefix(".") && name.contains(".tmp-") {
                try? FileSystem.removeTree(area + "/" + name)
            }
        }
        // The metrics file may live outside ROOT (a node_exporter folder): only its own temporaries.
        if let metricsFile, let slash = metricsFile.lastIndex(of: "/") {
            let area = String(metricsFile[..<slash])
            let prefix = "." + metricsFile[metricsFile.index(after: slash)...] + ".tmp-"
            for name in (try? FileSystem.list(area)) ?? [] where name.hasPrefix(prefix) {
                try? FileSystem.removeTree(area + "/" + name)
            }
        }
    }
}
