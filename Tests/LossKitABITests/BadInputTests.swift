// One test per bad input. For every refusal: the exact status, a non-empty message that names what
// was wrong, a known status string, and not one byte of the caller's buffers written (the outputs
// still hold the sentinel they were filled with).
import CLossKit
import Foundation
import LossKitABI
import XCTest

final class BadInputTests: XCTestCase {
    // MARK: - Helpers

    /// A valid batch: (3, 4, 2) logits, class indices, a gradient buffer.
    func validSpec(_ floatKind: FloatKind = .float64, reduction: lk_reduction = LK_REDUCTION_MEAN) -> BatchSpec {
        var rng = SeededRandom(seed: 99)
        var spec = BatchSpec(shape: [3, 4, 2], logits: rng.logits(24), target: .indices([0, 3, 1, 2, 3, 0]),
                             floatKind: floatKind, reduction: reduction)
        spec.weight = [1, 0.5, 2, 1.5]
        spec.dloss = Array(repeating: 0.75, count: spec.lossCount)
        return spec
    }

    /// Asserts a refused call: status, message, status string.
    func assertRefused(_ status: lk_status, _ expected: lk_status, mentions: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(status, expected, "status \(statusString(status)), message: \(lastErrorMessage())", file: file, line: line)
        let message = lastErrorMessage()
        XCTAssertFalse(message.isEmpty, "a refused call must explain itself", file: file, line: line)
        for word in mentions {
            XCTAssertTrue(message.lowercased().contains(word.lowercased()),
                          "message \"\(message)\" should mention \"\(word)\"", file: file, line: line)
        }
        XCTAssertNotEqual(statusString(status), "unknown status", file: file, line: line)
        XCTAssertNotEqual(status, LK_OK, file: file, line: line)
    }

    /// Builds `spec`, lets `edit` break it, calls lk_loss_compute and asserts the refusal and that no
    /// buffer of the caller changed (outputs still hold the sentinel; inputs are byte-identical).
    func expectRefusal(_ spec: BatchSpec, _ expected: lk_status, mentions: [String], handle: LossHandle = LossHandle(),
                       file: StaticString = #filePath, line: UInt = #line, edit: (PreparedBatch) -> Void = { _ in }) {
        let prepared = PreparedBatch(spec)
        edit(prepared)
        let buffers = [prepared.logits, prepared.target, prepared.loss] + [prepared.grad, prepared.weight, prepared.dloss].compactMap { $0 }
        let before = buffers.map { $0.snapshot() }
        let status = prepared.compute(handle)
        assertRefused(status, expected, mentions: mentions, file: file, line: line)
        XCTAssertTrue(prepared.lossUntouched, "the loss buffer was written on error", file: file, line: line)
        XCTAssertTrue(prepared.gradUntouched, "the grad buffer was written on error", file: file, line: line)
        for (buffer, old) in zip(buffers, before) where buffer.snapshot() != old {
            XCTFail("a caller buffer changed on error", file: file, line: line)
        }
    }

    func randomProbabilities(_ shape: [Int64], seed: UInt64) -> [Double] {
        var rng = SeededRandom(seed: seed)
        return rng.probabilities(shape: shape)
    }

    func testTheValidBatchIsValid() {
        for floatKind in FloatKind.allCases {
            for reduction in [LK_REDUCTION_MEAN, LK_REDUCTION_SUM, LK_REDUCTION_NONE] {
                let prepared = PreparedBatch(validSpec(floatKind, reduction: reduction))
                XCTAssertEqual(prepared.compute(LossHandle()), LK_OK, lastErrorMessage())
                XCTAssertFalse(prepared.lossUntouched)
                XCTAssertFalse(prepared.gradUntouched)
            }
        }
    }

    // MARK: - NULL pointers

    func testNullBatch() {
        let handle = LossHandle()
        assertRefused(lk_loss_compute(handle.pointer, nil), LK_ERROR_NULL_POINTER, mentions: ["batch"])
    }

