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

    /// The parameters that describe a schedule of a weight called `weightName`, plus `progress`.
    public static func parameters(weightName: String, defaultConstant: Double) -> [ParameterSpec] {
        [
            ParameterSpec("schedule", .choice(default: Shape.constant.rawValue, options: Shape.allCases.map(\.rawValue)),
                          "how \(weightName) moves over training progress t"),
            ParameterSpec(weightName, .number(default: defaultConstant, range: .unitInterval),
                          "\(weightName) when schedule is constant"),
            ParameterSpec("\(weightName)_start", .number(default: 0, range: .unitInterval), "\(weightName) at t = 0"),
            ParameterSpec("\(weightName)_end", .number(default: 1, range: .unitInterval), "\(weightName) at t = 1"),
            ParameterSpec("t_switch", .number(default: 0.5, range: .unitInterval), "step schedule: t where start turns to end"),
            ParameterSpec("progress", .number(default: 0, range: .unitInterval), "training progress t = step / total steps"),
        ]
    }

    /// The schedule described by `parameters(weightName:defaultConstant:)`.
    public init(parameters: ParameterValues, weightName: String) {
        self.init(shape: Shape(rawValue: parameters[choice: "schedule"]) ?? .constant,
                  constant: parameters[number: weightName],
                  start: parameters[number: "\(weightName)_start"], end: parameters[number: "\(weightName)_end"],
                  tSwitch: parameters[number: "t_switch"])
    }
}
