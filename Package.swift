// swift-tools-version:6.0
// quantd: quantize LLM checkpoints into GGUF files, on Linux only (inotify, Glibc, systemd; SwiftPM
// has no way to declare that, so no platform is listed). Layers follow docs/design.md;
// each layer is one target and imports only the layers below it.
import PackageDescription

// The forward pass (Inference) and the quantization kernels (Quantization) are compiled for the
// building machine's CPU class, as llama.cpp's GGML_NATIVE default does:
// - x86-64-v3 (8-lane AVX2 vectors, fused multiply-adds, F16C) when /proc/cpuinfo shows every
//   feature of that level: about 2x the forward pass's tokens/s of baseline x86-64 (SSE2);
// - x86-64-v4 (AVX-512: 16-lane vectors, 32 registers) when it also shows AVX-512's: MatMul's wider
//   register tile (INFERENCE_AVX512, ~1.5x the tokens/s of the 8-lane tile on SmolLM2, measured) and
//   room for the interleaved Q3_K searches (5-6 % less CPU time; other types unchanged).
// Such a binary needs such a CPU (SIGILL otherwise): build with `QUANTD_MARCH=portable` for one that
// runs on any x86-64, or `QUANTD_MARCH=<-march value>` (`x86-64-v3`, `native`, ...) to choose.
// arm64 always has FMA (MatMul uses it there).
// The quantization kernels' bytes do not depend on the level: Swift never contracts a*b+c into a
// fused multiply-add on its own, and the golden tests compare bytes with ggml's on whatever CPU
// class the build targets.
import Foundation
func hostFlags() -> Set<String> {
    #if arch(x86_64) && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return [] }
    return Set(flagsLine.split(separator: " ").map(String.init))
    #else
    return []
    #endif
}
let hostCPUFlags = hostFlags()
func hostMarch() -> String? {
    #if arch(x86_64) && os(Linux)
    let flags = hostCPUFlags
    let v3: Set<String> = ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]
    let v4: Set<String> = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]
    guard v3.isSubset(of: flags) else { return nil }
    return v4.isSubset(of: flags) ? "x86-64-v4" : "x86-64-v3"
    #else
    return nil
    #endif
}
let march: String? = {
    guard let requested = Context.environment["QUANTD_MARCH"] else { return hostMarch() }
    return requested.isEmpty || requested == "portable" ? nil : requested
}()
// AVX-512 VNNI (vpdpbusd, 64 byte multiply-adds per instruction) is not part of x86-64-v4: on an
// AVX-512 build whose host has it, the forward pass multiplies Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K weights
// by the int8-rounded activations in integers (INFERENCE_VNNI; the tile is C, CInferenceVNNI).
let vnni = march == "x86-64-v4" && hostCPUFlags.contains("avx512_vnni")
let inferenceSettings: [SwiftSetting] =
    [.unsafeFlags(["-O"], .when(configuration: .debug))]
    + (march.map { [.unsafeFlags(["-Xcc", "-march=\($0)"]), .define("INFERENCE_FMA")] } ?? [])
    + (march == "x86-64-v4" ? [.define("INFERENCE_AVX512")] : [])
    + (vnni ? [.define("INFERENCE_VNNI")] : [])
let vnniSettings: [CSetting] =
    [.unsafeFlags(["-O2"], .when(configuration: .debug))]
    + (vnni ? [.unsafeFlags(["-march=x86-64-v4", "-mavx512vnni"])] : [])
let quantizationSettings: [SwiftSetting] =
    [.unsafeFlags(["-O"], .when(configuration: .debug))]
    + (march.map { [.unsafeFlags(["-Xcc", "-march=\($0)"])] } ?? [])
    // Both levels have F16C: fp16 rows are converted by the CPU (FP16.toFloats).
    + (march == "x86-64-v3" || march == "x86-64-v4" ? [.define("QUANTD_F16C")] : [])
// No fused multiply-adds: the scores must be ggml's, operation for operation.
let codebookSearchSettings: [CSetting] =
    [.unsafeFlags(["-ffp-contract=off"]), .unsafeFlags(["-O2"], .when(configuration: .debug))]
    + (march.map { [.unsafeFlags(["-march=\($0)"])] } ?? [])

