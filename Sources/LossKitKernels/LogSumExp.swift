/// log Σ_j exp(x_j) of a row as its max and Σ exp(x - max) (`VectorRow.logSumExp` computes it).
/// `-inf` inputs (masked classes) add nothing; a NaN input makes the sum NaN.
struct OnlineLogSumExp<T: KernelFloat> {
    let max: T
    /// Σ exp(x - max).
    let sum: Double

    /// False when every input was -inf (nothing can be predicted). True when a NaN was seen, so that
    /// the NaN reaches the loss.
    var hasFiniteInput: Bool { max > -.infinity || sum.isNaN }

    var value: Double { Double(max) + Double.log(sum) }

    /// p(x) = exp(x - lse).
    var softmax: Softmax<T> { Softmax(max: max, logSum: T(Double.log(sum))) }
}

/// exp(x - lse) evaluated as exp((x - max) - log Σ): the subtraction of the max is exact for the
/// inputs that matter, so rounding lse to T (ulp(|lse|), large for large logits) costs nothing.
struct Softmax<T: KernelFloat> {
    let max: T
    let logSum: T

    @inline(__always)
    func callAsFunction(_ x: T) -> T { T.exp((x - max) - logSum) }
}
