import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Names (of losses, of parameters) and parameter descriptions as C strings that stay valid for the
/// life of the process, so a pointer returned by lk_loss_name_at survives a later unregistration.
/// One copy per distinct string, never freed.
final class InternedNames: Sendable {
    static let shared = InternedNames()

    private let table = Mutex<[String: UInt]>([:])  // name -> address of its strdup copy

    func cString(_ name: String) -> UnsafePointer<CChar> {
        let address = table.withLock { table in
            if let known = table[name] { return known }
            let copy = UInt(bitPattern: strdup(name))
            table[name] = copy
            return copy
        }
        return UnsafePointer(bitPattern: address)!
    }
}
