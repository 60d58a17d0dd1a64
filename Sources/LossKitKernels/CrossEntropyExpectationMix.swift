/// Cross-entropy mixed with the expectation loss on a schedule (seed 000, Battash, Wolf & Hazan):
/// training shifts from cross-entropy toward 1 - p_y as progress t grows.
public struct CrossEntropyExpectationMix: ClassIndexLoss {
    /// α: weight of the expectation term at the current progress.
    public var alpha: Double
    /// β: scale of the expectation term (its gradient is smaller than CE's by a factor p_y).
    public var beta: Double

    public init(alpha: Double, beta: Double = 1) {
        self.alpha = alpha
        self.beta = beta
    }

    public static let parameters = Schedule.parameters(weightName: "alpha", defaultConstant: 0.5) + [
        ParameterSpec("beta", .number(default: 1, range: .nonNegative), "β: scale of the expectation term"),
    ]

    public init(parameters: ParameterValues) {
        let schedule = Schedule(parameters: parameters, weightName: "alpha")
        self.init(alpha: schedule.value(at: parameters[number: "progress"]), beta: parameters[number: "beta"])
    }

    // L = (1 - α)·(lse - z_y) + α·β·(1 - p_y)
    // ∂L/∂z_j = ((1 - α) + α·β·p_y)·(p_j - [j = y])     (both terms share the softmax)
    // Pass 1 reads z: online log-sum-exp. Pass 2 reads z, writes g.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let lse = OnlineLogSumExp.of(z, classes)
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return alpha == 1 ? beta : .infinity }
        let lseValue = lse.value
        let nll = lseValue - Double(z[y])
        let py = Double.exp(-nll)
        if let grad {
            let g = scale * T((1 - alpha) + alpha * beta * py), lseT = T(lseValue)
            for j in 0..<classes {
                let p = T.exp(z[j] - lseT)
                grad[j] = g * (j == y ? p - 1 : p)
            }
        }
        let crossEntropy = alpha == 1 ? 0 : (1 - alpha) * nll
        return crossEntropy + alpha * beta * (1 - py)
    }
}
