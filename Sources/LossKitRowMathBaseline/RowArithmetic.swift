import LossKitRowMath

// The plain arithmetic loops of `RowMath` (sums, dot products, y += a·x): the Dice loss's class
// totals and its gradient's per-sample dot products are built from them. Whole vectors first, then
// the tail element by element from memory: there is no exp here, so the tail need not share the
// vector code, only a fixed order (each result depends on the values and the build alone).
extension RowKernels {
    public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Double { rowSum(x, n) }
    public static func sum(_ x: UnsafePointer<Double>, _ n: Int) -> Double { rowSum(x, n) }

    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Double { rowDot(x, y, n) }
    public static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> Double { rowDot(x, y, n) }

    public static func accumulate(_ x: UnsafePointer<Float>, _ n: Int, into sums: UnsafeMutablePointer<Double>) {
        rowAccumulate(x, n, into: sums)
    }
    public static func accumulate(_ x: UnsafePointer<Double>, _ n: Int, into sums: UnsafeMutablePointer<Double>) {
        rowAccumulate(x, n, into: sums)
    }

    public static func addScaled(_ x: UnsafePointer<Float>, _ n: Int, by factor: Float, into y: UnsafeMutablePointer<Float>) {
        rowAddScaled(x, n, by: factor, into: y)
    }
    public static func addScaled(_ x: UnsafePointer<Double>, _ n: Int, by factor: Double, into y: UnsafeMutablePointer<Double>) {
        rowAddScaled(x, n, by: factor, into: y)
    }

    public static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float, adding x: UnsafePointer<Float>,
                             times linear: Float) {
        rowScaleAddingLinear(g, n, by: factor, x, times: linear)
    }
    public static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double, adding x: UnsafePointer<Double>,
                             times linear: Double) {
        rowScaleAddingLinear(g, n, by: factor, x, times: linear)
    }

    public static func scale(_ g: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float,
                             timesDifferenceOf x: UnsafePointer<Float>, minus c: Float) {
        rowScaleByDifference(g, n, by: factor, x, minus: c)
    }
    public static func scale(_ g: UnsafeMutablePointer<Double>, _ n: Int, by factor: Double,
                             timesDifferenceOf x: UnsafePointer<Double>, minus c: Double) {
        rowScaleByDifference(g, n, by: factor, x, minus: c)
    }
}

extension RowKernels {
    @inline(__always)
    static func rowSum<T: VectorFloat>(_ x: UnsafePointer<T>, _ n: Int) -> Double {
        typealias V = T.Vector
        var total = WideLanes(), j = 0
        while j + V.scalarCount <= n {
            T.accumulate(V.load(x, j), into: &total)
            j += V.scalarCount
        }
        var tail: Double = 0
        while j < n {
            tail += Double(x[j])
            j += 1
        }
        return total.laneSum + tail
    }

    @inline(__always)
    static func rowDot<T: VectorFloat>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) -> Double {
        typealias V = T.Vector
        var total = WideLanes(), j = 0
        while j + V.scalarCount <= n {
            T.accumulate(V.load(x, j) * V.load(y, j), into: &total)
            j += V.scalarCount
        }
        var tail: Double = 0
        while j < n {
            tail += Double(x[j] * y[j])
            j += 1
        }
        return total.laneSum + tail
    }

    @inline(__always)
    static func rowAccumulate<T: VectorFloat>(_ x: UnsafePointer<T>, _ n: Int, into sums: UnsafeMutablePointer<Double>) {
        typealias V = T.Vector
        var j = 0
        while j + V.scalarCount <= n {
            T.add(V.load(x, j), toDoublesAt: sums + j)
            j += V.scalarCount
        }
        while j < n {
            sums[j] += Double(x[j])
            j += 1
        }
    }

    @inline(__always)
    static func rowAddScaled<T: VectorFloat>(_ x: UnsafePointer<T>, _ n: Int, by factor: T, into y: UnsafeMutablePointer<T>) {
        typealias V = T.Vector
        let a = V(repeating: factor)
        V.sweep(n) { j, lanes in
            V.load(x, j, lanes: lanes, fill: 0).multiplied(by: a, adding: V.load(UnsafePointer(y), j, lanes: lanes, fill: 0))
                .store(y, j, lanes: lanes)
        }
    }

    @inline(__always)
    static func rowScaleAddingLinear<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, _ n: Int, by factor: T,
                                                     _ x: UnsafePointer<T>, times linear: T) {
        typealias V = T.Vector
        let a = V(repeating: factor), b = V(repeating: linear)
        let zero = V(repeating: 0), negativeInfinity = V(repeating: -.infinity)
        V.sweep(n) { j, lanes in
            let v = V.load(x, j, lanes: lanes, fill: 0)
            let term = (b * v).replacing(with: zero, where: v .== negativeInfinity)
            (a * V.load(UnsafePointer(g), j, lanes: lanes, fill: 0) + term).store(g, j, lanes: lanes)
        }
    }

    @inline(__always)
    static func rowScaleByDifference<T: VectorFloat>(_ g: UnsafeMutablePointer<T>, _ n: Int, by factor: T,
                                                     _ x: UnsafePointer<T>, minus c: T) {
        typealias V = T.Vector
        let a = V(repeating: factor), shift = V(repeating: c)
        V.sweep(n) { j, lanes in
            (a * V.load(UnsafePointer(g), j, lanes: lanes, fill: 0) * (V.load(x, j, lanes: lanes, fill: 0) - shift))
                .store(g, j, lanes: lanes)
        }
    }
}
