/// LogitNorm over contiguous rows of a moderate number of classes, a tile at a time (see `RowTiles`,
/// whose runner it shares). A row's chain is long here: r² and the max, √, a division, Σ exp of
/// c·(z - max), a log and p_y's exp, each waiting on the one before. Each step runs for the tile:
///
///   Step 1, each row: max_j z_j and r² = Σ_j z_j² in one read (`rowMaxAndSquares`), z_y.
///   Step 2, the tile: r = √r² (`LogitNorm.norm`), c = 1/(τ·(r + ε)).
///   Step 3, each row: Σ_j e_j and Σ_j z_j·e_j with e_j = exp(c·(z_j - max)), e left in g when g
///     is not z.
///   Step 4, the tile, in vector lanes: log Σ e and p_y = exp(c·(z_y - max) - log Σ e).
///   Step 5, each row: the loss and g (`LogitNorm.finishRow`, as the row kernel).
/// A row with nothing to learn (a masked target, every class masked) gets the row kernel's infinite
/// loss and zero gradient. Each row's arithmetic is the row kernel's but for step 4's log and exp
/// and, in float64, step 1's sum of squares (the row kernel's takes two chains from 256 values on,
/// and its max in a pass of its own); it does not depend on the tile or the thread count.
extension RowTiles {
    /// The steps over rows first..<first + count (their targets and scales in `scratch`); each
    /// row's weighted loss goes to `scratch.losses[k]` (0 for an ignored row, whose gradient is 0).
    @inline(__always)
    fileprivate static func logitNormTile<T: KernelFloat>(_ loss: LogitNorm, _ batch: Batch<T>, first: Int, count: Int,
                                                          _ scratch: Scratch<T>) {
        let classes = batch.classes, targets = scratch.targets
        let norms = scratch.squares, targetP = scratch.transformed
        /// Whether row k has something to learn: not ignored, its target not masked, a class above
        /// -inf or a NaN (the row kernel's tests, in its order).
        @inline(__always) func learns(_ k: Int) -> Bool {
            targets[k] >= 0 && scratch.targetLogits[k] != -.infinity
                && (scratch.rowMax[k] > -.infinity || scratch.squares[k].isNaN)
        }
        for k in 0..<count {  // step 1
            let (z, grad) = rowPointers(batch, first + k), y = targets[k]
            guard y >= 0 else {
                zeroRow(grad, classes)
                continue
            }
            let (max, squares) = T.rowMaxAndSquares(z, classes, except: -1)
            scratch.rowMax[k] = max
            scratch.squares[k] = squares
            scratch.targetLogits[k] = Double(z[y])
        }
        for k in 0..<count {  // step 2
            if !learns(k) { scratch.sums[k] = 1 }  // a log for step 4, never used
            let r = LogitNorm.norm(squares: scratch.squares[k], rowPointers(batch, first + k).0, classes)
            scratch.factors[k] = loss.factor(norm: r)
            norms[k] = r  // from here `learns` reads r, NaN where r² was
        }
        for k in 0..<count where learns(k) {  // step 3
            let (z, grad) = rowPointers(batch, first + k)
            let sums = T.rowScaledExpSums(z, classes, factor: T(scratch.factors[k]), max: scratch.rowMax[k],
                                          storingInto: hasOwnBuffer(grad, apartFrom: z) ? grad : nil)
            scratch.sums[k] = sums.sum
            scratch.weightedSums[k] = sums.weighted
        }
        SIMDDispatch.rowMath.log(scratch.sums, count, into: scratch.logSums)  // step 4
        for k in 0..<count {
            targetP[k] = learns(k) ? scratch.factors[k] * (scratch.targetLogits[k] - Double(scratch.rowMax[k])) - scratch.logSums[k] : 0
        }
        SIMDDispatch.rowMath.exp(targetP, count, into: targetP)
        for k in 0..<count {  // step 5
            let y = targets[k]
            guard y >= 0 else {
                scratch.losses[k] = 0
                continue
            }
            let (z, grad) = rowPointers(batch, first + k)
            scratch.losses[k] = loss.weighted(target: y, batch.weight, scale: scratch.scales[k]) { scale in
                guard learns(k) else {
                    zeroRow(grad, classes)
                    return .infinity
                }
                return loss.finishRow(z, max: scratch.rowMax[k], targetLogit: T(scratch.targetLogits[k]), norm: norms[k],
                                      factor: scratch.factors[k],
                                      sums: (scratch.sums[k], scratch.weightedSums[k]), logSum: scratch.logSums[k],
                                      targetProbability: { targetP[k] }, storesExp: hasOwnBuffer(grad, apartFrom: z),
                                      target: y, classes: classes, grad: grad, scale: scale)
            }
        }
    }
}

extension LogitNorm: LinearTermTiledLoss {
    func runTiles<T: KernelFloat>(_ batch: Batch<T>, _ reduction: ReductionScales<T>) {
        RowTiles.run(batch, reduction, parallel: isThreadSafe) { first, count, scratch in
            RowTiles.logitNormTile(self, batch, first: first, count: count, scratch)
        }
    }
}
