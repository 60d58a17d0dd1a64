import LossKitRowMath

/// A batch of 16-bit logits (bfloat16 or binary16), evaluated in float32: the logits are widened
/// (exactly) into a library-owned float32 copy, the float32 kernels run on it, and a 16-bit gradient
/// is rounded back (to nearest even) from a float32 one. Weights, dloss, probability targets and the
/// loss output are float32 in the caller's buffers. One allocation per call, for the copies.
public struct HalfPrecisionBatch {
    public enum Gradient {
        case none
        /// Written directly by the float32 kernels.
        case float32(UnsafeMutablePointer<Float>)
        /// Rounded from a float32 gradient once the evaluation has succeeded; may be the logits.
        case half(UnsafeMutablePointer<UInt16>)
    }

    /// The batch as the float32 kernels see it (its logits and gradient are set by `evaluate`).
    public var float32: Batch<Float>
    public let format: HalfFormat
    public let logits: UnsafePointer<UInt16>
    public let gradient: Gradient

    public init(float32: Batch<Float>, format: HalfFormat, logits: UnsafePointer<UInt16>, gradient: Gradient) {
        self.float32 = float32
        self.format = format
        self.logits = logits
        self.gradient = gradient
    }

    /// Widens the logits, runs `body` on the float32 batch, and on success rounds a 16-bit gradient
    /// into the caller's buffer. On error the caller's buffers are untouched (the kernels validate
    /// before writing; the 16-bit gradient is written last).
    public func evaluate(_ body: (AnyBatch) throws(LossError) -> Void) throws(LossError) {
        let elements = float32.samples * float32.classes
        let isHalfGradient = if case .half = gradient { true } else { false }
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: max(1, elements * (isHalfGradient ? 2 : 1)))
        defer { staging.deallocate() }
        let format = self.format, source = logits
        Self.inBlocks(elements) { start, count in
            SIMDDispatch.rowMath.widen(source + start, count, format: format, into: staging + start)
        }
        var batch = float32
        batch.logits = UnsafePointer(staging)
        switch gradient {
        case .none: batch.grad = nil
        case .float32(let grad): batch.grad = grad
        case .half: batch.grad = staging + elements
        }
        try body(.float32(batch))
        if case .half(let grad) = gradient {
            let computed = UnsafePointer(staging + elements)
            Self.inBlocks(elements) { start, count in
                SIMDDispatch.rowMath.narrow(computed + start, count, format: format, into: grad + start)
            }
        }
    }

    /// body(start, count) over the elements in fixed blocks, spread over the threads.
    private static func inBlocks(_ elements: Int, _ body: (Int, Int) -> Void) {
        let block = 1 << 16
        Threading.forEachChunk((elements + block - 1) / block) { b in
            body(b * block, min(elements, (b + 1) * block) - b * block)
        }
    }
}
