import CLossKit
import LossKitKernels
#if canImport(Glibc)
import Glibc
#endif

/// Owns a user loss's `user_data`: calls the user's destroy callback once, when the registry and every
/// loss object created from it have let go.
final class UserData: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
    private var destroy: lk_destroy_fn?

    init(_ pointer: UnsafeMutableRawPointer?, destroy: lk_destroy_fn?) {
        self.pointer = pointer
        self.destroy = destroy
    }

    /// For a registration that was refused: the caller still owns user_data, so never destroy it.
    /// Called before the object is shared with any other thread.
    func disown() { destroy = nil }

    deinit { destroy?(pointer) }
}

/// The message a failing callback left with lk_set_callback_error on this thread, or a default.
private func callbackFailure(_ status: Int32, _ loss: String) -> String {
    let message = String(cString: LastError.current)
    LastError.clear()
    return message.isEmpty ? "a callback of loss '\(loss)' returned \(status) without a message; expected 0" : message
}

/// Checks a callback table and turns it into the kernels' `ExternalLoss`.
func externalLoss(named name: String, _ table: UnsafePointer<lk_loss_callbacks>?) throws(ABIError) -> ExternalLoss {
    guard let table else { throw ABIError(LK_ERROR_NULL_POINTER, "callbacks is NULL; expected an lk_loss_callbacks table") }
    let callbacks = table.pointee
    guard callbacks.struct_size == UInt32(MemoryLayout<lk_loss_callbacks>.size), callbacks.abi_version == UInt32(LK_LOSS_ABI_VERSION) else {
        throw ABIError(LK_ERROR_ABI_VERSION,
                       "callbacks of loss '\(name)' have struct_size \(callbacks.struct_size) and abi_version \(callbacks.abi_version); "
                           + "expected \(MemoryLayout<lk_loss_callbacks>.size) and \(LK_LOSS_ABI_VERSION)")
    }
    guard callbacks.reserved == 0 else {
        throw ABIError(LK_ERROR_BAD_PARAM, "callbacks.reserved of loss '\(name)' is \(callbacks.reserved); expected 0")
    }
    let owner = UserData(callbacks.user_data, destroy: callbacks.destroy)
    let userData = callbacks.user_data.map { UInt(bitPattern: $0) } ?? 0
    let threadSafe = callbacks.flags & UInt32(LK_CALLBACK_THREAD_SAFE) != 0
    switch (callbacks.row, callbacks.batch) {
    case (let row?, nil):
        return ExternalLoss(kind: .row { z, classes, target, grad in
            var loss: Double = 0
            let status = row(UnsafeMutableRawPointer(bitPattern: userData), z, Int64(classes), Int64(target), &loss, grad)
            return (loss, status == 0 ? nil : callbackFailure(status, name))
        }, isThreadSafe: threadSafe, owner: owner)
    case (nil, let batch?):
        return ExternalLoss(kind: .batch { n, classes, inner, z, target, weight, ignore, grad in
            var loss: Double = 0
            let status = batch(UnsafeMutableRawPointer(bitPattern: userData), Int64(n), Int64(classes), Int64(inner),
                               z, target, weight, ignore, &loss, grad)
            return (loss, status == 0 ? nil : callbackFailure(status, name))
        }, isThreadSafe: threadSafe, owner: owner)
    default:
        owner.disown()
        throw ABIError(LK_ERROR_BAD_PARAM,
                       "callbacks of loss '\(name)' give \(callbacks.row == nil ? "neither" : "both") row and batch; expected exactly one")
    }
}

@c @implementation
public func lk_register_loss(_ name: UnsafePointer<CChar>!, _ callbacks: UnsafePointer<lk_loss_callbacks>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let lossName = try requiredString(name, "name")
        try kernelCall { () throws(LossError) in try LossRegistry.checkName(lossName) }
        let loss = try externalLoss(named: lossName, callbacks)
        do throws(LossError) {
            try LossRegistry.shared.register(loss.definition(name: lossName, summary: "user loss"))
        } catch {
            (loss.owner as? UserData)?.disown()
            throw ABIError(error)
        }
        PluginLoading.record(lossName)
    }
}

@c @implementation
public func lk_unregister_loss(_ name: UnsafePointer<CChar>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let lossName = try requiredString(name, "name")
        try kernelCall { () throws(LossError) in try LossRegistry.shared.unregister(lossName) }
    }
}

@c @implementation
public func lk_set_callback_error(_ message: UnsafePointer<CChar>!) {
    LastError.set(message.map { String(cString: $0) } ?? "")
}
