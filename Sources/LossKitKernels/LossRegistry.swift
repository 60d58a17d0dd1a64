import Synchronization

/// The process-wide list of losses, built-in and user-registered alike, safe to use from any thread.
public final class LossRegistry: Sendable {
    public static let shared = LossRegistry(LossCatalog.builtIn)

    /// Most losses the registry holds.
    public static let capacity = 4096
    /// Longest name, in UTF-8 bytes.
    public static let maxNameLength = 63

    private let entries: Mutex<[LossDefinition]>

    init(_ definitions: [LossDefinition]) {
        entries = Mutex(definitions)
    }

    public func definition(named name: String) throws(LossError) -> LossDefinition {
        let found = entries.withLock { list in list.first { $0.name == name } }
        guard let found else {
            throw LossError(.unknownLoss, "no loss named '\(name)'; expected one of: \(names.joined(separator: ", "))")
        }
        return found
    }

    public var names: [String] { entries.withLock { $0.map(\.name) } }

    public var count: Int { entries.withLock { $0.count } }

    /// The name at `index`, or nil when out of range (the list may change between calls).
    public func name(at index: Int) -> String? {
        entries.withLock { index >= 0 && index < $0.count ? $0[index].name : nil }
    }

    public func register(_ definition: LossDefinition) throws(LossError) {
        try Self.checkName(definition.name)
        let refusal: LossError? = entries.withLock { list in
            if list.contains(where: { $0.name == definition.name }) {
                return LossError(.duplicateName, "a loss named '\(definition.name)' is already registered; expected a new name")
            }
            if list.count >= Self.capacity {
                return LossError(.registryFull, "the registry holds \(Self.capacity) losses, its capacity; unregister one first")
            }
            list.append(definition)
            return nil
        }
        if let refusal { throw refusal }
    }

    /// Removes a loss by name. Losses already created from it keep working until destroyed.
    public func unregister(_ name: String) throws(LossError) {
        let removed = entries.withLock { list in
            list.firstIndex { $0.name == name }.map { list.remove(at: $0) }
        }
        guard removed != nil else { throw LossError(.unknownLoss, "no loss named '\(name)' to unregister") }
    }

    /// Names are 1 to 63 bytes of letters, digits, '_', '-' and '.'.
    public static func checkName(_ name: String) throws(LossError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D || byte == 0x2E
        }
        guard !name.isEmpty, name.utf8.count <= maxNameLength, allowed else {
            throw LossError(.badName, "loss name '\(name)' is not valid; expected 1 to \(maxNameLength) characters "
                                + "from A-Z, a-z, 0-9, '_', '-', '.'")
        }
    }
}
