import GGUF
/// Placeholder until the grids land.
enum IQDequant {
    static func dequantize(_ type: GGMLType, _ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {}
}
