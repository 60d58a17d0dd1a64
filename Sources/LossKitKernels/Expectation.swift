/// The expectation loss 1 - p_y: the expected 0-1 loss under the softmax (seed 000).
public struct Expectation: ClassIndexLoss {
    public init() {}

    // L = 1 - p_y,   ∂L/∂z_j = p_y·(p_j - [j = y])
    // Pass 1 reads z: online log-sum-exp. Pass 2 reads z, writes g_j = scale·p_y·(p_j - [j = y]).
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let lse = OnlineLogSumExp.of(z, classes)
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return 1 }
        let softmax = lse.softmax
        let py = softmax(z[y])
        if let grad { VectorRow.writeSoftmaxMinusTarget(z, classes, softmax, target: y, scale: scale * py, into: grad) }
        return 1 - Double(py)
    }
}
