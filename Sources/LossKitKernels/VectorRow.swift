/// The softmax passes shared by the kernels, over one contiguous row, built on the vector row loops
/// (`RowMath`, reached through `KernelFloat`'s `row…` functions).
enum VectorRow {
    /// log Σ_j exp(z_j + b_j) over a row: the max (read 1), then Σ exp(z + b - max) (read 2). When
    /// `store` is given, exp(z_j - max) is written into it on the way (for `finishSoftmax`): the
    /// softmax then costs one exp per element. -inf adds nothing; a NaN makes the result NaN.
    @inline(__always)
    static func logSumExp<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, bias: UnsafePointer<T>? = nil,
                                          storingInto store: UnsafeMutablePointer<T>? = nil) -> OnlineLogSumExp<T> {
        logSumExp(z, count, bias: bias, max: T.rowMax(z, bias: bias, count), storingInto: store)
    }

    /// As `logSumExp`, with the max of z + b already known (read 1 done by the caller).
    @inline(__always)
    static func logSumExp<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, bias: UnsafePointer<T>?, max: T,
                                          storingInto store: UnsafeMutablePointer<T>?) -> OnlineLogSumExp<T> {
        guard max > -.infinity else {
            // Every value is -inf or NaN: the max skips NaN, so look for one (it must reach the loss).
            let nan = (0..<count).contains { z[$0].isNaN }
            return OnlineLogSumExp(max: max, sum: nan ? .nan : 0)
        }
        return OnlineLogSumExp(max: max, sum: T.rowSumExp(z, bias: bias, count, shift: max, storingInto: store))
    }

    /// The softmax-target row kernel's passes 1 and 2: the max of z + b (skipped when `knownMax` is
    /// given), Σ exp(z + b - max) with the exps left in g, and a_y = z_y + b_y. a_y is read once a pass
    /// has brought the row into cache (read first, it missed the cache on every row: 10 % of
    /// cross_entropy at 4096×1000) and before g may overwrite z: after the max pass, or, with the max
    /// known, after the Σ exp pass unless g is z.
    @inline(__always)
    static func softmaxPasses<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, target y: Int, bias: UnsafePointer<T>?,
                                              max knownMax: T?, storingInto grad: UnsafeMutablePointer<T>?)
        -> (lse: OnlineLogSumExp<T>, targetLogit: Double) {
        @inline(__always) func targetLogit() -> Double { Double(z[y]) + (bias.map { Double($0[y]) } ?? 0) }
        guard let knownMax, hasOwnBuffer(grad, apartFrom: z) else {
            let max = knownMax ?? T.rowMax(z, bias: bias, count)
            let a = targetLogit()
            return (logSumExp(z, count, bias: bias, max: max, storingInto: grad), a)
        }
        let lse = logSumExp(z, count, bias: bias, max: knownMax, storingInto: grad)
        return (lse, targetLogit())
    }

    /// g_j = scale·p_j, from the exp(z_j - max) that `logSumExp(…, storingInto: g)` left in g.
    @inline(__always)
    static func finishSoftmax<T: KernelFloat>(_ g: UnsafeMutablePointer<T>, _ count: Int, _ lse: OnlineLogSumExp<T>,
                                              scale: Double) {
        T.rowScale(g, count, by: T(scale / lse.sum))
    }

    /// g_j = scale·p_j + linear·z_j for every j, p = softmax(z + b) recomputed from z (so g may be z
    /// itself); the linear term is 0 where z_j = -inf.
    @inline(__always)
    static func writeSoftmax<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, bias: UnsafePointer<T>? = nil,
                                             _ softmax: Softmax<T>, scale: T, linear: T = 0,
                                             into g: UnsafeMutablePointer<T>) {
        T.rowWriteSoftmax(z, bias: bias, count, max: softmax.max, logSum: softmax.logSum, scale: scale,
                          linear: linear, into: g)
    }

    /// True when every value is finite or -inf (no NaN, no +inf).
    @inline(__always)
    static func allBelowInfinity<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int) -> Bool {
        T.rowAllBelowInfinity(z, count)
    }
}
