/// How per-sample losses are combined.
public enum Reduction: Sendable {
    /// Σ losses / Σ sample weights over the samples not ignored (PyTorch's weighted mean).
    case mean
    case sum
    /// One loss per sample.
    case none
}

/// The target buffer of a batch: class indices of shape (N, d1..dk), or probabilities shaped like the logits.
public enum TargetBuffer<T: KernelFloat> {
    case int32(UnsafePointer<Int32>)
    case int64(UnsafePointer<Int64>)
    case probabilities(UnsafePointer<T>)
}

/// One batch over caller-owned memory, already checked for shape, nullness, alignment and aliasing
/// by the caller of the kernels (the ABI layer). Layout: logits (N, C, inner) in C order, where
/// `inner` = d1·…·dk (1 for an (N, C) batch); a *sample* is one (n, i) position.
public struct Batch<T: KernelFloat> {
    public var count: Int
    public var classes: Int
    public var inner: Int
    public var logits: UnsafePointer<T>
    public var target: TargetBuffer<T>
    public var weight: UnsafePointer<T>?
    public var ignoreIndex: Int64
    public var reduction: Reduction
    /// Upstream gradient: one value for mean/sum, one per sample for none; nil means 1.
    public var dloss: UnsafePointer<T>?
    /// One value for mean/sum, one per sample for none.
    public var loss: UnsafeMutablePointer<T>
    /// dloss · dL/dz, shaped like the logits; may be the logits' own memory.
    public var grad: UnsafeMutablePointer<T>?

    public init(count: Int, classes: Int, inner: Int, logits: UnsafePointer<T>, target: TargetBuffer<T>,
                weight: UnsafePointer<T>? = nil, ignoreIndex: Int64 = -100, reduction: Reduction = .mean,
                dloss: UnsafePointer<T>? = nil, loss: UnsafeMutablePointer<T>, grad: UnsafeMutablePointer<T>? = nil) {
        self.count = count
        self.classes = classes
        self.inner = inner
        self.logits = logits
        self.target = target
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
        self.dloss = dloss
        self.loss = loss
        self.grad = grad
    }

    /// Number of samples: N·d1·…·dk.
    public var samples: Int { count * inner }

    /// The class index of a sample, -1 when it is ignored (class-index targets only).
    @inline(__always)
    func classIndex(of sample: Int) -> Int {
        let y: Int64 = switch target {
        case .int32(let t): Int64(t[sample])
        case .int64(let t): t[sample]
        case .probabilities: ignoreIndex
        }
        return y == ignoreIndex ? -1 : Int(y)
    }

    /// `classIndex` of the `count` samples from `first`, into `out`: the target's type is looked at
    /// once, not per sample (per sample, it was half the engine's time around cross_entropy's column
    /// tiles).
    @inline(__always)
    func classIndices(from first: Int, count: Int, into out: UnsafeMutablePointer<Int>) {
        let ignore = ignoreIndex
        switch target {
        // From a pointer to the first: `first + k` in the loop was an overflow-checked add per sample.
        case .int32(let t):
            let t = t + first
            for k in 0..<count { let y = Int64(t[k]); out[k] = y == ignore ? -1 : Int(y) }
        case .int64(let t):
            let t = t + first
            for k in 0..<count { let y = t[k]; out[k] = y == ignore ? -1 : Int(y) }
        case .probabilities:
            out.update(repeating: -1, count: count)
        }
    }
}

/// A batch of either float type, for code that dispatches once on the dtype.
public enum AnyBatch {
    case float32(Batch<Float>)
    case float64(Batch<Double>)
}
