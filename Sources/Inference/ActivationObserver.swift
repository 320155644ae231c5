/// Sees the input of every weight matmul of a forward pass: what llama-imatrix's graph callback
/// sees as `src1` of each `GGML_OP_MUL_MAT` — the f32 activations, before any rounding to the
/// weight's dot type (ggml converts them inside the matmul, after the callback has read them).
///
/// Called on the evaluating thread, once per matmul, between matmuls; `input` is valid only for
/// the call.
public protocol ActivationObserver: AnyObject {
    /// `input` holds `rows` rows (one per token) of `columns` floats, row-major; `weight` is the
    /// GGUF tensor name of the matrix they are multiplied by (`blk.3.ffn_down.weight`, or
    /// `token_embd.weight` for a tied output).
    func observe(weight: String, input: UnsafePointer<Float>, rows: Int, columns: Int)

    /// The input of an MoE layer's expert matmul (`GGML_OP_MUL_MAT_ID` over `weight`, a 3-D
    /// `*_exps` tensor of `experts` matrices). Token t was routed to the experts
    /// `selected[t * used ..< (t + 1) * used]`, best first; the activation it sent to its
    /// `slot`-th expert is row `t * inputsPerToken + slot % inputsPerToken` of `input`
    /// (`inputsPerToken` is 1 for gate/up, which all see the token's normed state, and `used` for
    /// down, whose input differs per expert).
    func observeExperts(
        weight: String, input: UnsafePointer<Float>, tokens: Int, columns: Int, inputsPerToken: Int,
        selected: UnsafePointer<Int32>, used: Int, experts: Int)
}

extension LlamaModel {
    /// `y = x · Wᵀ` as every matmul of the forward pass does it: the observer (if any) is told
    /// the input first, then the product is computed with `rounding`.
    func multiply(_ x: UnsafePointer<Float>, tokens: Int, by w: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                  threads: Int, rounding: ActivationRounding) {
        activationObserver?.observe(weight: w.name, input: x, rows: tokens, columns: w.columns)
        MatMul.multiply(x, tokens: tokens, by: w, into: y, threads: threads, rounding: rounding)
    }

    /// Runs one chunk for its activations only: every layer's matmuls, the observer told each
    /// input; the output matrix's input is reported too, but the logits (a vocabulary-wide matmul
    /// whose result nobody reads here) are not computed. Token checks as in `logits`.
    public func observeActivations(tokens: [Int32], threads: Int = 1) throws {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        for t in tokens where t < 0 || Int(t) >= vocabularySize {
            throw InferenceError.tokenOutOfRange(token: t, vocabularySize: vocabularySize)
        }
        withExtendedLifetime(weights) {
            var scratch = LlamaScratch(tokens: tokens.count, hp: hyperParameters)
            defer { scratch.deallocate() }
            let hidden = finalHidden(tokens: tokens, scratch: &scratch, threads: max(1, threads))
            activationObserver?.observe(weight: output.name, input: hidden, rows: tokens.count, columns: output.columns)
        }
    }
}
