/// A closed or open interval of allowed parameter values, printed the way messages quote it.
public struct ParameterRange: Sendable, CustomStringConvertible {
    public let lower: Double
    public let upper: Double
    public let lowerInclusive: Bool
    public let upperInclusive: Bool

    public init(_ lower: Double, _ upper: Double, lowerInclusive: Bool = true, upperInclusive: Bool = true) {
        self.lower = lower
        self.upper = upper
        self.lowerInclusive = lowerInclusive
        self.upperInclusive = upperInclusive
    }

    /// `[0, inf)`
    public static let nonNegative = ParameterRange(0, .infinity, upperInclusive: false)
    /// `[0, 1]`
    public static let unitInterval = ParameterRange(0, 1)
    /// `(0, inf)`
    public static let positive = ParameterRange(0, .infinity, lowerInclusive: false, upperInclusive: false)

    public func contains(_ value: Double) -> Bool {
        guard value.isFinite else { return false }
        let aboveLower = lowerInclusive ? value >= lower : value > lower
        let belowUpper = upperInclusive ? value <= upper : value < upper
        return aboveLower && belowUpper
    }

    public var description: String {
        func bound(_ x: Double) -> String { x.isInfinite ? "inf" : "\(x)" }
        return (lowerInclusive ? "[" : "(") + bound(lower) + ", " + bound(upper) + (upperInclusive ? "]" : ")")
    }
}

/// What kind of value a named parameter takes, with its default.
public enum ParameterKind: Sendable {
    case number(default: Double, range: ParameterRange)
    case choice(default: String, options: [String])
    /// A number restricted to a few integers (e.g. an exponent p ∈ {1, 2}).
    case integer(default: Int, allowed: [Int])
    /// A vector of numbers, each in `range`; empty (unset) by default. Its required length (usually C)
    /// is checked by the loss when it sees a batch.
    case vector(range: ParameterRange)
}

/// One named parameter of a loss.
public struct ParameterSpec: Sendable {
    public let name: String
    public let kind: ParameterKind
    public let summary: String

    public init(_ name: String, _ kind: ParameterKind, _ summary: String) {
        self.name = name
        self.kind = kind
        self.summary = summary
    }
}

/// How non-finite logits are treated. `-inf` is always a masked class; this decides NaN and `+inf`.
public enum NaNPolicy: String, Sendable {
    /// Refuse the batch before writing anything (the default).
    case error
    /// Skip the check; NaN flows into the loss and gradient as IEEE arithmetic dictates.
    case propagate
}

/// The parameters every loss has, whatever its formula.
public enum CommonParameters {
    public static let nanPolicy = ParameterSpec(
        "nan_policy", .choice(default: NaNPolicy.error.rawValue, options: ["error", "propagate"]),
        "NaN or +inf logits: refuse the batch (error) or let them flow through (propagate)")
    public static let all = [nanPolicy]
}

/// The current values of a loss's parameters, checked against their specs on every change.
public struct ParameterValues: Sendable {
    public let specs: [ParameterSpec]
    private var numbers: [String: Double] = [:]
    private var choices: [String: String] = [:]
    private var vectors: [String: [Double]] = [:]

    public init(specs: [ParameterSpec]) {
        self.specs = specs
        for spec in specs {
            switch spec.kind {
            case .number(let value, _): numbers[spec.name] = value
            case .choice(let value, _): choices[spec.name] = value
            case .integer(let value, _): numbers[spec.name] = Double(value)
            case .vector: vectors[spec.name] = []
            }
        }
    }

    private func spec(_ name: String, of lossName: String) throws(LossError) -> ParameterSpec {
        guard let spec = specs.first(where: { $0.name == name }) else {
            let known = specs.map(\.name).joined(separator: ", ")
            throw LossError(.unknownParameter, "loss '\(lossName)' has no parameter '\(name)'; expected one of: \(known)")
        }
        return spec
    }

    public mutating func set(_ name: String, number value: Double, lossName: String) throws(LossError) {
        let spec = try spec(name, of: lossName)
        switch spec.kind {
        case .number(_, let range):
            guard range.contains(value) else {
                throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is \(value); expected a value in \(range)")
            }
        case .integer(_, let allowed):
            guard allowed.contains(where: { Double($0) == value }) else {
                throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is \(value); expected one of "
                                    + allowed.map(String.init).joined(separator: ", "))
            }
        case .choice, .vector:
            throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is not a single number; \(spec.kind.expectation)")
        }
        numbers[name] = value
    }

    public mutating func set(_ name: String, choice value: String, lossName: String) throws(LossError) {
        let spec = try spec(name, of: lossName)
        guard case .choice(_, let options) = spec.kind else {
            throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is not text; \(spec.kind.expectation)")
        }
        guard options.contains(value) else {
            throw LossError(.badParameter,
                            "parameter '\(name)' of loss '\(lossName)' is '\(value)'; expected one of: \(options.joined(separator: ", "))")
        }
        choices[name] = value
    }

    public mutating func set(_ name: String, vector value: [Double], lossName: String) throws(LossError) {
        let spec = try spec(name, of: lossName)
        guard case .vector(let range) = spec.kind else {
            throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is not a vector; \(spec.kind.expectation)")
        }
        if let bad = value.firstIndex(where: { !range.contains($0) }) {
            throw LossError(.badParameter,
                            "parameter '\(name)' of loss '\(lossName)' has \(value[bad]) at index \(bad); expected values in \(range)")
        }
        vectors[name] = value
    }

    public func number(_ name: String, lossName: String) throws(LossError) -> Double {
        let spec = try spec(name, of: lossName)
        guard let value = numbers[name] else {
            throw LossError(.badParameter, "parameter '\(name)' of loss '\(lossName)' is not a single number; \(spec.kind.expectation)")
        }
        return value
    }

    /// The value of a parameter this loss declared; for use by the loss's own constructor.
    public subscript(number name: String) -> Double { numbers[name] ?? .nan }
    public subscript(choice name: String) -> String { choices[name] ?? "" }
    public subscript(vector name: String) -> [Double] { vectors[name] ?? [] }
}

extension ParameterSpec {
    /// Allowed values, default and meaning, in one line.
    public var documentation: String {
        let values: String = switch kind {
        case .number(let value, let range): "number in \(range), default \(value)"
        case .integer(let value, let allowed): "one of " + allowed.map(String.init).joined(separator: ", ") + ", default \(value)"
        case .choice(let value, let options): "one of " + options.joined(separator: ", ") + ", default \(value)"
        case .vector(let range): "vector of values in \(range), empty by default"
        }
        return values + ": " + summary
    }
}

extension ParameterKind {
    /// How to set a parameter of this kind, for messages.
    var expectation: String {
        switch self {
        case .number(_, let range): "expected a number in \(range)"
        case .integer(_, let allowed): "expected one of " + allowed.map(String.init).joined(separator: ", ")
        case .choice(_, let options): "expected one of: " + options.joined(separator: ", ")
        case .vector(let range): "expected a vector of values in \(range)"
        }
    }
}
