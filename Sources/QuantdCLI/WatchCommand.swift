import ArgumentParser
import BinaryIO
import Daemon
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// `quantd watch --root DIR`: the drop-folder daemon (docs/daemon.md).
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch ROOT/inbox and process every model dropped there (the quantd daemon).",
        discussion: """
            Creates ROOT/{inbox,work,out,failed,done,state} when missing. Settings come from the \
            "daemon" object of --pipeline FILE. SIGTERM/SIGINT stop after running jobs finish \
            (within grace_seconds); SIGHUP reloads the pipeline. Each job runs the pipeline \
            (default: Q4_K_M, Q6_K, Q8_0) and publishes out/NAME/ with the artifacts and manifest.json. \
            Exit status: 0 stopped by a signal; 69 ROOT is owned by another quantd; 73 ROOT (or the \
            metrics_listen endpoint) cannot be set up; 78 invalid settings.
            """)

    @Option(name: .long, help: "The drop folder (created when missing).")
    var root: String

    @Option(name: .long, help: "Pipeline JSON file; its \"daemon\" object holds the daemon settings.")
    var pipeline: String?

    @Option(name: .customLong("log-format"), help: "Log lines on stderr: human or json.")
    var logFormat: DaemonLog.Format = .human

    func run() throws {
        var settings = DaemonSettings()
        var pipelineConfig = PipelineConfig.defaultDaemonPipeline
        if let pipeline {
            do {
                pipelineConfig = try PipelineConfig.load(file: pipeline)
            } catch {
                throw CLIFailure(message: "\(error)", hint: "check it with `quantd validate \(pipeline)`", exit: QuantdExit.badSettings).report()
            }
            do {
                settings = try DaemonSettings.parse(pipeline: pipelineConfig, file: pipeline)
            } catch {
                throw CLIFailure(message: "\(error)", hint: "fix the \"daemon\" settings (docs/daemon.md lists them)",
                                 exit: QuantdExit.badSettings).report()
            }
        }
        let options = Daemon.Options(
            root: Self.absolute(root), settings: settings, pipelineFile: pipeline.map(Self.absolute),
            version: QuantdVersion.string, notifier: SystemdNotifier())
        // Each job as a Slurm job, or in its own process unless the settings say otherwise (isolate_jobs).
        let executor: any JobExecutor
        if case let .slurm(slurm) = settings.executor {
            do {
                executor = try SlurmJobExecutor(settings: slurm, pipelineFile: pipeline.map(Self.absolute), version: QuantdVersion.string)
            } catch {
                throw CLIFailure(message: "\(error)", hint: nil, exit: QuantdExit.badSettings).report()
            }
        } else if settings.isolateJobs {
            do {
                executor = try ChildProcessJobExecutor(pipelineFile: pipeline.map(Self.absolute), version: QuantdVersion.string)
            } catch {
                throw CLIFailure(message: "\(error)", hint: nil, exit: QuantdExit.badSettings).report()
            }
        } else {
            executor = PipelineJobExecutor(config: pipelineConfig, version: QuantdVersion.string)
        }
        let daemon = Daemon(options: options, executor: executor,
                            log: DaemonLog(format: logFormat))
        daemon.handleSignals()
        do {
            try daemon.run()
        } catch let held as RootLock.Held {
            throw CLIFailure(message: held.description, hint: nil, exit: QuantdExit.rootBusy).report()
        } catch let endpoint as MetricsEndpointError {
            throw CLIFailure(message: "cannot start: \(endpoint)", hint: nil, exit: QuantdExit.cannotSetUp).report()
        } catch {
            throw CLIFailure(message: "cannot start: \(error)", hint: "check that ROOT is writable by this user",
                             exit: QuantdExit.cannotSetUp).report()
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + (path == "." ? "" : path)
    }
}

extension DaemonLog.Format: ExpressibleByArgument {}
