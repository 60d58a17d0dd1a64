/// What a single evaluation may override on top of a loss's stored parameters.
public struct EvaluationContext: Sendable {
    public var nanPolicy: NaNPolicy
    /// Training progress t for scheduled weights; nil means the loss's own `progress` parameter.
    public var progress: Double?

    public init(nanPolicy: NaNPolicy = .error, progress: Double? = nil) {
        self.nanPolicy = nanPolicy
        self.progress = progress
    }
}

/// Evaluates one configured loss on a batch (the type-erased face of a specialised kernel).
/// Must validate everything before writing any output.
public protocol BatchEvaluator: Sendable {
    func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError)
}

/// Runs a per-sample `RowLoss` through the shared host.
struct RowLossEvaluator<L: RowLoss>: BatchEvaluator {
    let loss: L
    func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        let configured = context.progress.map { loss.at(progress: $0) } ?? loss
        try LossEngine.evaluate(configured, batch, nanPolicy: context.nanPolicy)
    }
}
