/// Lane-parallel building blocks over one contiguous row, shared by the kernels: SIMD loads and stores,
/// the online log-sum-exp and the softmax write. Each loop handles whole vectors and finishes the
/// tail with the scalar code, so results never depend on alignment.
enum VectorRow {
    @inline(__always)
    static func load<T: KernelFloat>(_ p: UnsafePointer<T>, _ j: Int) -> T.Vector { T.Vector.load(p, j) }

    @inline(__always)
    static func store<T: KernelFloat>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>, _ j: Int) { v.store(p, j) }

    /// log Σ_j exp(z_j) over a row, lane by lane, one exp per element and no branch: each lane keeps a
    /// running max M and S = Σ exp(z - M). For a new x, d = -|x - M| and e = exp(d); if x > M the sum
    /// is rescaled, S·e + 1, and M becomes x, else S + e. Lanes are merged at the end and the tail is
    /// added scalar. -inf adds nothing; NaN makes the result NaN.
    @inline(__always)
    static func logSumExp<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int) -> OnlineLogSumExp<T> {
        let width = T.Vector.scalarCount
        let negativeInfinity = T.Vector(repeating: -.infinity)
        let zero = T.Vector(repeating: 0), one = T.Vector(repeating: 1)
        var runningMax = negativeInfinity
        var sum = zero
        var j = 0
        while j + width <= count {
            let x = load(z, j)
            let grows = x .> runningMax
            let gap = (x - runningMax).replacing(with: runningMax - x, where: grows)  // -|x - M|
            let e = T.exp(gap).replacing(with: zero, where: x .== negativeInfinity)
            sum = (sum + e).replacing(with: sum * e + one, where: grows)
            runningMax = runningMax.replacing(with: x, where: grows)
            j += width
        }
        var total = OnlineLogSumExp<T>()
        for lane in 0..<width { total.merge(max: runningMax[lane], sum: Double(sum[lane])) }
        while j < count {
            total.add(z[j])
            j += 1
        }
        return total
    }

    /// g_j = scale·p_j for every j, p = softmax (g may be z itself).
    @inline(__always)
    static func writeSoftmax<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, _ softmax: Softmax<T>,
                                             scale: T, into g: UnsafeMutablePointer<T>) {
        let width = T.Vector.scalarCount
        let shift = T.Vector(repeating: softmax.max), logSum = T.Vector(repeating: softmax.logSum)
        let s = T.Vector(repeating: scale)
        var j = 0
        while j + width <= count {
            store(s * T.exp((load(z, j) - shift) - logSum), g, j)
            j += width
        }
        while j < count {
            g[j] = scale * softmax(z[j])
            j += 1
        }
    }

    /// g_j = scale·(p_j - [j = y]): the gradient shape shared by every loss that is a function of
    /// the softmax's target probability (g may be z itself; z_y is read before it is overwritten).
    @inline(__always)
    static func writeSoftmaxMinusTarget<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int, _ softmax: Softmax<T>,
                                                        target y: Int, scale: T, into g: UnsafeMutablePointer<T>) {
        let py = softmax(z[y])
        writeSoftmax(z, count, softmax, scale: scale, into: g)
        g[y] = scale * (py - 1)
    }

    /// True when every value is finite or -inf (no NaN, no +inf).
    @inline(__always)
    static func allBelowInfinity<T: KernelFloat>(_ z: UnsafePointer<T>, _ count: Int) -> Bool {
        let width = T.Vector.scalarCount
        let infinity = T.Vector(repeating: .infinity), zero = T.Vector(repeating: 0)
        var bad = zero  // 1 in a lane that has seen a value that is not < +inf (NaN or +inf)
        var j = 0
        while j + width <= count {
            bad = T.Vector(repeating: 1).replacing(with: bad, where: load(z, j) .< infinity)
            j += width
        }
        var result = !T.Vector.anyLane(bad .> zero)
        while j < count {
            result = result && z[j] < .infinity
            j += 1
        }
        return result
    }
}
