import Testing
@Test func placeholderQuantdCLITests() { #expect(1 + 1 == 2) }
