/// Logit-adjusted cross-entropy (Menon et al. 2021): cross-entropy of z + τ·log π, for long-tailed
/// data with class priors π.
public struct LogitAdjusted: SoftmaxTargetLoss {
    public var tau: Double
    /// τ·log π_j, precomputed when the parameters are set.
    public var offsets: [Double]
    /// The offsets rounded to Float, for float32 batches.
    private var floatOffsets: [Float]

    public init(tau: Double = 1, priors: [Double] = []) {
        self.tau = tau
        // The logs in vector lanes: a one-shot call (a handle made per call) builds these every time,
        // and libm's log took 30 ms of such a call at 4·10^6 classes.
        var offsets = [Double](repeating: 0, count: priors.count)
        priors.withUnsafeBufferPointer { p in
            offsets.withUnsafeMutableBufferPointer { o in
                guard let x = p.baseAddress, let y = o.baseAddress else { return }
                SIMDDispatch.rowMath.log(x, p.count, into: y)
            }
        }
        for j in offsets.indices { offsets[j] *= tau }
        self.offsets = offsets
        self.floatOffsets = offsets.map { Float($0) }
    }

    /// The offsets in the batch's type (`check` made sure there is one per class).
    @inline(__always)
    public func withBias<T: KernelFloat, R>(_ body: (UnsafePointer<T>?) -> R) -> R {
        if T.self == Float.self {
            return floatOffsets.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: T.self)) }
        }
        return offsets.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: T.self)) }
    }

    public static let parameters = [
        ParameterSpec("tau", .number(default: 1, range: .nonNegative), "τ: strength of the adjustment"),
        ParameterSpec("priors", .vector(range: .positive), "π: class priors, one positive value per class (required)"),
    ]

    public init(parameters: ParameterValues) {
        self.init(tau: parameters[number: "tau"], priors: parameters[vector: "priors"])
    }

    public func check(classes: Int) throws(LossError) {
        guard offsets.count == classes else {
            throw LossError(.badParameter, offsets.isEmpty
                ? "loss 'logit_adjusted' needs parameter 'priors'; expected \(classes) positive class priors"
                : "parameter 'priors' of loss 'logit_adjusted' has \(offsets.count) values; expected one per class (\(classes))")
        }
    }

    // a_j = z_j + τ·log π_j,  L = lse(a) - a_y,  ∂L/∂z_j = softmax(a)_j - [j = y]
    public func sample(lse: Double, targetLogit: Double, transformed _: Double) -> SoftmaxSample {
        SoftmaxSample(loss: lse - targetLogit, pScale: 1, targetScale: 1)
    }

    public func maskedSampleLoss() -> Double { .infinity }
}
