import CInferenceVNNI
import Dispatch
import Foundation

/// `y = x · Wᵀ` in integers, as llama.cpp's CPU backend multiplies quantized weights: the activations
/// are quantized once per matmul to int8 codes with per-block scales (`QuantizedActivations`, the
/// rounding `ActivationRounding` applies on the f32 path), each panel of 32 weight rows is repacked
/// to unsigned codes with per-sub-block scales (`IntegerWeightPanel`), and the tile
/// (`quantd_vnni_panel`, C: AVX-512 VNNI's vpdpbusd, 64 byte multiply-adds per instruction against
/// 16 for an f32 FMA) sums code products exactly in int32 within a sub-block, then scales the sum
/// to float and adds it up in f32, sub-block after sub-block.
///
/// Used for Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K weights when the activations are rounded like ggml and the
/// build has VNNI (INFERENCE_VNNI, see Package.swift); `QUANTD_INTEGER_MATMUL=0` turns it off (the
/// f32 path then multiplies the same rounded activations by the dequantized weights). Work is split
/// by panels as in `MatMul`, and each output is summed in one lane in a fixed order, so it does not
/// depend on the thread count or on which other rows and tokens are computed.
enum IntegerMatMul {
    /// False when the environment has QUANTD_INTEGER_MATMUL=0 (for A/B measurements).
    static let isEnabled = ProcessInfo.processInfo.environment["QUANTD_INTEGER_MATMUL"] != "0"

    /// Whether this build has the integer tile (a VNNI build).
    static var isAvailable: Bool {
        #if INFERENCE_VNNI
        true
        #else
        false
        #endif
    }

    /// The integer layout for `w` when the integer path applies to it with this rounding, else nil.
    static func layout(for w: WeightMatrix, rounding: ActivationRounding) -> IntegerWeightLayout? {
        #if INFERENCE_VNNI
        guard isEnabled, let layout = IntegerWeightLayout(type: w.type), layout.rounding == rounding,
              w.columns % layout.subblockLength == 0
        else { return nil }
        return layout
        #else
        return nil
        #endif
    }

    static func multiply(
        _ x: UnsafePointer<Float>, tokens: Int, by w: WeightMatrix, layout: IntegerWeightLayout,
        into y: UnsafeMutablePointer<Float>, threads: Int
    ) {
        multiply(x, tokens: tokens, weights: w.bytes, rowBytes: w.rowBytes, rows: w.rows, columns: w.columns,
                 layout: layout, into: y, threads: threads)
    }

    /// The same over `rows` rows of `rowBytes` bytes at `weights` (blocks of `layout`'s type).
    static func multiply(
        _ x: UnsafePointer<Float>, tokens: Int, weights: UnsafeRawPointer, rowBytes: Int, rows: Int, columns: Int,
        layout: IntegerWeightLayout, into y: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let panelRows = IntegerWeightPanel.rows
        let activations = QuantizedActivations(x, tokens: tokens, columns: columns, layout: layout, threads: threads)
        defer { activations.deallocate() }
        let job = Job(activations: activations, weights: weights, y: y)
        let panels = (rows + panelRows - 1) / panelRows
        let workers = max(1, min(threads, panels))
        let counter = WorkCounter(count: panels)
        let run: @Sendable (Int) -> Void = { _ in
            let panel = IntegerWeightPanel(columns: columns, layout: layout)
            // A tile's outputs for a panel cut short by the end of W (at most 8 tokens by 32 rows).
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * 8)
            defer { panel.deallocate(); partial.deallocate() }
            while let p = counter.take() {
                let r0 = p * panelRows, count = min(rows, r0 + panelRows) - r0
                panel.load(job.weights + r0 * rowBytes, rowBytes: rowBytes, rows: count)
                quantd_vnni_panel(
                    panel.codes, panel.scales, panel.mins, Int64(columns), Int64(layout.subblockLength),
                    job.activations.codes, job.activations.subblocks, Int64(tokens), job.y + r0, Int64(rows),
                    Int64(count), partial)
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }
}

/// Buffers shared by matmul workers, which write disjoint columns of `y`.
private struct Job: @unchecked Sendable {
    let activations: QuantizedActivations
    let weights: UnsafeRawPointer
    let y: UnsafeMutablePointer<Float>
}
