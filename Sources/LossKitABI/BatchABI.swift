import CLossKit
import LossKitKernels

@c @implementation
public func lk_batch_init(_ batch: UnsafeMutablePointer<lk_batch>!) {
    guard let batch else { return }
    batch.pointee = lk_batch()
    batch.pointee.struct_size = UInt32(MemoryLayout<lk_batch>.size)
    batch.pointee.ignore_index = Int64(LK_DEFAULT_IGNORE_INDEX)
    batch.pointee.reduction = Int32(LK_REDUCTION_MEAN.rawValue)
}

/// Structural checks of an `lk_batch` (everything that needs no look at the data) and its conversion
/// into the kernels' typed `Batch`.
enum BatchDecoder {
    static func decode(_ pointer: UnsafePointer<lk_batch>?) throws(ABIError) -> AnyBatch {
        guard let pointer else {
            throw ABIError(LK_ERROR_NULL_POINTER, "batch is NULL; expected a pointer to an lk_batch set up by lk_batch_init")
        }
        let b = pointer.pointee
        let size = MemoryLayout<lk_batch>.size
        guard b.struct_size == UInt32(size) else {
            throw ABIError(LK_ERROR_BAD_STRUCT,
                           "batch struct_size is \(b.struct_size); expected \(size) (call lk_batch_init before filling the batch)")
        }
        guard b.reserved0 == 0 else {
            throw ABIError(LK_ERROR_BAD_STRUCT, "batch reserved0 is \(b.reserved0); expected 0")
        }
        let shape = try decodeShape(b)
        let elementSize = try floatSize(b.logits_dtype)
        let indexSize = try targetSize(b.target_dtype, logitsDType: b.logits_dtype)
        let reduction = try decodeReduction(b.reduction)
        let samples = shape.count * shape.inner
        let elements = samples * shape.classes

        guard let logits = b.logits else { throw nullField("logits") }
        guard let target = b.target else { throw nullField("target") }
        guard let loss = b.loss else { throw nullField("loss") }

        // Every buffer with its byte extent, for the alignment and aliasing checks.
        let lossCount = reduction == .none ? samples : 1
        let targetCount = indexSize == nil ? elements : samples
        let inputs: [Region] = [
            Region("logits", logits, elements, elementSize),
            Region("target", target, targetCount, indexSize ?? elementSize),
            Region("weight", b.weight, shape.classes, elementSize),
            Region("dloss", b.dloss, lossCount, elementSize),
        ]
        let lossRegion = Region("loss", UnsafeRawPointer(loss), lossCount, elementSize)
        let gradRegion = Region("grad", b.grad.map(UnsafeRawPointer.init), elements, elementSize)
        for region in inputs + [lossRegion, gradRegion] { try region.checkAlignment() }
        for input in inputs { try lossRegion.checkDisjoint(from: input) }
        try lossRegion.checkDisjoint(from: gradRegion)
        for input in inputs.dropFirst() { try gradRegion.checkDisjoint(from: input) }
        if let grad = b.grad, UnsafeRawPointer(grad) != logits { try gradRegion.checkDisjoint(from: inputs[0]) }

        func typed<T: KernelFloat>(_: T.Type) -> Batch<T> {
            let targetBuffer: TargetBuffer<T> = switch b.target_dtype {
            case Int32(LK_INT32.rawValue): .int32(target.assumingMemoryBound(to: Int32.self))
            case Int32(LK_INT64.rawValue): .int64(target.assumingMemoryBound(to: Int64.self))
            default: .probabilities(target.assumingMemoryBound(to: T.self))
            }
            return Batch(count: shape.count, classes: shape.classes, inner: shape.inner,
                         logits: logits.assumingMemoryBound(to: T.self), target: targetBuffer,
                         weight: b.weight?.assumingMemoryBound(to: T.self), ignoreIndex: b.ignore_index,
                         reduction: reduction, dloss: b.dloss?.assumingMemoryBound(to: T.self),
                         loss: loss.assumingMemoryBound(to: T.self), grad: b.grad?.assumingMemoryBound(to: T.self))
        }
        return b.logits_dtype == Int32(LK_FLOAT32.rawValue) ? .float32(typed(Float.self)) : .float64(typed(Double.self))
    }

