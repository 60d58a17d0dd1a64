import CLossKitCPU
import LossKitRowMath
import LossKitRowMathFastAVX2
import LossKitRowMathFastAVX512
import LossKitRowMathBaseline
#if canImport(Glibc)
import Glibc
#endif

/// Picks, once per process, the build of the row loops (`RowMath`) that this CPU runs fastest: the
/// AVX-512 build where the CPU and the OS support AVX-512, else the AVX2 + FMA build, else the
/// baseline that runs on any x86-64. The fast builds are reached only through this choice, so a
/// machine without their instructions never executes them.
///
/// `LOSSKIT_SIMD=baseline|avx2|avx512` in the environment caps the level (to compare the builds, or to
/// rule one out); a level above what the CPU supports is never used, whatever the variable says.
public enum SIMDDispatch {
    /// The highest level this CPU and OS support.
    public static let supported: SIMDLevel = SIMDLevel(rawValue: Int(losskit_cpu_simd_level())) ?? .baseline

    /// The level in use: `supported`, capped by LOSSKIT_SIMD.
    public static let level: SIMDLevel = {
        guard let text = getenv("LOSSKIT_SIMD"), let requested = SIMDLevel(name: String(cString: text)) else {
            return supported
        }
        return min(requested, supported)
    }()

    /// The row loops of `level`.
    static let rowMath: any RowMath.Type = implementation(for: level)

    /// Every build this CPU can run, lowest first (for tests that compare them).
    public static var runnable: [any RowMath.Type] {
        SIMDLevel.allCases.filter { $0 <= supported }.map(implementation(for:))
    }

    static func implementation(for level: SIMDLevel) -> any RowMath.Type {
        switch level {
        case .baseline: LossKitRowMathBaseline.RowKernels.self
        case .avx2: LossKitRowMathFastAVX2.RowKernels.self
        case .avx512: LossKitRowMathFastAVX512.RowKernels.self
        }
    }
}
