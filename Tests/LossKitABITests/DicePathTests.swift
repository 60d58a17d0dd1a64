// Dice is one sum over all pixels, so the same pixels give the same loss and gradient whatever the
// layout. Each layout takes its own path through the kernel (column tiles of an (N, C, d) batch plus
// its leftover pixels as gathered rows; small-C rows transposed into tiles; contiguous rows), and each
// path has three variants (the softmax kept in a separate gradient buffer between the passes, the
// gradient written over the logits, the loss alone): all must agree, including on the edge pixels.
import CLossKit
import LossKitABI
import XCTest

final class DicePathTests: XCTestCase {
    /// `pixels` pixels of C classes, as rows: pixel 1 has every class -inf, pixel 2 a masked target,
    /// pixel 4 huge logits; with `nanPixel`, pixel 3 holds a NaN; a fifth of the others are ignored,
    /// pixel 0 always.
    func pixelRows(_ rng: inout SeededRandom, pixels: Int, classes: Int, nanPixel: Bool) -> (logits: [[Double]], targets: [Int64]) {
        var rows = (0..<pixels).map { _ in rng.logits(classes) }
        var targets = rng.indices(pixels, classes: classes, ignoredFraction: 0.2)
        targets[0] = -100
        for k in 1...4 where targets[k] == -100 { targets[k] = 1 }
        rows[1] = Array(repeating: -.infinity, count: classes)
        rows[2][Int(targets[2])] = -.infinity
        if nanPixel { rows[3][2] = .nan }
        rows[4] = (0..<classes).map { 1e30 * Double($0 % 3) }
        return (rows, targets)
    }

    /// The pixels as an (N, C, d) batch with N·d = the pixels, pixel n·d + i at (n, ·, i).
    func spec(_ rows: [[Double]], _ targets: [Int64], shape: [Int64], floatKind: FloatKind) -> BatchSpec {
        var s = BatchSpec(shape: shape, logits: [], target: .indices(targets), floatKind: floatKind)
        s.logits = Array(repeating: 0, count: s.elements)
        for (pixel, row) in rows.enumerated() {
            for (j, value) in row.enumerated() { s.logits[s.element(sample: pixel, cls: j)] = value }
        }
        return s
    }

    func testEveryPathGivesTheSameResult() {
        var rng = SeededRandom(seed: 7070)
        // 40 pixels: (2, C, 20) is a tile of 16 (two of 8 for float64) and a leftover of 4 per sample.
        for classes in [5, 40] {
            for floatKind in FloatKind.allCases {
                for nanPixel in [false, true] {
                    let (rows, targets) = pixelRows(&rng, pixels: 40, classes: classes, nanPixel: nanPixel)
                    let weight = rng.weights(classes)
                    let handle = LossCase.dice(smooth: 0.5).makeHandle(nanPolicy: "propagate")
                    var reference: (loss: Double, grad: [Double])?
                    for shape: [Int64] in [[2, Int64(classes), 20], [40, Int64(classes)], [2, Int64(classes), 4, 5]] {
                        for variant in ["separate", "in place", "loss only"] {
                            var s = spec(rows, targets, shape: shape, floatKind: floatKind)
                            s.weight = weight
                            s.dloss = [1.5]
                            s.gradInPlace = variant == "in place"
                            s.computeGrad = variant != "loss only"
                            let what = "C \(classes) \(floatKind) NaN \(nanPixel) shape \(shape) \(variant)"
                            let batch = PreparedBatch(s)
                            XCTAssertEqual(batch.compute(handle), LK_OK, "\(what): \(lastErrorMessage())")
                            let loss = batch.lossValues[0]
                            XCTAssertEqual(loss.isNaN, nanPixel, "\(what): loss \(loss)")
                            // Back in pixel order, to compare layouts.
                            let grad = s.computeGrad
                                ? (0..<40).flatMap { p in (0..<classes).map { batch.gradValues[s.element(sample: p, cls: $0)] } }
                                : []
                            if s.computeGrad {  // pixels 0 (ignored) and 1 (every class -inf): 0, even next to a NaN
                                XCTAssertEqual(Array(grad[0..<2 * classes]), Array(repeating: 0, count: 2 * classes), what)
                            }
                            if nanPixel {
                                let others = (5..<40).filter { targets[$0] != -100 }
                                XCTAssertTrue(!s.computeGrad || grad[others[0] * classes].isNaN, "\(what): the NaN reaches the gradient")
                                continue
                            }
                            guard let r = reference else {
                                reference = (loss, grad)
                                continue
                            }
                            let tolerance = floatKind == .float32 ? 1e-6 : 1e-14
                            XCTAssertEqual(loss, r.loss, accuracy: tolerance * abs(r.loss), "\(what): loss")
                            guard s.computeGrad else { continue }
                            let scale = r.grad.map(abs).max()!
                            let worst = grad.indices.max { abs(grad[$0] - r.grad[$0]) < abs(grad[$1] - r.grad[$1]) }!
                            XCTAssertEqual(grad[worst], r.grad[worst], accuracy: tolerance * scale, "\(what): element \(worst)")
                        }
                    }
                }
            }
        }
    }
}
