/// Squentropy (seed 001, Hui, Belkin & Wright): cross-entropy plus the mean square of the wrong-class
/// logits, with no hyper-parameter.
public struct Squentropy: ClassIndexLoss {
    public init() {}

    // L = lse - z_y + (1/(C-1))·Σ_{j≠y} z_j²
    // ∂L/∂z_j = p_j - [j = y] + (2/(C-1))·z_j·[j ≠ y]
    // Masked classes (z_j = -inf) are left out of the square term (p_j = 0 there, gradient 0); with
    // C = 1 there is no wrong class and the square term is 0.
    // Pass 1 reads z: online log-sum-exp and Σ z_j² over unmasked j. Pass 2 reads z, writes g.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        var lse = OnlineLogSumExp<T>()
        var squares: Double = 0
        for j in 0..<classes {
            let zj = z[j]
            lse.add(zj)
            if zj != -.infinity { squares += Double(zj) * Double(zj) }
        }
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return .infinity }
        let zy = z[y]
        if zy != -.infinity { squares -= Double(zy) * Double(zy) }
        let squareWeight = classes > 1 ? 1 / Double(classes - 1) : 0
        let lseValue = lse.value
        if let grad {
            let softmax = lse.softmax, twoW = T(2 * squareWeight)
            for j in 0..<classes {
                let zj = z[j]
                let p = softmax(zj)
                grad[j] = j == y ? scale * (p - 1) : (zj != -.infinity ? scale * (p + twoW * zj) : 0)
            }
        }
        return lseValue - Double(zy) + squareWeight * squares
    }
}
