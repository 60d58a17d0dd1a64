/// Cross-entropy mixed with the expectation loss on a schedule (seed 000, Battash, Wolf & Hazan):
/// training shifts from cross-entropy toward 1 - p_y as progress t grows.
public struct CrossEntropyExpectationMix: ClassIndexLoss {
    /// How α, the weight of the expectation term, moves over training progress.
    public var schedule: Schedule
    /// α at the current progress.
    public var alpha: Double
    /// β: scale of the expectation term (its gradient is smaller than CE's by a factor p_y).
    public var beta: Double

    public init(schedule: Schedule, progress: Double = 0, beta: Double = 1) {
        self.schedule = schedule
        self.alpha = schedule.value(at: progress)
        self.beta = beta
    }

    static let alphaNames = Schedule.Names(weight: "alpha")

    public static let parameters = Schedule.parameters(alphaNames, defaultConstant: 0.5) + [
        Schedule.progressParameter,
        ParameterSpec("beta", .number(default: 1, range: .nonNegative), "β: scale of the expectation term"),
    ]

    public init(parameters: ParameterValues) {
        self.init(schedule: Schedule(parameters: parameters, names: Self.alphaNames),
                  progress: parameters[number: "progress"], beta: parameters[number: "beta"])
    }

    public func at(progress: Double) -> CrossEntropyExpectationMix {
        CrossEntropyExpectationMix(schedule: schedule, progress: progress, beta: beta)
    }

    // L = (1 - α)·(lse - z_y) + α·β·(1 - p_y)
    // ∂L/∂z_j = ((1 - α) + α·β·p_y)·(p_j - [j = y])     (both terms share the softmax)
    // Passes 1-2 read z: max, Σ exp(z - max), exp(z - max) left in g. Pass 3 scales g in place.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        let zy = z[y]  // read before a gradient written in place overwrites it
        let lse = VectorRow.logSumExp(z, classes, storingInto: grad)
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return alpha == 1 ? beta : .infinity }
        let lseValue = lse.value
        let nll = lseValue - Double(zy)
        let py = Double.exp(-nll)
        if let grad {
            let g = Double(scale) * ((1 - alpha) + alpha * beta * py)
            VectorRow.finishSoftmaxMinusTarget(grad, classes, lse, target: y, scale: g)
        }
        let crossEntropy = alpha == 1 ? 0 : (1 - alpha) * nll
        return crossEntropy + alpha * beta * (1 - py)
    }
}
