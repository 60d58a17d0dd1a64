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

/// A per-sample loss is its own evaluator: the shared host runs it. Each loss type's conformance is
/// concrete, so the call through `any BatchEvaluator` lands in code specialised for that loss (a
/// generic wrapper type would run the unspecialised kernel, many times slower).
extension RowLoss {
    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        let configured = context.progress.map { at(progress: $0) } ?? self
        try LossEngine.evaluate(configured, batch, nanPolicy: context.nanPolicy)
    }
}

/// Losses with a column kernel (the softmax family, squentropy) also run W samples at a time where
/// the layout allows (the more specific extension is the one each conformance picks).
extension RowLoss where Self: ColumnKernel {
    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        let configured = context.progress.map { at(progress: $0) } ?? self
        switch batch {
        case .float32(let b): try LossEngine.evaluate(columns: configured, b, nanPolicy: context.nanPolicy)
        case .float64(let b): try LossEngine.evaluate(columns: configured, b, nanPolicy: context.nanPolicy)
        }
    }
}

/// The softmax-target losses also cut rows of many classes into segments (`WideRows`).
extension SoftmaxTargetLoss {
    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        let configured = context.progress.map { at(progress: $0) } ?? self
        switch batch {
        case .float32(let b): try LossEngine.evaluate(softmax: configured, b, nanPolicy: context.nanPolicy)
        case .float64(let b): try LossEngine.evaluate(softmax: configured, b, nanPolicy: context.nanPolicy)
        }
    }
}

/// Squentropy and LogitNorm also take rows of a moderate number of classes a tile at a time
/// (`RowTiles`); each public `evaluate` is a one-line witness of `BatchEvaluator` for its type.
extension Squentropy {
    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        try evaluateWithTiles(batch, context: context)
    }
}

extension LogitNorm {
    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        try evaluateWithTiles(batch, context: context)
    }
}

/// A column loss with its own tile kernel for contiguous rows of 32–255 classes (`RowTiles`).
protocol LinearTermTiledLoss: RowLoss, ColumnKernel {
    /// Runs the loss over a class-index batch that `RowTiles.applies(linearTerm:)` (validated).
    func runTiles<T: KernelFloat>(_ batch: Batch<T>, _ reduction: ReductionScales<T>)
}

extension LinearTermTiledLoss {
    func evaluateWithTiles(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        switch batch {
        case .float32(let b): try LossEngine.evaluate(columns: self, b, nanPolicy: context.nanPolicy) { runTilesIfApplicable(b, $0) }
        case .float64(let b): try LossEngine.evaluate(columns: self, b, nanPolicy: context.nanPolicy) { runTilesIfApplicable(b, $0) }
        }
    }

    /// Runs `batch` in tiles when `RowTiles.applies(linearTerm:)`; false otherwise.
    private func runTilesIfApplicable<T: KernelFloat>(_ batch: Batch<T>, _ reduction: ReductionScales<T>) -> Bool {
        guard RowTiles.applies(linearTerm: batch) else { return false }
        runTiles(batch, reduction)
        return true
    }
}
