import Synchronization

/// A loss computed by code outside losskit (a C function pointer, a plugin, a Python function), seen
/// from the kernels as float64 callbacks. The host gives it everything a built-in loss gets.
public struct ExternalLoss: Sendable {
    /// One row: `(logits, classes, target, grad out) -> (loss, nil)` or `(_, failure message)`.
    public typealias RowFunction = @Sendable (UnsafePointer<Double>, Int, Int, UnsafeMutablePointer<Double>) -> (Double, String?)
    /// A whole batch with the spatial axes flattened, mean reduction, dloss = 1:
    /// `(N, C, inner, logits, target, weight, ignore_index, grad out) -> (loss, nil)` or `(_, failure message)`.
    public typealias BatchFunction = @Sendable (Int, Int, Int, UnsafePointer<Double>, UnsafePointer<Int64>,
                                                UnsafePointer<Double>?, Int64, UnsafeMutablePointer<Double>) -> (Double, String?)

    public enum Kind: Sendable {
        case row(RowFunction)
        case batch(BatchFunction)
    }

    public let kind: Kind
    /// False when the callback must not run on two threads at once (the host then uses one thread).
    public let isThreadSafe: Bool
    /// Whatever must live as long as the loss does (e.g. the owner of user_data, whose deinit frees it).
    public let owner: (any Sendable)?

    /// Serialises whole evaluations of a loss that is not thread-safe, across concurrent calls too.
    let serial = SerialGate()

    public init(kind: Kind, isThreadSafe: Bool, owner: (any Sendable)?) {
        self.kind = kind
        self.isThreadSafe = isThreadSafe
        self.owner = owner
    }

    /// The registry entry of this loss under `name`.
    public func definition(name: String, summary: String) -> LossDefinition {
        LossDefinition(name: name, summary: summary, parameters: []) { _ in ExternalLossEvaluator(loss: self) }
    }
}

/// A lock shared by every copy of one external loss.
final class SerialGate: Sendable {
    private let mutex = Mutex(())

    func run(_ body: () throws(LossError) -> Void) throws(LossError) {
        try mutex.withLock { _ throws(LossError) in try body() }
    }
}

/// The first failure reported by any thread during one evaluation.
final class FailureRecord: Sendable {
    private let message = Mutex<String?>(nil)

    func record(_ text: String) {
        message.withLock { if $0 == nil { $0 = text } }
    }

    var first: String? { message.withLock { $0 } }
}

/// A row callback as a `ClassIndexLoss`: rows are converted to float64 and back.
struct ExternalRowLoss: ClassIndexLoss {
    let function: ExternalLoss.RowFunction
    let isThreadSafe: Bool
    /// With nan_policy "propagate" a NaN result is passed on, not refused.
    let allowsNaN: Bool
    let failures: FailureRecord

    func row<T: KernelFloat>(_ z: UnsafePointer<T>, classes: Int, target: Int,
                             grad: UnsafeMutablePointer<T>?, scale: T) -> Double {
        ScratchArena.with(of: Double.self, capacity: 2 * classes) { buffer in
            let row = buffer.baseAddress!, g = row + classes
            for j in 0..<classes {
                row[j] = Double(z[j])
                g[j] = 0
            }
            let (loss, failure) = function(UnsafePointer(row), classes, target, g)
            if let failure {
                failures.record(failure)
                return .nan
            }
            if !allowsNaN && (loss.isNaN || (0..<classes).contains(where: { !g[$0].isFinite })) {
                failures.record("the callback returned a NaN loss or a non-finite gradient for target \(target); "
                                    + "expected a number and a finite gradient")
                return .nan
            }
            if let grad { for j in 0..<classes { grad[j] = scale * T(g[j]) } }
            return loss
        }
    }
}

/// Evaluates an external loss into staged outputs, committing them only if every callback succeeded.
struct ExternalLossEvaluator: BatchEvaluator {
    let loss: ExternalLoss

    func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        let run = { () throws(LossError) in
            switch batch {
            case .float32(let b): try evaluate(b, context: context)
            case .float64(let b): try evaluate(b, context: context)
            }
        }
        if loss.isThreadSafe { try run() } else { try loss.serial.run(run) }
    }

    private func evaluate<T: KernelFloat>(_ batch: Batch<T>, context: EvaluationContext) throws(LossError) {
        switch loss.kind {
        case .row(let function):
            try StagedOutputs.run(batch) { staged throws(LossError) in
                let failures = FailureRecord()
                let rowLoss = ExternalRowLoss(function: function, isThreadSafe: loss.isThreadSafe,
                                              allowsNaN: context.nanPolicy == .propagate, failures: failures)
                try LossEngine.evaluate(rowLoss, staged, nanPolicy: context.nanPolicy)
                if let message = failures.first { throw LossError(.callbackFailed, message) }
            }
        case .batch(let function):
            try evaluateWhole(batch, function, context: context)
        }
    }

    /// A whole-batch callback: the host validates, converts to float64 / int64, calls once, checks the
    /// result, and scales the gradient by dloss.
    private func evaluateWhole<T: KernelFloat>(_ batch: Batch<T>, _ function: ExternalLoss.BatchFunction,
                                               context: EvaluationContext) throws(LossError) {
        guard batch.reduction == .mean else {
            throw LossError(.badReduction, "a whole-batch loss gives one number per batch; expected reduction mean")
        }
        try BatchValidation.checkWeights(batch)
        try BatchValidation.checkDLoss(batch)
        if context.nanPolicy == .error { try BatchValidation.checkLogits(batch) }
        let samples = batch.samples, elements = samples * batch.classes
        var labels = [Int64](repeating: 0, count: samples)
        switch batch.target {
        case .int32(let t):
            _ = try BatchValidation.checkIndices(batch, t)
            for i in 0..<samples { labels[i] = Int64(t[i]) }
        case .int64(let t):
            _ = try BatchValidation.checkIndices(batch, t)
            for i in 0..<samples { labels[i] = t[i] }
        case .probabilities:
            throw LossError(.badProbabilities, "this loss takes class-index targets (int32 or int64), not probabilities")
        }
        guard elements > 0 else {  // an empty batch: nothing to ask the callback
            batch.loss[0] = 0
            return
        }
        let logits = (0..<elements).map { Double(batch.logits[$0]) }
        let weight = batch.weight.map { w in (0..<batch.classes).map { Double(w[$0]) } } ?? []
        var grad = [Double](repeating: 0, count: elements)
        let (value, failure) = logits.withUnsafeBufferPointer { z in
            labels.withUnsafeBufferPointer { y in
                weight.withUnsafeBufferPointer { w in
                    grad.withUnsafeMutableBufferPointer { g in
                        function(batch.count, batch.classes, batch.inner, z.baseAddress!, y.baseAddress!,
                                 batch.weight == nil ? nil : w.baseAddress, batch.ignoreIndex, g.baseAddress!)
                    }
                }
            }
        }
        if let failure { throw LossError(.callbackFailed, failure) }
        guard context.nanPolicy == .propagate || (!value.isNaN && grad.allSatisfy(\.isFinite)) else {
            throw LossError(.callbackFailed, "the callback returned a NaN loss or a non-finite gradient; "
                                + "expected a number and a finite gradient")
        }
        let upstream = batch.dloss.map { Double($0[0]) } ?? 1
        if let out = batch.grad { for i in 0..<elements { out[i] = T(upstream * grad[i]) } }
        batch.loss[0] = T(value)
    }
}
