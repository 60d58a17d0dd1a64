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

    /// A per-sample loss run by the shared host.
    init<L: RowLoss>(name: String, summary: String, parameters: [ParameterSpec],
                     rowLoss: @escaping @Sendable (ParameterValues) -> L) {
        self.init(name: name, summary: summary, parameters: parameters) { values in RowLossEvaluator(loss: rowLoss(values)) }
    }

    /// A loss with its own batch evaluator (a whole-batch loss such as Dice).
    init(name: String, summary: String, parameters: [ParameterSpec],
         evaluator: @escaping @Sendable (ParameterValues) -> any BatchEvaluator) {
        self.name = name
        self.summary = summary
        self.parameters = parameters + CommonParameters.all
        self.makeEvaluator = evaluator
    }
}

/// The built-in losses, by name.
public enum LossCatalog {
    public static let builtIn: [LossDefinition] = [
        LossDefinition(name: "cross_entropy", summary: "softmax cross-entropy (PyTorch F.cross_entropy)",
                       parameters: CrossEntropy.parameters, rowLoss: CrossEntropy.init(parameters:)),
        LossDefinition(name: "expectation", summary: "expectation loss 1 - p_y (Battash et al.)",
                       parameters: [], rowLoss: { _ in Expectation() }),
        LossDefinition(name: "ce_expectation_mix", summary: "(1-α)·CE + α·β·(1 - p_y), α on a schedule (Battash et al.)",
                       parameters: CrossEntropyExpectationMix.parameters, rowLoss: CrossEntropyExpectationMix.init(parameters:)),
        LossDefinition(name: "squentropy", summary: "CE + mean square of the wrong-class logits (Hui, Belkin & Wright)",
                       parameters: [], rowLoss: { _ in Squentropy() }),
        LossDefinition(name: "square", summary: "rescaled square loss (Hui & Belkin 2020)",
                       parameters: SquareLoss.parameters, rowLoss: SquareLoss.init(parameters:)),
        LossDefinition(name: "hem", summary: "high error margin loss, HEM+ with class counts (Spratling & Schütt)",
                       parameters: HighErrorMargin.parameters, rowLoss: HighErrorMargin.init(parameters:)),
        LossDefinition(name: "multi_margin", summary: "multi-class hinge (PyTorch MultiMarginLoss)",
                       parameters: MultiMargin.parameters, rowLoss: MultiMargin.init(parameters:)),
        LossDefinition(name: "logit_norm", summary: "CE of logits normalised to norm 1/τ (Wei et al. 2022)",
                       parameters: LogitNorm.parameters, rowLoss: LogitNorm.init(parameters:)),
        LossDefinition(name: "logit_adjusted", summary: "CE of z + τ·log π (Menon et al. 2021)",
                       parameters: LogitAdjusted.parameters, rowLoss: LogitAdjusted.init(parameters:)),
        LossDefinition(name: "focal", summary: "focal loss -(1-p_y)^γ·log p_y (Lin et al. 2017)",
                       parameters: Focal.parameters, rowLoss: Focal.init(parameters:)),
        LossDefinition(name: "dice", summary: "soft Dice over the whole batch, for segmentation",
                       parameters: Dice.parameters, evaluator: Dice.init(parameters:)),
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

    public func set(_ name: String, vector value: [Double]) throws(LossError) {
        try values.set(name, vector: value, lossName: definition.name)
        evaluator = definition.makeEvaluator(values)
    }

    public func number(_ name: String) throws(LossError) -> Double {
        try values.number(name, lossName: definition.name)
    }

    public func evaluate(_ batch: AnyBatch) throws(LossError) {
        try evaluator.evaluate(batch, nanPolicy: nanPolicy)
    }
}
