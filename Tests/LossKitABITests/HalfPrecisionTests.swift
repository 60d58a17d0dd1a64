// bfloat16 and binary16 logits through the C ABI: the result must be the float32 path's on the
// widened logits (bit for bit with a float32 gradient; that gradient rounded to nearest even with a
// 16-bit one, in place too), and the new fields must be checked like the old ones.
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class HalfPrecisionTests: XCTestCase {
    enum Format: CaseIterable {
        case bfloat16, float16
        var dtype: Int32 { Int32(self == .bfloat16 ? LK_BFLOAT16.rawValue : LK_FLOAT16.rawValue) }
        func bits(_ x: Float) -> UInt16 {  // x is representable (see `representable`)
            self == .float16 ? Float16(x).bitPattern : UInt16(x.bitPattern >> 16)
        }
        func value(_ h: UInt16) -> Float {
            self == .float16 ? Float(Float16(bitPattern: h)) : Float(bitPattern: UInt32(h) << 16)
        }
        /// x rounded to this format, to nearest even (Float16's conversion; for bfloat16 by hand).
        func rounded(_ x: Float) -> UInt16 {
            if self == .float16 { return Float16(x).bitPattern }
            let b = x.bitPattern
            return UInt16((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
        }
    }

    struct Outcome {
        var status: lk_status
        var loss: [Float]
        var grad32: [Float]
        var grad16: [UInt16]
    }

    /// One evaluation of `name` on 16-bit logits `h` (shape), int64 targets, with a gradient of
    /// `gradDType` (0: the logits' type, LK_FLOAT32) written in place when asked.
    func compute(_ name: String, _ format: Format, shape: [Int64], logits h: [UInt16], target: [Int64],
                 reduction: lk_reduction, gradDType: Int32, inPlace: Bool = false,
                 edit: (inout lk_batch) -> Void = { _ in }) -> Outcome {
        var logits = h, targets = target
        let elements = h.count, samples = target.count
        let lossCount = reduction == LK_REDUCTION_NONE ? samples : 1
        var loss = [Float](repeating: -7, count: lossCount)
        var grad32 = [Float](repeating: -7, count: elements)
        var grad16 = [UInt16](repeating: 0xDEAD, count: elements)
        var shapeBuffer = shape
        let handle = LossCase(name: name, reference: ReferenceRowLoss.crossEntropy).makeHandle()
        let status = logits.withUnsafeMutableBufferPointer { z in
            targets.withUnsafeBufferPointer { y in
                loss.withUnsafeMutableBufferPointer { l in
                    grad32.withUnsafeMutableBufferPointer { g32 in
                        grad16.withUnsafeMutableBufferPointer { g16 in
                            shapeBuffer.withUnsafeMutableBufferPointer { s in
                                var batch = lk_batch()
                                lk_batch_init(&batch)
                                batch.ndim = Int32(shape.count)
                                batch.shape = UnsafePointer(s.baseAddress!)
                                batch.logits_dtype = format.dtype
                                batch.target_dtype = Int32(LK_INT64.rawValue)
                                batch.logits = UnsafeRawPointer(z.baseAddress!)
                                batch.target = UnsafeRawPointer(y.baseAddress!)
                                batch.reduction = Int32(reduction.rawValue)
                                batch.loss = UnsafeMutableRawPointer(l.baseAddress!)
                                batch.grad_dtype = gradDType
                                batch.grad = inPlace ? UnsafeMutableRawPointer(z.baseAddress!)
                                    : gradDType == Int32(LK_FLOAT32.rawValue) ? UnsafeMutableRawPointer(g32.baseAddress!)
                                    : UnsafeMutableRawPointer(g16.baseAddress!)
                                edit(&batch)
                                return lk_loss_compute(handle.pointer, &batch)
                            }
                        }
                    }
                }
            }
        }
        return Outcome(status: status, loss: loss, grad32: grad32, grad16: inPlace ? logits : grad16)
    }

    /// The same batch in float32 (the widened logits), through the ordinary path.
    func float32Reference(_ name: String, shape: [Int64], logits: [Float], target: [Int64],
                          reduction: lk_reduction) -> (loss: [Double], grad: [Double]) {
        let spec = BatchSpec(shape: shape, logits: logits.map(Double.init), target: .indices(target), floatKind: .float32,
                             reduction: reduction)
        let prepared = PreparedBatch(spec)
        XCTAssertEqual(prepared.compute(LossCase(name: name, reference: ReferenceRowLoss.crossEntropy).makeHandle()), LK_OK)
        return (prepared.lossValues, prepared.gradValues)
    }

    func randomBatch(_ format: Format, shape: [Int64], seed: UInt64) -> (bits: [UInt16], values: [Float], target: [Int64]) {
        var rng = SeededRandom(seed: seed)
        let classes = Int(shape[1]), samples = Int(shape[0]) * shape.dropFirst(2).reduce(1) { $0 * Int($1) }
        let bits = rng.logits(samples * classes).map { format.rounded(Float($0)) }
        return (bits, bits.map(format.value), rng.indices(samples, classes: classes))
    }

    func testMatchesFloat32OnTheWidenedLogits() {
        for format in Format.allCases {
            for shape: [Int64] in [[6, 5], [40, 7], [2, 5, 21]] {
                for name in ["cross_entropy", "squentropy", "focal"] {
                    for reduction in [LK_REDUCTION_NONE, LK_REDUCTION_MEAN] {
                        let batch = randomBatch(format, shape: shape, seed: 31)
                        let reference = float32Reference(name, shape: shape, logits: batch.values, target: batch.target,
                                                         reduction: reduction)
                        let what = "\(name) \(format) \(shape)"
                        // float32 gradient: bit for bit the float32 path.
                        let wide = compute(name, format, shape: shape, logits: batch.bits, target: batch.target,
                                           reduction: reduction, gradDType: Int32(LK_FLOAT32.rawValue))
                        XCTAssertEqual(wide.status, LK_OK, "\(what): \(lastErrorMessage())")
                        XCTAssertEqual(wide.loss.map(Double.init), reference.loss, what)
                        XCTAssertEqual(wide.grad32.map(Double.init), reference.grad, what)
                        // 16-bit gradient, apart and in place: the float32 gradient rounded.
                        let rounded = reference.grad.map { format.rounded(Float($0)) }
                        for inPlace in [false, true] {
                            let narrow = compute(name, format, shape: shape, logits: batch.bits, target: batch.target,
                                                 reduction: reduction, gradDType: 0, inPlace: inPlace)
                            XCTAssertEqual(narrow.status, LK_OK, "\(what): \(lastErrorMessage())")
                            XCTAssertEqual(narrow.loss.map(Double.init), reference.loss, what)
                            XCTAssertEqual(narrow.grad16, rounded, "\(what) in place \(inPlace)")
                        }
                    }
                }
            }
        }
    }

    /// A bfloat16/binary16 NaN is refused like a float32 one, with the outputs untouched; a bad
    /// grad_dtype, a float32 gradient written over 16-bit logits and a non-zero reserved1 are refused.
    func testRefusals() {
        let shape: [Int64] = [3, 4]
        for format in Format.allCases {
            var batch = randomBatch(format, shape: shape, seed: 5)
            batch.bits[5] = format == .float16 ? 0x7E00 : 0x7FC0
            let nan = compute("cross_entropy", format, shape: shape, logits: batch.bits, target: batch.target,
                              reduction: LK_REDUCTION_MEAN, gradDType: 0)
            XCTAssertEqual(nan.status, LK_ERROR_NONFINITE_LOGIT)
            XCTAssertTrue(lastErrorMessage().contains("sample 1, class 1"), lastErrorMessage())
            XCTAssertEqual(nan.loss, [-7])
            XCTAssertEqual(nan.grad16, [UInt16](repeating: 0xDEAD, count: 12))

            let good = randomBatch(format, shape: shape, seed: 6)
            for bad in [Int32(LK_FLOAT64.rawValue), Int32(LK_INT32.rawValue), 99, Int32(format == .float16 ? LK_BFLOAT16.rawValue : LK_FLOAT16.rawValue)] {
                let outcome = compute("cross_entropy", format, shape: shape, logits: good.bits, target: good.target,
                                      reduction: LK_REDUCTION_MEAN, gradDType: bad)
                XCTAssertEqual(outcome.status, LK_ERROR_BAD_DTYPE, "grad_dtype \(bad)")
                XCTAssertTrue(lastErrorMessage().contains("grad_dtype"), lastErrorMessage())
                XCTAssertEqual(outcome.loss, [-7])
            }
            let overLogits = compute("cross_entropy", format, shape: shape, logits: good.bits, target: good.target,
                                     reduction: LK_REDUCTION_MEAN, gradDType: Int32(LK_FLOAT32.rawValue), inPlace: true)
            XCTAssertEqual(overLogits.status, LK_ERROR_ALIASING)
            XCTAssertEqual(overLogits.grad16, good.bits, "the logits are untouched")
            let reserved = compute("cross_entropy", format, shape: shape, logits: good.bits, target: good.target,
                                   reduction: LK_REDUCTION_MEAN, gradDType: 0) { $0.reserved1 = 1 }
            XCTAssertEqual(reserved.status, LK_ERROR_BAD_STRUCT)
        }
        // float32/float64 logits take only grad_dtype 0 or their own type.
        let spec = BatchSpec(shape: [2, 3], logits: [0, 1, 2, 3, 4, 5], target: .indices([0, 2]), floatKind: .float64)
        let prepared = PreparedBatch(spec)
        prepared.batch.grad_dtype = Int32(LK_FLOAT32.rawValue)
        XCTAssertEqual(prepared.compute(LossCase.crossEntropy().makeHandle()), LK_ERROR_BAD_DTYPE)
        prepared.batch.grad_dtype = Int32(LK_FLOAT64.rawValue)
        XCTAssertEqual(prepared.compute(LossCase.crossEntropy().makeHandle()), LK_OK)
    }

    /// A caller compiled against 0.1.0 passes the shorter struct (it ends at grad): accepted, read as
    /// grad_dtype 0, and nothing past its end is read.
    func testVersion010StructSize() {
        let spec = BatchSpec(shape: [2, 3], logits: [0, 1, 2, 3, 4, 5], target: .indices([0, 2]), floatKind: .float32)
        let prepared = PreparedBatch(spec)
        let firstSize = MemoryLayout<lk_batch>.offset(of: \lk_batch.grad_dtype)!
        // The old struct, followed by bytes that would be a bad grad_dtype / reserved1 if read.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<lk_batch>.size, alignment: 16)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0xFF, count: MemoryLayout<lk_batch>.size)
        var old = prepared.batch
        old.struct_size = UInt32(firstSize)
        withUnsafeBytes(of: &old) { raw.copyMemory(from: $0.baseAddress!, byteCount: firstSize) }
        let handle = LossCase.crossEntropy().makeHandle()
        XCTAssertEqual(lk_loss_compute(handle.pointer, raw.assumingMemoryBound(to: lk_batch.self)), LK_OK, lastErrorMessage())
        XCTAssertFalse(prepared.lossUntouched)
    }
}
