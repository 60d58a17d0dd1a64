import CLossKit
import LossKitKernels
#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_loss*` points to: the configured loss and its name as a C string.
final class LossHandle {
    let loss: ConfiguredLoss
    let cName: UnsafeMutablePointer<CChar>

    init(_ loss: ConfiguredLoss) {
        self.loss = loss
        self.cName = strdup(loss.name)!
    }

    deinit { free(cName) }

    var opaque: OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    static func from(_ pointer: OpaquePointer?) throws(ABIError) -> LossHandle {
        guard let pointer else { throw ABIError(LK_ERROR_NULL_POINTER, "loss is NULL; expected a handle from lk_loss_create") }
        return Unmanaged<LossHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}


@c @implementation
public func lk_loss_create(_ name: UnsafePointer<CChar>!, _ outLoss: UnsafeMutablePointer<OpaquePointer?>!) -> lk_status {
    abiCall { () throws(ABIError) in
        guard let outLoss else { throw ABIError(LK_ERROR_NULL_POINTER, "out_loss is NULL; expected a place to store the handle") }
        outLoss.pointee = nil
        let lossName = try requiredString(name, "name")
        let loss = try kernelCall { () throws(LossError) in try ConfiguredLoss(named: lossName) }
        outLoss.pointee = LossHandle(loss).opaque
    }
}

@c @implementation
public func lk_loss_destroy(_ loss: OpaquePointer!) {
    guard let loss else { return }
    Unmanaged<LossHandle>.fromOpaque(UnsafeRawPointer(loss)).release()
}

@c @implementation
public func lk_loss_get_name(_ loss: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let handle = try? LossHandle.from(loss) else { return nil }
    return UnsafePointer(handle.cName)
}

@c @implementation
public func lk_loss_set_param(_ loss: OpaquePointer!, _ name: UnsafePointer<CChar>!, _ value: Double) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let parameter = try requiredString(name, "name")
        try kernelCall { () throws(LossError) in try handle.loss.set(parameter, number: value) }
    }
}

@c @implementation
public func lk_loss_set_param_string(_ loss: OpaquePointer!, _ name: UnsafePointer<CChar>!,
                                     _ value: UnsafePointer<CChar>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let parameter = try requiredString(name, "name")
        let text = try requiredString(value, "value")
        try kernelCall { () throws(LossError) in try handle.loss.set(parameter, choice: text) }
    }
}

@c @implementation
public func lk_loss_set_param_array(_ loss: OpaquePointer!, _ name: UnsafePointer<CChar>!,
                                    _ values: UnsafePointer<Double>!, _ count: Int64) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let parameter = try requiredString(name, "name")
        guard count >= 0 else { throw ABIError(LK_ERROR_BAD_PARAM, "count is \(count); expected the number of values, >= 0") }
        guard values != nil || count == 0 else {
            throw ABIError(LK_ERROR_NULL_POINTER, "values is NULL with count \(count); expected \(count) doubles")
        }
        let vector = count == 0 ? [] : Array(UnsafeBufferPointer(start: values, count: Int(count)))
        try kernelCall { () throws(LossError) in try handle.loss.set(parameter, vector: vector) }
    }
}

@c @implementation
public func lk_loss_get_param(_ loss: OpaquePointer!, _ name: UnsafePointer<CChar>!,
                              _ outValue: UnsafeMutablePointer<Double>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let parameter = try requiredString(name, "name")
        guard let outValue else { throw ABIError(LK_ERROR_NULL_POINTER, "out_value is NULL; expected a place to store the value") }
        outValue.pointee = try kernelCall { () throws(LossError) in try handle.loss.number(parameter) }
    }
}

@c @implementation
public func lk_loss_compute(_ loss: OpaquePointer!, _ batch: UnsafePointer<lk_batch>!) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let decoded = try BatchDecoder.decode(batch)
        try kernelCall { () throws(LossError) in
            try decoded.evaluate { batch throws(LossError) in try handle.loss.evaluate(batch) }
        }
    }
}

