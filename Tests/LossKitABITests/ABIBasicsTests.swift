// The parts of the C ABI around the math: version, status strings, the loss registry, handles and
// parameters, lk_batch_init, the thread limit and the thread-local error message.
import CLossKit
import Foundation
import LossKitABI
import XCTest

/// A box handed to other threads; every access is ordered by a semaphore or a group wait.
private final class Shared<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body` on a new thread and waits for it.
private func onAnotherThread(_ body: @escaping @Sendable () -> Void) {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    done.wait()
}

final class ABIBasicsTests: XCTestCase {
    // MARK: - Version

    func testVersionStringMatchesHeader() {
        XCTAssertEqual(String(cString: lk_version()), LK_VERSION_STRING)
        XCTAssertEqual(LK_VERSION_STRING, "\(LK_VERSION_MAJOR).\(LK_VERSION_MINOR).\(LK_VERSION_PATCH)")
        // A static string: the same pointer every time.
        XCTAssertEqual(lk_version(), lk_version())
    }

    func testVersionNumberMatchesHeader() {
        // LK_VERSION_NUMBER is an expression macro Swift cannot import: MAJOR*10000 + MINOR*100 + PATCH.
        let expected = UInt32(LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH)
        XCTAssertEqual(lk_version_number(), expected)
        // And from the string, by hand: "0.1.0" -> 100.
        let parts = String(cString: lk_version()).split(separator: ".").map { UInt32($0)! }
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(lk_version_number(), parts[0] * 10000 + parts[1] * 100 + parts[2])
    }

    // MARK: - Status strings

    /// Every `LK_...` status of `typedef enum lk_status` in include/losskit.h, read from the header
    /// itself so that codes appended later are covered too.
    static func statusCodesInHeader() throws -> [(name: String, value: UInt32)] {
        let header = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("include/losskit.h")
        let text = try String(contentsOf: header, encoding: .utf8)
        guard let start = text.range(of: "typedef enum lk_status {"),
              let end = text.range(of: "} lk_status;", range: start.upperBound..<text.endIndex) else {
            throw XCTSkip("no lk_status enum found in \(header.path)")
        }
        let body = text[start.upperBound..<end.lowerBound]
        let regex = try NSRegularExpression(pattern: #"(LK_[A-Z0-9_]+)\s*=\s*([0-9]+)"#)
        let nsBody = String(body)
        return regex.matches(in: nsBody, range: NSRange(nsBody.startIndex..., in: nsBody)).map { match in
            let name = String(nsBody[Range(match.range(at: 1), in: nsBody)!])
            let value = UInt32(nsBody[Range(match.range(at: 2), in: nsBody)!])!
            return (name, value)
        }
    }

    func testStatusStringForEveryCode() throws {
        // The first codes, as this test was written against; the header promises they never change.
        let stable: [lk_status] = [
            LK_OK, LK_ERROR_NULL_POINTER, LK_ERROR_BAD_SHAPE, LK_ERROR_SIZE_OVERFLOW, LK_ERROR_BAD_DTYPE,
            LK_ERROR_TARGET_OUT_OF_RANGE, LK_ERROR_BAD_PROBABILITIES, LK_ERROR_NONFINITE_LOGIT, LK_ERROR_BAD_WEIGHT,
            LK_ERROR_BAD_DLOSS, LK_ERROR_BAD_REDUCTION, LK_ERROR_UNKNOWN_LOSS, LK_ERROR_UNKNOWN_PARAM,
            LK_ERROR_BAD_PARAM, LK_ERROR_ALIASING, LK_ERROR_MISALIGNED, LK_ERROR_BAD_STRUCT, LK_ERROR_INTERNAL,
        ]
        XCTAssertEqual(stable.map(\.rawValue), Array(0...17))

        // Every code the header lists, however many there are now.
        let listed = try Self.statusCodesInHeader()
        XCTAssertGreaterThanOrEqual(listed.count, stable.count)
        XCTAssertEqual(listed.map(\.value), Array(0..<UInt32(listed.count)), "codes are 0, 1, 2, ... in order")
        var seen: [String: String] = [:]
        for (name, value) in listed {
            let status = lk_status(rawValue: value)
            XCTAssertNotNil(lk_status_string(status))
            let text = statusString(status)
            XCTAssertFalse(text.isEmpty, name)
            XCTAssertNotEqual(text, "unknown status", name)
            if let other = seen[text] { XCTFail("\(name) and \(other) share the string \"\(text)\"") }
            seen[text] = name
        }
        let firstUnknown = UInt32(listed.count)
        for unknown: UInt32 in [firstUnknown, firstUnknown + 1, 1000, UInt32(Int32.max), UInt32.max] {
            XCTAssertEqual(statusString(lk_status(rawValue: unknown)), "unknown status", "status \(unknown)")
        }
    }

    /// The header's own example: LK_ERROR_NULL_POINTER reads "null pointer".
    func testStatusStringExampleFromTheHeader() {
        XCTAssertEqual(statusString(LK_ERROR_NULL_POINTER), "null pointer")
    }

    // MARK: - Registry

    func testLossRegistry() {
        let count = lk_loss_count()
        XCTAssertGreaterThanOrEqual(count, 1)
        var names: [String] = []
        for index in 0..<count {
            guard let pointer = lk_loss_name_at(index) else {
                XCTFail("lk_loss_name_at(\(index)) is NULL")
                continue
            }
            names.append(String(cString: pointer))
        }
        XCTAssertTrue(names.contains("cross_entropy"), "\(names)")
        XCTAssertEqual(Set(names).count, names.count, "names must be unique: \(names)")
        XCTAssertFalse(names.contains(""), "names must not be empty")

        for index in [-1, count, count + 1, Int64.max, Int64.min] {
            XCTAssertNil(lk_loss_name_at(index), "lk_loss_name_at(\(index)) must be NULL")
        }

        // Every listed name creates a loss whose name is that name.
        for name in names {
            var out: OpaquePointer?
            XCTAssertEqual(lk_loss_create(name, &out), LK_OK, "\(name): \(lastErrorMessage())")
            XCTAssertNotNil(out)
            XCTAssertEqual(lk_loss_get_name(out).map { String(cString: $0) }, name)
            lk_loss_destroy(out)
        }
    }

    func testCreateGivesIndependentHandles() {
        var a: OpaquePointer?, b: OpaquePointer?
        XCTAssertEqual(lk_loss_create("cross_entropy", &a), LK_OK)
        XCTAssertEqual(lk_loss_create("cross_entropy", &b), LK_OK)
        XCTAssertNotNil(a)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(lk_loss_set_param(a, "label_smoothing", 0.4), LK_OK)
        var value = -1.0
        XCTAssertEqual(lk_loss_get_param(b, "label_smoothing", &value), LK_OK)
        XCTAssertEqual(value, 0, "setting a parameter on one handle changed another")
        lk_loss_destroy(a)
        lk_loss_destroy(b)
    }

    func testGetName() {
        let handle = LossHandle()
        XCTAssertEqual(String(cString: lk_loss_get_name(handle.pointer)), "cross_entropy")
        XCTAssertNil(lk_loss_get_name(nil))
    }

    func testDestroyNullIsHarmless() {
        lk_loss_destroy(nil)
        lk_loss_destroy(nil)
        XCTAssertEqual(lk_loss_count(), lk_loss_count())
    }

    // MARK: - Parameters

    func testParameterDefaultsAndRoundTrip() {
        let handle = LossHandle()
        var value = Sentinel.value
        XCTAssertEqual(lk_loss_get_param(handle.pointer, "label_smoothing", &value), LK_OK)
        XCTAssertEqual(value, 0)
        value = Sentinel.value
        XCTAssertEqual(lk_loss_get_param(handle.pointer, "z_loss", &value), LK_OK)
        XCTAssertEqual(value, 0)

        for (name, values) in [("label_smoothing", [0.25, 1, 0, 0.1, 1e-300]), ("z_loss", [1e-4, 0, 1e6, 0.5])] {
            for v in values {
                XCTAssertEqual(lk_loss_set_param(handle.pointer, name, v), LK_OK, "\(name) = \(v): \(lastErrorMessage())")
                var back = Sentinel.value
                XCTAssertEqual(lk_loss_get_param(handle.pointer, name, &back), LK_OK)
                XCTAssertEqual(back, v, "\(name) round trip")
            }
        }
        for policy in ["propagate", "error"] {
            XCTAssertEqual(lk_loss_set_param_string(handle.pointer, "nan_policy", policy), LK_OK, lastErrorMessage())
        }
    }

    /// A parameter takes effect on the next compute: label_smoothing = 1 with logits 0 and C = 4 turns
    /// the target uniform, so the loss is still log 4 (by hand), and the gradient 1/4 - 1/4 = 0.
    func testParameterTakesEffect() {
        let handle = LossHandle()
        let spec = BatchSpec(shape: [1, 4], logits: [0, 0, 0, 0], target: .indices([1]), reduction: LK_REDUCTION_SUM)
        let before = PreparedBatch(spec)
        XCTAssertEqual(before.compute(handle), LK_OK)
        XCTAssertEqual(before.gradValues, [0.25, -0.75, 0.25, 0.25])
        XCTAssertEqual(lk_loss_set_param(handle.pointer, "label_smoothing", 1), LK_OK)
        let after = PreparedBatch(spec)
        XCTAssertEqual(after.compute(handle), LK_OK)
        XCTAssertEqual(after.lossValues[0], log(4.0), accuracy: 1e-15)
        assertClose(after.gradValues, [0, 0, 0, 0], rtol: 0, "uniform target, uniform prediction")
    }

    // MARK: - lk_batch_init

    func testBatchInitSetsDefaults() {
        var batch = lk_batch()
        withUnsafeMutableBytes(of: &batch) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xAB) }
        lk_batch_init(&batch)
        XCTAssertEqual(batch.struct_size, UInt32(MemoryLayout<lk_batch>.size))
        XCTAssertEqual(batch.ignore_index, Int64(LK_DEFAULT_IGNORE_INDEX))
        XCTAssertEqual(batch.ignore_index, -100)
        XCTAssertEqual(batch.reduction, Int32(LK_REDUCTION_MEAN.rawValue))
        XCTAssertEqual(batch.ndim, 0)
        XCTAssertNil(batch.shape)
        XCTAssertEqual(batch.logits_dtype, 0)
        XCTAssertEqual(batch.target_dtype, 0)
        XCTAssertNil(batch.logits)
        XCTAssertNil(batch.target)
        XCTAssertNil(batch.weight)
        XCTAssertEqual(batch.reserved0, 0)
        XCTAssertNil(batch.dloss)
        XCTAssertNil(batch.loss)
        XCTAssertNil(batch.grad)
        lk_batch_init(nil)  // does nothing
    }

    func testHeaderConstants() {
        XCTAssertEqual(LK_MAX_NDIM, 16)
        XCTAssertEqual(LK_DEFAULT_IGNORE_INDEX, -100)
        XCTAssertEqual([LK_FLOAT32, LK_FLOAT64, LK_INT32, LK_INT64].map(\.rawValue), [1, 2, 3, 4])
        XCTAssertEqual([LK_REDUCTION_MEAN, LK_REDUCTION_SUM, LK_REDUCTION_NONE].map(\.rawValue), [0, 1, 2])
    }

    /// ndim = LK_MAX_NDIM (16) is accepted: (N, C) plus 14 spatial sizes of 1 behave as (N, C).
    func testMaximumNdimIsAccepted() {
        var rng = SeededRandom(seed: 1)
        let flat = BatchSpec(shape: [3, 4], logits: rng.logits(12), target: .indices([0, 3, 2]))
        var deep = flat
        deep.shape = [3, 4] + Array(repeating: 1, count: 14)
        XCTAssertEqual(deep.shape.count, Int(LK_MAX_NDIM))
        let handle = LossHandle()
        let a = PreparedBatch(flat), b = PreparedBatch(deep)
        XCTAssertEqual(a.compute(handle), LK_OK)
        XCTAssertEqual(b.compute(handle), LK_OK, lastErrorMessage())
        assertClose(b.lossValues, a.lossValues, rtol: 1e-15, "ndim 16 loss")
        assertClose(b.gradValues, a.gradValues, rtol: 1e-15, "ndim 16 grad")
    }

    // MARK: - Threads

    func testNumThreads() {
        defer { XCTAssertEqual(lk_set_num_threads(0), LK_OK) }
        XCTAssertEqual(lk_get_num_threads(), 0, "the default is 0 (one per CPU)")
        XCTAssertEqual(lk_set_num_threads(-1), LK_ERROR_BAD_PARAM)
        XCTAssertFalse(lastErrorMessage().isEmpty)
        XCTAssertTrue(lastErrorMessage().contains("-1"), lastErrorMessage())
        XCTAssertEqual(lk_get_num_threads(), 0, "a refused count must not change the limit")
        XCTAssertEqual(lk_set_num_threads(Int32.min), LK_ERROR_BAD_PARAM)
        XCTAssertEqual(lk_set_num_threads(3), LK_OK)
        XCTAssertEqual(lastErrorMessage(), "")
        XCTAssertEqual(lk_get_num_threads(), 3)
        XCTAssertEqual(lk_set_num_threads(1), LK_OK)
        XCTAssertEqual(lk_get_num_threads(), 1)
        XCTAssertEqual(lk_set_num_threads(0), LK_OK)
        XCTAssertEqual(lk_get_num_threads(), 0)
    }

    /// Each thread has its own last error message.
    func testErrorMessageIsThreadLocal() {
        let handle = LossHandle()
        XCTAssertEqual(lk_loss_set_param(handle.pointer, "no_such_param", 1), LK_ERROR_UNKNOWN_PARAM)
        let mainMessage = lastErrorMessage()
        XCTAssertTrue(mainMessage.contains("no_such_param"))

        // A fresh thread sees "", then its own error.
        let seen = Shared<[String]>([])
        onAnotherThread {
            seen.value.append(String(cString: lk_last_error_message()))
            var out: OpaquePointer?
            _ = lk_loss_create("not_a_loss", &out)
            seen.value.append(String(cString: lk_last_error_message()))
        }
        XCTAssertEqual(seen.value.count, 2)
        XCTAssertEqual(seen.value.first, "", "a new thread must not see another thread's error")
        XCTAssertTrue(seen.value.last?.contains("not_a_loss") ?? false, "\(seen.value)")
        // The other thread's error did not replace this thread's message.
        XCTAssertEqual(lastErrorMessage(), mainMessage)

        // A success on another thread does not clear this thread's message either.
        onAnotherThread { _ = lk_set_num_threads(0) }
        XCTAssertEqual(lastErrorMessage(), mainMessage)
    }

    /// One loss used by several threads at once gives each the same result as a lone call.
    func testConcurrentComputeWithOneHandle() {
        var rng = SeededRandom(seed: 2)
        var spec = BatchSpec(shape: [200, 30, 3], logits: rng.logits(18_000), target: .indices(rng.indices(600, classes: 30)),
                             weight: rng.weights(30))
        spec.reduction = LK_REDUCTION_MEAN
        let handle = LossHandle(labelSmoothing: 0.1)
        let alone = PreparedBatch(spec)
        XCTAssertEqual(alone.compute(handle), LK_OK)

        let threads = 8  // the reliability issue asks for 8 concurrent callers (run under TSan too)
        let batches = (0..<threads).map { _ in PreparedBatch(spec) }
        let statuses = UnsafeMutablePointer<lk_status>.allocate(capacity: threads)
        defer { statuses.deallocate() }
        statuses.initialize(repeating: LK_ERROR_INTERNAL, count: threads)
        // Each thread writes only its own slot; the group orders the writes before the reads.
        let work = Shared((batches, handle, statuses))
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            Thread {
                let (batches, handle, statuses) = work.value
                statuses[t] = batches[t].compute(handle)
                group.leave()
            }.start()
        }
        group.wait()
        for t in 0..<threads {
            XCTAssertEqual(statuses[t], LK_OK)
            assertBitIdentical(batches[t].lossValues, alone.lossValues, "thread \(t) loss")
            assertBitIdentical(batches[t].gradValues, alone.gradValues, "thread \(t) grad")
        }
    }
}

/// The parameter listing (lk_loss_param_*) of every registered loss.
final class ParameterListingTests: XCTestCase {
    func testEveryLossListsItsParametersWithKindAndDoc() {
        for index in 0..<lk_loss_count() {
            let name = String(cString: lk_loss_name_at(index))
            var loss: OpaquePointer?
            XCTAssertEqual(lk_loss_create(name, &loss), LK_OK)
            defer { lk_loss_destroy(loss) }
            let count = lk_loss_param_count(loss)
            XCTAssertGreaterThan(count, 0, name)
            var names: [String] = []
            for i in 0..<count {
                let parameter = String(cString: lk_loss_param_name_at(loss, i))
                names.append(parameter)
                let doc = String(cString: lk_loss_param_doc_at(loss, i))
                XCTAssertTrue(doc.contains("default") && doc.contains(":"), "\(name).\(parameter): \(doc)")
                var value = 0.0
                let status = lk_loss_get_param(loss, parameter, &value)
                switch lk_loss_param_kind_at(loss, i) {
                case Int32(LK_PARAM_NUMBER.rawValue):
                    XCTAssertEqual(status, LK_OK, "\(name).\(parameter) is listed as a number")
                    XCTAssertEqual(lk_loss_set_param(loss, parameter, value), LK_OK, "\(name).\(parameter) default is settable")
                case Int32(LK_PARAM_TEXT.rawValue), Int32(LK_PARAM_VECTOR.rawValue):
                    XCTAssertEqual(status, LK_ERROR_BAD_PARAM, "\(name).\(parameter) is not a number")
                default:
                    XCTFail("\(name).\(parameter) has kind \(lk_loss_param_kind_at(loss, i))")
                }
            }
            XCTAssertEqual(Set(names).count, names.count, "\(name) lists a parameter twice")
            XCTAssertEqual(names.last, "nan_policy", "\(name): the common parameters come last")
            XCTAssertNil(lk_loss_param_name_at(loss, count))
            XCTAssertNil(lk_loss_param_doc_at(loss, -1))
            XCTAssertEqual(lk_loss_param_kind_at(loss, count), 0)
        }
        XCTAssertEqual(lk_loss_param_count(nil), 0)
        XCTAssertNil(lk_loss_param_name_at(nil, 0))
    }

    func testListedCrossEntropyParameters() {
        var loss: OpaquePointer?
        XCTAssertEqual(lk_loss_create("cross_entropy", &loss), LK_OK)
        defer { lk_loss_destroy(loss) }
        let names = (0..<lk_loss_param_count(loss)).map { String(cString: lk_loss_param_name_at(loss, $0)) }
        XCTAssertEqual(names, ["label_smoothing", "z_loss", "nan_policy"])
        XCTAssertEqual(lk_loss_param_kind_at(loss, 2), Int32(LK_PARAM_TEXT.rawValue))
        XCTAssertTrue(String(cString: lk_loss_param_doc_at(loss, 0)).hasPrefix("number in [0.0, 1.0], default 0.0"))
    }
}
