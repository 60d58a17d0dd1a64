// Helpers for building lk_batch values the way a C caller does: caller-owned buffers, lk_batch_init,
// then the fields filled in by hand. Nothing here calls into the kernels directly.
import CLossKit
import LossKitABI
import XCTest

// MARK: - Element types

/// The float type of logits, weights, dloss and outputs.
enum FloatKind: CaseIterable, CustomStringConvertible {
    case float32, float64

    var dtype: Int32 { Int32(self == .float32 ? LK_FLOAT32.rawValue : LK_FLOAT64.rawValue) }
    var size: Int { self == .float32 ? 4 : 8 }
    /// The value as the library sees it once stored in this type.
    func rounded(_ x: Double) -> Double { self == .float32 ? Double(Float(x)) : x }
    var description: String { self == .float32 ? "float32" : "float64" }
}

/// The integer type of class-index targets.
enum IndexKind: CaseIterable, CustomStringConvertible {
    case int32, int64

    var dtype: Int32 { Int32(self == .int32 ? LK_INT32.rawValue : LK_INT64.rawValue) }
    var size: Int { self == .int32 ? 4 : 8 }
    var description: String { self == .int32 ? "int32" : "int64" }
}

enum TargetSpec {
    /// Class indices, one per sample, shape (N, d1..dk).
    case indices([Int64])
    /// Probabilities shaped like the logits (class axis second).
    case probabilities([Double])
}

// MARK: - Problem description

/// Everything a loss evaluation needs, as plain Swift values (the reference reads this too).
struct BatchSpec: CustomStringConvertible {
    var shape: [Int64]
    var logits: [Double]
    var target: TargetSpec
    var floatKind: FloatKind = .float64
    var indexKind: IndexKind = .int64
    var weight: [Double]? = nil
    var dloss: [Double]? = nil
    var reduction: lk_reduction = LK_REDUCTION_MEAN
    var ignoreIndex: Int64 = Int64(LK_DEFAULT_IGNORE_INDEX)
    /// Ask for the gradient (grad != NULL).
    var computeGrad = true
    /// Write the gradient over the logits (grad == logits).
    var gradInPlace = false

    // Wrapping products: a few tests describe shapes too big to exist (with a zero size somewhere).
    var count: Int { Int(shape[0]) }
    var classes: Int { Int(shape[1]) }
    var inner: Int { shape.dropFirst(2).reduce(1) { $0 &* Int($1) } }
    var samples: Int { count &* inner }
    var elements: Int { samples &* classes }
    var lossCount: Int { reduction == LK_REDUCTION_NONE ? samples : 1 }

    /// Flat index of (sample, class) in the logits / probability buffer (class axis second).
    func element(sample: Int, cls: Int) -> Int {
        let n = sample / inner, i = sample % inner
        return (n * classes + cls) * inner + i
    }

    var description: String {
        let r = reduction == LK_REDUCTION_MEAN ? "mean" : reduction == LK_REDUCTION_SUM ? "sum" : "none"
        let t: String
        switch target {
        case .indices: t = "indices(\(indexKind))"
        case .probabilities: t = "probabilities"
        }
        return "shape \(shape) \(floatKind) \(t) reduction \(r) weight \(weight != nil) dloss \(dloss != nil) "
            + "ignore_index \(ignoreIndex) grad \(computeGrad) inPlace \(gradInPlace)"
    }
}

// MARK: - Caller-owned memory

/// A zero-filled heap buffer with 64-byte alignment and some slack at the end, so tests can also take
/// deliberately misaligned or shifted pointers into it.
final class RawBuffer {
    let bytes: Int
    let base: UnsafeMutableRawPointer

    init(bytes: Int, slack: Int = 64) {
        self.bytes = bytes
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes + slack, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes + slack)
    }

    deinit { base.deallocate() }

    func storeFloats(_ values: [Double], as kind: FloatKind, at byteOffset: Int = 0) {
        for (i, v) in values.enumerated() {
            switch kind {
            case .float32: base.storeBytes(of: Float(v), toByteOffset: byteOffset + 4 * i, as: Float.self)
            case .float64: base.storeBytes(of: v, toByteOffset: byteOffset + 8 * i, as: Double.self)
            }
        }
    }

    func storeIndices(_ values: [Int64], as kind: IndexKind, at byteOffset: Int = 0) {
        for (i, v) in values.enumerated() {
            switch kind {
            case .int32: base.storeBytes(of: Int32(v), toByteOffset: byteOffset + 4 * i, as: Int32.self)
            case .int64: base.storeBytes(of: v, toByteOffset: byteOffset + 8 * i, as: Int64.self)
            }
        }
    }

    func loadFloats(count: Int, as kind: FloatKind, at byteOffset: Int = 0) -> [Double] {
        (0..<count).map { i in
            switch kind {
            case .float32: Double(base.loadUnaligned(fromByteOffset: byteOffset + 4 * i, as: Float.self))
            case .float64: base.loadUnaligned(fromByteOffset: byteOffset + 8 * i, as: Double.self)
            }
        }
    }

    /// Every byte, slack included.
    func snapshot() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: base, count: bytes + 64))
    }
}

