/// Cross-entropy mixed with the expectation loss on a schedule (seed 000, Battash, Wolf & Hazan):
/// training shifts from cross-entropy toward 1 - p_y as progress t grows.
public struct CrossEntropyExpectationMix: SoftmaxTargetLoss {
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
    // with p_y = exp(z_y - lse).
    public var sampleTransform: SampleTransform { .exp }

    /// `transformed` = exp(a_y - lse) = p_y.
    public func sample(lse: Double, targetLogit: Double, transformed py: Double) -> SoftmaxSample {
        let nll = lse - targetLogit
        let g = (1 - alpha) + alpha * beta * py
        let crossEntropy = alpha == 1 ? 0 : (1 - alpha) * nll
        return SoftmaxSample(loss: crossEntropy + alpha * beta * (1 - py), pScale: g, targetScale: g)
    }

    public func maskedSampleLoss() -> Double { alpha == 1 ? beta : .infinity }
}
