import Foundation
import GGUF
import QuantdTestSupport
import Testing

/// Bad bytes anywhere in a real file (written by gguf-py) must give a typed error, never a crash,
/// a hang or an allocation larger than the file.
struct RobustnessTests {
    static let samplePath = Repository.sampleGGUF

    static func sample() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: samplePath)))
    }

    @Test func everyPrefixOfAValidFileIsReportedTruncated() throws {
        let bytes = try Self.sample()
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            do {
                _ = try parseGGUF(prefix)
                // Only a cut inside the last tensor's trailing padding may still be a complete file.
                #expect(length >= 20256 + 40, "prefix of \(length) bytes parsed")
            } catch {
                #expect(error.kind == .truncated, "prefix of \(length) bytes: \(error)")
            }
        }
    }

    @Test func randomCorruptionNeverCrashes() throws {
        let original = try Self.sample()
        var generator = SplitMix64(seed: 42)
        var outcomes: [GGUFError.Code: Int] = [:]
        for _ in 0..<3000 {
            var bytes = original
            // Corrupt 1-4 bytes within the header, where every field is interpreted.
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % 1888)
                bytes[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            do {
                _ = try parseGGUF(bytes)
            } catch {
                outcomes[error.code, default: 0] += 1
            }
        }
        // Corruption must have been caught in several distinct ways, each typed.
        #expect(outcomes.count >= 5, "\(outcomes)")
    }

    @Test func sampleFileMatchesWhatGGUFPyWrote() throws {
        let file = try GGUFFile(path: Self.samplePath)
        #expect(file.header.version == 3)
        #expect(file.metadata["sample.u64"] == .uint64(18_000_000_000_000_000_000))
        #expect(file.metadata["sample.f32"] == .float32(0.1))
        #expect(file.metadata["sample.array_string"] == .array(.string, [.string("a"), .string(""), .string("ü"), .string("<|im_start|>")]))
        #expect(file.tensors.map(\.type) == [.f16, .f32, .f32, .q8_0, .q4_0, .f16, .i32])
        #expect(file.tensors[5].dimensions == [32, 2, 3])
    }
}

/// A small deterministic generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
