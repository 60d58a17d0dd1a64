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
}
