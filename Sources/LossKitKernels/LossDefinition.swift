/// A loss as the registry lists it: its name, its parameters and how to build its evaluator from them.
/// Built-in and user-registered losses are both definitions; nothing else tells them apart.
public struct LossDefinition: Sendable {
    public let name: String
    public let summary: String
    /// The loss's own parameters followed by `CommonParameters.all`.
    public let parameters: [ParameterSpec]
    let makeEvaluator: @Sendable (ParameterValues) -> any BatchEvaluator

    /// A per-sample loss run by the shared host.
    public init<L: RowLoss>(name: String, summary: String, parameters: [ParameterSpec],
                            rowLoss: @escaping @Sendable (ParameterValues) -> L) {
        self.init(name: name, summary: summary, parameters: parameters) { values in rowLoss(values) }
    }

    /// A loss with its own batch evaluator (a whole-batch loss such as Dice, a mix, a callback loss).
    public init(name: String, summary: String, parameters: [ParameterSpec],
                evaluator: @escaping @Sendable (ParameterValues) -> any BatchEvaluator) {
        self.name = name
        self.summary = summary
        self.parameters = parameters + CommonParameters.all
        self.makeEvaluator = evaluator
    }
}
