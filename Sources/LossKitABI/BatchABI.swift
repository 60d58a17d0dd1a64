import CLossKit
import LossKitKernels
import LossKitRowMath
#if canImport(Glibc)
import Glibc
#endif

@c @implementation
public func lk_batch_init(_ batch: UnsafeMutablePointer<lk_batch>!) {
    guard let batch else { return }
    batch.pointee = lk_batch()
    batch.pointee.struct_size = UInt32(MemoryLayout<lk_batch>.size)
    batch.pointee.ignore_index = Int64(LK_DEFAULT_IGNORE_INDEX)
    batch.pointee.reduction = Int32(LK_REDUCTION_MEAN.rawValue)
}

/// A decoded batch: float32/float64 for the kernels as it is, or 16-bit logits to widen first.
enum DecodedBatch {
    case direct(AnyBatch)
    case halfPrecision(HalfPrecisionBatch)

    /// Runs `body` on the batch the kernels evaluate (for 16-bit logits, the widened float32 one).
    func evaluate(_ body: (AnyBatch) throws(LossError) -> Void) throws(LossError) {
        switch self {
        case .direct(let batch): try body(batch)
        case .halfPrecision(let batch): try batch.evaluate(body)
        }
    }
}

/// Structural checks of an `lk_batch` (everything that needs no look at the data) and its conversion
/// into the kernels' typed `Batch`.
enum BatchDecoder {
    /// struct_size of a 0.1.0 lk_batch, which ends at `grad` (it reads as grad_dtype 0, reserved1 0).
    static let firstStructSize = MemoryLayout<lk_batch>.offset(of: \lk_batch.grad_dtype)!

    static func decode(_ pointer: UnsafePointer<lk_batch>?) throws(ABIError) -> DecodedBatch {
        guard let pointer else {
            throw ABIError(LK_ERROR_NULL_POINTER, "batch is NULL; expected a pointer to an lk_batch set up by lk_batch_init")
        }
        // Read no more than the caller's struct holds: an older one is shorter.
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        let size = MemoryLayout<lk_batch>.size
        guard declared == size || declared == firstStructSize else {
            throw ABIError(LK_ERROR_BAD_STRUCT,
                           "batch struct_size is \(declared); expected \(size) (call lk_batch_init before filling the batch)")
        }
        var b = lk_batch()
        memcpy(&b, pointer, declared)
        guard b.reserved0 == 0, b.reserved1 == 0 else {
            throw ABIError(LK_ERROR_BAD_STRUCT, "batch reserved0 is \(b.reserved0) and reserved1 \(b.reserved1); expected 0")
        }
        let shape = try decodeShape(b)
        let logitsSize = try floatSize(b.logits_dtype)
        let half: HalfFormat? = switch b.logits_dtype {
        case Int32(LK_BFLOAT16.rawValue): .bfloat16
        case Int32(LK_FLOAT16.rawValue): .float16
        default: nil
        }
        // Weights, dloss, probabilities and the loss: the logits' type, float32 for 16-bit logits.
        let elementSize = half == nil ? logitsSize : 4
        let gradSize = try gradientSize(b.grad_dtype, logitsDType: b.logits_dtype, half: half != nil)
        let indexSize = try targetSize(b.target_dtype, probabilityDType: half == nil ? b.logits_dtype : Int32(LK_FLOAT32.rawValue))
        let reduction = try decodeReduction(b.reduction)
        let samples = shape.count * shape.inner
        let elements = samples * shape.classes

        guard let logits = b.logits else { throw nullField("logits") }
        guard let target = b.target else { throw nullField("target") }
        guard let loss = b.loss else { throw nullField("loss") }

        // Every buffer with its byte extent, for the alignment and aliasing checks (no arrays: this
        // runs on every call, and the arrays were a third of its heap allocations).
        let lossCount = reduction == .none ? samples : 1
        let targetCount = indexSize == nil ? elements : samples
        let logitsRegion = Region("logits", logits, elements, logitsSize)
        let targetRegion = Region("target", target, targetCount, indexSize ?? elementSize)
        let weightRegion = Region("weight", b.weight, shape.classes, elementSize)
        let dlossRegion = Region("dloss", b.dloss, lossCount, elementSize)
        let lossRegion = Region("loss", UnsafeRawPointer(loss), lossCount, elementSize)
        let gradRegion = Region("grad", b.grad.map(UnsafeRawPointer.init), elements, gradSize)
        /// The inputs but the logits, which the gradient may be.
        func otherInputs(_ check: (Region) throws(ABIError) -> Void) throws(ABIError) {
            try check(targetRegion)
            try check(weightRegion)
            try check(dlossRegion)
        }
        try logitsRegion.checkAlignment()
        try otherInputs { (region) throws(ABIError) in try region.checkAlignment() }
        try lossRegion.checkAlignment()
        try gradRegion.checkAlignment()
        try lossRegion.checkDisjoint(from: logitsRegion)
        try otherInputs { (input) throws(ABIError) in try lossRegion.checkDisjoint(from: input) }
        try lossRegion.checkDisjoint(from: gradRegion)
        try otherInputs { (input) throws(ABIError) in try gradRegion.checkDisjoint(from: input) }
        if let grad = b.grad, UnsafeRawPointer(grad) == logits, gradSize != logitsSize {
            throw ABIError(LK_ERROR_ALIASING, "batch.grad is the logits but grad_dtype (\(b.grad_dtype)) is not the "
                               + "logits' type; expected a separate gradient buffer, or grad_dtype 0 to write in place")
        }
        if let grad = b.grad, UnsafeRawPointer(grad) != logits { try gradRegion.checkDisjoint(from: logitsRegion) }

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
        if let half {
            var float32 = typed(Float.self)
            float32.grad = nil  // set by HalfPrecisionBatch.evaluate
            let gradient: HalfPrecisionBatch.Gradient = switch (b.grad, gradSize) {
            case (nil, _): .none
            case (let grad?, 4): .float32(grad.assumingMemoryBound(to: Float.self))
            case (let grad?, _): .half(grad.assumingMemoryBound(to: UInt16.self))
            }
            return .halfPrecision(HalfPrecisionBatch(float32: float32, format: half,
                                                     logits: logits.assumingMemoryBound(to: UInt16.self), gradient: gradient))
        }
        return .direct(b.logits_dtype == Int32(LK_FLOAT32.rawValue) ? .float32(typed(Float.self)) : .float64(typed(Double.self)))
    }

