/// The expectation loss 1 - p_y: the expected 0-1 loss under the softmax (seed 000).
public struct Expectation: ClassIndexLoss {
    public init() {}

    // L = 1 - p_y,   ∂L/∂z_j = p_y·(p_j - [j = y])
    // Passes 1-2 read z: max, Σ exp(z - max), exp(z - max) left in g. Pass 3 scales g in place to
    // g_j = scale·p_y·(p_j - [j = y]).
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]  // read before a gradient written in place overwrites it
        let lse = VectorRow.logSumExp(z, classes, storingInto: grad)
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return 1 }
        let py = Double(lse.softmax(zy))
        if let grad { VectorRow.finishSoftmaxMinusTarget(grad, classes, lse, target: y, scale: Double(scale) * py) }
        return 1 - py
    }
}
