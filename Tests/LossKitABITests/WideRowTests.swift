// Few rows of very many classes (Sources/LossKitKernels/WideRows.swift): the softmax-target losses cut
// each row into segments that run on different threads and combine their maxima and sums per row.
// Checked against the independent references, by central differences on chosen coordinates, for
// bit-identical results on 1 and 2 threads, and on the edges of the combine step: a segment whose
// every class is masked, an ignored row, a NaN (nan_policy propagate).
import CLossKit
import XCTest

final class WideRowTests: XCTestCase {
    /// 5 segments of 16384 classes, the last one partial (WideRows.segment, WideRows.minClasses).
    private let classes = 70_000
    private let maskedSegment = 16_384..<32_768

    private var softmaxTargetLosses: [LossCase] {
        [.crossEntropy(), .expectation(), .mix(), .logitAdjusted(priors: LossCase.priors(classes)), .focal(gamma: 2)]
    }

    /// Rows 0..<N of (N, C): row 0 ignored (when N > 1), row 1 with one segment all -inf (its target
    /// outside it), every other row with one masked class (SpecOptions.masked).
    private func wideSpec(_ rng: inout SeededRandom, _ lossCase: LossCase, rows: Int, reduction: lk_reduction,
                          _ options: SpecOptions) -> BatchSpec {
        var spec = makeSpec(&rng, lossCase, shape: [Int64(rows), Int64(classes)], reduction: reduction, options)
        if rows > 1, case .indices(var targets) = spec.target {
            if maskedSegment.contains(Int(targets[1])) { targets[1] = 5 }
            spec.target = .indices(targets)
            for j in maskedSegment { spec.logits[spec.element(sample: 1, cls: j)] = -.infinity }
        }
        return spec
    }

    func testAgainstReferences() {
        var rng = SeededRandom(seed: 7_000)
        for lossCase in softmaxTargetLosses {
            let specs = [
                wideSpec(&rng, lossCase, rows: 3, reduction: LK_REDUCTION_MEAN,
                         SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.3, masked: true)),
                wideSpec(&rng, lossCase, rows: 1, reduction: LK_REDUCTION_NONE,
                         SpecOptions(floatKind: .float32, indexKind: .int32, upstream: true)),
                wideSpec(&rng, lossCase, rows: 2, reduction: LK_REDUCTION_SUM, SpecOptions(floatKind: .float32, masked: true)),
            ]
            // Loss and gradient against the reference; in place and loss-only bit for bit.
            for spec in specs { checkAgainstReference(spec, lossCase, finiteDifferences: false) }
            checkFiniteDifferences(specs[0], lossCase)
        }
    }

    /// Central differences (float64) of the library's own loss at the coordinates where the
    /// segments meet, the target's, and the ends of every row, judged as `checkAgainstReference`
    /// judges the full set: 1e-6 relative, small components on 1 % of the largest, plus the
    /// differences' own rounding noise.
    private func checkFiniteDifferences(_ spec: BatchSpec, _ lossCase: LossCase) {
        let handle = lossCase.makeHandle()
        var probe = spec
        probe.computeGrad = false
        let computed = evaluateBatch(spec, lossCase, handle)
        guard case .indices(let targets) = spec.target else { return XCTFail("class-index targets expected") }
        let upstream = spec.dloss ?? Array(repeating: 1, count: computed.loss.count)
        let magnitude = zip(computed.loss, upstream).reduce(0) { $0 + abs($1.0 * $1.1) }
        var checked: [(k: Int, got: Double, expected: Double, h: Double)] = []
        for row in 0..<spec.samples {
            let columns = [0, 16_383, 16_384, 49_151, 49_152, 65_535, 65_536, classes - 1, targets[row] < 0 ? 7 : Int(targets[row])]
            for j in columns {
                let k = spec.element(sample: row, cls: j)
                guard spec.logits[k].isFinite else { continue }
                let h = 1e-6 * max(1, abs(spec.logits[k]))
                func objective(_ delta: Double) -> Double {
                    probe.logits[k] = spec.logits[k] + delta
                    let result = evaluateBatch(probe, lossCase, handle)
                    return zip(result.loss, upstream).reduce(0) { $0 + $1.0 * $1.1 }
                }
                let difference = (objective(h) - objective(-h)) / (2 * h)
                probe.logits[k] = spec.logits[k]
                checked.append((k, computed.grad[k], difference, h))
            }
        }
        let floor = 1e-2 * checked.map { abs($0.expected) }.max()!
        for c in checked {
            let allowed = 1e-6 * max(abs(c.expected), floor) + 4 * Double.ulpOfOne * magnitude / c.h
            XCTAssertEqual(c.got, c.expected, accuracy: allowed, "\(lossCase) element \(c.k): grad vs central difference")
        }
    }

    /// No rows at all: the engine's own path, not the segments (which need a row).
    func testEmptyBatch() {
        for lossCase in softmaxTargetLosses {
            let spec = BatchSpec(shape: [0, Int64(classes)], logits: [], target: .indices([]))
            let result = checkAgainstReference(spec, lossCase, finiteDifferences: false)
            XCTAssertEqual(result.loss, [0], "\(lossCase)")
        }
    }

    func testThreadCountDoesNotChangeResults() {
        var rng = SeededRandom(seed: 7_001)
        for lossCase in softmaxTargetLosses {
            let spec = wideSpec(&rng, lossCase, rows: 3, reduction: LK_REDUCTION_MEAN,
                                SpecOptions(floatKind: .float32, weighted: true, ignoredFraction: 0.3, masked: true))
            assertThreadCountsAgree(spec, lossCase)
        }
    }

    /// A NaN in one row (nan_policy propagate) makes that row's loss and gradient NaN and leaves the
    /// other rows as they were without it.
    func testNaNReachesItsRowOnly() {
        var rng = SeededRandom(seed: 7_002)
        for lossCase in softmaxTargetLosses {
            let clean = wideSpec(&rng, lossCase, rows: 3, reduction: LK_REDUCTION_NONE, SpecOptions(floatKind: .float32))
            assertNaNStaysInItsRow(clean, lossCase, row: 2, cls: 40_000)
        }
    }
}
