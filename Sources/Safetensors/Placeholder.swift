/// Placeholder until the safetensors reader lands.
public enum SafetensorsPlaceholder {}
