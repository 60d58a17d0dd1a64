/// Runs an evaluation into library-owned copies of a batch's outputs. `run` copies them to the
/// caller's buffers only when the evaluation succeeds: for evaluations that can fail half-way (user
/// callbacks) or that combine several passes (mixes), the caller's buffers stay untouched on error,
/// and a gradient written in place over the logits cannot disturb a later pass that still reads them.
enum StagedOutputs {
    /// Evaluates into staging buffers, then commits them to `batch`'s outputs.
    static func run<T: KernelFloat>(_ batch: Batch<T>, _ body: (Batch<T>) throws(LossError) -> Void) throws(LossError) {
        try withScratch(batch) { staged throws(LossError) in
            try body(staged)
            batch.loss.update(from: staged.loss, count: lossCount(batch))
            if let grad = batch.grad, let stagedGrad = staged.grad { grad.update(from: stagedGrad, count: gradCount(batch)) }
        }
    }

    /// `batch` with its outputs redirected to scratch buffers that live while `body` runs; nothing is
    /// copied back.
    static func withScratch<T: KernelFloat>(_ batch: Batch<T>, _ body: (Batch<T>) throws(LossError) -> Void) throws(LossError) {
        let loss = UnsafeMutablePointer<T>.allocate(capacity: max(1, lossCount(batch)))
        let grad = UnsafeMutablePointer<T>.allocate(capacity: max(1, gradCount(batch)))
        defer {
            loss.deallocate()
            grad.deallocate()
        }
        var staged = batch
        staged.loss = loss
        staged.grad = batch.grad == nil ? nil : grad
        try body(staged)
    }

    /// Values of the loss output: one per sample for reduction none, else one.
    static func lossCount<T>(_ batch: Batch<T>) -> Int { batch.reduction == .none ? batch.samples : 1 }

    /// Values of the gradient output (0 when the batch asks for none).
    static func gradCount<T>(_ batch: Batch<T>) -> Int { batch.grad == nil ? 0 : batch.samples * batch.classes }
}
