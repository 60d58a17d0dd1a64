/// A loss with its current parameter values, ready to evaluate batches. Evaluation only reads it,
/// so many threads may evaluate at once; parameter changes must not overlap evaluations.
public final class ConfiguredLoss {
    public let definition: LossDefinition
    public private(set) var values: ParameterValues
    public private(set) var evaluator: any BatchEvaluator
    public private(set) var nanPolicy: NaNPolicy

    public init(_ definition: LossDefinition) {
        self.definition = definition
        self.values = ParameterValues(specs: definition.parameters)
        self.evaluator = definition.makeEvaluator(values)
        self.nanPolicy = .error
    }

    public convenience init(named name: String) throws(LossError) {
        self.init(try LossRegistry.shared.definition(named: name))
    }

    public var name: String { definition.name }

    public func set(_ name: String, number value: Double) throws(LossError) {
        try values.set(name, number: value, lossName: definition.name)
        evaluator = definition.makeEvaluator(values)
    }

    public func set(_ name: String, choice value: String) throws(LossError) {
        try values.set(name, choice: value, lossName: definition.name)
        nanPolicy = NaNPolicy(rawValue: values[choice: CommonParameters.nanPolicy.name]) ?? .error
        evaluator = definition.makeEvaluator(values)
    }

    public func set(_ name: String, vector value: [Double]) throws(LossError) {
        try values.set(name, vector: value, lossName: definition.name)
        evaluator = definition.makeEvaluator(values)
    }

    public func number(_ name: String) throws(LossError) -> Double {
        try values.number(name, lossName: definition.name)
    }

    /// Evaluates the batch; `progress`, when given, overrides the `progress` parameter for this call.
    public func evaluate(_ batch: AnyBatch, progress: Double? = nil) throws(LossError) {
        if let progress, !ParameterRange.unitInterval.contains(progress) {
            throw LossError(.badParameter, "progress is \(progress); expected a training progress t in [0, 1]")
        }
        try evaluator.evaluate(batch, context: EvaluationContext(nanPolicy: nanPolicy, progress: progress))
    }
}
