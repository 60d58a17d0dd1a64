/// Squentropy (seed 001, Hui, Belkin & Wright): cross-entropy plus the mean square of the wrong-class
/// logits, with no hyper-parameter.
public struct Squentropy: ClassIndexLoss {
    public init() {}

    // L = lse - z_y + (1/(C-1))·Σ_{j≠y} z_j²
    // ∂L/∂z_j = p_j - [j = y] + (2/(C-1))·z_j·[j ≠ y]
    // Masked classes (z_j = -inf) are left out of the square term (p_j = 0 there, gradient 0); with
    // C = 1 there is no wrong class and the square term is 0.
    // Reads of z: Σ z_j² over the unmasked j ≠ y; the max; Σ exp(z - max); then the gradient
    // g_j = scale·p_j + scale·(2/(C-1))·z_j recomputes p (it needs z too, so exp(z - max) cannot be
    // left in g when g is z itself), and g_y is set last.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]
        let squares = sumOfSquares(z, classes, except: y)
        let lse = VectorRow.logSumExp(z, classes)
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return .infinity }
        let squareWeight = classes > 1 ? 1 / Double(classes - 1) : 0
        let lseValue = lse.value
        if let grad {
            let softmax = lse.softmax
            VectorRow.writeSoftmax(z, classes, softmax, scale: scale, linear: scale * T(2 * squareWeight), into: grad)
            grad[y] = scale * (softmax(zy) - 1)
        }
        return lseValue - Double(zy) + squareWeight * squares
    }
}
