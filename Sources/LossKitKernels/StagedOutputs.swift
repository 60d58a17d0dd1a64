/// Runs an evaluation into library-owned copies of a batch's outputs and copies them to the caller's
/// buffers only when it succeeds. For evaluations that can fail half-way (user callbacks) or that
/// combine several passes (mixes): the caller's buffers stay untouched on error, and a gradient
/// written in place over the logits cannot disturb a later pass that still reads them.
enum StagedOutputs {
    static func run<T: KernelFloat>(_ batch: Batch<T>, _ body: (Batch<T>) throws(LossError) -> Void) throws(LossError) {
        let lossCount = batch.reduction == .none ? batch.samples : 1
        let gradCount = batch.grad == nil ? 0 : batch.samples * batch.classes
        let loss = UnsafeMutablePointer<T>.allocate(capacity: max(1, lossCount))
        let grad = UnsafeMutablePointer<T>.allocate(capacity: max(1, gradCount))
        defer {
            loss.deallocate()
            grad.deallocate()
        }
        var staged = batch
        staged.loss = loss
        staged.grad = batch.grad == nil ? nil : grad
        try body(staged)
        batch.loss.update(from: loss, count: lossCount)
        batch.grad?.update(from: grad, count: gradCount)
    }
}