    func testNullLossHandleToCompute() {
        let prepared = PreparedBatch(validSpec())
        let status = withUnsafePointer(to: &prepared.batch) { lk_loss_compute(nil, $0) }
        assertRefused(status, LK_ERROR_NULL_POINTER, mentions: ["loss"])
        XCTAssertTrue(prepared.lossUntouched)
        XCTAssertTrue(prepared.gradUntouched)
    }

    func testNullLogits() {
        expectRefusal(validSpec(), LK_ERROR_NULL_POINTER, mentions: ["logits"]) { $0.batch.logits = nil }
    }

    func testNullTarget() {
        expectRefusal(validSpec(), LK_ERROR_NULL_POINTER, mentions: ["target"]) { $0.batch.target = nil }
    }

    func testNullLossOutput() {
        expectRefusal(validSpec(), LK_ERROR_NULL_POINTER, mentions: ["loss"]) { $0.batch.loss = nil }
    }

    func testNullShape() {
        expectRefusal(validSpec(), LK_ERROR_NULL_POINTER, mentions: ["shape"]) { $0.batch.shape = nil }
    }

    func testNullNameToCreate() {
        var out = OpaquePointer(bitPattern: 0xDEAD_BEE0)
        assertRefused(lk_loss_create(nil, &out), LK_ERROR_NULL_POINTER, mentions: ["name"])
        XCTAssertNil(out, "*out_loss must be set to NULL on failure")
    }

    func testNullOutPointerToCreate() {
        assertRefused(lk_loss_create("cross_entropy", nil), LK_ERROR_NULL_POINTER, mentions: ["out_loss"])
    }

    func testNullPointersToParameterFunctions() {
        let handle = LossHandle()
        assertRefused(lk_loss_set_param(nil, "z_loss", 0.1), LK_ERROR_NULL_POINTER, mentions: ["loss"])
        assertRefused(lk_loss_set_param(handle.pointer, nil, 0.1), LK_ERROR_NULL_POINTER, mentions: ["name"])
        assertRefused(lk_loss_set_param_string(nil, "nan_policy", "error"), LK_ERROR_NULL_POINTER, mentions: ["loss"])
        assertRefused(lk_loss_set_param_string(handle.pointer, nil, "error"), LK_ERROR_NULL_POINTER, mentions: ["name"])
        assertRefused(lk_loss_set_param_string(handle.pointer, "nan_policy", nil), LK_ERROR_NULL_POINTER, mentions: ["value"])
        var value = Sentinel.value
        assertRefused(lk_loss_get_param(nil, "z_loss", &value), LK_ERROR_NULL_POINTER, mentions: ["loss"])
        assertRefused(lk_loss_get_param(handle.pointer, nil, &value), LK_ERROR_NULL_POINTER, mentions: ["name"])
        XCTAssertEqual(value, Sentinel.value, "out_value written on error")
        assertRefused(lk_loss_get_param(handle.pointer, "z_loss", nil), LK_ERROR_NULL_POINTER, mentions: ["out_value"])
    }

    // MARK: - Shapes