    /// (N, C, d1·…·dk) from ndim and shape, refusing negative sizes, C = 0 and overflowing products.
    private static func decodeShape(_ b: lk_batch) throws(ABIError) -> (count: Int, classes: Int, inner: Int) {
        guard b.ndim >= 2 && b.ndim <= LK_MAX_NDIM else {
            throw ABIError(LK_ERROR_BAD_SHAPE, "ndim is \(b.ndim); expected 2 (N, C) up to \(LK_MAX_NDIM) (N, C, d1..dk)")
        }
        guard let shapePointer = b.shape else { throw nullField("shape") }
        let dims = UnsafeBufferPointer(start: shapePointer, count: Int(b.ndim))
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
                               "shape \(Array(dims)) has more elements than fit in memory; expected N·C·d1·…·dk·8 < 2^63")
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
        case Int32(LK_BFLOAT16.rawValue), Int32(LK_FLOAT16.rawValue): return 2
        default:
            throw ABIError(LK_ERROR_BAD_DTYPE, "logits_dtype is \(dtype); expected LK_FLOAT32 (1), LK_FLOAT64 (2), "
                               + "LK_BFLOAT16 (5) or LK_FLOAT16 (6)")
        }
    }

    /// The gradient's element size: the logits' (grad_dtype 0 or the logits' dtype), or 4 for a
    /// float32 gradient of 16-bit logits.
    private static func gradientSize(_ dtype: Int32, logitsDType: Int32, half: Bool) throws(ABIError) -> Int {
        if dtype == 0 || dtype == logitsDType { return try floatSize(logitsDType) }
        if half && dtype == Int32(LK_FLOAT32.rawValue) { return 4 }
        throw ABIError(LK_ERROR_BAD_DTYPE, "grad_dtype is \(dtype); expected 0 or the logits' dtype (\(logitsDType))"
                           + (half ? ", or LK_FLOAT32 (1) for 16-bit logits" : ""))
    }

    /// The index element size, or nil for probability targets (of type `probabilityDType`).
    private static func targetSize(_ dtype: Int32, probabilityDType: Int32) throws(ABIError) -> Int? {
        switch dtype {
        case Int32(LK_INT32.rawValue): return 4
        case Int32(LK_INT64.rawValue): return 8
        case probabilityDType: return nil
        default:
            throw ABIError(LK_ERROR_BAD_DTYPE,
                           "target_dtype is \(dtype); expected LK_INT32 (3) or LK_INT64 (4) for class indices, "
                               + "or \(probabilityDType) (the logits' float type; float32 for 16-bit logits) for probabilities")
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
