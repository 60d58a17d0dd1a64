/// A kernel over P samples at once on columns (see `ColumnLayout`): class j of sample k at
/// z[j·stride + k] (the gradient likewise in g, which may be z), P = `samples` a multiple of the
/// column width. `targets[k]` is sample k's class, or -1 when it is ignored; `scales[k]` its gradient
/// scale (dloss, 1/Σw for the mean); each sample's weighted loss goes to `losses[k]` (0 when
/// ignored). `work` (8·P values) and `doubles` (4·P) are working space.
public protocol ColumnKernel {
    /// False when this configuration cannot run on columns (the engine then runs its rows).
    var runsOnColumns: Bool { get }

    func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                 samples: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                 scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                 work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>)
}

enum ColumnKernelLimits {
    /// Batches with fewer classes run on columns: a class index is then exact as a Float, so the
    /// kernels may compare class indices in vector lanes (`RowMath.columnSquares`, `columnHingeSums`).
    static let maxClasses = 1 << 24
}

/// The column kernel of losses that have none (never called).
enum NoColumnKernel: ColumnKernel {
    var runsOnColumns: Bool { false }

    func columns<T: KernelFloat>(_ z: UnsafePointer<T>, _ g: UnsafeMutablePointer<T>?, stride: Int, classes: Int,
                                 samples: Int, weight: UnsafePointer<T>?, targets: UnsafePointer<Int>,
                                 scales: UnsafePointer<T>, losses: UnsafeMutablePointer<Double>,
                                 work: UnsafeMutablePointer<T>, doubles: UnsafeMutablePointer<Double>) {}
}
