#!/usr/bin/env bash
# Builds one libFuzzer target: scripts/fuzz/build.sh TARGET  ->  .build-fuzz/TARGET
#
# The library modules are built by SwiftPM with coverage instrumentation and AddressSanitizer
# (`-sanitize=fuzzer,address`, its own build path .build-fuzz/spm); the target's file,
# Fuzz/TARGET.swift, is then compiled against those modules and linked with their object files by
# swiftc -sanitize=fuzzer,address, which links libFuzzer's main (libclang_rt.fuzzer from the
# toolchain). The C system libraries are linked by name: zstd and crypto (BinaryIO).
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:?usage: scripts/fuzz/build.sh TARGET (one of: $(cd Fuzz && ls *.swift | sed 's/\.swift$//' | tr '\n' ' '))}"
source_file="Fuzz/$target.swift"
[[ -f "$source_file" ]] || { echo "no fuzz target $source_file" >&2; exit 2; }

# Every target links the modules up to Pipeline (the widest entry point); unused objects cost only link time.
modules=(BinaryIO GGUF JSON Safetensors ModelFolder CCodebookSearch Quantization Tokenizer Inference CInferenceVNNI CYaml Yams ModelConversion Pipeline)

spm_path=.build-fuzz/spm
# One -sanitize= list per compiler: SwiftPM's `--sanitize` passes one flag per sanitizer, and the
# Swift driver keeps only the last, which would drop the coverage instrumentation.
flags=(-Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)
swift build --build-path "$spm_path" "${flags[@]}" --target Pipeline >&2
bin="$(swift build --build-path "$spm_path" "${flags[@]}" --show-bin-path)"

objects=()
for module in "${modules[@]}"; do
    while IFS= read -r object; do objects+=("$object"); done < <(find "$bin/$module.build" -name '*.o' | sort)
done

swiftc -sanitize=fuzzer,address -g -parse-as-library \
    -module-name "Fuzz_${target//-/_}" \
    -I "$bin/Modules" -I "$bin" \
    -I Sources/CZstd -I Sources/COpenSSLCrypto -I Sources/CInferenceVNNI/include -I Sources/CCodebookSearch/include \
    -I "$spm_path/checkouts/Yams/Sources/CYaml/include" \
    "$PWD/$source_file" "${objects[@]}" \
    -lzstd -lcrypto \
    -o ".build-fuzz/$target"
echo ".build-fuzz/$target"
