/// log Σ_j exp(x_j) accumulated in one pass (the "online softmax" of Milakov & Gimelshein): the running
/// sum is rescaled whenever the running maximum grows, so exp never sees a positive argument.
/// `-inf` inputs (masked classes) add nothing; a NaN input makes the result NaN wherever it sits.
struct OnlineLogSumExp<T: KernelFloat> {
    private(set) var max: T = -.infinity
    /// Σ exp(x - max).
    private(set) var sum: Double = 0

    init() {}

    init(max: T, sum: Double) {
        self.max = max
        self.sum = sum
    }

    @inline(__always)
    mutating func add(_ x: T) {
        if x > max {
            sum = sum * Double(T.exp(max - x)) + 1
            max = x
        } else if x.isNaN {
            sum = .nan
        } else if max > -.infinity {
            sum += Double(T.exp(x - max))
        }
    }

    /// Adds a partial accumulator (a lane's running max and its sum of exp(x - max)).
    @inline(__always)
    mutating func merge(max otherMax: T, sum otherSum: Double) {
        if otherSum.isNaN {
            sum = .nan
        } else if otherMax > max {
            sum = sum * Double(T.exp(max - otherMax)) + otherSum
            max = otherMax
        } else if otherMax > -.infinity {
            sum += otherSum * Double(T.exp(otherMax - max))
        }
    }

    /// False when every input was -inf (nothing can be predicted). True when a NaN was seen, so that
    /// the NaN reaches the loss.
    var hasFiniteInput: Bool { max > -.infinity || sum.isNaN }

    var value: Double { Double(max) + Double.log(sum) }

    /// p(x) = exp(x - lse) for the inputs seen so far.
    var softmax: Softmax<T> { Softmax(max: max, logSum: T(Double.log(sum))) }

    /// log Σ exp over a whole row (vector loops).
    @inline(__always)
    static func of(_ z: UnsafePointer<T>, _ count: Int) -> OnlineLogSumExp {
        VectorRow.logSumExp(z, count)
    }
}

/// exp(x - lse) evaluated as exp((x - max) - log Σ): the subtraction of the max is exact for the
/// inputs that matter, so rounding lse to T (ulp(|lse|), large for large logits) costs nothing.
struct Softmax<T: KernelFloat> {
    let max: T
    let logSum: T

    @inline(__always)
    func callAsFunction(_ x: T) -> T { T.exp((x - max) - logSum) }
}
