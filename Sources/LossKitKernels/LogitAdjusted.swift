/// Logit-adjusted cross-entropy (Menon et al. 2021): cross-entropy of z + τ·log π, for long-tailed
/// data with class priors π.
public struct LogitAdjusted: ClassIndexLoss {
    public var tau: Double
    /// τ·log π_j, precomputed when the parameters are set.
    public var offsets: [Double]

    public init(tau: Double = 1, priors: [Double] = []) {
        self.tau = tau
        self.offsets = priors.map { tau * Double.log($0) }
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
    // Pass 1 reads z: online log-sum-exp of a. Pass 2 reads z, writes g.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target y: Int,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        var lse = OnlineLogSumExp<T>()
        offsets.withUnsafeBufferPointer { offset in
            for j in 0..<classes { lse.add(z[j] + T(offset[j])) }
        }
        guard lse.hasFiniteInput else { zeroRow(grad, classes); return .infinity }
        let lseValue = lse.value
        let zy = Double(z[y])  // read before a gradient written in place overwrites it
        if let grad {
            let softmax = lse.softmax
            offsets.withUnsafeBufferPointer { offset in
                for j in 0..<classes {
                    let p = softmax(z[j] + T(offset[j]))
                    grad[j] = scale * (j == y ? p - 1 : p)
                }
            }
        }
        return lseValue - (zy + offsets[y])
    }
}
