// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// Absolute path of this package, for linker flags that name files in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

/// Flags for the math: no exclusivity checks in the hot loops, whole-module optimisation.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// A fast build of the row loops: code for `cpu` (`-target-cpu`; LLVM's names, `x86-64-v3` is not
/// accepted), multiply-adds fused, and a compilation condition naming the level.
/// Elsewhere than x86-64 the three builds are the same code and the CPU check picks the baseline.
func simdFlags(cpu: String, level: String) -> [SwiftSetting] {
    #if arch(x86_64)
    [.unsafeFlags(["-target-cpu", cpu]), .define("LOSSKIT_FMA"), .define(level)]
    #else
    []
    #endif
}

let package = Package(
    name: "losskit",
    products: [
        // liblosskit.so: the C ABI of include/losskit.h, with the Swift runtime linked in statically.
        .library(name: "losskit", type: .dynamic, targets: ["LossKitLibrary"]),
    ],
    targets: [
        // The C header include/losskit.h as a Clang module, so Swift checks the exports against it.
        .target(
            name: "CLossKit",
            cSettings: [.headerSearchPath("../../include")]
        ),
        // CPUID/XGETBV: which build of the row loops this machine can run.
        .target(name: "CLossKitCPU"),
        // Vector instructions Swift has no operator for, for the fast builds of the row loops: packed
        // fused multiply-add (AVX2 and AVX-512), vscalef and masked loads and stores (AVX-512).
        .target(name: "CLossKitLanes"),
        // The protocol of the vector row loops and the instruction-set levels.
        .target(name: "LossKitRowMath"),
        // The row loops, one source compiled three times: any x86-64, AVX2 + FMA, AVX-512.
        // Only code chosen at run time by CPUID may use the two fast builds (SIMDDispatch.swift).
        // The names matter: the linker keeps the first copy of a function several modules emit (the
        // standard library's helpers and specialisations), SwiftPM links objects in module-name order,
        // and "...Baseline" sorts before "...Fast...", so those shared copies are the baseline's — the
        // AVX-512 copy of a helper once crashed a CPU without AVX. Tests/dispatch checks the order.
        .target(name: "LossKitRowMathBaseline", dependencies: ["LossKitRowMath", "CLossKitLanes"], swiftSettings: kernelFlags),
        .target(name: "LossKitRowMathFastAVX2", dependencies: ["LossKitRowMath", "CLossKitLanes"],
                swiftSettings: kernelFlags + simdFlags(cpu: "haswell", level: "LOSSKIT_AVX2")),
        .target(name: "LossKitRowMathFastAVX512", dependencies: ["LossKitRowMath", "CLossKitLanes"],
                swiftSettings: kernelFlags + simdFlags(cpu: "skylake-avx512", level: "LOSSKIT_AVX512")),
        // Pure Swift math: fused loss + gradient kernels, no C-ABI concerns.
        .target(
            name: "LossKitKernels",
            dependencies: ["CLossKitCPU", "LossKitRowMath", "LossKitRowMathBaseline", "LossKitRowMathFastAVX2",
                           "LossKitRowMathFastAVX512"],
            swiftSettings: kernelFlags
        ),
        // The exported `lk_` functions: validate, convert, call the kernels.
        .target(name: "LossKitABI", dependencies: ["CLossKit", "LossKitKernels", "LossKitRowMath"], swiftSettings: kernelFlags),
        // Link-only target: static Swift runtime, soname and the exported-symbol list of the .so.
        .target(
            name: "LossKitLibrary",
            dependencies: ["LossKitABI"],
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "-soname=liblosskit.so",
                    "-Xlinker", "--version-script=\(packageRoot)/Sources/LossKitLibrary/exports.map",
                ]),
            ]
        ),
        .testTarget(name: "LossKitABITests", dependencies: ["CLossKit", "LossKitABI"]),
        .testTarget(name: "LossKitKernelsTests", dependencies: ["LossKitKernels", "LossKitRowMath", "LossKitRowMathBaseline",
                                                             "LossKitRowMathFastAVX2", "LossKitRowMathFastAVX512"]),
    ]
)
