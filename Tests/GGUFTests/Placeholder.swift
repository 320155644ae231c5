import Testing
@Test func placeholderGGUFTests() { #expect(1 + 1 == 2) }
