// Rows of a moderate number of classes (Sources/LossKitKernels/RowTiles.swift and the files of its
// extensions): the softmax-target losses, squentropy and logit_norm take contiguous (N, C) rows with
// 32 <= C < 1024 (squentropy and logit_norm C < 256) a tile of 16 at a time, each step over the whole
// tile (the logs, the sample transforms and p_y in vector lanes; the squares summed in the max's
// pass). Checked against the independent references and central differences, against the row kernel
// sample by sample with the edge cases in a tile (an ignored row, a fully masked row, a masked
// target, a NaN row, huge logits), for a partial last tile, for bit-identical results on 1, 2 and 3
// threads, and for a row's result not depending on which tile holds it.
import CLossKit
import XCTest

final class RowTileTests: XCTestCase {
    /// Two full tiles and a partial one.
    private let rows = 37

    private func tiledLosses(_ classes: Int) -> [LossCase] {
        [.crossEntropy(), .expectation(), .mix(), .logitAdjusted(priors: LossCase.priors(classes)), .focal(gamma: 2), .squentropy(), .logitNorm()]
    }

    private func tileSpec(_ rng: inout SeededRandom, _ lossCase: LossCase, classes: Int, reduction: lk_reduction,
                          _ options: SpecOptions) -> BatchSpec {
        makeSpec(&rng, lossCase, shape: [Int64(rows), Int64(classes)], reduction: reduction, options)
    }

    /// Every sample of a batch of tiles against the row kernel, which a (1, C, 2) batch takes (too
    /// few positions for the column kernel, not contiguous rows): the same up to the vector log's
    /// last bit. Samples 0–4 of the batch are the edge cases (`edgeSampleSpec`), in the first tile.
    func testTilesMatchTheRowKernel() {
        var rng = SeededRandom(seed: 8_004)
        for classes in [32, 100] {
            for floatKind in FloatKind.allCases {
                for lossCase in tiledLosses(classes) {
                    for inPlace in [false, true] {
                        var spec = edgeSampleSpec(&rng, shape: [Int64(rows), Int64(classes)], floatKind: floatKind)
                        spec.gradInPlace = inPlace
                        let handle = lossCase.makeHandle(nanPolicy: "propagate")
                        let whole = PreparedBatch(spec)
                        XCTAssertEqual(whole.compute(handle), LK_OK, "\(lossCase.name) \(spec): \(lastErrorMessage())")
                        let losses = whole.lossValues, grads = whole.gradValues
                        let tolerance = floatKind == .float32 ? 2e-6 : 1e-13
                        for s in 0..<spec.samples {
                            let alone = sampleAlone(spec, sample: s, positions: 2)
                            let row = PreparedBatch(alone)
                            XCTAssertEqual(row.compute(handle), LK_OK)
                            let what = "\(lossCase.name) \(spec) sample \(s)"
                            assertCloseValue(losses[s], row.lossValues[0], tolerance, "loss, \(what)")
                            for j in 0..<classes {
                                assertCloseValue(grads[spec.element(sample: s, cls: j)], row.gradValues[alone.element(sample: 0, cls: j)],
                                                 tolerance, "grad \(j), \(what)")
                            }
                        }
                        // The edge rows: ignored → 0; masked → zero gradient; NaN → NaN.
                        XCTAssertEqual(losses[0], 0)
                        for j in 0..<classes {
                            XCTAssertEqual(grads[spec.element(sample: 0, cls: j)], 0)
                            XCTAssertEqual(grads[spec.element(sample: 1, cls: j)], 0)
                        }
                        XCTAssertTrue(losses[3].isNaN, "a NaN row gives a NaN loss")
                    }
                }
            }
        }
    }

