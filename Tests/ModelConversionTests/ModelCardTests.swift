import Foundation
import GGUF
@testable import ModelConversion
import QuantdTestSupport
import Testing

/// The model-card reader: YAML typed as PyYAML's `safe_load` types it (every expected value below is
/// what PyYAML 6.0.3 gives for the same text), and the errors. (The whole path against the reference
/// converter is checked by tiny-bert's README.md in ReferenceFixtureTests.)
@Suite struct ModelCardTests {
    static let all: Set<String> = ["a", "b", "c", "d", "e", "f", "g", "h", "list", "flow", "items"]

    @Test func plainScalarsAreTypedAsPyYAMLDoes() {
        #expect(FrontMatterYAML.plain("mit") == .string("mit"))
        #expect(FrontMatterYAML.plain("no") == .bool(false))
        #expect(FrontMatterYAML.plain("On") == .bool(true))
        #expect(FrontMatterYAML.plain("~") == .null)
        #expect(FrontMatterYAML.plain("42") == .int(42))
        #expect(FrontMatterYAML.plain("0x1f") == .int(31))
        #expect(FrontMatterYAML.plain("017") == .int(15))  // YAML 1.1 octal
        #expect(FrontMatterYAML.plain("1.5") == .float(1.5))
        #expect(FrontMatterYAML.plain("1e5") == .string("1e5"))  // 1.1 floats need a dot
        #expect(FrontMatterYAML.plain("1.0e+5") == .float(100000))
        #expect(FrontMatterYAML.plain("2024-01-31") == .timestamp("2024-01-31"))
        #expect(FrontMatterYAML.plain("v1.5") == .string("v1.5"))
        #expect(FrontMatterYAML.plain(".5") == .float(0.5))
        #expect(FrontMatterYAML.plain("-.5") == .string("-.5"))  // PyYAML: no sign before a bare fraction
        #expect(FrontMatterYAML.plain("._5") == .string("._5"))
        #expect(FrontMatterYAML.plain("2.") == .float(2))
        #expect(FrontMatterYAML.plain("09") == .string("09"))
        #expect(FrontMatterYAML.plain("apache-2.0") == .string("apache-2.0"))
        #expect(FrontMatterYAML.plain("1_000") == .int(1000))
        #expect(FrontMatterYAML.plain("1:30") == .int(90))  // sexagesimal
        #expect(FrontMatterYAML.plain(".inf") == .float(.infinity))
        #expect(FrontMatterYAML.plain("-.Inf") == .float(-.infinity))
    }

    @Test func readsScalarsListsAndOneLevelMappings() throws {
        let yaml = """
        # a comment
        a: plain text # trailing comment
        b: 'it''s'
        c: "tab\\there \\u00e9"
        list:
        - one
        -   two
        flow: [x, "y, z", 3]
        items:
          - name: First
            organization: Org
          - plain
        model-index:
        - name: skipped
          results:
          - task: {type: x}
        d:
        e: a#b
        a: replaced

        """
        let map = try #require(try FrontMatterYAML.parse(yaml, firstLine: 2, wanted: Self.all))
        #expect(map["a"] == .string("replaced"))
        #expect(map["b"] == .string("it's"))
        #expect(map["c"] == .string("tab\there é"))
        #expect(map["list"] == .list([.string("one"), .string("two")]))
        #expect(map["flow"] == .list([.string("x"), .string("y, z"), .int(3)]))
        #expect(map["items"] == .list([.map([("name", .string("First")), ("organization", .string("Org"))]), .string("plain")]))
        #expect(map["d"] == .null)
        #expect(map["e"] == .string("a#b"))
        #expect(map["model-index"] == nil)
    }

    @Test func readsTheRestOfYAMLAsPyYAMLDoes() throws {
        // Block scalars, multi-line plain scalars, anchors and aliases, nested mappings.
        #expect(try FrontMatterYAML.parse("skip: 1\na: |\n  text\n", firstLine: 2, wanted: ["a"]) == ["a": .string("text\n")])
        #expect(try FrontMatterYAML.parse("a: long\n  continued\n", firstLine: 2, wanted: ["a"]) == ["a": .string("long continued")])
        #expect(try FrontMatterYAML.parse("a: &anchor x\nb: *anchor\n", firstLine: 2, wanted: ["a", "b"])
            == ["a": .string("x"), "b": .string("x")])
        #expect(try FrontMatterYAML.parse("a:\n  nested: map\n", firstLine: 2, wanted: ["a"]) == ["a": .map([("nested", .string("map"))])])
        // A document that is not a mapping gives nothing, as the reference's `isinstance(data, dict)`.
        #expect(try FrontMatterYAML.parse("- a\n- b\n", firstLine: 2, wanted: ["a"]) == nil)
        // Malformed YAML is an error with its README.md line.
        #expect(throws: FrontMatterError.self) { try FrontMatterYAML.parse("a: [unclosed\n", firstLine: 2, wanted: ["a"]) }
    }

    @Test func frontMatterIsCutAndFixedAsTheReferenceDoes() {
        #expect(ModelCard.frontMatter("---\nlanguage:\n- no\n\tx: 1\n---\nbody\n---\n") == "language:\n- \"no\"\n  x: 1\n")
        #expect(ModelCard.frontMatter("# Title\n---\na: 1\n---\n") == nil)
        #expect(ModelCard.frontMatter("---\r\na: 1\r\n---\r\n") == "a: 1\n")
        #expect(ModelCard.huggingFaceID(inURL: "https://huggingface.co/org/name") == "org/name")
        #expect(ModelCard.huggingFaceID(inURL: "https://huggingface.co/org/name/tree/main") == nil)
    }

    @Test func badCardIsAClearErrorNamingTheFile() throws {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: "tiny-bert")
        try "---\nlicense: mit\ntags: [a, b\n---\n".write(toFile: folder + "/README.md", atomically: true, encoding: .utf8)
        #expect {
            _ = try ConversionPlan(input: folder, outputType: .fixed(.f16))
        } throws: { error in
            "\(error)".contains("README.md: line 4")
        }
        try "---\nlicense: 2.0\n---\n".write(toFile: folder + "/README.md", atomically: true, encoding: .utf8)
        #expect { _ = try ConversionPlan(input: folder, outputType: .fixed(.f16)) } throws: { "\($0)".contains("not a string") }
    }
}
