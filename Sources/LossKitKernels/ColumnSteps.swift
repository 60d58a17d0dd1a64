/// The per-sample steps around the vector passes that several column kernels share (square,
/// squentropy, multi_margin, hem, logit_norm).
enum ColumnSteps {
    /// Sample k's class weight w (0 when it is ignored) and its gradient scale s_k·w, formed in T as
    /// the row kernels form it (`ClassIndexLoss.weightedRow`).
    @inline(__always)
    static func weighting<T: KernelFloat>(_ k: Int, targets: UnsafePointer<Int>, weight: UnsafePointer<T>?,
                                          scales: UnsafePointer<T>) -> (weight: Double, scale: T) {
        let y = targets[k]
        guard y >= 0 else { return (0, 0) }
        let w = weight?[y] ?? 1
        return (Double(w), scales[k] * w)
    }

    /// Each sample's target class as a value of T (-1: ignored) and its target logit z_y (0 when
    /// ignored: the pivot of the margin losses' hinges); read before g (maybe z) is written.
    @inline(__always)
    static func prepare<T: KernelFloat>(_ z: UnsafePointer<T>, stride: Int, samples n: Int, targets: UnsafePointer<Int>,
                                        targetClass: UnsafeMutablePointer<T>, pivot: UnsafeMutablePointer<T>) {
        targetClasses(samples: n, targets: targets, into: targetClass)
        targetLogits(z, stride: stride, samples: n, targets: targets, into: pivot)
    }

    /// Each sample's target class as a value of T (-1: ignored), as the vector passes compare it.
    @inline(__always)
    static func targetClasses<T: KernelFloat>(samples n: Int, targets: UnsafePointer<Int>, into out: UnsafeMutablePointer<T>) {
        for k in 0..<n { out[k] = T(targets[k]) }
    }

    /// Each sample's target logit z_y (0 when ignored), read before g (maybe z) is written. Best
    /// called after a first pass over the tile: gathered first, the tile's lines came from memory one
    /// sample at a time (a quarter of the engine's time around focal's tiles at 8×21×128×128).
    @inline(__always)
    static func targetLogits<T: KernelFloat>(_ z: UnsafePointer<T>, stride: Int, samples n: Int, targets: UnsafePointer<Int>,
                                             into out: UnsafeMutablePointer<T>) {
        for k in 0..<n { out[k] = targets[k] >= 0 ? z[targets[k] * stride + k] : 0 }
    }

    /// What a sample's gradient is, as the row kernels decide it.
    enum Sample {
        /// Ignored, a zero class weight, a masked target (z_y = -inf), nothing to learn: gradient 0
        /// (even from a NaN row, for the first two).
        case inert
        /// A NaN reached the sample's terms: gradient NaN everywhere.
        case nan
        /// The gradient the vector pass wrote, with the target's entry still to set.
        case active
    }

    /// Sets each sample's column after the gradient's vector pass: 0 for an inert sample, NaN for a
    /// NaN one, else g_y = targetEntry[k].
    @inline(__always)
    static func finish<T: KernelFloat>(_ g: UnsafeMutablePointer<T>, stride: Int, classes: Int, samples n: Int,
                                       targets: UnsafePointer<Int>, targetEntry: UnsafePointer<T>, _ kind: (Int) -> Sample) {
        for k in 0..<n {
            switch kind(k) {
            case .inert: for j in 0..<classes { g[j * stride + k] = 0 }
            case .nan: for j in 0..<classes { g[j * stride + k] = .nan }
            case .active: g[targets[k] * stride + k] = targetEntry[k]
            }
        }
    }
}