    func testAgainstReferences() {
        var rng = SeededRandom(seed: 8_000)
        for classes in [32, 100] {
            for lossCase in tiledLosses(classes) {
                let specs = [
                    tileSpec(&rng, lossCase, classes: classes, reduction: LK_REDUCTION_MEAN,
                             SpecOptions(weighted: true, upstream: true, ignoredFraction: 0.3, masked: true)),
                    tileSpec(&rng, lossCase, classes: classes, reduction: LK_REDUCTION_NONE,
                             SpecOptions(floatKind: .float32, indexKind: .int32, upstream: true, masked: true)),
                    tileSpec(&rng, lossCase, classes: classes, reduction: LK_REDUCTION_SUM,
                             SpecOptions(floatKind: .float32, ignoredFraction: 0.2)),
                ]
                // Loss and gradient against the reference; in place and loss-only bit for bit; the
                // float64 batch's gradient against central differences where it is cheap enough.
                for (i, spec) in specs.enumerated() { checkAgainstReference(spec, lossCase, finiteDifferences: i == 0 && classes == 32) }
            }
        }
        // The last class count that runs here (squentropy and logit_norm: 255), one partial tile.
        for (classes, lossCase) in tiledLosses(1023).map({ (1023, $0) }) + [(255, .squentropy()), (255, .logitNorm())] {
            checkAgainstReference(makeSpec(&rng, lossCase, shape: [5, Int64(classes)], reduction: LK_REDUCTION_MEAN,
                                           SpecOptions(floatKind: .float32, weighted: true, upstream: true, masked: true)),
                                  lossCase, finiteDifferences: false)
        }
    }

    func testThreadCountDoesNotChangeResults() {
        var rng = SeededRandom(seed: 8_001)
        for lossCase in tiledLosses(100) {
            // Enough rows for the engine's plan to make several chunks.
            var spec = makeSpec(&rng, lossCase, shape: [2_003, 100], reduction: LK_REDUCTION_MEAN,
                                SpecOptions(floatKind: .float32, weighted: true, ignoredFraction: 0.3, masked: true))
            spec.logits[spec.element(sample: 1_000, cls: 3)] = -.infinity
            assertThreadCountsAgree(spec, lossCase)
        }
    }

    /// Rows 5..<rows evaluated as a batch of their own sit at other places in other tiles; each row's
    /// loss and gradient must be the same bits.
    func testRowResultDoesNotDependOnItsTile() {
        var rng = SeededRandom(seed: 8_002)
        for lossCase in tiledLosses(100) {
            let full = tileSpec(&rng, lossCase, classes: 100, reduction: LK_REDUCTION_NONE,
                                SpecOptions(floatKind: .float32, upstream: true, ignoredFraction: 0.2, masked: true))
            guard case .indices(let targets) = full.target, let dloss = full.dloss else { return XCTFail("indices and dloss expected") }
            var tail = full
            tail.shape = [Int64(rows - 5), 100]
            tail.logits = Array(full.logits[(5 * 100)...])
            tail.target = .indices(Array(targets[5...]))
            tail.dloss = Array(dloss[5...])
            let handle = lossCase.makeHandle()
            let whole = evaluateBatch(full, lossCase, handle), part = evaluateBatch(tail, lossCase, handle)
            assertBitIdentical(part.loss, Array(whole.loss[5...]), "\(lossCase): loss of rows 5..<\(rows)")
            assertBitIdentical(part.grad, Array(whole.grad[(5 * 100)...]), "\(lossCase): grad of rows 5..<\(rows)")
        }
    }

    /// A NaN in one row (nan_policy propagate) makes that row's loss and gradient NaN and leaves the
    /// other rows of its tile as they were without it.
    func testNaNReachesItsRowOnly() {
        var rng = SeededRandom(seed: 8_003)
        for lossCase in tiledLosses(100) {
            let clean = tileSpec(&rng, lossCase, classes: 100, reduction: LK_REDUCTION_NONE, SpecOptions(floatKind: .float32))
            assertNaNStaysInItsRow(clean, lossCase, row: 20, cls: 40)
        }
    }
}