    /// (N, C, d1·…·dk) from ndim and shape, refusing negative sizes, C = 0 and overflowing products.
    private static func decodeShape(_ b: lk_batch) throws(ABIError) -> (count: Int, classes: Int, inner: Int) {
        guard b.ndim >= 2 && b.ndim <= LK_MAX_NDIM else {
            throw ABIError(LK_ERROR_BAD_SHAPE, "ndim is \(b.ndim); expected 2 (N, C) up to \(LK_MAX_NDIM) (N, C, d1..dk)")
        }
        guard let shapePointer = b.shape else { throw nullField("shape") }
        let dims = Array(UnsafeBufferPointer(start: shapePointer, count: Int(b.ndim)))
        for (axis, size) in dims.enumerated() where size < 0 {
            throw ABIError(LK_ERROR_BAD_SHAPE, "shape[\(axis)] is \(size); expected a size >= 0")
        }
        guard dims[1] >= 1 else {
            throw ABIError(LK_ERROR_BAD_SHAPE, "shape[1] (classes) is 0; expected at least 1 class")
        }
        // The byte size of the largest buffer (8-byte elements) must fit in an int64. A zero size
        // counts as 1 here, so that no partial product (d1·…·dk, C·8) can overflow behind an empty axis.
        var product: Int64 = 8
        for size in dims {
            let (next, overflow) = product.multipliedReportingOverflow(by: max(size, 1))
            guard !overflow else {
                throw ABIError(LK_ERROR_SIZE_OVERFLOW,
                               "shape \(dims) has more elements than fit in memory; expected N·C·d1·…·dk·8 < 2^63")
            }
            product = next
        }
        let inner = dims.dropFirst(2).reduce(1, *)
        return (Int(dims[0]), Int(dims[1]), Int(inner))
    }

    private static func floatSize(_ dtype: Int32) throws(ABIError) -> Int {
        switch dtype {
        case Int32(LK_FLOAT32.rawValue): return 4
        case Int32(LK_FLOAT64.rawValue): return 8
        default: throw ABIError(LK_ERROR_BAD_DTYPE, "logits_dtype is \(dtype); expected LK_FLOAT32 (1) or LK_FLOAT64 (2)")
        }
    }

    /// The index element size, or nil for probability targets (which take the logits' type).
    private static func targetSize(_ dtype: Int32, logitsDType: Int32) throws(ABIError) -> Int? {
        switch dtype {
        case Int32(LK_INT32.rawValue): return 4
        case Int32(LK_INT64.rawValue): return 8
        case logitsDType: return nil
        default:
            throw ABIError(LK_ERROR_BAD_DTYPE,
                           "target_dtype is \(dtype); expected LK_INT32 (3) or LK_INT64 (4) for class indices, "
                               + "or the logits' dtype (\(logitsDType)) for probabilities")
        }
    }

    private static func decodeReduction(_ code: Int32) throws(ABIError) -> Reduction {
        switch code {
        case Int32(LK_REDUCTION_MEAN.rawValue): return .mean
        case Int32(LK_REDUCTION_SUM.rawValue): return .sum
        case Int32(LK_REDUCTION_NONE.rawValue): return .none
        default:
            throw ABIError(LK_ERROR_BAD_REDUCTION,
                           "reduction is \(code); expected LK_REDUCTION_MEAN (0), LK_REDUCTION_SUM (1) or LK_REDUCTION_NONE (2)")
        }
    }

    private static func nullField(_ name: String) -> ABIError {
        ABIError(LK_ERROR_NULL_POINTER, "batch.\(name) is NULL; expected a pointer to the caller's buffer")
    }
}

/// A caller buffer as a byte range, named for messages. An absent optional buffer is an empty range.
private struct Region {
    let name: String
    let start: UInt
    let bytes: UInt
    let alignment: Int

    init(_ name: String, _ pointer: UnsafeRawPointer?, _ count: Int, _ elementSize: Int) {
        self.name = name
        self.start = pointer.map { UInt(bitPattern: $0) } ?? 0
        self.bytes = pointer == nil ? 0 : UInt(count * elementSize)
        self.alignment = elementSize
    }

    func checkAlignment() throws(ABIError) {
        guard start % UInt(alignment) == 0 else {
            throw ABIError(LK_ERROR_MISALIGNED,
                           "batch.\(name) is at address 0x\(String(start, radix: 16)); expected a multiple of \(alignment) bytes")
        }
    }

    func checkDisjoint(from other: Region) throws(ABIError) {
        guard bytes > 0, other.bytes > 0 else { return }
        if start < other.start + other.bytes && other.start < start + bytes {
            throw ABIError(LK_ERROR_ALIASING,
                           "batch.\(name) overlaps batch.\(other.name); expected separate buffers (only grad == logits is allowed)")
        }
    }
}
