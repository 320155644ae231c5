/// Placeholder until the kernels land (issue 4).
public enum QuantizationPlaceholder {}
