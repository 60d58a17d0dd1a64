import LossKitRowMath

/// A loss that is a sum of independent per-sample terms, written as a fused kernel over one
/// contiguous row of C logits. The host (`LossEngine`) does everything else: layouts, gathering
/// strided rows, ignore_index, validation, reductions, dloss, threading.
///
/// Contract for both `row` methods: read `z[0..<classes]`; when `grad` is not nil write
/// `grad[j] = scale · ∂L/∂z_j` for every j (grad may be the same memory as z, so read z_j before
/// writing grad_j, and never read z after writing grad); return the sample's loss L as Double,
/// including the loss's own class weighting (`weight` is nil when the caller gave none).
public protocol RowLoss: BatchEvaluator {
    /// Whether the loss is defined for probability (soft) targets.
    var acceptsProbabilities: Bool { get }

    /// Checks parameters that depend on the batch (e.g. a per-class vector of length C) before any write.
    func check(classes: Int) throws(LossError)

    /// The loss at training progress t, for losses with scheduled weights (others return self).
    func at(progress: Double) -> Self

    /// False when `row` must not run on two threads at once (a user callback that says so).
    var isThreadSafe: Bool { get }

    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int, weight: UnsafePointer<T>?,
                             grad: UnsafeMutablePointer<T>?, scale: T) -> Double

    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, probabilities q: UnsafePointer<T>,
                             weight: UnsafePointer<T>?, grad: UnsafeMutablePointer<T>?, scale: T) -> Double
}

extension RowLoss {
    public func check(classes: Int) throws(LossError) {}
    public func at(progress: Double) -> Self { self }
    public var isThreadSafe: Bool { true }
}

/// A per-sample loss of a class-index target whose class weighting is the usual one: the sample's
/// loss and gradient are multiplied by `w_y` (and the weighted mean divides by Σ w_y).
/// Conformers write only the unweighted kernel.
public protocol ClassIndexLoss: RowLoss {
    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int,
                             grad: UnsafeMutablePointer<T>?, scale: T) -> Double
}

extension ClassIndexLoss {
    public var acceptsProbabilities: Bool { false }

    @inline(__always)
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int, weight: UnsafePointer<T>?,
                                    grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        weightedRow(z, classes: classes, target: target, weight: weight, grad: grad, scale: scale)
    }

    /// The weighted row from the unweighted one (also for conformers that define `row(…weight:…)`
    /// themselves and fall back to it).
    @inline(__always)
    func weightedRow<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int, weight: UnsafePointer<T>?,
                                     grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        weighted(target: target, weight, scale: scale) { row(z, classes: classes, target: target, grad: grad, scale: $0) }
    }

    /// w_y·L of an unweighted kernel `body(scale·w_y)`, which returns L and scales its gradient by its
    /// argument.
    @inline(__always)
    func weighted<T: KernelFloat>(target: Int, _ weight: UnsafePointer<T>?, scale: T, _ body: (T) -> Double) -> Double {
        let w = weight?[target] ?? 1
        return weightedLoss(body(scale * w), Double(w))
    }

    /// Never called: the engine refuses probability targets when `acceptsProbabilities` is false.
    public func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, probabilities q: UnsafePointer<T>,
                                    weight: UnsafePointer<T>?, grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        .nan
    }
}

/// w·loss, and 0 for a weight of 0 whatever the loss (an infinite loss of a sample that does not count).
@inline(__always)
func weightedLoss(_ loss: Double, _ weight: Double) -> Double { weight == 0 ? 0 : weight * loss }

/// Whether a gradient row is given and is a buffer of its own (not the logits, written in place): a
/// row kernel may then leave intermediate values in it (the exps of a softmax) and read z after.
@inline(__always)
func hasOwnBuffer<T: KernelFloat>(_ grad: UnsafeMutablePointer<T>?, apartFrom z: UnsafePointer<T>) -> Bool {
    grad.map { UnsafePointer($0) != z } ?? false
}

/// Writes zeros over a gradient row (a sample that contributes nothing).
@inline(__always)
func zeroRow<T: KernelFloat>(_ grad: UnsafeMutablePointer<T>?, _ count: Int) {
    guard let grad else { return }
    for j in 0..<count { grad[j] = 0 }
}

/// Whether a row of `count` values takes its squares from one call of `rowMaxAndSquares` (one chain,
/// the skipped class left out by lane index) rather than from `rowSumSquares` (a call either side of
/// the skipped class, two chains from 256 values on): float32 rows below 256 classes. (square
/// 40960×100 took 0.91× the time, 131072×32 0.76×; float64's compensated chain, one call long, took
/// 1.09× the time at 40960×100.)
@inline(__always)
func fusesSquares<T: KernelFloat>(_: T.Type, _ count: Int) -> Bool { count < 256 && T.self == Float.self }

/// Σ_{j ≠ except} z_j² over the z_j that are not -inf (z_except left out of the sum rather than
/// subtracted from it, which would cancel when it dominates; `except` -1 leaves out nothing): in one
/// call (see `fusesSquares`), or in two, either side of the skipped class.
@inline(__always)
func sumOfSquares<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, except skipped: Int) -> Double {
    if fusesSquares(T.self, count) { return T.rowMaxAndSquares(z, count, except: skipped).squares }
    if skipped < 0 { return T.rowSumSquares(z, count) }
    return T.rowSumSquares(z, skipped) + T.rowSumSquares(z + skipped + 1, count - skipped - 1)
}

/// The row's max and `sumOfSquares`: in one call where `fusesSquares` says so, else in a pass each,
/// the squares first (the max first made logit_norm at 4096×1000 1.07× slower: the squares' heavier
/// pass hides the row's arrival from memory better, and the max then reads it from the cache).
@inline(__always)
func maxAndSumOfSquares<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, except skipped: Int) -> (max: T, squares: Double) {
    if fusesSquares(T.self, count) { return T.rowMaxAndSquares(z, count, except: skipped) }
    let squares = sumOfSquares(z, count, except: skipped)
    return (T.rowMax(z, bias: nil, count), squares)
}

/// `T.rowHingeSums` over the row without class `except` (the two runs either side of it, added), so
/// the target's own term is left out exactly rather than subtracted.
@inline(__always)
func hingeSums<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, except skipped: Int, pivot: T, offset: T,
                                floor: T) -> HingeSums {
    let before = T.rowHingeSums(z, skipped, pivot: pivot, offset: offset, floor: floor)
    let after = T.rowHingeSums(z + skipped + 1, count - skipped - 1, pivot: pivot, offset: offset, floor: floor)
    return HingeSums(count: before.count + after.count, sum: before.sum + after.sum, squares: before.squares + after.squares,
                     hasNaN: before.hasNaN || after.hasNaN)
}

/// max(0, x) that keeps a NaN (Swift's `max` would turn it into 0 and hide it).
@inline(__always)
func hinge(_ x: Double) -> Double { x > 0 || x.isNaN ? x : 0 }
