import Testing
@testable import ModelConversion

@Suite struct ElementConversionTests {
    @Test func bf16RoundsToNearestEven() {
        #expect(ElementConversion.bf16Bits(1.0) == 0x3f80)
        // 0x3f808000 is exactly halfway: ties to even keeps 0x3f80; 0x3f818000 rounds up to 0x3f82.
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x3f80_8000)) == 0x3f80)
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x3f81_8000)) == 0x3f82)
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x7f80_0001)) == 0x7fc0)
    }
}
