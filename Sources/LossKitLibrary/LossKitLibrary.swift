// liblosskit.so is this link-only target: the code is in LossKitABI; Package.swift gives this
// target the linker flags (static Swift runtime, soname, export list) that the test build must not get.
@_exported import LossKitABI
