/// Squentropy over contiguous rows of a moderate number of classes, a tile at a time (see
/// `RowTiles`, whose runner it shares):
///
///   Step 1, each row r: m_r = max_j z_j and S_r = Σ_{j≠y} z_j² in one read (`rowMaxAndSquares`),
///     z_y, Σ_r = Σ_j e_j with e_j = exp(z_j - m_r) left in g when g is not z.
///   Step 2, the tile at once, in vector lanes: log Σ_r and p_y = exp((z_y - m_r) - log Σ_r).
///   Step 3, each row r: L = m_r + log Σ_r - z_y + S_r/(C-1), g_j = (scale/Σ_r)·e_j +
///     scale·(2/(C-1))·z_j (e recomputed from z in place), g_y = scale·(p_y - 1)
///     (`Squentropy.finishRow`, as the row kernel).
/// Each row's arithmetic is the row kernel's but for step 2's log and exp and, in float64, step 1's
/// compensated sum of squares (one chain over the row, where the row kernel sums either side of the
/// target); it does not depend on the tile or the thread count.
extension RowTiles {
    /// The steps over rows first..<first + count (their targets and scales in `scratch`); each
    /// row's weighted loss goes to `scratch.losses[k]` (0 for an ignored row, whose gradient is 0).
    @inline(__always)
    fileprivate static func squentropyTile<T: KernelFloat>(_ loss: Squentropy, _ batch: Batch<T>, first: Int, count: Int,
                                                           _ scratch: Scratch<T>) {
        let classes = batch.classes, targets = scratch.targets
        for k in 0..<count {
            let (z, grad) = rowPointers(batch, first + k), y = targets[k]
            guard y >= 0 else {
                zeroRow(grad, classes)
                scratch.sums[k] = 1  // a log and an exp to take, never used
                scratch.rowMax[k] = 0
                scratch.targetLogits[k] = 0
                continue
            }
            let (max, squares) = T.rowMaxAndSquares(z, classes, except: y)
            scratch.squares[k] = squares
            scratch.targetLogits[k] = Double(z[y])
            let lse = VectorRow.logSumExp(z, classes, bias: nil, max: max, storingInto: hasOwnBuffer(grad, apartFrom: z) ? grad : nil)
            scratch.rowMax[k] = lse.max
            scratch.sums[k] = lse.sum
        }
        SIMDDispatch.rowMath.log(scratch.sums, count, into: scratch.logSums)
        let targetP = scratch.transformed
        for k in 0..<count { targetP[k] = (scratch.targetLogits[k] - Double(scratch.rowMax[k])) - scratch.logSums[k] }
        SIMDDispatch.rowMath.exp(targetP, count, into: targetP)
        for k in 0..<count {
            let y = targets[k]
            guard y >= 0 else {
                scratch.losses[k] = 0
                continue
            }
            let (z, grad) = rowPointers(batch, first + k)
            let lse = OnlineLogSumExp(max: scratch.rowMax[k], sum: scratch.sums[k])
            scratch.losses[k] = loss.weighted(target: y, batch.weight, scale: scratch.scales[k]) { scale in
                loss.finishRow(z, lse, logSum: scratch.logSums[k], squares: scratch.squares[k],
                               targetLogit: T(scratch.targetLogits[k]), targetProbability: { _ in T(targetP[k]) },
                               storesExp: hasOwnBuffer(grad, apartFrom: z), target: y, classes: classes, grad: grad, scale: scale)
            }
        }
    }
}

extension Squentropy: LinearTermTiledLoss {
    func runTiles<T: KernelFloat>(_ batch: Batch<T>, _ reduction: ReductionScales<T>) {
        RowTiles.run(batch, reduction, parallel: isThreadSafe) { first, count, scratch in
            RowTiles.squentropyTile(self, batch, first: first, count: count, scratch)
        }
    }
}
