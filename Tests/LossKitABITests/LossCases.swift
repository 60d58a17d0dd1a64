// A loss configured through the C ABI (name + parameters set by name) paired with its float64
// reference, and the helpers the catalogue, property and edge-case tests share: random batches that
// avoid the kinks of margin losses, the compute call (lk_loss_compute or lk_loss_compute_at),
// central finite differences, and the reference comparison.
import CLossKit
import Foundation
import LossKitABI
import XCTest

/// One loss as a C caller configures it, and what it should compute.
struct LossCase: CustomStringConvertible {
    var name: String
    var numbers: [(String, Double)] = []
    var strings: [(String, String)] = []
    var arrays: [(String, [Double])] = []
    /// When set, every evaluation goes through lk_loss_compute_at with this progress.
    var progress: Double? = nil
    var reference: any ReferenceModel

    var isDice: Bool { name == "dice" }

    var description: String {
        var parts = [name]
        parts += numbers.map { "\($0.0)=\($0.1)" }
        parts += strings.map { "\($0.0)=\($0.1)" }
        parts += arrays.map { "\($0.0)=\($0.1)" }
        if let progress { parts.append("compute_at(\(progress))") }
        return parts.joined(separator: " ")
    }

    /// lk_loss_create by name, then every parameter through lk_loss_set_param(_string/_array).
    func makeHandle(nanPolicy: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> LossHandle {
        let handle = LossHandle(name, nanPolicy: nanPolicy, file: file, line: line)
        for (key, value) in strings {
            XCTAssertEqual(lk_loss_set_param_string(handle.pointer, key, value), LK_OK, "\(self): \(lastErrorMessage())",
                           file: file, line: line)
        }
        for (key, value) in numbers {
            XCTAssertEqual(lk_loss_set_param(handle.pointer, key, value), LK_OK, "\(self): \(lastErrorMessage())",
                           file: file, line: line)
        }
        for (key, values) in arrays {
            XCTAssertEqual(lk_loss_set_param_array(handle.pointer, key, values, Int64(values.count)), LK_OK,
                           "\(self): \(lastErrorMessage())", file: file, line: line)
        }
        return handle
    }

    func compute(_ prepared: PreparedBatch, _ handle: LossHandle) -> lk_status {
        guard let progress else { return prepared.compute(handle) }
        return withUnsafePointer(to: &prepared.batch) { lk_loss_compute_at(handle.pointer, $0, progress) }
    }

    // MARK: Builders (`classes` only matters for per-class vectors)

    static func expectation() -> LossCase { LossCase(name: "expectation", reference: ReferenceRowLoss.expectation) }

    static func crossEntropy() -> LossCase { LossCase(name: "cross_entropy", reference: ReferenceRowLoss.crossEntropy) }

    /// ce_expectation_mix with a schedule; `parameterProgress` is set as the "progress" parameter,
    /// `callProgress` (when given) is passed to lk_loss_compute_at and wins for that call.
    static func mix(_ schedule: ReferenceSchedule = ReferenceSchedule(), beta: Double? = nil, parameterProgress: Double? = nil,
                    callProgress: Double? = nil, setDefaults: Bool = false) -> LossCase {
        var c = LossCase(name: "ce_expectation_mix", reference: ReferenceRowLoss.expectation)
        if schedule.shape != .constant || setDefaults { c.strings.append(("schedule", schedule.shape.rawValue)) }
        let defaults = ReferenceSchedule()
        if schedule.alpha != defaults.alpha || setDefaults { c.numbers.append(("alpha", schedule.alpha)) }
        if schedule.start != defaults.start || setDefaults { c.numbers.append(("alpha_start", schedule.start)) }
        if schedule.end != defaults.end || setDefaults { c.numbers.append(("alpha_end", schedule.end)) }
        if schedule.tSwitch != defaults.tSwitch || setDefaults { c.numbers.append(("t_switch", schedule.tSwitch)) }
        if let parameterProgress { c.numbers.append(("progress", parameterProgress)) }
        if let beta { c.numbers.append(("beta", beta)) }
        c.progress = callProgress
        let t = callProgress ?? parameterProgress ?? 0
        c.reference = ReferenceRowLoss.mix(alpha: schedule.value(at: t), beta: beta ?? 1)
        return c
    }

    static func squentropy() -> LossCase { LossCase(name: "squentropy", reference: ReferenceRowLoss.squentropy) }

    static func square(k: Double? = nil, m: Double? = nil) -> LossCase {
        var c = LossCase(name: "square", reference: ReferenceRowLoss.square(k: k ?? 1, m: m ?? 1))
        if let k { c.numbers.append(("k", k)) }
        if let m { c.numbers.append(("M", m)) }
        return c
    }

    static func hem(margin: Double? = nil, classCounts: [Double]? = nil, scale: Double? = nil) -> LossCase {
        var c = LossCase(name: "hem", reference: ReferenceRowLoss.hem(margin: margin ?? 0.5, classCounts: classCounts,
                                                                      scale: scale ?? 1))
        if let margin { c.numbers.append(("margin", margin)) }
        if let scale { c.numbers.append(("M", scale)) }
        if let classCounts { c.arrays.append(("class_counts", classCounts)) }
        return c
    }

    static func multiMargin(margin: Double? = nil, p: Int? = nil) -> LossCase {
        var c = LossCase(name: "multi_margin", reference: ReferenceRowLoss.multiMargin(margin: margin ?? 1, p: p ?? 1))
        if let margin { c.numbers.append(("margin", margin)) }
        if let p { c.numbers.append(("p", Double(p))) }
        return c
    }

    static func logitNorm(tau: Double? = nil) -> LossCase {
        var c = LossCase(name: "logit_norm", reference: ReferenceRowLoss.logitNorm(tau: tau ?? 0.04))
        if let tau { c.numbers.append(("tau", tau)) }
        return c
    }

    static func logitAdjusted(priors: [Double], tau: Double? = nil) -> LossCase {
        var c = LossCase(name: "logit_adjusted", reference: ReferenceRowLoss.logitAdjusted(tau: tau ?? 1, priors: priors))
        if let tau { c.numbers.append(("tau", tau)) }
        c.arrays.append(("priors", priors))
        return c
    }

    static func focal(gamma: Double? = nil) -> LossCase {
        var c = LossCase(name: "focal", reference: ReferenceRowLoss.focal(gamma: gamma ?? 2))
        if let gamma { c.numbers.append(("gamma", gamma)) }
        return c
    }

    static func dice(smooth: Double? = nil, skipAbsent: Bool? = nil) -> LossCase {
        var c = LossCase(name: "dice", reference: ReferenceDice(smooth: smooth ?? 1, skipAbsent: skipAbsent ?? false))
        if let smooth { c.numbers.append(("smooth", smooth)) }
        if let skipAbsent { c.numbers.append(("skip_absent", skipAbsent ? 1 : 0)) }
        return c
    }

    /// Priors summing to 1, uneven (a long tail).
    static func priors(_ classes: Int, seed: UInt64 = 77) -> [Double] {
        var rng = SeededRandom(seed: seed)
        let raw = (0..<classes).map { _ in exp(1.5 * rng.normal()) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// One default-configured case of every loss other than cross_entropy (priors for logit_adjusted).
    static func everyLoss(classes: Int) -> [LossCase] {
        [.expectation(), .mix(), .squentropy(), .square(), .hem(), .multiMargin(), .logitNorm(),
         .logitAdjusted(priors: priors(classes)), .focal(), .dice()]
    }
}

/// The registered names this file covers: every built-in loss but cross_entropy.
let seedLossNames = ["expectation", "ce_expectation_mix", "squentropy", "square", "hem", "multi_margin", "logit_norm",
                     "logit_adjusted", "focal", "dice"]

// MARK: - Random batches

struct SpecOptions {
    var floatKind: FloatKind = .float64
    var indexKind: IndexKind = .int64
    var weighted = false
    var upstream = false
    var ignoredFraction = 0.0
    /// Put -inf on one class other than the target in every other sample.
    var masked = false
    /// Classes never used as a target (to make classes absent, for dice's skip_absent).
    var absentClasses: Set<Int> = []
    var scale = 2.0
}

/// A random batch for `lossCase`: class-index targets, optional weights, dloss, ignored samples and
/// masked classes. Margin losses (hem, multi_margin) are not differentiable where a hinge argument is 0
/// or (hem) an error equals the threshold τ; a sample whose logits (as the library will read them,
/// rounded to the float type) come within 1e-4 of such a point is resampled, so that the reference's
/// and the library's branches agree and central differences see one smooth piece.
func makeSpec(_ rng: inout SeededRandom, _ lossCase: LossCase, shape: [Int64], reduction: lk_reduction,
              _ options: SpecOptions = SpecOptions()) -> BatchSpec {
    var spec = BatchSpec(shape: shape, logits: [], target: .indices([]), floatKind: options.floatKind,
                         indexKind: options.indexKind, reduction: reduction)
    let C = spec.classes, S = spec.samples
    let allowed = (0..<C).filter { !options.absentClasses.contains($0) }
    var targets = (0..<S).map { _ in Int64(allowed[rng.int(allowed.count)]) }
    if options.ignoredFraction > 0 {
        for s in 0..<S where rng.uniform() < options.ignoredFraction { targets[s] = spec.ignoreIndex }
        if S >= 2 {  // at least one ignored and one counted sample
            targets[0] = spec.ignoreIndex
            if targets[1] == spec.ignoreIndex { targets[1] = Int64(allowed[0]) }
        }
    }
    spec.target = .indices(targets)
    spec.logits = [Double](repeating: 0, count: spec.elements)
    for s in 0..<S {
        let y = Int(targets[s])
        var attempts = 0
        while true {
            var row = (0..<C).map { _ in options.scale * rng.normal() }
            if options.masked && s % 2 == 0 && C > 2 {
                let candidates = (0..<C).filter { $0 != y }
                row[candidates[rng.int(candidates.count)]] = -.infinity
            }
            let seen = row.map(options.floatKind.rounded)
            attempts += 1
            precondition(attempts < 1000, "could not sample a row away from the kinks")
            if targets[s] != spec.ignoreIndex && lossCase.reference.nearKink(seen, target: y, tolerance: 1e-4) { continue }
            for j in 0..<C { spec.logits[spec.element(sample: s, cls: j)] = row[j] }
            break
        }
    }
    if options.weighted { spec.weight = rng.weights(C) }
    if options.upstream {
        spec.dloss = (0..<spec.lossCount).map { _ in (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(0.3...2.5) }
    }
    return spec
}

// MARK: - Computing

struct Computed {
    var status: lk_status
    var loss: [Double]
    var grad: [Double]
}

/// Builds `spec` in caller-owned memory and evaluates it.
func evaluateBatch(_ spec: BatchSpec, _ lossCase: LossCase, _ handle: LossHandle) -> Computed {
    let prepared = PreparedBatch(spec)
    let status = lossCase.compute(prepared, handle)
    guard status == LK_OK else { return Computed(status: status, loss: [], grad: []) }
    return Computed(status: status, loss: prepared.lossValues, grad: spec.computeGrad ? prepared.gradValues : [])
}

/// Evaluates `spec` on 1, 2 and 3 threads and checks that loss and gradient are the same bits; the
/// thread limit is restored to 0.
func assertThreadCountsAgree(_ spec: BatchSpec, _ lossCase: LossCase, file: StaticString = #filePath, line: UInt = #line) {
    defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK, file: file, line: line) }
    let handle = lossCase.makeHandle()
    var results: [Computed] = []
    for threads: Int32 in [1, 2, 3] {
        XCTAssertEqual(lk_set_num_threads(threads), LK_OK, file: file, line: line)
        results.append(evaluateBatch(spec, lossCase, handle))
    }
    for (i, r) in results.enumerated().dropFirst() {
        assertBitIdentical(r.loss, results[0].loss, "\(lossCase) loss, run \(i) vs 1 thread", file: file, line: line)
        assertBitIdentical(r.grad, results[0].grad, "\(lossCase) grad, run \(i) vs 1 thread", file: file, line: line)
    }
}

/// Puts a NaN at (row, cls) of `clean` (an (N, C) batch, reduction none) and evaluates both with
/// nan_policy propagate: that row's loss and gradient are NaN, every other row's the same bits as
/// without it.
func assertNaNStaysInItsRow(_ clean: BatchSpec, _ lossCase: LossCase, row: Int, cls: Int,
                            file: StaticString = #filePath, line: UInt = #line) {
    var spec = clean
    spec.logits[spec.element(sample: row, cls: cls)] = .nan
    let handle = lossCase.makeHandle(nanPolicy: "propagate")
    let result = evaluateBatch(spec, lossCase, handle), expected = evaluateBatch(clean, lossCase, handle)
    XCTAssertEqual(result.status, LK_OK, lastErrorMessage(), file: file, line: line)
    guard result.status == LK_OK else { return }
    XCTAssertTrue(result.loss[row].isNaN, "\(lossCase): loss of the NaN row", file: file, line: line)
    let inRow = (0..<spec.classes).map { spec.element(sample: row, cls: $0) }
    XCTAssertTrue(inRow.allSatisfy { result.grad[$0].isNaN }, "\(lossCase): gradient of the NaN row", file: file, line: line)
    let others = (0..<spec.samples).filter { $0 != row }
    assertBitIdentical(others.map { result.loss[$0] }, others.map { expected.loss[$0] }, "\(lossCase): other rows' loss",
                       file: file, line: line)
    let otherElements = others.flatMap { r in (0..<spec.classes).map { spec.element(sample: r, cls: $0) } }
    assertBitIdentical(otherElements.map { result.grad[$0] }, otherElements.map { expected.grad[$0] },
                       "\(lossCase): other rows' grad", file: file, line: line)
}

/// Central finite differences (float64) of Σ_s dloss_s·loss_s (none) or dloss·loss (mean, sum), the
/// scalar whose gradient the library writes, each loss evaluated by the library with the gradient off.
/// Non-finite logits get NaN (nothing to differentiate).
func centralDifferences(_ spec: BatchSpec, _ lossCase: LossCase, _ handle: LossHandle, relativeStep: Double = 1e-6) -> [Double] {
    precondition(spec.floatKind == .float64, "finite differences are taken in float64")
    var probe = spec
    probe.computeGrad = false
    probe.gradInPlace = false
    func objective(_ logits: [Double]) -> Double {
        probe.logits = logits
        let result = evaluateBatch(probe, lossCase, handle)
        precondition(result.status == LK_OK, "finite-difference probe failed: \(lastErrorMessage())")
        let upstream = spec.dloss ?? Array(repeating: 1, count: result.loss.count)
        return zip(result.loss, upstream).reduce(0) { $0 + $1.0 * $1.1 }
    }
    return centralDifferences(spec.logits, relativeStep: relativeStep, objective)
}

// MARK: - Worst errors seen, per loss and float type

/// The largest relative error against the reference seen per loss and float type (reported when the
/// catalogue tests finish), measured as the assertions measure it.
enum ErrorLedger {
    nonisolated(unsafe) static var worst: [String: Double] = [:]
    static let lock = NSLock()

    static func record(_ key: String, _ value: Double) {
        lock.lock()
        defer { lock.unlock() }
        worst[key] = max(worst[key] ?? 0, value)
    }

    static func report() -> String {
        lock.lock()
        defer { lock.unlock() }
        return worst.keys.sorted().map { "\($0): \(String(format: "%.2e", worst[$0]!))" }.joined(separator: "\n")
    }
}

/// max_i |got_i - expected_i| / max(|expected_i|, floor) over the finite expected values.
func relativeError(_ got: [Double], _ expected: [Double], floorFraction: Double) -> Double {
    guard got.count == expected.count else { return .infinity }
    let floor = floorFraction * maxAbs(expected.filter(\.isFinite))
    var worst = 0.0
    for (g, e) in zip(got, expected) where e.isFinite {
        let denominator = max(abs(e), floor)
        worst = max(worst, denominator > 0 ? abs(g - e) / denominator : abs(g - e))
    }
    return worst
}

/// Tolerances against the reference: float64 1e-10 relative, float32 1e-5 relative; small components
/// are judged on a floor that is a fraction of the array's largest value.
func referenceTolerance(_ kind: FloatKind) -> (rtol: Double, floor: Double) {
    kind == .float64 ? (1e-10, 1e-4) : (1e-5, 0.1)
}

/// Evaluates `spec` with `lossCase` and checks:
///  - the call succeeds and leaves the error message "";
///  - loss and gradient match the float64 reference (float64 1e-10, float32 1e-5 relative);
///  - (float64) the gradient matches central finite differences of the library's own loss (1e-6
///    relative, see below for the floor and the noise allowance);
///  - the gradient computed in place equals the out-of-place one bit for bit, and so does the loss
///    computed with no gradient at all.
@discardableResult
func checkAgainstReference(_ spec: BatchSpec, _ lossCase: LossCase, finiteDifferences: Bool = true,
                           file: StaticString = #filePath, line: UInt = #line) -> Computed {
    let what = "\(lossCase) | \(spec)"
    let handle = lossCase.makeHandle(file: file, line: line)
    var outOfPlace = spec
    outOfPlace.computeGrad = true
    outOfPlace.gradInPlace = false
    let result = evaluateBatch(outOfPlace, lossCase, handle)
    XCTAssertEqual(result.status, LK_OK, "\(what): \(lastErrorMessage())", file: file, line: line)
    guard result.status == LK_OK else { return result }
    XCTAssertEqual(lastErrorMessage(), "", file: file, line: line)

    let reference = lossCase.reference.evaluate(spec)
    let (rtol, floor) = referenceTolerance(spec.floatKind)
    assertClose(result.loss, reference.loss, rtol: rtol, floorFraction: floor, "loss vs reference, \(what)", file: file, line: line)
    assertClose(result.grad, reference.grad, rtol: rtol, floorFraction: floor, "grad vs reference, \(what)", file: file, line: line)
    let key = "\(lossCase.name) \(spec.floatKind)"
    ErrorLedger.record(key + " loss", relativeError(result.loss, reference.loss, floorFraction: floor))
    ErrorLedger.record(key + " grad", relativeError(result.grad, reference.grad, floorFraction: floor))

    if finiteDifferences && spec.floatKind == .float64 {
        let fd = centralDifferences(outOfPlace, lossCase, handle)
        let differentiable = fd.indices.filter { fd[$0].isFinite }
        let got = differentiable.map { result.grad[$0] }, expected = differentiable.map { fd[$0] }
        // 1e-6 relative, components below 1% of the largest judged on that 1%, plus the differences' own
        // rounding noise: each probe's objective carries ~ulp-level errors of its terms, which the
        // division by the step h amplifies to about 4·ε·Σ_s|dloss_s·L_s| / h.
        let upstream = spec.dloss ?? Array(repeating: 1, count: result.loss.count)
        let magnitude = zip(result.loss, upstream).reduce(0) { $0 + abs($1.0 * $1.1) }
        let floor = 1e-2 * maxAbs(expected)
        var failures = 0
        for (i, k) in differentiable.enumerated() {
            let h = 1e-6 * max(1, abs(spec.logits[k]))
            let allowed = 1e-6 * max(abs(expected[i]), floor) + 4 * Double.ulpOfOne * magnitude / h
            if !(abs(got[i] - expected[i]) <= allowed) {
                failures += 1
                if failures <= 5 {
                    XCTFail("grad vs finite differences, \(what)[\(k)]: got \(got[i]), expected \(expected[i]) (allowed \(allowed))",
                            file: file, line: line)
                }
            }
        }
        if failures > 5 { XCTFail("grad vs finite differences, \(what): \(failures) mismatches in all", file: file, line: line) }
        ErrorLedger.record("\(lossCase.name) finite differences", relativeError(got, expected, floorFraction: 1e-2))
    }

    var inPlace = spec
    inPlace.computeGrad = true
    inPlace.gradInPlace = true
    let inPlaceResult = evaluateBatch(inPlace, lossCase, handle)
    XCTAssertEqual(inPlaceResult.status, LK_OK, "in place, \(what): \(lastErrorMessage())", file: file, line: line)
    if inPlaceResult.status == LK_OK {
        assertBitIdentical(inPlaceResult.loss, result.loss, "in-place loss, \(what)", file: file, line: line)
        assertBitIdentical(inPlaceResult.grad, result.grad, "in-place grad, \(what)", file: file, line: line)
    }

    var lossOnly = spec
    lossOnly.computeGrad = false
    lossOnly.gradInPlace = false
    let lossOnlyResult = evaluateBatch(lossOnly, lossCase, handle)
    XCTAssertEqual(lossOnlyResult.status, LK_OK, "loss only, \(what): \(lastErrorMessage())", file: file, line: line)
    if lossOnlyResult.status == LK_OK {
        assertBitIdentical(lossOnlyResult.loss, result.loss, "loss without gradient, \(what)", file: file, line: line)
    }
    return result
}
