/// The column-kernel steps the margin losses (multi_margin, hem) share, around their vector passes
/// (`RowMath.columnHingeSums`, `columnWriteHinge`): x_jk = (z_jk - z_{y_k}) + μ_k for the wrong classes.
enum HingeColumns {
    /// Each sample's target class as a value of T (-1: ignored) and its target logit z_y (0 when
    /// ignored), the pivot of its hinges; read before g (maybe z) is written.
    @inline(__always)
    static func prepare<T: KernelFloat>(_ z: UnsafePointer<T>, stride: Int, samples n: Int, targets: UnsafePointer<Int>,
                                        targetClass: UnsafeMutablePointer<T>, pivot: UnsafeMutablePointer<T>) {
        for k in 0..<n {
            targetClass[k] = T(targets[k])
            pivot[k] = targets[k] >= 0 ? z[targets[k] * stride + k] : 0
        }
    }

    /// What a sample's row holds, as the row kernels decide it.
    enum Sample {
        /// Ignored, a zero class weight, a masked target (z_y = -inf) or no active hinge: loss as
        /// given, gradient 0 (even from a NaN row, for the first two).
        case inert
        /// A NaN among the hinges or z_y: loss NaN (0 when the sample does not count), gradient NaN.
        case nan
        /// The gradient `columnWriteHinge` wrote, with the target's entry still to set.
        case active
    }

    /// Sets each sample's column after `columnWriteHinge`: 0 for an inert sample, NaN for a NaN one,
    /// else g_y = targetEntry[k].
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
