// Batches whose samples hold the cases a kernel that takes several samples at once must not mix up,
// and each sample taken alone, for the tests that compare such kernels (columns, tiles of rows) with
// the row kernel sample by sample.
import CLossKit
import XCTest

/// A batch of `shape` whose samples 1, 2, 3 and 4 are a masked row, a row with a masked target, a
/// NaN row and a row of huge logits (in float32's range); sample 0 is ignored and holds a NaN (its
/// gradient is 0 all the same: 0·NaN must not reach it).
func edgeSampleSpec(_ rng: inout SeededRandom, shape: [Int64], floatKind: FloatKind) -> BatchSpec {
    var spec = BatchSpec(shape: shape, logits: [], target: .indices([]), floatKind: floatKind, reduction: LK_REDUCTION_NONE)
    spec.logits = rng.logits(spec.elements)
    var targets = rng.indices(spec.samples, classes: spec.classes, ignoredFraction: 0.2)
    targets[0] = -100
    for k in 1...4 where targets[k] == -100 { targets[k] = 1 }
    for j in 0..<spec.classes {
        spec.logits[spec.element(sample: 1, cls: j)] = -.infinity
        spec.logits[spec.element(sample: 3, cls: j)] = j == 2 ? .nan : 0.5
        spec.logits[spec.element(sample: 4, cls: j)] = 1e30 * Double(j % 3)
    }
    spec.logits[spec.element(sample: 2, cls: Int(targets[2]))] = -.infinity
    spec.logits[spec.element(sample: 0, cls: 1)] = .nan
    spec.target = .indices(targets)
    spec.weight = rng.weights(spec.classes)
    spec.dloss = (0..<spec.samples).map { _ in rng.uniform(0.5...2) }
    return spec
}

/// Sample `s` of `spec` alone: a (1, C) batch, or with `positions` > 1 a (1, C, positions) batch
/// holding it at every position (its sample 0 is the one wanted).
func sampleAlone(_ spec: BatchSpec, sample s: Int, positions: Int = 1) -> BatchSpec {
    var one = spec
    one.shape = positions == 1 ? [1, spec.shape[1]] : [1, spec.shape[1], Int64(positions)]
    one.logits = (0..<spec.classes).flatMap { j in Array(repeating: spec.logits[spec.element(sample: s, cls: j)], count: positions) }
    if case .indices(let y) = spec.target { one.target = .indices(Array(repeating: y[s], count: positions)) }
    one.dloss = spec.dloss.map { Array(repeating: $0[s], count: positions) }
    return one
}

/// a ≈ b to `tolerance` relative (on at least 1), NaN only with NaN, infinities exactly.
func assertCloseValue(_ a: Double, _ b: Double, _ tolerance: Double, _ what: @autoclosure () -> String,
                      file: StaticString = #filePath, line: UInt = #line) {
    if a.isNaN || b.isNaN { return XCTAssertTrue(a.isNaN && b.isNaN, "\(what()): \(a) vs \(b)", file: file, line: line) }
    if a.isInfinite || b.isInfinite { return XCTAssertEqual(a, b, what(), file: file, line: line) }
    XCTAssertLessThanOrEqual(abs(a - b), tolerance * max(1, abs(b)), "\(what()): \(a) vs \(b)", file: file, line: line)
}
