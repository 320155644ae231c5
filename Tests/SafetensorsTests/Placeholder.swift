import Testing
@Test func placeholderSafetensorsTests() { #expect(1 + 1 == 2) }
