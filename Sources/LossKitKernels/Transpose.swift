/// Which side of a transpose is walked in contiguous runs: the one in memory that is not scratch.
enum TransposeWalk {
    /// Each source row read in order (the strided writes land in scratch).
    case sourceRows
    /// Each target row written in order (the strided reads come from scratch).
    case targetRows
}

/// Copies a rows × columns block to its transpose: out[c·targetStride + r] = x[r·sourceStride + c].
/// The pointers advance by steps: indices multiplied per element kept two overflow checks in the
/// inner loop (a third of square's time at 65536×10).
@inline(__always)
func transposeBlock<T>(_ x: UnsafePointer<T>, rows: Int, columns: Int, sourceStride: Int,
                       into out: UnsafeMutablePointer<T>, targetStride: Int, walking walk: TransposeWalk) {
    switch walk {
    case .sourceRows:
        var source = x
        for r in 0..<rows {
            var target = out + r
            for c in 0..<columns {
                target.pointee = source[c]
                target += targetStride
            }
            source += sourceStride
        }
    case .targetRows:
        var target = out
        for c in 0..<columns {
            var source = x + c
            for r in 0..<rows {
                target[r] = source.pointee
                source += sourceStride
            }
            target += targetStride
        }
    }
}
