// swift-tools-version:6.0
// quantd: quantize LLM checkpoints into GGUF files. Layers follow ../shared/DESIGN.md;
// each layer is one target and imports only the layers below it.
import PackageDescription

let package = Package(
    name: "quantd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "quantd", targets: ["quantd"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "Safetensors", targets: ["Safetensors"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "ModelConversion", targets: ["ModelConversion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        .target(name: "Safetensors", dependencies: ["BinaryIO"]),
        // ggml block formats; knows the type table from GGUF, nothing of files.
        .target(name: "Quantization", dependencies: ["GGUF"]),
        // HF folder -> GGUF: architectures, tensor names, tokenizer, chat template. Element
        // conversions (F16/BF16/Q8_0) live in ElementConversion.swift until Quantization has them.
        .target(name: "ModelConversion", dependencies: ["GGUF", "Safetensors", "BinaryIO"]),
        // The command-line interface as a library, so tests can call it without a process.
        .target(
            name: "QuantdCLI",
            dependencies: [
                "GGUF", "Safetensors", "Quantization", "ModelConversion", "BinaryIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "quantd", dependencies: ["QuantdCLI"]),

        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "BinaryIO"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors"]),
        .testTarget(
            name: "QuantizationTests", dependencies: ["Quantization", "GGUF"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ModelConversionTests", dependencies: ["ModelConversion", "GGUF", "Safetensors", "BinaryIO"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "QuantdCLITests", dependencies: ["QuantdCLI", "GGUF", "Safetensors"],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
