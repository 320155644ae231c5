import Testing
@Test func placeholderQuantizationTests() { #expect(1 + 1 == 2) }
