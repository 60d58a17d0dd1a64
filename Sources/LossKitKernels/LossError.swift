/// Why a loss evaluation or a parameter change was refused. The ABI layer maps `kind` to an
/// `lk_status`; `message` says what was wrong and what was expected.
public struct LossError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case targetOutOfRange
        case badProbabilities
        case nonfiniteLogit
        case badWeight
        case badDLoss
        case unknownLoss
        case unknownParameter
        case badParameter
        case badReduction
        case duplicateName
        case registryFull
        case badName
        case callbackFailed
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
