// Accuracy of the vectorised vexp / vlog (Sources/LossKitRowMathBaseline/VectorExp.swift, VectorLog.swift),
// in every build of them this CPU can run (baseline, AVX2 + FMA, AVX-512: SIMDDispatch.runnable), against libm, in ulps of the correctly rounded result, over the whole range including the specials,
// the overflow and underflow boundaries and the subnormal results; plus a timing of vexp against
// scalar libm loops (printed, never asserted: it means something only in a release build).
import Foundation
import XCTest
import LossKitKernels
import LossKitRowMath

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Error measures

/// |y - exact| in units of the Float ulp at the exact value's binade (subnormal ulp 2^-149 at the bottom).
/// `exact` is libm's Double result, 29 bits more precise than a Float, so the measure is good to ~1e-8 ulp.
/// Overflow: an infinite y is exact when `exact` rounds to infinity, and wrong (infinite error) otherwise.
private func floatULPError(_ y: Float, exact: Double) -> Double {
    if exact.isNaN { return y.isNaN ? 0 : .infinity }
    if y.isNaN { return .infinity }
    let rounded = Float(exact)
    if y.isInfinite || rounded.isInfinite && exact.isInfinite { return y == rounded ? 0 : .infinity }
    let ulp = exact == 0 ? 0x1p-149 : Double(sign: .plus, exponent: max(exact.exponent - 23, -149), significand: 1)
    return abs(Double(y) - exact) / ulp
}

/// |y - exact| in units of the Double ulp at the exact value's binade; `exact` from the x87 long double
/// libm (11 bits more than a Double).
private func doubleULPError(_ y: Double, exact: Float80) -> Double {
    if exact.isNaN { return y.isNaN ? 0 : .infinity }
    if y.isNaN { return .infinity }
    let rounded = Double(exact)
    if y.isInfinite || rounded.isInfinite && exact.isInfinite { return y == rounded ? 0 : .infinity }
    let ulp = exact == 0 ? 0x1p-1074 : Float80(sign: .plus, exponent: max(exact.exponent - 52, -1074), significand: 1)
    return Double(abs(Float80(y) - exact) / ulp)
}

/// The largest error seen and where.
private struct Worst: CustomStringConvertible {
    var error: Double = 0
    var at: Double = 0
    var count = 0
    mutating func add(_ e: Double, at x: Double) {
        count += 1
        if e > error || e.isNaN { error = e; at = x }
    }
    mutating func merge(_ o: Worst) {
        count += o.count
        if o.error > error || o.error.isNaN { error = o.error; at = o.at }
    }
    var description: String { "max \(error) ulp at x = \(at) (\(count) values)" }
}

// MARK: - Sweep density

/// In a debug build the standard library's SIMD operators run lane by lane through generic code (vexp
/// ~1000x slower than in a release build), so the sweeps are sparser there.
/// `LOSSKIT_VEXP_STRIDE=1 swift test -c release ...` checks every Float (all 2^32 bit patterns, about
/// 2 minutes per function); any other value sets the whole-range stride.
private let wholeRangeStride: UInt64 = {
    if let s = ProcessInfo.processInfo.environment["LOSSKIT_VEXP_STRIDE"], let v = UInt64(s), v > 0 { return v }
    #if DEBUG
    return 4099
    #else
    return 97
    #endif
}()

/// Step between the bit patterns of the dense boundary sweeps (every Float in release).
private let denseStep: UInt32 = {
    if let s = ProcessInfo.processInfo.environment["LOSSKIT_VEXP_STRIDE"], UInt64(s) == 1 { return 1 }
    #if DEBUG
    return 61
    #else
    return 1
    #endif
}()

// MARK: - Applying the vector functions (the kernels' widths: 16 floats, 8 doubles)

private typealias FloatVectorFunction = @Sendable (SIMD16<Float>) -> SIMD16<Float>
private func floatExp(_ math: any RowMath.Type) -> FloatVectorFunction { { math.exp($0) } }
private func floatLog(_ math: any RowMath.Type) -> FloatVectorFunction { { math.log($0) } }
private let floatExactExp: @Sendable (Double) -> Double = { exp($0) }
private let floatExactLog: @Sendable (Double) -> Double = { log($0) }

