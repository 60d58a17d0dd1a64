/// The expectation loss 1 - p_y: the expected 0-1 loss under the softmax (seed 000).
public struct Expectation: SoftmaxTargetLoss {
    public init() {}

    // L = 1 - p_y,   ∂L/∂z_j = p_y·(p_j - [j = y]),   p_y = exp(z_y - lse)
    public var sampleTransform: SampleTransform { .exp }

    /// `transformed` = exp(a_y - lse) = p_y.
    public func sample(lse: Double, targetLogit: Double, transformed py: Double) -> SoftmaxSample {
        SoftmaxSample(loss: 1 - py, pScale: py, targetScale: py)
    }

    public func maskedSampleLoss() -> Double { 1 }
}