@c @implementation
public func lk_loss_compute_at(_ loss: OpaquePointer!, _ batch: UnsafePointer<lk_batch>!, _ progress: Double) -> lk_status {
    abiCall { () throws(ABIError) in
        let handle = try LossHandle.from(loss)
        let decoded = try BatchDecoder.decode(batch)
        try kernelCall { () throws(LossError) in
            try decoded.evaluate { batch throws(LossError) in try handle.loss.evaluate(batch, progress: progress) }
        }
    }
}

@c @implementation
public func lk_mix_create(_ components: UnsafePointer<OpaquePointer?>!, _ count: Int64,
                          _ outMix: UnsafeMutablePointer<OpaquePointer?>!) -> lk_status {
    abiCall { () throws(ABIError) in
        guard let outMix else { throw ABIError(LK_ERROR_NULL_POINTER, "out_mix is NULL; expected a place to store the handle") }
        outMix.pointee = nil
        guard count >= 1 else { throw ABIError(LK_ERROR_BAD_PARAM, "count is \(count); expected at least 1 component") }
        guard let components else { throw ABIError(LK_ERROR_NULL_POINTER, "components is NULL; expected \(count) loss handles") }
        var parts: [(evaluator: any BatchEvaluator, nanPolicy: NaNPolicy)] = []
        var names: [String] = []
        for k in 0..<Int(count) {
            guard let component = components[k] else {
                throw ABIError(LK_ERROR_NULL_POINTER, "components[\(k)] is NULL; expected a handle from lk_loss_create")
            }
            let loss = try LossHandle.from(component).loss
            parts.append((loss.evaluator, loss.nanPolicy))
            names.append(loss.name)
        }
        let definition = Mix.definition(name: "mix(" + names.joined(separator: ",") + ")", components: parts)
        outMix.pointee = LossHandle(ConfiguredLoss(definition)).opaque
    }
}

/// Parameter `index` of the loss behind `loss`, if both exist.
private func parameter(_ loss: OpaquePointer?, _ index: Int64) -> ParameterSpec? {
    guard let handle = try? LossHandle.from(loss) else { return nil }
    let specs = handle.loss.definition.parameters
    return index >= 0 && index < Int64(specs.count) ? specs[Int(index)] : nil
}

@c @implementation
public func lk_loss_param_count(_ loss: OpaquePointer!) -> Int64 {
    guard let handle = try? LossHandle.from(loss) else { return 0 }
    return Int64(handle.loss.definition.parameters.count)
}

@c @implementation
public func lk_loss_param_name_at(_ loss: OpaquePointer!, _ index: Int64) -> UnsafePointer<CChar>! {
    parameter(loss, index).map { InternedNames.shared.cString($0.name) }
}

@c @implementation
public func lk_loss_param_kind_at(_ loss: OpaquePointer!, _ index: Int64) -> Int32 {
    guard let spec = parameter(loss, index) else { return 0 }
    let kind = switch spec.kind {
    case .number, .integer: LK_PARAM_NUMBER
    case .choice: LK_PARAM_TEXT
    case .vector: LK_PARAM_VECTOR
    }
    return Int32(kind.rawValue)
}

@c @implementation
public func lk_loss_param_doc_at(_ loss: OpaquePointer!, _ index: Int64) -> UnsafePointer<CChar>! {
    parameter(loss, index).map { InternedNames.shared.cString($0.documentation) }
}

@c @implementation
public func lk_loss_count() -> Int64 {
    Int64(LossRegistry.shared.count)
}

@c @implementation
public func lk_loss_name_at(_ index: Int64) -> UnsafePointer<CChar>! {
    guard let name = LossRegistry.shared.name(at: Int(clamping: index)) else { return nil }
    return InternedNames.shared.cString(name)
}

@c @implementation
public func lk_set_num_threads(_ count: Int32) -> lk_status {
    abiCall { () throws(ABIError) in
        guard count >= 0 else {
            throw ABIError(LK_ERROR_BAD_PARAM, "thread count is \(count); expected 0 (one per CPU) or a positive number")
        }
        Threading.setLimit(Int(count))
    }
}

@c @implementation
public func lk_get_num_threads() -> Int32 {
    Int32(clamping: Threading.configuredLimit)
}