/// y = f(x) for a whole buffer, a vector at a time (the buffer is padded to a whole number of vectors).
private func applyFloat(_ xs: [Float], _ f: FloatVectorFunction) -> [Float] {
    let padded = xs + [Float](repeating: 0, count: (16 - xs.count % 16) % 16)
    var ys = [Float](repeating: 0, count: padded.count)
    padded.withUnsafeBufferPointer { x in
        ys.withUnsafeMutableBufferPointer { y in
            x.withMemoryRebound(to: SIMD16<Float>.self) { xv in
                y.withMemoryRebound(to: SIMD16<Float>.self) { yv in
                    for i in 0..<xv.count { yv[i] = f(xv[i]) }
                }
            }
        }
    }
    return Array(ys[..<xs.count])
}

private func applyDouble(_ xs: [Double], _ f: (SIMD8<Double>) -> SIMD8<Double>) -> [Double] {
    let padded = xs + [Double](repeating: 0, count: (8 - xs.count % 8) % 8)
    var ys = [Double](repeating: 0, count: padded.count)
    padded.withUnsafeBufferPointer { x in
        ys.withUnsafeMutableBufferPointer { y in
            x.withMemoryRebound(to: SIMD8<Double>.self) { xv in
                y.withMemoryRebound(to: SIMD8<Double>.self) { yv in
                    for i in 0..<xv.count { yv[i] = f(xv[i]) }
                }
            }
        }
    }
    return Array(ys[..<xs.count])
}

/// Runs `f` over `xs` and measures every lane against `exact`.
private func measureFloat(_ xs: [Float], _ f: FloatVectorFunction, exact: (Double) -> Double) -> Worst {
    let ys = applyFloat(xs, f)
    var worst = Worst()
    for i in xs.indices {
        worst.add(floatULPError(ys[i], exact: exact(Double(xs[i]))), at: Double(xs[i]))
    }
    return worst
}

/// vexp over `xs` measured against the x87 long double expl.
private func measureDouble(_ xs: [Double], _ math: any RowMath.Type) -> Worst {
    let ys = applyDouble(xs, { math.exp($0) })
    var worst = Worst()
    for i in xs.indices {
        worst.add(doubleULPError(ys[i], exact: expl(Float80(xs[i]))), at: xs[i])
    }
    return worst
}

/// `body(chunk)` for chunk in 0..<chunks on all cores, the results merged.
private func inParallel(chunks: Int, _ body: @Sendable (Int) -> Worst) -> Worst {
    let lock = NSLock()
    nonisolated(unsafe) var worst = Worst()
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let w = body(c)
        lock.lock(); worst.merge(w); lock.unlock()
    }
    return worst
}

/// The sweeps' split of all 2^32 Float bit patterns into chunks, one per task.
private let sweepChunks = 256

/// Chunk `c` of every `stride`-th Float bit pattern of all 2^32 (starting at `offset`).
private func floatChunk(_ c: Int, stride: UInt64, offset: UInt64 = 0) -> [Float] {
    let perChunk = (UInt64(1) << 32) / UInt64(sweepChunks)
    let start = UInt64(c) * perChunk
    // The first index ≡ offset (mod stride) at or after start.
    var b = start + (offset % stride + stride - start % stride) % stride
    var xs: [Float] = []
    xs.reserveCapacity(Int(perChunk / stride) + 1)
    while b < start + perChunk {
        xs.append(Float(bitPattern: UInt32(b)))
        b += stride
    }
    return xs
}

/// Every `stride`-th Float bit pattern of all 2^32 (starting at `offset`), split over the cores.
private func sweepAllFloats(stride: UInt64, offset: UInt64 = 0, _ f: @escaping FloatVectorFunction,
                            exact: @escaping @Sendable (Double) -> Double) -> Worst {
    inParallel(chunks: sweepChunks) { c in measureFloat(floatChunk(c, stride: stride, offset: offset), f, exact: exact) }
}

