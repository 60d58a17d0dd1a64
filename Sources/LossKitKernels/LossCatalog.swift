/// Evaluates one configured loss on a batch (the type-erased face of a specialised kernel).
public protocol BatchEvaluator: Sendable {
    func evaluate(_ batch: AnyBatch, nanPolicy: NaNPolicy) throws(LossError)
}

/// Runs a per-sample `RowLoss` through the shared host.
struct RowLossEvaluator<L: RowLoss>: BatchEvaluator {
    let loss: L
    func evaluate(_ batch: AnyBatch, nanPolicy: NaNPolicy) throws(LossError) {
        try LossEngine.evaluate(loss, batch, nanPolicy: nanPolicy)
    }
}

/// A loss as the catalogue lists it: its name, its parameters and how to build its kernel from them.
public struct LossDefinition: Sendable {
    public let name: String
    public let summary: String
    /// The loss's own parameters followed by `CommonParameters.all`.
    public let parameters: [ParameterSpec]
    let makeEvaluator: @Sendable (ParameterValues) -> any BatchEvaluator

    init<L: RowLoss>(name: String, summary: String, parameters: [ParameterSpec],
                     rowLoss: @escaping @Sendable (ParameterValues) -> L) {
        self.name = name
        self.summary = summary
        self.parameters = parameters + CommonParameters.all
        self.makeEvaluator = { values in RowLossEvaluator(loss: rowLoss(values)) }
    }
}

/// The built-in losses, by name.
public enum LossCatalog {
    public static let builtIn: [LossDefinition] = [
        LossDefinition(name: "cross_entropy", summary: "softmax cross-entropy (PyTorch F.cross_entropy)",
                       parameters: CrossEntropy.parameters, rowLoss: CrossEntropy.init(parameters:)),
    ]

    public static func definition(named name: String) throws(LossError) -> LossDefinition {
        guard let definition = builtIn.first(where: { $0.name == name }) else {
            throw LossError(.unknownLoss,
                            "no loss named '\(name)'; expected one of: \(builtIn.map(\.name).joined(separator: ", "))")
        }
        return definition
    }
}

/// A loss with its current parameter values, ready to evaluate batches. Evaluation only reads it,
/// so many threads may evaluate at once; parameter changes must not overlap evaluations.
public final class ConfiguredLoss {
    public let definition: LossDefinition
    public private(set) var values: ParameterValues
    private var evaluator: any BatchEvaluator
    private var nanPolicy: NaNPolicy

    public init(_ definition: LossDefinition) {
        self.definition = definition
        self.values = ParameterValues(specs: definition.parameters)
        self.evaluator = definition.makeEvaluator(values)
        self.nanPolicy = .error
    }

    public convenience init(named name: String) throws(LossError) {
        self.init(try LossCatalog.definition(named: name))
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

    public func number(_ name: String) throws(LossError) -> Double {
        try values.number(name, lossName: definition.name)
    }

    public func evaluate(_ batch: AnyBatch) throws(LossError) {
        try evaluator.evaluate(batch, nanPolicy: nanPolicy)
    }
}