/// The value written into output buffers before a call, to detect writes.
enum Sentinel {
    static let value = -7777.25  // exact in float32 and float64
}

/// A batch laid out in caller-owned memory, with `batch` filled as a C caller would fill it.
/// The test may edit `batch` (or any buffer) before `compute`.
final class PreparedBatch {
    let spec: BatchSpec
    let shapeBuffer: UnsafeMutablePointer<Int64>
    let logits: RawBuffer
    let target: RawBuffer
    let weight: RawBuffer?
    let dloss: RawBuffer?
    let loss: RawBuffer
    let grad: RawBuffer?
    var batch = lk_batch()

    init(_ spec: BatchSpec) {
        self.spec = spec
        let kind = spec.floatKind
        shapeBuffer = .allocate(capacity: max(spec.shape.count, 1))
        shapeBuffer.initialize(from: spec.shape, count: spec.shape.count)

        logits = RawBuffer(bytes: spec.elements * kind.size)
        logits.storeFloats(spec.logits, as: kind)
        switch spec.target {
        case .indices(let y):
            target = RawBuffer(bytes: y.count * spec.indexKind.size)
            target.storeIndices(y, as: spec.indexKind)
        case .probabilities(let q):
            target = RawBuffer(bytes: q.count * kind.size)
            target.storeFloats(q, as: kind)
        }
        weight = spec.weight.map { w in
            let buffer = RawBuffer(bytes: w.count * kind.size)
            buffer.storeFloats(w, as: kind)
            return buffer
        }
        dloss = spec.dloss.map { d in
            let buffer = RawBuffer(bytes: d.count * kind.size)
            buffer.storeFloats(d, as: kind)
            return buffer
        }
        loss = RawBuffer(bytes: spec.lossCount * kind.size)
        loss.storeFloats(Array(repeating: Sentinel.value, count: spec.lossCount), as: kind)
        if spec.computeGrad && !spec.gradInPlace {
            let buffer = RawBuffer(bytes: spec.elements * kind.size)
            buffer.storeFloats(Array(repeating: Sentinel.value, count: spec.elements), as: kind)
            grad = buffer
        } else {
            grad = nil
        }

        lk_batch_init(&batch)
        batch.ndim = Int32(spec.shape.count)
        batch.shape = UnsafePointer(shapeBuffer)
        batch.logits_dtype = kind.dtype
        if case .indices = spec.target {
            batch.target_dtype = spec.indexKind.dtype
        } else {
            batch.target_dtype = kind.dtype
        }
        batch.logits = UnsafeRawPointer(logits.base)
        batch.target = UnsafeRawPointer(target.base)
        batch.weight = weight.map { UnsafeRawPointer($0.base) }
        batch.ignore_index = spec.ignoreIndex
        batch.reduction = Int32(spec.reduction.rawValue)
        batch.dloss = dloss.map { UnsafeRawPointer($0.base) }
        batch.loss = loss.base
        batch.grad = spec.gradInPlace ? logits.base : grad?.base
    }

    deinit { shapeBuffer.deallocate() }

    @discardableResult
    func compute(_ handle: LossHandle) -> lk_status {
        withUnsafePointer(to: &batch) { lk_loss_compute(handle.pointer, $0) }
    }

    var lossValues: [Double] { loss.loadFloats(count: spec.lossCount, as: spec.floatKind) }

    /// The gradient written (read from the logits buffer when computed in place).
    var gradValues: [Double] {
        let source = spec.gradInPlace ? logits : grad!
        return source.loadFloats(count: spec.elements, as: spec.floatKind)
    }

    var lossUntouched: Bool { lossValues.allSatisfy { $0 == Sentinel.value } }
    var gradUntouched: Bool {
        guard let grad else { return true }
        return grad.loadFloats(count: spec.elements, as: spec.floatKind).allSatisfy { $0 == Sentinel.value }
    }
}

/// An lk_loss handle, destroyed with the object.
final class LossHandle {
    let pointer: OpaquePointer

    init(_ name: String = "cross_entropy", labelSmoothing: Double = 0, zLoss: Double = 0,
         nanPolicy: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        var out: OpaquePointer?
        let status = lk_loss_create(name, &out)
        precondition(status == LK_OK && out != nil, "lk_loss_create(\(name)) failed: \(lastErrorMessage())")
        pointer = out!
        if labelSmoothing != 0 { XCTAssertEqual(lk_loss_set_param(pointer, "label_smoothing", labelSmoothing), LK_OK, file: file, line: line) }
        if zLoss != 0 { XCTAssertEqual(lk_loss_set_param(pointer, "z_loss", zLoss), LK_OK, file: file, line: line) }
        if let nanPolicy {
            XCTAssertEqual(lk_loss_set_param_string(pointer, "nan_policy", nanPolicy), LK_OK, file: file, line: line)
        }
    }