let package = Package(
    name: "quantd",
    products: [
        .executable(name: "quantd", targets: ["quantd"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "Safetensors", targets: ["Safetensors"]),
        .library(name: "ModelFolder", targets: ["ModelFolder"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "ModelConversion", targets: ["ModelConversion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The model card's YAML front matter (libyaml, as PyYAML's loader), typed with PyYAML's resolver.
        // 5.x: Yams 6 refuses duplicate keys, which PyYAML (and so the reference) accepts, the last winning.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The daemon's metrics: swift-metrics' types on a Prometheus registry (its text format for the
        // textfile and `/metrics`). swift-prometheus needs only swift-atomics and swift-metrics, no swift-nio.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries. Debian package names are given so a missing one is named in the error.
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        // SHA-256 for hashes in manifests and `inspect --verify`.
        .systemLibrary(
            name: "COpenSSLCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // libinotifytools ships no pkg-config file; the module map links it by name.
        .systemLibrary(
            name: "CInotifyTools",
            providers: [.apt(["libinotifytools0-dev"])]),

        // Files: memory maps, bounded byte cursors, atomic writes, zstd streams, SHA-256.
        .target(name: "BinaryIO", dependencies: ["CZstd", "COpenSSLCrypto"]),
        // Containers.
        .target(name: "GGUF", dependencies: ["BinaryIO"]),
        // Strict JSON (duplicate keys rejected, exact integers) and deterministic output.
        .target(name: "JSON"),
        .target(name: "Safetensors", dependencies: ["BinaryIO", "JSON"]),
        // A Hugging Face model folder: config.json, the weights (one file or indexed shards), tokenizer files.
        .target(name: "ModelFolder", dependencies: ["Safetensors", "BinaryIO", "JSON"]),
        // ggml block formats; knows the type table from GGUF, nothing of files except `--verify`'s scan
        // of a file's bytes (hashes and non-finite values, which needs the block scale layouts).
        .target(
            name: "Quantization", dependencies: ["GGUF", "BinaryIO", "CCodebookSearch"],
            // Optimized even in debug builds: the kernels' SIMD lanes are ~50x slower and their
            // frames overflow Dispatch workers' 512 KiB stacks when unoptimized, and the golden
            // tests should check the code that ships. (Swift never contracts a*b+c into an FMA,
            // so -O keeps the bytes ggml's.)
            swiftSettings: quantizationSettings),
        // The codebook searches' scoring loop (a variable lane permute, which Swift cannot emit).
        .target(name: "CCodebookSearch", cSettings: codebookSearchSettings),
        // HF folder -> GGUF: architectures, tensor names, tokenizer, chat template.
        .target(
            name: "ModelConversion",
            dependencies: [
                "GGUF", "Safetensors", "ModelFolder", "BinaryIO", "JSON", .product(name: "Yams", package: "Yams"),
            ]),
        // Text -> token ids with a GGUF's vocabulary, identical to llama.cpp's tokenizer.
        .target(name: "Tokenizer", dependencies: ["GGUF"]),
        // The measuring instrument: a CPU forward pass over a GGUF (llama architecture), perplexity and
        // KL divergence as llama-perplexity computes them. Optimized in debug builds for the same
        // reason as Quantization: the matmul loops are the whole cost of every test that runs them.
        .target(
            name: "Inference", dependencies: ["GGUF", "Quantization", "BinaryIO", "CInferenceVNNI"],
            swiftSettings: inferenceSettings),
        // The integer matmul's register tile (vpdpbusd intrinsics, which Swift cannot emit).
        .target(name: "CInferenceVNNI", cSettings: vnniSettings),
        // pipeline.json, stages, the planner (tensor -> type), runner, manifest.
        .target(
            name: "Pipeline",
            dependencies: ["GGUF", "Quantization", "JSON", "BinaryIO", "ModelFolder", "ModelConversion", "Inference", "Tokenizer"]),
        // The drop-folder daemon: inotify watcher, settle/claim, job ledger, systemd notify. Jobs run
        // through its `JobExecutor` protocol; `PipelineJobExecutor` plugs in the pipeline.
        .target(
            name: "Daemon",
            dependencies: [
                "CInotifyTools", "BinaryIO", "GGUF", "Safetensors", "ModelFolder", "JSON", "Pipeline",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // The command-line interface as a library, so tests can call it without a process.
        .target(
            name: "QuantdCLI",
            dependencies: [
                "GGUF", "Safetensors", "ModelFolder", "Quantization", "ModelConversion", "BinaryIO", "JSON", "Pipeline", "Daemon",
                "Tokenizer", "Inference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "quantd", dependencies: ["QuantdCLI"]),
        // Quantization throughput (MB/s of f32 input per type and thread count); build with -c release.
        .executableTarget(
            name: "quantd-bench", dependencies: ["Quantization", "GGUF"], path: "Benchmarks/quantd-bench"),
        // The forward pass from the command line: logits dumps and perplexity/KLD, for checks and timing.
        .executableTarget(name: "inference-bench", dependencies: ["Inference"], path: "Benchmarks/inference-bench"),

        // What several test targets need (temporary folders, repository paths, hand-built inputs);
        // used only by test targets.
        .target(name: "QuantdTestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "GGUFTests", dependencies: ["QuantdTestSupport", "GGUF", "BinaryIO"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "QuantdTestSupport", "Daemon", "GGUF", "Safetensors", "ModelFolder", "JSON", "BinaryIO", "Pipeline",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(
            name: "PipelineTests", dependencies: ["QuantdTestSupport", "Pipeline", "GGUF", "JSON", "Inference"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "InferenceTests", dependencies: ["Inference", "GGUF", "Quantization"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "SafetensorsTests", dependencies: ["QuantdTestSupport", "Safetensors", "JSON"]),
        .testTarget(name: "ModelFolderTests", dependencies: ["QuantdTestSupport", "ModelFolder", "Safetensors"]),
        .testTarget(
            name: "QuantizationTests", dependencies: ["Quantization", "GGUF", "CCodebookSearch"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ModelConversionTests", dependencies: ["QuantdTestSupport", "ModelConversion", "GGUF", "Safetensors", "BinaryIO", "JSON"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "QuantdCLITests", dependencies: ["QuantdTestSupport", "QuantdCLI", "GGUF", "Safetensors", "Tokenizer"],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