/// Where `ys` and `reference` differ in their bits (NaN equal to NaN): each x where they do, counted
/// with error 1 (0 elsewhere), so `error` is 0 exactly when every value agrees.
private func bitMismatches<F: BinaryFloatingPoint>(_ xs: [F], _ ys: [F], _ reference: [F]) -> Worst {
    var worst = Worst()
    for i in xs.indices {
        let same = ys[i] == reference[i] && ys[i].sign == reference[i].sign || ys[i].isNaN && reference[i].isNaN
        worst.add(same ? 0 : 1, at: Double(xs[i]))
    }
    return worst
}

/// Every Float in [lo, hi] whose bit pattern is a multiple of `step` away from lo's.
private func floats(from lo: Float, through hi: Float, step: UInt32 = 1) -> [Float] {
    precondition(lo.sign == hi.sign)
    var a = lo.bitPattern, b = hi.bitPattern
    if a > b { swap(&a, &b) }
    return Swift.stride(from: a, through: b, by: Int(step)).map { Float(bitPattern: $0) }
}

/// SplitMix64: a small deterministic generator for the Double samples.
private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) * 0x1p-53
    }
}

/// Every Float in the given intervals whose bit pattern is a multiple of `step` from the lower end's,
/// measured in parallel.
private func measureDense(_ intervals: [(Float, Float)], step: UInt32, _ f: @escaping FloatVectorFunction,
                          exact: @escaping @Sendable (Double) -> Double) -> Worst {
    let all = intervals.flatMap { floats(from: $0.0, through: $0.1, step: step) }
    let chunk = 1 << 16
    let chunks = (all.count + chunk - 1) / chunk
    return inParallel(chunks: chunks) { c in
        let xs = Array(all[c * chunk ..< min(all.count, (c + 1) * chunk)])
        return measureFloat(xs, f, exact: exact)
    }
}

final class VectorExpTests: XCTestCase {
    // MARK: - vexp, Float

