/// The reduction's share of a call over a class-index or probability batch: each sample's gradient
/// scale (dloss per sample for `none`; dloss / Σ w_y for the weighted `mean`; dloss for `sum`) and
/// the reduced loss written at the end.
struct ReductionScales<T: KernelFloat> {
    let batch: Batch<T>
    /// The mean's divisor: Σ w_y over the samples not ignored.
    let denominator: Double
    /// Every sample's scale for mean and sum (none takes dloss per sample).
    let shared: Double

    init(_ batch: Batch<T>, denominator: Double) {
        self.batch = batch
        self.denominator = denominator
        let upstream = batch.dloss.map { Double($0[0]) } ?? 1
        shared = switch batch.reduction {
        case .mean: denominator > 0 ? upstream / denominator : 0
        case .sum: upstream
        case .none: 0
        }
    }

    var isPerSample: Bool { batch.reduction == .none }

    @inline(__always)
    func scale(_ row: Int) -> T {
        T(isPerSample ? (batch.dloss.map { Double($0[row]) } ?? 1) : shared)
    }

    /// `scale` of the `count` samples from `row`, into `out`, the reduction looked at once.
    @inline(__always)
    func scales(_ row: Int, count: Int, into out: UnsafeMutablePointer<T>) {
        if isPerSample, let dloss = batch.dloss {
            out.update(from: dloss + row, count: count)
        } else {
            out.update(repeating: T(isPerSample ? 1 : shared), count: count)
        }
    }

    /// Writes the reduced loss from the sum of the samples' losses (mean and sum; `none` wrote each).
    @inline(__always)
    func finish(total: Double) {
        guard !isPerSample else { return }
        batch.loss[0] = T(batch.reduction == .mean ? (denominator > 0 ? total / denominator : 0) : total)
    }
}
