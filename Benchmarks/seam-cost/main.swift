// Compiled together with BinaryIO's FileSystem sources by Benchmarks/seam_cost.sh (one module,
// -O): what the fault-injection seam costs a call when no injector is installed.
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

let calls = 2_000_000
let rounds = 15
let fd = open("/dev/null", O_WRONLY)
let path = "/tmp/quantd-seam-cost/artifact.gguf"
let byte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
var best = (direct: Double.infinity, seam: Double.infinity, bare: Double.infinity)
var sink = 0
// Interleaved rounds, best of each: on a shared machine the minimum is the least disturbed.
for _ in 0..<rounds {
    var start = now()
    for _ in 0..<calls { sink &+= write(fd, byte, 1) }
    best.direct = min(best.direct, (now() - start) / Double(calls) * 1e9)
    start = now()
    for _ in 0..<calls { sink &+= FileSystem.call(.write, path) { write(fd, byte, 1) } }
    best.seam = min(best.seam, (now() - start) / Double(calls) * 1e9)
    start = now()
    for _ in 0..<calls { sink &+= FileSystem.call(.write, path) { 1 } }
    best.bare = min(best.bare, (now() - start) / Double(calls) * 1e9)
}
func ns(_ value: Double) -> String { "\((value * 10).rounded() / 10) ns" }
print("best of \(rounds) rounds of \(calls) calls (checksum \(sink)):")
print("  write(2) of 1 byte to /dev/null, direct:           \(ns(best.direct))")
print("  the same through FileSystem.call:                  \(ns(best.seam))")
print("  FileSystem.call around no system call (the seam):  \(ns(best.bare))")
