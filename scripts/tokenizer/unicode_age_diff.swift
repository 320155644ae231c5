// Lists the code points that llama.cpp's Unicode table (src/unicode-data.cpp, unicode_ranges_flags)
// leaves unassigned but this Swift toolchain assigns; prints them as Swift range tuples for
// Sources/Tokenizer/LlamaUnicodeAge.swift.
//     swiftc scripts/tokenizer/unicode_age_diff.swift -o /tmp/age && /tmp/age LLAMA_CPP/src/unicode-data.cpp
import Foundation

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "unicode-data.cpp"
guard let source = try? String(contentsOfFile: path, encoding: .utf8),
      let start = source.range(of: "unicode_ranges_flags = ") else {
    fatalError("cannot read unicode_ranges_flags from \(path)")
}
let block = source[start.upperBound...].prefix { $0 != ";" }
var ranges: [(UInt32, UInt16)] = []
for line in block.split(separator: "\n") {
    let parts = line.split(whereSeparator: { "{}, ".contains($0) }).filter { $0.hasPrefix("0x") }
    guard parts.count == 2, let a = UInt32(parts[0].dropFirst(2), radix: 16),
          let f = UInt16(parts[1].dropFirst(2), radix: 16) else { continue }
    ranges.append((a, f))
}
var out: [(UInt32, UInt32)] = []
for i in 0..<(ranges.count - 1) where ranges[i].1 == 1 {  // 1 = UNDEFINED
    for c in ranges[i].0..<ranges[i + 1].0 {
        guard let s = Unicode.Scalar(c), s.properties.generalCategory != .unassigned else { continue }
        if let last = out.last, last.1 + 1 == c { out[out.count - 1].1 = c } else { out.append((c, c)) }
    }
}
print(out.count, "ranges")
for r in out { print(String(format: "(0x%05X, 0x%05X),", r.0, r.1)) }
