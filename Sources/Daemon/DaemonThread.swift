#if canImport(Glibc)
import Glibc
#endif

/// A dedicated POSIX thread. The daemon uses real threads rather than a pool because executors
/// block for minutes on CPU and I/O, and libinotifytools must always be called from the same one.
enum DaemonThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ run: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, context)
        if status != 0 {
            // No thread: run inline rather than lose the work (only under resource exhaustion).
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return
        }
        pthread_detach(thread)
    }
}
