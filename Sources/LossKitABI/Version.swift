import CLossKit
import LossKitKernels
#if canImport(Glibc)
import Glibc
#endif

/// LK_VERSION_STRING as a C string that lives as long as the process.
nonisolated(unsafe) private let versionCString = UnsafePointer(strdup(LK_VERSION_STRING)!)

@c @implementation
public func lk_version() -> UnsafePointer<CChar>! {
    versionCString
}

@c @implementation
public func lk_version_number() -> UInt32 {
    // LK_VERSION_NUMBER is an expression macro Swift cannot import; this is its formula.
    UInt32(LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH)
}

/// The dispatched level's name as a C string that lives as long as the process.
nonisolated(unsafe) private let simdLevelCString = UnsafePointer(strdup(SIMDDispatch.level.name)!)

@c @implementation
public func lk_simd_level() -> UnsafePointer<CChar>! {
    simdLevelCString
}
