/// The lane-parallel operations the row kernels and the vector exp need, as protocol requirements.
///
/// Why a protocol rather than generic `SIMD` code: in a function generic over `V: SIMD` the
/// operators resolve to the standard library's generic implementations, which run lane by lane
/// even after specialisation. Declared as requirements here, each one is witnessed by the concrete
/// type's own operator (SIMD16<Float>, SIMD8<Double>), which lowers to packed instructions — so
/// the row kernels are written once, generically, and still compile to vector code. (The vector
/// exp and log are written per concrete type instead: they need integer bit tricks too.)
public protocol LaneVector {
    associatedtype Scalar: BinaryFloatingPoint
    associatedtype Mask

    init(repeating value: Scalar)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func += (a: inout Self, b: Self)
    static func *= (a: inout Self, b: Self)
    static func .> (a: Self, b: Self) -> Mask
    static func .< (a: Self, b: Self) -> Mask
    static func .== (a: Self, b: Self) -> Mask
    /// self where `mask` is false, `other` where it is true.
    func replacing(with other: Self, where mask: Mask) -> Self
    static func anyLane(_ mask: Mask) -> Bool
    subscript(lane: Int) -> Scalar { get }
    static var scalarCount: Int { get }
}

extension LaneVector {
    @inline(__always)
    static func load(_ p: UnsafePointer<Scalar>, _ j: Int) -> Self {
        UnsafeRawPointer(p + j).loadUnaligned(as: Self.self)
    }

    @inline(__always)
    func store(_ p: UnsafeMutablePointer<Scalar>, _ j: Int) {
        UnsafeMutableRawPointer(p + j).storeBytes(of: self, as: Self.self)
    }
}

extension SIMD16: LaneVector where Scalar == Float {
    @inline(__always) public static func anyLane(_ mask: SIMDMask<SIMD16<Int32>>) -> Bool { any(mask) }
}

extension SIMD8: LaneVector where Scalar == Double {
    @inline(__always) public static func anyLane(_ mask: SIMDMask<SIMD8<Int64>>) -> Bool { any(mask) }
}

