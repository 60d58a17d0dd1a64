#if canImport(Glibc)
import Glibc
#endif

/// A weight that moves over training progress t ∈ [0, 1] (t = step / total steps, given by the
/// caller): the reusable schedule behind `ce_expectation_mix`, usable for any mix of losses.
public struct Schedule: Sendable, Equatable {
    public enum Shape: String, Sendable, CaseIterable {
        /// The fixed value `alpha`.
        case constant
        /// start + (end - start)·t
        case linear
        /// start + (end - start)·(1 - cos πt)/2
        case cosine
        /// start before t_switch, end from t_switch on
        case step
    }

    public var shape: Shape
    public var constant: Double
    public var start: Double
    public var end: Double
    public var tSwitch: Double

    public init(shape: Shape = .constant, constant: Double = 0.5, start: Double = 0, end: Double = 1, tSwitch: Double = 0.5) {
        self.shape = shape
        self.constant = constant
        self.start = start
        self.end = end
        self.tSwitch = tSwitch
    }

    /// The weight at progress `t` (clamped to [0, 1]).
    public func value(at t: Double) -> Double {
        let t = min(1, max(0, t))
        switch shape {
        case .constant: return constant
        case .linear: return start + (end - start) * t
        case .cosine: return start + (end - start) * (1 - cos(Double.pi * t)) / 2
        case .step: return t < tSwitch ? start : end
        }
    }

    /// The parameter names of a schedule for the weight `weight`; `prefix` keeps the names of several
    /// schedules in one loss apart ("" for ce_expectation_mix's alpha, "w0_" for a mix's first weight).
    public struct Names: Sendable {
        public let shape: String, constant: String, start: String, end: String, tSwitch: String

        public init(weight: String, prefix: String = "") {
            shape = prefix + "schedule"
            constant = weight
            start = weight + "_start"
            end = weight + "_end"
            tSwitch = prefix + "t_switch"
        }
    }

    /// The parameters that describe a schedule (without `progress`, which a loss has once).
    public static func parameters(_ names: Names, defaultConstant: Double, constantRange: ParameterRange = .unitInterval,
                                  defaultStart: Double = 0, defaultEnd: Double = 1) -> [ParameterSpec] {
        [
            ParameterSpec(names.shape, .choice(default: Shape.constant.rawValue, options: Shape.allCases.map(\.rawValue)),
                          "how \(names.constant) moves over training progress t"),
            ParameterSpec(names.constant, .number(default: defaultConstant, range: constantRange),
                          "\(names.constant) when the schedule is constant"),
            ParameterSpec(names.start, .number(default: defaultStart, range: constantRange), "\(names.constant) at t = 0"),
            ParameterSpec(names.end, .number(default: defaultEnd, range: constantRange), "\(names.constant) at t = 1"),
            ParameterSpec(names.tSwitch, .number(default: 0.5, range: .unitInterval),
                          "step schedule: the t where \(names.constant) turns from start to end"),
        ]
    }

    /// Training progress t = step / total steps, the one input of every schedule of a loss.
    public static let progressParameter = ParameterSpec("progress", .number(default: 0, range: .unitInterval),
                                                        "training progress t = step / total steps")

    /// The schedule described by `parameters(names, ...)`.
    public init(parameters: ParameterValues, names: Names) {
        self.init(shape: Shape(rawValue: parameters[choice: names.shape]) ?? .constant,
                  constant: parameters[number: names.constant],
                  start: parameters[number: names.start], end: parameters[number: names.end],
                  tSwitch: parameters[number: names.tSwitch])
    }
}
