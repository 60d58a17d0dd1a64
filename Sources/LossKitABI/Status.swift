import CLossKit
import LossKitKernels

/// A refused call: the status to return and the message for lk_last_error_message().
struct ABIError: Error {
    let status: lk_status
    let message: String

    init(_ status: lk_status, _ message: String) {
        self.status = status
        self.message = message
    }

    init(_ error: LossError) {
        let status = switch error.kind {
        case .targetOutOfRange: LK_ERROR_TARGET_OUT_OF_RANGE
        case .badProbabilities: LK_ERROR_BAD_PROBABILITIES
        case .nonfiniteLogit: LK_ERROR_NONFINITE_LOGIT
        case .badWeight: LK_ERROR_BAD_WEIGHT
        case .badDLoss: LK_ERROR_BAD_DLOSS
        case .unknownLoss: LK_ERROR_UNKNOWN_LOSS
        case .unknownParameter: LK_ERROR_UNKNOWN_PARAM
        case .badParameter: LK_ERROR_BAD_PARAM
        case .badReduction: LK_ERROR_BAD_REDUCTION
        case .duplicateName: LK_ERROR_DUPLICATE_NAME
        case .registryFull: LK_ERROR_REGISTRY_FULL
        case .badName: LK_ERROR_BAD_NAME
        case .callbackFailed: LK_ERROR_CALLBACK_FAILED
        }
        self.init(status, error.message)
    }
}

/// The frame of every fallible entry point: clears the thread's message, runs `body`, and turns a
/// refusal into its status and message. Nothing thrown ever crosses the C boundary.
func abiCall(_ body: () throws(ABIError) -> Void) -> lk_status {
    LastError.clear()
    do {
        try body()
        LastError.clear()  // a callback may have left a note on this thread and still succeeded
        return LK_OK
    } catch {
        LastError.set(error.message)
        return error.status
    }
}

/// Converts a kernel-level refusal into its ABI form.
func kernelCall<R>(_ body: () throws(LossError) -> R) throws(ABIError) -> R {
    do { return try body() } catch { throw ABIError(error) }
}

/// Reads a required C string argument, which must be valid UTF-8.
func requiredString(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(ABIError) -> String {
    guard let pointer else { throw ABIError(LK_ERROR_NULL_POINTER, "\(what) is NULL; expected a NUL-terminated string") }
    guard let text = String(validatingCString: pointer) else {
        throw ABIError(LK_ERROR_BAD_NAME, "\(what) is not valid UTF-8; expected a UTF-8 string")
    }
    return text
}

@c @implementation
public func lk_status_string(_ status: lk_status) -> UnsafePointer<CChar>! {
    let text: StaticString = switch status {
    case LK_OK: "ok"
    case LK_ERROR_NULL_POINTER: "null pointer"
    case LK_ERROR_BAD_SHAPE: "bad shape"
    case LK_ERROR_SIZE_OVERFLOW: "size overflow"
    case LK_ERROR_BAD_DTYPE: "bad dtype"
    case LK_ERROR_TARGET_OUT_OF_RANGE: "target out of range"
    case LK_ERROR_BAD_PROBABILITIES: "bad probability targets"
    case LK_ERROR_NONFINITE_LOGIT: "non-finite logit"
    case LK_ERROR_BAD_WEIGHT: "bad class weight"
    case LK_ERROR_BAD_DLOSS: "bad upstream gradient"
    case LK_ERROR_BAD_REDUCTION: "bad reduction"
    case LK_ERROR_UNKNOWN_LOSS: "unknown loss"
    case LK_ERROR_UNKNOWN_PARAM: "unknown parameter"
    case LK_ERROR_BAD_PARAM: "bad parameter value"
    case LK_ERROR_ALIASING: "aliased buffers"
    case LK_ERROR_MISALIGNED: "misaligned buffer"
    case LK_ERROR_BAD_STRUCT: "bad struct"
    case LK_ERROR_INTERNAL: "internal error"
    case LK_ERROR_DUPLICATE_NAME: "duplicate loss name"
    case LK_ERROR_REGISTRY_FULL: "registry full"
    case LK_ERROR_BAD_NAME: "bad loss name"
    case LK_ERROR_ABI_VERSION: "ABI version mismatch"
    case LK_ERROR_CALLBACK_FAILED: "callback failed"
    case LK_ERROR_PLUGIN: "plugin failed"
    default: "unknown status"
    }
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
