/// A weighted sum of losses, each weight constant or on a schedule over training progress t:
/// L = Σ_k w_k(t)·L_k, ∂L/∂z = Σ_k w_k(t)·∂L_k/∂z. Any evaluator can be a component, a mix included.
public struct Mix: BatchEvaluator {
    public struct Component: Sendable {
        public let evaluator: any BatchEvaluator
        public let nanPolicy: NaNPolicy
        public let weight: Schedule

        public init(evaluator: any BatchEvaluator, nanPolicy: NaNPolicy, weight: Schedule) {
            self.evaluator = evaluator
            self.nanPolicy = nanPolicy
            self.weight = weight
        }
    }

    public let components: [Component]
    /// t when the call does not give one.
    public let progress: Double

    /// The names of component k's weight parameters: w<k>, w<k>_schedule, w<k>_start, w<k>_end, w<k>_t_switch.
    public static func weightNames(_ k: Int) -> Schedule.Names { Schedule.Names(weight: "w\(k)", prefix: "w\(k)_") }

    /// The parameters of a mix of `count` losses: a weight schedule per component (constant 1 by
    /// default) and the shared `progress`.
    public static func parameters(count: Int) -> [ParameterSpec] {
        (0..<count).flatMap { k in
            Schedule.parameters(weightNames(k), defaultConstant: 1, constantRange: .nonNegative, defaultStart: 1, defaultEnd: 1)
        } + [Schedule.progressParameter]
    }

    /// The registry-style definition of a mix of the given evaluators, named `name`.
    public static func definition(name: String, components: [(evaluator: any BatchEvaluator, nanPolicy: NaNPolicy)]) -> LossDefinition {
        LossDefinition(name: name, summary: "weighted mix of \(components.count) losses",
                       parameters: parameters(count: components.count)) { values in
            Mix(components: components.enumerated().map { k, part in
                    Component(evaluator: part.evaluator, nanPolicy: part.nanPolicy,
                              weight: Schedule(parameters: values, names: weightNames(k)))
                },
                progress: values[number: Schedule.progressParameter.name])
        }
    }

    public func evaluate(_ batch: AnyBatch, context: EvaluationContext) throws(LossError) {
        switch batch {
        case .float32(let b): try evaluate(b, context: context)
        case .float64(let b): try evaluate(b, context: context)
        }
    }

    // Each component is evaluated into its own staging buffers with the caller's dloss, then added in
    // with its weight; the sum reaches the caller's buffers only after every component succeeded.
    private func evaluate<T: KernelFloat>(_ batch: Batch<T>, context: EvaluationContext) throws(LossError) {
        let t = context.progress ?? progress
        try StagedOutputs.run(batch) { total throws(LossError) in
            let lossCount = StagedOutputs.lossCount(batch), gradCount = StagedOutputs.gradCount(batch)
            total.loss.update(repeating: 0, count: lossCount)
            total.grad?.update(repeating: 0, count: gradCount)
            for component in components {
                let w = component.weight.value(at: t)  // Double: a legal weight may exceed T's range
                let inner = EvaluationContext(nanPolicy: component.nanPolicy == .error || context.nanPolicy == .error ? .error : .propagate,
                                              progress: t)
                try StagedOutputs.withScratch(total) { part throws(LossError) in
                    try component.evaluator.evaluate(Self.wrap(part), context: inner)
                    guard w != 0 else { return }  // a weight of 0 contributes 0, even next to an infinite loss
                    for i in 0..<lossCount { total.loss[i] += T(w * Double(part.loss[i])) }
                    if let sum = total.grad, let g = part.grad { for i in 0..<gradCount { sum[i] += T(w * Double(g[i])) } }
                }
            }
        }
    }

    private static func wrap<T: KernelFloat>(_ batch: Batch<T>) -> AnyBatch {
        if let b = batch as? Batch<Float> { return .float32(b) }
        return .float64(batch as! Batch<Double>)
    }
}
