// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// Absolute path of this package, for linker flags that name files in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

/// Flags for the math: no exclusivity checks in the hot loops, whole-module optimisation.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

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
        // Pure Swift math: fused loss + gradient kernels, no C-ABI concerns.
        .target(name: "LossKitKernels", swiftSettings: kernelFlags),
        // The exported `lk_` functions: validate, convert, call the kernels.
        .target(name: "LossKitABI", dependencies: ["CLossKit", "LossKitKernels"], swiftSettings: kernelFlags),
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
        .testTarget(name: "LossKitKernelsTests", dependencies: ["LossKitKernels"]),
    ]
)