    /// The special values and the boundaries, checked exactly where the answer is exact.
    func testFloatExpSpecials() {
        for math in SIMDDispatch.runnable {
            func f(_ x: Float) -> Float { math.exp(SIMD16<Float>(repeating: x))[15] }
            XCTAssertEqual(f(-.infinity), 0)
            XCTAssertEqual(f(.infinity), .infinity)
            XCTAssertTrue(f(.nan).isNaN)
            XCTAssertTrue(f(-.nan).isNaN)
            XCTAssertTrue(f(.signalingNaN).isNaN)
            XCTAssertEqual(f(0), 1)
            XCTAssertEqual(f(-0.0), 1)
            XCTAssertEqual(f(.leastNonzeroMagnitude), 1)
            XCTAssertEqual(f(-.leastNonzeroMagnitude), 1)
            XCTAssertEqual(f(.greatestFiniteMagnitude), .infinity)
            XCTAssertEqual(f(-.greatestFiniteMagnitude), 0)
            XCTAssertEqual(f(1000), .infinity)
            XCTAssertEqual(f(-1000), 0)
            XCTAssertEqual(f(-110), 0)
            // ln(FLT_MAX) = 88.72283905...: the Float below it (88.72283172...) gives a finite result, the
            // one above (88.72283935...) overflows.
            let lnMax = Float(log(Double(Float.greatestFiniteMagnitude))).nextDown
            XCTAssertEqual(lnMax, 88.72283172607421875)
            XCTAssertTrue(f(lnMax).isFinite && f(lnMax) > 3.4e38, "\(f(lnMax))")
            XCTAssertEqual(f(lnMax.nextUp), .infinity)
            // Subnormal results: ln(FLT_MIN) = -87.336544..., ln(2^-149) = -103.278929...; not flushed to 0.
            XCTAssertTrue(f(-87.34) > 0 && f(-87.34) < .leastNormalMagnitude)
            XCTAssertEqual(f(-103.27893), .leastNonzeroMagnitude)
            XCTAssertEqual(f(-103.9), .leastNonzeroMagnitude)                // e^-103.9 > 2^-150: rounds up
            XCTAssertEqual(f(-103.98), 0)                                   // e^-103.98 < 2^-150: rounds to 0
            XCTAssertEqual(f(-104), 0)
            // Every lane on its own: specials mixed with ordinary values.
            let xs: SIMD16<Float> = [.nan, 0, 1, -1, .infinity, -.infinity, 88.8, -103.9,
                                     -87.4, 10, -10, 0.5, -0.5, 80, -80, 2]
            let y = math.exp(xs)
            XCTAssertTrue(y[0].isNaN)
            for k in 1..<16 {
                let err = floatULPError(y[k], exact: exp(Double(xs[k])))
                XCTAssertLessThanOrEqual(err, 2, "lane \(k): vexp(\(xs[k])) = \(y[k])")
            }
            let specials: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                                     .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 88.72283172607421875, 88.72283935546875,
                                     -87.33654, -87.33655, -103.27893, -103.97208, -103.97209, 0.34657359, -0.34657359,
                                     1, -1, .infinity, -.infinity, .nan]
            let w = measureFloat(specials, floatExp(math), exact: floatExactExp)
            print("\(math.level.name) vexp Float specials: \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    /// Every wholeRangeStride-th Float bit pattern: both signs, every exponent, NaNs, infinities,
    /// subnormal inputs.
    func testFloatExpWholeRange() {
        for math in SIMDDispatch.runnable {
            let w = sweepAllFloats(stride: wholeRangeStride, floatExp(math), exact: floatExactExp)
            print("\(math.level.name) vexp Float whole range, stride \(wholeRangeStride): \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    /// Float by Float (every denseStep-th): the overflow and underflow (subnormal output) regions, and
    /// |x| in [0.25, 0.5] where the reduced argument reaches ±ln2/2 (the polynomial's worst case).
    func testFloatExpBoundariesDense() {
        for math in SIMDDispatch.runnable {
            let w = measureDense([(-105, -86), (86, 89), (-0.5, -0.25), (0.25, 0.5)], step: denseStep,
                                 floatExp(math), exact: floatExactExp)
            print("\(math.level.name) vexp Float boundaries, step \(denseStep): \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    // MARK: - vexp, Double

    func testDoubleExpSpecials() {
        for math in SIMDDispatch.runnable {
            func f(_ x: Double) -> Double { math.exp(SIMD8<Double>(repeating: x))[7] }
            XCTAssertEqual(f(-.infinity), 0)
            XCTAssertEqual(f(.infinity), .infinity)
            XCTAssertTrue(f(.nan).isNaN)
            XCTAssertTrue(f(.signalingNaN).isNaN)
            XCTAssertEqual(f(0), 1)
            XCTAssertEqual(f(-0.0), 1)
            XCTAssertEqual(f(.leastNonzeroMagnitude), 1)
            XCTAssertEqual(f(-.leastNonzeroMagnitude), 1)
            XCTAssertEqual(f(.greatestFiniteMagnitude), .infinity)
            XCTAssertEqual(f(-.greatestFiniteMagnitude), 0)
            XCTAssertEqual(f(-746), 0)
            XCTAssertEqual(f(-800), 0)
            XCTAssertEqual(f(710), .infinity)
            // ln(DBL_MAX) = 709.782712893384: finite below, inf above.
            XCTAssertTrue(f(709.782712893384).isFinite)
            XCTAssertEqual(f(709.782712893384.nextUp), .infinity)
            // Subnormal results, not flushed: ln(DBL_MIN) = -708.396..., 2^-1074 at -744.44, 0 below -745.133.
            XCTAssertTrue(f(-708.5) > 0 && f(-708.5) < .leastNormalMagnitude)
            XCTAssertEqual(f(-744.4400719213812), .leastNonzeroMagnitude)
            XCTAssertEqual(f(-745.1), .leastNonzeroMagnitude)
            XCTAssertEqual(f(-745.2), 0)
            let specials: [Double] = [0, -0.0, 1, -1, 0.5, -0.5, .leastNonzeroMagnitude, .leastNormalMagnitude,
                                      709.782712893384, 709.78, -708.3964185322641, -708.39641853226, -744.4400719213812,
                                      -745.1332191019411, -745.1332191019412, -740, -720, -700, 700, 1e-300, -1e-300,
                                      0.34657359027997264, -0.34657359027997264, 0.34657359027997275, 2, 10, -10,
                                      .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
            let w = measureDouble(specials, math)
            print("\(math.level.name) vexp Double specials: \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    /// 10^6 random Doubles over the range (uniform over the finite-result interval, near 0 on a log
    /// scale, random bit patterns, the subnormal-output interval), measured against the x87 long double
    /// expl.
    func testDoubleExpRandom() {
        for math in SIMDDispatch.runnable {
            let count = 1_000_000, chunks = 40
            let w = inParallel(chunks: chunks) { c in
                var rng = SplitMix64(state: 0x5EED &+ UInt64(c))
                var xs: [Double] = []
                xs.reserveCapacity(count / chunks)
                for i in 0..<count / chunks {
                    switch i % 5 {
                    case 0, 1: xs.append(rng.uniform(-746, 710))
                    case 2: xs.append(rng.uniform(-1, 1) * Double(sign: .plus, exponent: -Int(rng.next() % 60), significand: 1))
                    case 3: xs.append(Double(bitPattern: rng.next()))
                    default: xs.append(rng.uniform(-745.2, -708.3))
                    }
                }
                return measureDouble(xs, math)
            }
            print("\(math.level.name) vexp Double random: \(w)")
            XCTAssertEqual(w.count, count)
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    // MARK: - The Double array maps of the column kernels' per-sample steps

    /// RowMath.expm1 over an array, against the x87 long double expm1l, ≤ 3 ulp: 10^6 random Doubles
    /// (tiny |x| on a log scale, where e^x - 1 cancels; around the |x| = 1/2 switch; the softmax range
    /// [-40, 5]; random bit patterns) and the specials. Counts not a multiple of 8 take the partial vector.
    func testDoubleExpm1Array() {
        for math in SIMDDispatch.runnable {
            func f(_ x: Double) -> Double {
                var y = 0.0
                withUnsafePointer(to: x) { p in math.expm1(p, 1, into: &y) }
                return y
            }
            XCTAssertEqual(f(-.infinity), -1)
            XCTAssertEqual(f(.infinity), .infinity)
            XCTAssertTrue(f(.nan).isNaN)
            XCTAssertEqual(f(0).bitPattern, (0.0).bitPattern)
            XCTAssertEqual(f(-0.0).bitPattern, (-0.0).bitPattern)
            XCTAssertEqual(f(-800), -1)
            XCTAssertEqual(f(.leastNonzeroMagnitude), .leastNonzeroMagnitude)
            let count = 1_000_003, chunks = 40
            let w = inParallel(chunks: chunks) { c in
                var rng = SplitMix64(state: 0xE1 &+ UInt64(c))
                var xs: [Double] = []
                for i in 0..<(count / chunks + (c == 0 ? count % chunks : 0)) {
                    switch i % 4 {
                    case 0: xs.append(rng.uniform(-1, 1) * Double(sign: .plus, exponent: -Int(rng.next() % 80), significand: 1))
                    case 1: xs.append(rng.uniform(-0.55, 0.55))
                    case 2: xs.append(rng.uniform(-40, 5))
                    default: xs.append(Double(bitPattern: rng.next()))
                    }
                }
                var ys = [Double](repeating: 0, count: xs.count)
                xs.withUnsafeBufferPointer { x in ys.withUnsafeMutableBufferPointer { y in
                    math.expm1(x.baseAddress!, x.count, into: y.baseAddress!)
                } }
                var worst = Worst()
                for i in xs.indices { worst.add(doubleULPError(ys[i], exact: expm1l(Float80(xs[i]))), at: xs[i]) }
                return worst
            }
            print("\(math.level.name) expm1 Double array: \(w)")
            XCTAssertEqual(w.count, count)
            XCTAssertLessThanOrEqual(w.error, 3, "\(w)")
        }
    }

    /// RowMath.exp over an array is the vector exp lane by lane, bit for bit, the partial last vector too.
    func testDoubleExpArrayMatchesVector() {
        for math in SIMDDispatch.runnable {
            var rng = SplitMix64(state: 7)
            let xs = (0..<1_003).map { i in i % 3 == 0 ? Double(bitPattern: rng.next()) : rng.uniform(-750, 712) }
            var ys = [Double](repeating: 0, count: xs.count)
            xs.withUnsafeBufferPointer { x in ys.withUnsafeMutableBufferPointer { y in
                math.exp(x.baseAddress!, x.count, into: y.baseAddress!)
            } }
            let vector = applyDouble(xs, { math.exp($0) })
            for i in xs.indices {
                XCTAssertEqual(ys[i].bitPattern, vector[i].bitPattern, "\(math.level.name) exp(\(xs[i]))")
            }
        }
    }

    // MARK: - expShifted (the softmax loops' exp), against exp

    /// expShifted equals exp bit for bit wherever it is defined (x ≤ 64), NaN for NaN: every
    /// wholeRangeStride-th Float bit pattern, and every Float (every denseStep-th) of the underflow
    /// region, |x| in [0.25, 0.5] (the reduced argument at its widest), and up to the domain's end.
    func testFloatExpShiftedMatchesExp() {
        let dense = [(Float(-106), Float(-86)), (-0.5, -0.25), (0.25, 0.5), (60, 64)].map {
            floats(from: $0.0, through: $0.1, step: denseStep)
        }
        let pieces = dense + [[-.infinity, -.greatestFiniteMagnitude, 64, 63.99, 44, 0, -0.0]]
        for math in SIMDDispatch.runnable {
            // The sweep's chunks (x ≤ 64 and NaN), then the dense intervals and the boundaries.
            let w = inParallel(chunks: sweepChunks + pieces.count) { c in
                let xs = c < sweepChunks ? floatChunk(c, stride: wholeRangeStride).filter { $0.isNaN || $0 <= 64 }
                                         : pieces[c - sweepChunks]
                return bitMismatches(xs, applyFloat(xs, { math.expShifted($0) }), applyFloat(xs, floatExp(math)))
            }
            XCTAssertEqual(w.error, 0, "\(math.level.name): expShifted ≠ exp at x = \(w.at)")
            XCTAssertTrue(w.count > 40_000_000 / Int(wholeRangeStride), "\(w.count) values")
            print("\(math.level.name) expShifted = exp, bit for bit, on \(w.count) Floats")
        }
    }

    /// The Double expShifted equals exp bit for bit on 10^6 values ≤ 640: uniform over the underflow
    /// region and [-746, 640], near 0 on a log scale, and the boundaries.
    func testDoubleExpShiftedMatchesExp() {
        for math in SIMDDispatch.runnable {
            var rng = SplitMix64(state: 0xE4B)
            var xs: [Double] = [-.infinity, -.greatestFiniteMagnitude, -746, -745.2, -744.44, -708.4, 0, -0.0, 640, .nan]
            for i in 0..<1_000_000 {
                switch i % 3 {
                case 0: xs.append(rng.uniform(-746, 640))
                case 1: xs.append(rng.uniform(-1, 1) * Double(sign: .plus, exponent: -Int(rng.next() % 60), significand: 1))
                default: xs.append(rng.uniform(-746, -700))
                }
            }
            let w = bitMismatches(xs, applyDouble(xs, { math.expShifted($0) }), applyDouble(xs, { math.exp($0) }))
            XCTAssertEqual(w.error, 0, "\(math.level.name): expShifted ≠ exp at x = \(w.at)")
            XCTAssertEqual(w.count, xs.count)
        }
    }

    // MARK: - vlog, Double (RowMath.log over an array: logit_adjusted's offsets τ·log π)

    /// ≤ 2 ulp against logl over 10^6 values (random bit patterns, whole binades, [0.5, 2], near 1,
    /// subnormals), the specials, and the array's tail (n not a multiple of 8).
    func testDoubleLogArray() {
        for math in SIMDDispatch.runnable {
            @Sendable func log(_ xs: [Double]) -> [Double] {
                var ys = [Double](repeating: 0, count: xs.count)
                xs.withUnsafeBufferPointer { x in ys.withUnsafeMutableBufferPointer { y in
                    math.log(x.baseAddress!, x.count, into: y.baseAddress!)
                } }
                return ys
            }
            let specials = log([0, -0.0, .infinity, -.infinity, -1, -.leastNonzeroMagnitude, .nan, 1, 2, .leastNonzeroMagnitude])
            XCTAssertEqual(Array(specials[0..<3]), [-.infinity, -.infinity, .infinity])
            XCTAssertTrue(specials[3..<7].allSatisfy(\.isNaN), "\(specials)")
            XCTAssertEqual(specials[7].bitPattern, (0.0).bitPattern)
            XCTAssertEqual(Array(specials[8...]), [Double(logl(2)), Double(logl(Float80(Double.leastNonzeroMagnitude)))])
            let count = 1_000_003, chunks = 40
            let w = inParallel(chunks: chunks) { c in
                var rng = SplitMix64(state: 0x106 &+ UInt64(c))
                var xs: [Double] = []
                for i in 0..<(count / chunks + (c == 0 ? count % chunks : 0)) {
                    switch i % 5 {
                    case 0: xs.append(Double(bitPattern: rng.next() >> 1))  // every positive pattern, subnormals included
                    case 1: xs.append(rng.uniform(0.5, 2))
                    case 2: xs.append(1 + rng.uniform(-1, 1) * Double(sign: .plus, exponent: -Int(rng.next() % 52), significand: 1))
                    case 3: xs.append(Double(bitPattern: rng.next() % (1 << 52)))  // subnormal
                    default: xs.append(rng.uniform(0, 1) * Double(sign: .plus, exponent: Int(rng.next() % 2000) - 1000, significand: 1))
                    }
                }
                let ys = log(xs)
                var worst = Worst()
                for i in xs.indices { worst.add(doubleULPError(ys[i], exact: logl(Float80(xs[i]))), at: xs[i]) }
                return worst
            }
            print("\(math.level.name) vlog Double array: \(w)")
            XCTAssertEqual(w.count, count)
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    // MARK: - vlog, Float

    func testFloatLogSpecials() {
        for math in SIMDDispatch.runnable {
            func f(_ x: Float) -> Float { math.log(SIMD16<Float>(repeating: x))[15] }
            XCTAssertEqual(f(0), -.infinity)
            XCTAssertEqual(f(-0.0), -.infinity)
            XCTAssertEqual(f(.infinity), .infinity)
            XCTAssertTrue(f(-.infinity).isNaN)
            XCTAssertTrue(f(-1).isNaN)
            XCTAssertTrue(f(-.leastNonzeroMagnitude).isNaN)
            XCTAssertTrue(f(.nan).isNaN)
            XCTAssertTrue(f(.signalingNaN).isNaN)
            XCTAssertEqual(f(1), 0)
            XCTAssertEqual(f(.leastNonzeroMagnitude), Float(log(Double(Float.leastNonzeroMagnitude))))
            XCTAssertEqual(f(.greatestFiniteMagnitude), Float(log(Double(Float.greatestFiniteMagnitude))))
            let specials: [Float] = [.leastNonzeroMagnitude, .leastNormalMagnitude, Float.leastNormalMagnitude.nextDown,
                                     .greatestFiniteMagnitude, 1, Float(1).nextUp, Float(1).nextDown, 2, 0.5, 0.70710677,
                                     0.7071068, 1.4142135, 1.4142137, 10, Float(1e-40 as Double), 1e30, 3e38,
                                     0, -0.0, -1, .infinity, -.infinity, .nan]
            let w = measureFloat(specials, floatLog(math), exact: floatExactLog)
            print("\(math.level.name) vlog Float specials: \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    func testFloatLogWholeRange() {
        for math in SIMDDispatch.runnable {
            let w = sweepAllFloats(stride: wholeRangeStride, offset: 1, floatLog(math), exact: floatExactLog)
            print("\(math.level.name) vlog Float whole range, stride \(wholeRangeStride): \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    /// Around 1 (where log is small and cancellation would show) and the subnormals, Float by Float
    /// (every denseStep-th).
    func testFloatLogDense() {
        for math in SIMDDispatch.runnable {
            let w = measureDense([(0.5, 2), (.leastNonzeroMagnitude, .leastNormalMagnitude)], step: denseStep,
                                 floatLog(math), exact: floatExactLog)
            print("\(math.level.name) vlog Float [0.5, 2] and subnormals, step \(denseStep): \(w)")
            XCTAssertLessThanOrEqual(w.error, 2, "\(w)")
        }
    }

    // MARK: - Timing (printed only)

    /// vexp of each build against a scalar libm loop over 10^7 values in [-30, 10] (fewer in a debug
    /// build), Float and Double; the medians and their ratio are printed, never asserted: they mean something only in a
    /// release build (`swift test -c release --filter VectorExpTests/testVexpSpeedAgainstScalar`).
    func testVexpSpeedAgainstScalar() {
        #if DEBUG
        let n = 1 << 16, build = "debug build: meaningless"
        #else
        let n = 10_000_000, build = "release build"
        #endif
        // This thread's CPU time, so that other processes on a shared machine count less.
        func median(_ body: () -> Void) -> Double {
            var runs: [Double] = []
            for _ in 0..<7 {
                var start = timespec(), end = timespec()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
                body()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
                runs.append(Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9)
            }
            return runs.sorted()[runs.count / 2]
        }
        let ns = { (t: Double) in String(format: "%.3f ns/element", t * 1e9 / Double(n)) }
        for math in SIMDDispatch.runnable {
            var rng = SplitMix64(state: 42)

            let input = (0..<n).map { _ in Float(rng.uniform(-30, 10)) }
            var output = [Float](repeating: 0, count: n)
            let scalar = median {
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeMutableBufferPointer { y in
                        for i in 0..<n { y[i] = expf(x[i]) }
                    }
                }
            }
            let reference = output
            let vector = median {
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeMutableBufferPointer { y in
                        x.withMemoryRebound(to: SIMD16<Float>.self) { xv in
                            y.withMemoryRebound(to: SIMD16<Float>.self) { yv in
                                for i in 0..<xv.count { yv[i] = math.exp(xv[i]) }
                            }
                        }
                    }
                }
            }
            // The outputs are used (so no loop is optimised away) and sane.
            var maxRel: Float = 0
            for i in 0..<n { maxRel = max(maxRel, abs(output[i] - reference[i]) / reference[i]) }
            XCTAssertLessThan(maxRel, 1e-6)

            let inputD = (0..<n).map { _ in rng.uniform(-30, 10) }
            var outputD = [Double](repeating: 0, count: n)
            let scalarD = median {
                inputD.withUnsafeBufferPointer { x in
                    outputD.withUnsafeMutableBufferPointer { y in
                        for i in 0..<n { y[i] = exp(x[i]) }
                    }
                }
            }
            let referenceD = outputD
            let vectorD = median {
                inputD.withUnsafeBufferPointer { x in
                    outputD.withUnsafeMutableBufferPointer { y in
                        x.withMemoryRebound(to: SIMD8<Double>.self) { xv in
                            y.withMemoryRebound(to: SIMD8<Double>.self) { yv in
                                for i in 0..<xv.count { yv[i] = math.exp(xv[i]) }
                            }
                        }
                    }
                }
            }
            var maxRelD = 0.0
            for i in 0..<n { maxRelD = max(maxRelD, abs(outputD[i] - referenceD[i]) / referenceD[i]) }
            XCTAssertLessThan(maxRelD, 1e-15)

            print("\(math.level.name) vexp timing (\(build), median of 7 runs, thread CPU time, \(n) values in [-30, 10]): "
                  + "Float: expf \(ns(scalar)), vexp SIMD16 \(ns(vector)) = " + String(format: "%.1fx", scalar / vector)
                  + "; Double: exp \(ns(scalarD)), vexp SIMD8 \(ns(vectorD)) = " + String(format: "%.1fx", scalarD / vectorD))
        }
    }
}