    func testNdimOne() {
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["ndim"]) { $0.batch.ndim = 1 }
    }

    func testNdimSeventeen() {
        let shape = UnsafeMutablePointer<Int64>.allocate(capacity: 17)
        defer { shape.deallocate() }
        shape.initialize(repeating: 1, count: 17)
        shape[1] = 4
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["ndim"]) { prepared in
            prepared.batch.ndim = 17
            prepared.batch.shape = UnsafePointer(shape)
        }
    }

    func testNdimZeroAndNegative() {
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["ndim"]) { $0.batch.ndim = 0 }
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["ndim"]) { $0.batch.ndim = -2 }
    }

    func testNegativeSize() {
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["shape"]) { $0.shapeBuffer[2] = -2 }
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["shape"]) { $0.shapeBuffer[0] = -3 }
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["shape"]) { $0.shapeBuffer[1] = -4 }
    }

    func testZeroClasses() {
        expectRefusal(validSpec(), LK_ERROR_BAD_SHAPE, mentions: ["class"]) { $0.shapeBuffer[1] = 0 }
    }

    func testShapeProductOverflowsInt64() {
        expectRefusal(validSpec(), LK_ERROR_SIZE_OVERFLOW, mentions: ["shape"]) { prepared in
            prepared.shapeBuffer[0] = 1 << 40
            prepared.shapeBuffer[1] = 1 << 30
        }
        // Each size fits, the element count fits (2^61), the byte size (2^64) does not.
        expectRefusal(validSpec(), LK_ERROR_SIZE_OVERFLOW, mentions: ["shape"]) { prepared in
            prepared.shapeBuffer[0] = 1 << 60
            prepared.shapeBuffer[1] = 2
            prepared.shapeBuffer[2] = 1
        }
        expectRefusal(validSpec(), LK_ERROR_SIZE_OVERFLOW, mentions: ["shape"]) { prepared in
            prepared.shapeBuffer[0] = Int64.max
            prepared.shapeBuffer[1] = Int64.max
            prepared.shapeBuffer[2] = Int64.max
        }
    }

    /// Shapes with a zero-sized axis hold no elements, yet their other sizes can still overflow: the
    /// product of the spatial sizes, or the byte size of the C class weights. Each must give a status
    /// (SIZE_OVERFLOW, or OK where no buffer is too big), never a trap. Run in a child process, so a
    /// trap fails this test only.
    func testOverflowBehindAZeroSize() {
        let cases: [(shape: [Int64], weighted: Bool, allowed: [lk_status])] = [
            // d1·d2 = 2^80 overflows although N = 0 makes the element count 0.
            ([0, 1, 1 << 40, 1 << 40], false, [LK_OK, LK_ERROR_SIZE_OVERFLOW]),
            // C = 2^61 class weights are 2^64 bytes: only SIZE_OVERFLOW is safe (anything else reads them).
            ([0, 1 << 61], true, [LK_ERROR_SIZE_OVERFLOW]),
            ([0, Int64.max], true, [LK_ERROR_SIZE_OVERFLOW]),
        ]
        let handle = LossHandle()
        for (shape, weighted, allowed) in cases {
            var spec = BatchSpec(shape: shape, logits: [], target: .indices([]))
            if weighted { spec.weight = [1] }
            let prepared = PreparedBatch(spec)
            let outcome = runInChildProcess {
                let status = prepared.compute(handle)
                return allowed.contains(status) ? 0 : 100 + Int32(status.rawValue)
            }
            XCTAssertEqual(outcome, .exited(0),
                           "shape \(shape) weighted \(weighted): \(outcome) (exit 100+s means status s); expected one of "
                               + allowed.map { statusString($0) }.joined(separator: ", "))
        }
    }

    // MARK: - Dtypes, reduction, struct

    func testBadLogitsDtype() {
        for code: Int32 in [0, Int32(LK_INT32.rawValue), Int32(LK_INT64.rawValue), 99, -1] {
            expectRefusal(validSpec(), LK_ERROR_BAD_DTYPE, mentions: ["logits_dtype"]) { $0.batch.logits_dtype = code }
        }
    }

    func testFloat64TargetWithFloat32Logits() {
        var spec = validSpec(.float32)
        spec.target = .probabilities(randomProbabilities(spec.shape, seed: 5))
        expectRefusal(spec, LK_ERROR_BAD_DTYPE, mentions: ["target_dtype"]) {
            $0.batch.target_dtype = Int32(LK_FLOAT64.rawValue)
        }
    }

    func testFloat32TargetWithFloat64LogitsAndUnknownTargetDtype() {
        var spec = validSpec(.float64)
        spec.target = .probabilities(randomProbabilities(spec.shape, seed: 5))
        expectRefusal(spec, LK_ERROR_BAD_DTYPE, mentions: ["target_dtype"]) {
            $0.batch.target_dtype = Int32(LK_FLOAT32.rawValue)
        }
        for code: Int32 in [0, 5, -3] {
            expectRefusal(validSpec(), LK_ERROR_BAD_DTYPE, mentions: ["target_dtype"]) { $0.batch.target_dtype = code }
        }
    }

    func testBadReduction() {
        for code: Int32 in [3, -1, 100] {
            expectRefusal(validSpec(), LK_ERROR_BAD_REDUCTION, mentions: ["reduction"]) { $0.batch.reduction = code }
        }
    }

    func testWrongStructSize() {
        let size = UInt32(MemoryLayout<lk_batch>.size)
        for wrong in [0, size - 4, size - 16, size + 8, 1] {  // (size - 8 is 0.1.0's size: accepted)
            expectRefusal(validSpec(), LK_ERROR_BAD_STRUCT, mentions: ["struct_size"]) { $0.batch.struct_size = wrong }
        }
    }

    func testReservedFieldNotZero() {
        expectRefusal(validSpec(), LK_ERROR_BAD_STRUCT, mentions: ["reserved0"]) { $0.batch.reserved0 = 1 }
    }

    // MARK: - Targets

    func testTargetOutOfRange() {
        for indexKind in IndexKind.allCases {
            for bad: Int64 in [4, 5, -1, -99, -101, Int64(Int32.min)] {
                var spec = validSpec()
                spec.indexKind = indexKind
                spec.target = .indices([0, 3, 1, bad, 3, 0])
                expectRefusal(spec, LK_ERROR_TARGET_OUT_OF_RANGE, mentions: ["target"])
            }
        }
        var spec = validSpec()
        spec.target = .indices([0, 3, 1, 2, 3, Int64.max])
        expectRefusal(spec, LK_ERROR_TARGET_OUT_OF_RANGE, mentions: ["target"])
    }

    /// With ignore_index changed, -100 is an ordinary (out-of-range) class index.
    func testDefaultIgnoreValueIsOutOfRangeWhenIgnoreIndexDiffers() {
        var spec = validSpec()
        spec.ignoreIndex = -1
        spec.target = .indices([0, -1, 1, -100, 3, 0])
        expectRefusal(spec, LK_ERROR_TARGET_OUT_OF_RANGE, mentions: ["target"])
    }

    /// Validation covers the whole batch before anything is written, even one split across threads.
    func testBadTargetAtTheEndOfABigBatch() {
        var rng = SeededRandom(seed: 7)
        var spec = BatchSpec(shape: [3000, 50], logits: rng.logits(150_000), target: .indices([]), reduction: LK_REDUCTION_NONE)
        var targets = rng.indices(3000, classes: 50)
        targets[2999] = 50
        spec.target = .indices(targets)
        expectRefusal(spec, LK_ERROR_TARGET_OUT_OF_RANGE, mentions: ["target"])
    }

    /// The targets are checked a block of 65536 per thread: the message names the first bad target
    /// in order, whichever block a thread reached first, and ignored samples between do not count.
    func testFirstBadTargetOfManyBlocksIsNamed() {
        defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK) }
        var rng = SeededRandom(seed: 11)
        var targets = rng.indices(150_000, classes: 2)
        targets[65_535] = -100
        targets[140_000] = -5
        targets[70_001] = 2
        targets[131_072] = 7
        let spec = BatchSpec(shape: [150_000, 2], logits: rng.logits(300_000), target: .indices(targets),
                             reduction: LK_REDUCTION_MEAN)
        for threads: Int32 in [1, 2, 3] {
            XCTAssertEqual(lk_set_num_threads(threads), LK_OK)
            expectRefusal(spec, LK_ERROR_TARGET_OUT_OF_RANGE, mentions: ["target[70001] is 2"])
        }
        // Fixed, the batch is valid, and the mean divides by the samples not ignored in every block.
        targets[70_001] = 1
        targets[140_000] = 1
        targets[131_072] = -100
        var valid = spec
        valid.target = .indices(targets)
        let mean = PreparedBatch(valid), sum = PreparedBatch({ var s = valid; s.reduction = LK_REDUCTION_SUM; return s }())
        XCTAssertEqual(mean.compute(LossHandle()), LK_OK, lastErrorMessage())
        XCTAssertEqual(sum.compute(LossHandle()), LK_OK, lastErrorMessage())
        XCTAssertEqual(mean.lossValues[0], sum.lossValues[0] / 149_998, accuracy: 1e-14 * sum.lossValues[0])
    }

    // MARK: - Logits

    func testNaNLogit() {
        for floatKind in FloatKind.allCases {
            expectRefusal(validSpec(floatKind), LK_ERROR_NONFINITE_LOGIT, mentions: ["logit", "nan_policy"]) { prepared in
                prepared.logits.storeFloats([.nan], as: floatKind, at: 13 * floatKind.size)
            }
        }
    }

    func testPositiveInfinityLogit() {
        for floatKind in FloatKind.allCases {
            expectRefusal(validSpec(floatKind), LK_ERROR_NONFINITE_LOGIT, mentions: ["logit"]) { prepared in
                prepared.logits.storeFloats([.infinity], as: floatKind, at: 5 * floatKind.size)
            }
        }
    }

    func testNaNLogitAtTheEndOfABigBatchInPlace() {
        var rng = SeededRandom(seed: 8)
        var spec = BatchSpec(shape: [3000, 50], logits: rng.logits(150_000), target: .indices(rng.indices(3000, classes: 50)),
                             floatKind: .float32)
        spec.logits[149_999] = .nan
        spec.gradInPlace = true
        expectRefusal(spec, LK_ERROR_NONFINITE_LOGIT, mentions: ["logit"])
    }

    /// nan_policy "propagate": the call succeeds and NaN flows into the loss of its own sample only.
    func testNaNAndInfinityWithPropagatePolicy() {
        let handle = LossHandle(nanPolicy: "propagate")
        for floatKind in FloatKind.allCases {
            var spec = validSpec(floatKind, reduction: LK_REDUCTION_NONE)
            spec.dloss = nil
            spec.logits[spec.element(sample: 2, cls: 1)] = .nan
            let prepared = PreparedBatch(spec)
            XCTAssertEqual(prepared.compute(handle), LK_OK, lastErrorMessage())
            XCTAssertEqual(lastErrorMessage(), "")
            let loss = prepared.lossValues
            XCTAssertTrue(loss[2].isNaN, "the NaN sample's loss is NaN, got \(loss[2])")
            var clean = spec
            clean.target = .indices([0, 3, -100, 2, 3, 0])  // the same batch without sample 2
            let reference = ReferenceCrossEntropy().evaluate(clean).loss
            for s in [0, 1, 3, 4, 5] { XCTAssertEqual(loss[s], reference[s], accuracy: 1e-5 * abs(reference[s])) }

            spec.logits[spec.element(sample: 2, cls: 1)] = .infinity
            spec.reduction = LK_REDUCTION_SUM
            let infinite = PreparedBatch(spec)
            XCTAssertEqual(infinite.compute(handle), LK_OK, lastErrorMessage())
            XCTAssertFalse(infinite.lossUntouched, "the loss must be written")
        }
    }

    // MARK: - Weights and dloss

    func testNegativeWeight() {
        var spec = validSpec()
        spec.weight = [1, -0.5, 2, 1]
        expectRefusal(spec, LK_ERROR_BAD_WEIGHT, mentions: ["weight"])
    }

    func testNonFiniteWeight() {
        for bad in [Double.nan, .infinity, -.infinity] {
            for floatKind in FloatKind.allCases {
                var spec = validSpec(floatKind)
                spec.weight = [1, 1, bad, 1]
                expectRefusal(spec, LK_ERROR_BAD_WEIGHT, mentions: ["weight"])
            }
        }
    }

    func testNonFiniteDLoss() {
        for bad in [Double.nan, .infinity, -.infinity] {
            for reduction in [LK_REDUCTION_MEAN, LK_REDUCTION_SUM] {
                var spec = validSpec(reduction: reduction)
                spec.dloss = [bad]
                expectRefusal(spec, LK_ERROR_BAD_DLOSS, mentions: ["dloss"])
            }
            var spec = validSpec(.float32, reduction: LK_REDUCTION_NONE)
            spec.dloss = [1, 2, 3, 4, bad, 6]
            expectRefusal(spec, LK_ERROR_BAD_DLOSS, mentions: ["dloss"])
        }
    }

    // MARK: - Probability targets

    func probabilitySpec(_ floatKind: FloatKind = .float64) -> BatchSpec {
        var spec = validSpec(floatKind)
        spec.weight = nil
        spec.target = .probabilities(randomProbabilities(spec.shape, seed: 3))
        return spec
    }

    func testNegativeProbability() {
        var spec = probabilitySpec()
        guard case .probabilities(var q) = spec.target else { return XCTFail() }
        // Sample 3 = (n 1, i 1): (1.25, -0.25, 0, 0) still sums to 1.
        for (j, v) in [1.25, -0.25, 0, 0].enumerated() { q[spec.element(sample: 3, cls: j)] = v }
        spec.target = .probabilities(q)
        expectRefusal(spec, LK_ERROR_BAD_PROBABILITIES, mentions: ["probabilit"])
    }

    func testProbabilitiesNotSummingToOne() {
        for floatKind in FloatKind.allCases {
            for factor in [0.9, 1.01, 0] {
                var spec = probabilitySpec(floatKind)
                guard case .probabilities(var q) = spec.target else { return XCTFail() }
                for j in 0..<4 { q[spec.element(sample: 5, cls: j)] *= factor }
                spec.target = .probabilities(q)
                expectRefusal(spec, LK_ERROR_BAD_PROBABILITIES, mentions: ["probabilit"])
            }
        }
    }

    func testNaNProbability() {
        var spec = probabilitySpec(.float32)
        guard case .probabilities(var q) = spec.target else { return XCTFail() }
        q[spec.element(sample: 0, cls: 2)] = .nan
        spec.target = .probabilities(q)
        expectRefusal(spec, LK_ERROR_BAD_PROBABILITIES, mentions: ["probabilit"])
    }

    // MARK: - Losses and parameters

    func testUnknownLossName() {
        for name in ["cross_entropyy", "", "CROSS_ENTROPY"] {
            var out = OpaquePointer(bitPattern: 0xDEAD_BEE0)
            assertRefused(lk_loss_create(name, &out), LK_ERROR_UNKNOWN_LOSS, mentions: ["'\(name)'", "cross_entropy"])
            XCTAssertNil(out, "*out_loss must be set to NULL on failure")
        }
    }

    func testUnknownParameter() {
        let handle = LossHandle()
        assertRefused(lk_loss_set_param(handle.pointer, "label_smooth", 0.1), LK_ERROR_UNKNOWN_PARAM,
                      mentions: ["label_smooth", "label_smoothing"])
        assertRefused(lk_loss_set_param_string(handle.pointer, "policy", "error"), LK_ERROR_UNKNOWN_PARAM, mentions: ["policy"])
        var value = Sentinel.value
        assertRefused(lk_loss_get_param(handle.pointer, "gamma", &value), LK_ERROR_UNKNOWN_PARAM, mentions: ["gamma"])
        XCTAssertEqual(value, Sentinel.value, "out_value written on error")
    }

    /// Out-of-range values are refused, the message names the parameter, the old value stays.
    func testParameterOutOfRange() {
        let handle = LossHandle(labelSmoothing: 0.2, zLoss: 0.5)
        for bad in [1.5, -0.1, .nan, .infinity, 1.0000001] {
            assertRefused(lk_loss_set_param(handle.pointer, "label_smoothing", bad), LK_ERROR_BAD_PARAM,
                          mentions: ["label_smoothing"])
        }
        for bad in [-1, -1e-12, .nan, .infinity] {
            assertRefused(lk_loss_set_param(handle.pointer, "z_loss", bad), LK_ERROR_BAD_PARAM, mentions: ["z_loss"])
        }
        var value = 0.0
        XCTAssertEqual(lk_loss_get_param(handle.pointer, "label_smoothing", &value), LK_OK)
        XCTAssertEqual(value, 0.2)
        XCTAssertEqual(lk_loss_get_param(handle.pointer, "z_loss", &value), LK_OK)
        XCTAssertEqual(value, 0.5)
    }

    /// A bad text value is refused and the policy stays "error" (NaN logits are still refused).
    func testBadStringParameter() {
        let handle = LossHandle()
        for bad in ["ignore", "", "Error", "propagate "] {
            assertRefused(lk_loss_set_param_string(handle.pointer, "nan_policy", bad), LK_ERROR_BAD_PARAM,
                          mentions: ["nan_policy"])
        }
        expectRefusal(validSpec(), LK_ERROR_NONFINITE_LOGIT, mentions: ["logit"], handle: handle) { prepared in
            prepared.logits.storeFloats([.nan], as: .float64, at: 0)
        }
    }

    /// A number for a text parameter, text for a number one, reading a text parameter as a number.
    func testParameterOfTheWrongKind() {
        let handle = LossHandle()
        assertRefused(lk_loss_set_param(handle.pointer, "nan_policy", 1), LK_ERROR_BAD_PARAM, mentions: ["nan_policy"])
        assertRefused(lk_loss_set_param_string(handle.pointer, "label_smoothing", "0.1"), LK_ERROR_BAD_PARAM,
                      mentions: ["label_smoothing"])
        var value = Sentinel.value
        assertRefused(lk_loss_get_param(handle.pointer, "nan_policy", &value), LK_ERROR_BAD_PARAM, mentions: ["nan_policy"])
        XCTAssertEqual(value, Sentinel.value, "out_value written on error")
    }

    // MARK: - Alignment

    func testMisalignedLogits() {
        for floatKind in FloatKind.allCases {
            expectRefusal(validSpec(floatKind), LK_ERROR_MISALIGNED, mentions: ["logits"]) { prepared in
                // The same values, one byte further: a byte buffer offset by 1.
                prepared.logits.storeFloats(prepared.spec.logits, as: floatKind, at: 1)
                prepared.batch.logits = UnsafeRawPointer(prepared.logits.base + 1)
            }
        }
    }

    func testMisalignedTargetWeightDLossAndOutputs() {
        // int64 targets 4 bytes off: aligned for int32, not for int64.
        expectRefusal(validSpec(), LK_ERROR_MISALIGNED, mentions: ["target"]) { prepared in
            prepared.target.storeIndices([0, 3, 1, 2, 3, 0], as: .int64, at: 4)
            prepared.batch.target = UnsafeRawPointer(prepared.target.base + 4)
        }
        expectRefusal(validSpec(), LK_ERROR_MISALIGNED, mentions: ["weight"]) { prepared in
            prepared.batch.weight = UnsafeRawPointer(prepared.weight!.base + 4)
        }
        expectRefusal(validSpec(.float32), LK_ERROR_MISALIGNED, mentions: ["dloss"]) { prepared in
            prepared.batch.dloss = UnsafeRawPointer(prepared.dloss!.base + 2)
        }
        expectRefusal(validSpec(), LK_ERROR_MISALIGNED, mentions: ["loss"]) { prepared in
            prepared.batch.loss = prepared.loss.base + 1
        }
        expectRefusal(validSpec(.float32), LK_ERROR_MISALIGNED, mentions: ["grad"]) { prepared in
            prepared.batch.grad = prepared.grad!.base + 3
        }
    }

    // MARK: - Aliasing

    func testLossOverlappingLogits() {
        for reduction in [LK_REDUCTION_MEAN, LK_REDUCTION_NONE] {
            expectRefusal(validSpec(reduction: reduction), LK_ERROR_ALIASING, mentions: ["loss", "logits"]) { prepared in
                prepared.batch.loss = prepared.logits.base + 8 * 5
            }
        }
    }

    func testGradShiftedByOneElementOverLogits() {
        for floatKind in FloatKind.allCases {
            expectRefusal(validSpec(floatKind), LK_ERROR_ALIASING, mentions: ["grad", "logits"]) { prepared in
                prepared.batch.grad = prepared.logits.base + floatKind.size
            }
        }
    }

    func testOtherOverlaps() {
        // grad over the loss output.
        expectRefusal(validSpec(reduction: LK_REDUCTION_NONE), LK_ERROR_ALIASING, mentions: ["grad", "loss"]) { prepared in
            prepared.batch.loss = prepared.grad!.base + 8
        }
        // grad over the weights, grad over probability targets, loss over dloss.
        expectRefusal(validSpec(), LK_ERROR_ALIASING, mentions: ["grad", "weight"]) { prepared in
            prepared.batch.grad = prepared.weight!.base
        }
        expectRefusal(probabilitySpec(), LK_ERROR_ALIASING, mentions: ["grad", "target"]) { prepared in
            prepared.batch.grad = prepared.target.base
        }
        expectRefusal(validSpec(), LK_ERROR_ALIASING, mentions: ["loss", "dloss"]) { prepared in
            prepared.batch.loss = prepared.dloss!.base
        }
        // The loss written over the logits while computing in place.
        var inPlace = validSpec()
        inPlace.gradInPlace = true
        expectRefusal(inPlace, LK_ERROR_ALIASING, mentions: ["loss"]) { prepared in
            prepared.batch.loss = prepared.logits.base
        }
    }

    // MARK: - The message after success

    func testMessageIsEmptyAfterASuccessfulCall() {
        let handle = LossHandle()
        let prepared = PreparedBatch(validSpec())
        prepared.batch.reduction = 7
        XCTAssertEqual(prepared.compute(handle), LK_ERROR_BAD_REDUCTION)
        XCTAssertFalse(lastErrorMessage().isEmpty)
        prepared.batch.reduction = Int32(LK_REDUCTION_SUM.rawValue)
        XCTAssertEqual(prepared.compute(handle), LK_OK)
        XCTAssertEqual(lastErrorMessage(), "")

        XCTAssertEqual(lk_loss_set_param(handle.pointer, "z_loss", -1), LK_ERROR_BAD_PARAM)
        XCTAssertFalse(lastErrorMessage().isEmpty)
        XCTAssertEqual(lk_loss_set_param(handle.pointer, "z_loss", 1), LK_OK)
        XCTAssertEqual(lastErrorMessage(), "")

        var out: OpaquePointer?
        XCTAssertEqual(lk_loss_create("nope", &out), LK_ERROR_UNKNOWN_LOSS)
        XCTAssertFalse(lastErrorMessage().isEmpty)
        XCTAssertEqual(lk_loss_create("cross_entropy", &out), LK_OK)
        XCTAssertEqual(lastErrorMessage(), "")
        lk_loss_destroy(out)

        XCTAssertEqual(lk_set_num_threads(-1), LK_ERROR_BAD_PARAM)
        XCTAssertFalse(lastErrorMessage().isEmpty)
        var value = 0.0
        XCTAssertEqual(lk_loss_get_param(handle.pointer, "z_loss", &value), LK_OK)
        XCTAssertEqual(lastErrorMessage(), "")
    }
}
