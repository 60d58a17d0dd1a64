/// A loss that is a sum of independent per-sample terms, written as a fused kernel over one
/// contiguous row of C logits. The host (`LossEngine`) does everything else: layouts, gathering
/// strided rows, ignore_index, validation, reductions, dloss, threading.
///
/// Contract for both methods: read `z[0..<classes]`; when `grad` is not nil write
/// `grad[j] = scale · ∂L/∂z_j` for every j (grad may be the same memory as z, so read z_j before
/// writing grad_j, and never read z after writing grad); return the sample's loss L as Double,
/// including the loss's own class weighting (`weight` is nil when the caller gave none).
public protocol RowLoss: Sendable {
    /// Whether the loss is defined for probability (soft) targets.
    var acceptsProbabilities: Bool { get }

    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int, weight: UnsafePointer<T>?,
                             grad: UnsafeMutablePointer<T>?, scale: T) -> Double

    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, probabilities q: UnsafePointer<T>,
                             weight: UnsafePointer<T>?, grad: UnsafeMutablePointer<T>?, scale: T) -> Double
}
