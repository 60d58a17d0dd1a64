import CLossKit
import LossKitKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Plugin loads are serialised; while one runs, the names its init registers (on the loading thread)
/// are recorded so that a failed init can be undone.
enum PluginLoading {
    private struct State {
        var loader: pthread_t?
        var registered: [String] = []
    }

    private static let state = Mutex(State())
    private static let serial = Mutex(())

    /// Called by lk_register_loss: remembers `name` if the calling thread is loading a plugin.
    static func record(_ name: String) {
        state.withLock { state in
            if let loader = state.loader, pthread_equal(loader, pthread_self()) != 0 { state.registered.append(name) }
        }
    }

    /// Runs `body` as one plugin load; if it throws, every loss it registered is removed again and
    /// then `undo` runs (closing the library must wait until the losses, whose destroy callbacks
    /// live in it, are gone).
    static func transaction(_ body: () throws(ABIError) -> Void, undo: () -> Void) throws(ABIError) {
        try serial.withLock { _ throws(ABIError) in
            state.withLock { $0 = State(loader: pthread_self(), registered: []) }
            do throws(ABIError) {
                try body()
                state.withLock { $0 = State() }
            } catch {
                let registered = state.withLock { state in
                    defer { state = State() }
                    return state.registered
                }
                for name in registered { try? LossRegistry.shared.unregister(name) }
                undo()
                throw error
            }
        }
    }
}

/// The API table given to every plugin's init.
private let pluginAPI: lk_plugin_api = {
    var api = lk_plugin_api()
    api.struct_size = UInt32(MemoryLayout<lk_plugin_api>.size)
    api.abi_version = UInt32(LK_LOSS_ABI_VERSION)
    api.register_loss = lk_register_loss
    api.set_error = lk_set_callback_error
    return api
}()

@c @implementation
public func lk_plugin_load(_ path: UnsafePointer<CChar>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let file = try requiredString(path, "path")
        var opened: UnsafeMutableRawPointer?
        try PluginLoading.transaction({ () throws(ABIError) in
            guard let library = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
                throw ABIError(LK_ERROR_PLUGIN, "cannot open plugin '\(file)': \(dlerrorText()); expected a shared library")
            }
            opened = library
            if let version = dlsym(library, "lk_plugin_abi_version") {
                let wanted = version.load(as: UInt32.self)
                guard wanted == UInt32(LK_LOSS_ABI_VERSION) else {
                    throw ABIError(LK_ERROR_ABI_VERSION,
                                   "plugin '\(file)' was built for losskit ABI \(wanted); expected \(LK_LOSS_ABI_VERSION)")
                }
            }
            guard let entry = dlsym(library, "lk_plugin_init") else {
                throw ABIError(LK_ERROR_PLUGIN, "plugin '\(file)' has no entry point 'lk_plugin_init': \(dlerrorText())")
            }
            let initialise = unsafeBitCast(entry, to: lk_plugin_init_fn.self)
            var api = pluginAPI
            LastError.clear()
            let status = initialise(&api)
            guard status == 0 else {
                let message = String(cString: LastError.current)
                throw ABIError(LK_ERROR_PLUGIN, "plugin '\(file)' failed to initialise (status \(status)): "
                                   + (message.isEmpty ? "no message" : message))
            }
            // Success: the plugin stays loaded for the life of the process (its losses point into it).
        }, undo: {
            if let opened { dlclose(opened) }
        })
    }
}

private func dlerrorText() -> String {
    dlerror().map { String(cString: $0) } ?? "no reason given"
}
