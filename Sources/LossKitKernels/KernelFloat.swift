#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floating-point types the kernels are written over (`Float`, `Double`): IEEE arithmetic plus
/// the elementary functions the losses need, mapped to libm so generic code specialises to it.
public protocol KernelFloat: BinaryFloatingPoint, Sendable {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Tolerance on `Σ q_j = 1` for probability targets of this type.
    static var probabilitySumTolerance: Double { get }

    /// The SIMD vector the row kernels work in (64 bytes: 16 floats or 8 doubles).
    associatedtype Vector: LaneVector where Vector.Scalar == Self
    /// e^x lane by lane, ≤ 2 ulp (VectorExp.swift).
    static func exp(_ x: Vector) -> Vector
}

extension Float: KernelFloat {
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable @inline(__always) public static func sqrt(_ x: Float) -> Float { sqrtf(x) }
    @inlinable @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    public static var probabilitySumTolerance: Double { 1e-3 }
    public typealias Vector = SIMD16<Float>
    @inline(__always) public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> { vexp(x) }
}

extension Double: KernelFloat {
    @inlinable @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inlinable @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inlinable @inline(__always) public static func sqrt(_ x: Double) -> Double { Glibc.sqrt(x) }
    @inlinable @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    public static var probabilitySumTolerance: Double { 1e-6 }
    public typealias Vector = SIMD8<Double>
    @inline(__always) public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> { vexp(x) }
}
