import CLossKit
#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's last error message, kept in a pthread key so each thread sees its own and the
/// buffer is freed when the thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { buffer in free(buffer) }
        return key
    }()

    /// Replaces this thread's message.
    static func set(_ message: String) {
        free(pthread_getspecific(key))
        pthread_setspecific(key, strdup(message))
    }

    /// Marks the last call as successful: the message becomes "".
    static func clear() {
        if let buffer = pthread_getspecific(key)?.assumingMemoryBound(to: CChar.self), buffer.pointee != 0 {
            buffer.pointee = 0
        }
    }

    static var current: UnsafePointer<CChar> {
        if let buffer = pthread_getspecific(key) { return UnsafePointer(buffer.assumingMemoryBound(to: CChar.self)) }
        return emptyCString
    }

    nonisolated(unsafe) private static let emptyCString = UnsafePointer(strdup("")!)
}

@c @implementation
public func lk_last_error_message() -> UnsafePointer<CChar>! {
    LastError.current
}