    deinit { lk_loss_destroy(pointer) }
}

func lastErrorMessage() -> String { String(cString: lk_last_error_message()) }
func statusString(_ status: lk_status) -> String { String(cString: lk_status_string(status)) }

// MARK: - Deterministic random data

/// SplitMix64: a small seeded generator, so every failure is reproducible.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }

    mutating func logits(_ count: Int, scale: Double = 2) -> [Double] { (0..<count).map { _ in scale * normal() } }

    /// Class indices in [0, C), with roughly `ignoredFraction` of them replaced by `ignoreIndex`.
    mutating func indices(_ count: Int, classes: Int, ignoredFraction: Double = 0, ignoreIndex: Int64 = -100) -> [Int64] {
        (0..<count).map { _ in uniform() < ignoredFraction ? ignoreIndex : Int64(int(classes)) }
    }

    mutating func weights(_ classes: Int) -> [Double] { (0..<classes).map { _ in uniform(0.2...3) } }

    /// Probability targets shaped like the logits of `shape`: each sample's row sums to 1.
    mutating func probabilities(shape: [Int64]) -> [Double] {
        let n = Int(shape[0]), c = Int(shape[1]), inner = shape.dropFirst(2).reduce(1) { $0 * Int($1) }
        var q = [Double](repeating: 0, count: n * c * inner)
        for sample in 0..<(n * inner) {
            let b = sample / inner, i = sample % inner
            let raw = (0..<c).map { _ in Foundation.exp(1.5 * normal()) }
            let total = raw.reduce(0, +)
            for j in 0..<c { q[(b * c + j) * inner + i] = raw[j] / total }
        }
        return q
    }
}

// MARK: - Comparisons

/// Largest |x| of an array (0 for an empty one).
func maxAbs(_ values: [Double]) -> Double { values.reduce(0) { max($0, abs($1)) } }

/// Asserts |got_i - expected_i| <= rtol · max(|expected_i|, floor) for every i, where `floor` is
/// `floorFraction` of the array's largest |expected| (so tiny components are judged on the array's
/// scale). Infinities must match exactly.
func assertClose(_ got: [Double], _ expected: [Double], rtol: Double, floorFraction: Double = 1,
                 _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == expected.count else {
        XCTFail("\(what()): \(got.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    let finite = expected.filter(\.isFinite)
    let floor = floorFraction * maxAbs(finite)
    var failures = 0
    for (i, (g, e)) in zip(got, expected).enumerated() {
        let ok: Bool
        if e.isInfinite || e.isNaN {
            ok = g == e || (g.isNaN && e.isNaN)
        } else {
            ok = abs(g - e) <= rtol * max(abs(e), floor)
        }
        if !ok {
            failures += 1
            if failures <= 5 {
                XCTFail("\(what())[\(i)]: got \(g), expected \(e) (rtol \(rtol))", file: file, line: line)
            }
        }
    }
    if failures > 5 { XCTFail("\(what()): \(failures) mismatches in all", file: file, line: line) }
}

/// Asserts two arrays are equal bit for bit.
func assertBitIdentical(_ a: [Double], _ b: [Double], _ what: @autoclosure () -> String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what(), file: file, line: line)
    let mismatches = zip(a, b).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
    if let first = mismatches.first {
        XCTFail("\(what()): \(mismatches.count) values differ, first at \(first.offset): \(first.element.0) vs \(first.element.1)",
                file: file, line: line)
    }
}

// MARK: - Crash isolation

/// How a forked child ended.
enum ChildOutcome: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    case timedOut

    var description: String {
        switch self {
        case .exited(let code): "exited with \(code)"
        case .signaled(let signal): "killed by signal \(signal) (a trap or crash)"
        case .timedOut: "still running after the timeout"
        }
    }
}

/// Runs `body` in a forked child process and reports how it ended, so that a call which traps (a
/// library bug: the header promises a status for every bad input) fails one test instead of killing
/// the whole test run. Prepare every buffer before calling this; the child should only make the call.
func runInChildProcess(timeout: Double = 20, _ body: () -> Int32) -> ChildOutcome {
    let pid = fork()
    precondition(pid >= 0, "fork failed")
    if pid == 0 {
        // Silence the child's crash report; the parent's assertion says what happened.
        let devNull = open("/dev/null", O_WRONLY)
        if devNull >= 0 { dup2(devNull, 2) }
        _exit(body())
    }
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid { break }
        if Date() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return .timedOut
        }
        usleep(2000)
    }
    let signal = status & 0x7F
    return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
}
