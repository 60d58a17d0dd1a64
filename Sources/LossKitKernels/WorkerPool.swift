import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The library's own worker threads, started on first use and kept for the life of the process: a
/// call hands them its chunks, works beside them, and returns when every chunk is done.
///
/// Why not `DispatchQueue.concurrentPerform`: after a few milliseconds idle (the time a training step
/// spends elsewhere) libdispatch's workers took over a millisecond to join, so a 2 ms loss ran
/// slower on two threads than on one. These workers spin briefly after each job (catching the next
/// call of a tight loop) and then sleep on a semaphore, which wakes them in microseconds.
///
/// One job at a time: a call that finds the pool busy (another thread's loss in flight) runs its
/// chunks itself, so callers never wait on each other. Chunks are claimed from an atomic counter:
/// which thread runs a chunk does not change its result (each chunk writes only its own slots).
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Threading.cpuCount - 1)

    // The job in flight, published before `generation` is bumped (release) and read by a worker only
    // after it has claimed a helper slot (acquire): run(chunk) for chunk in 0..<chunks.
    private var job: ((Int) -> Void)?
    private var chunks = 0
    private let nextChunk = Atomic<Int>(0)
    private let finishedChunks = Atomic<Int>(0)
    /// Helper slots of the current job; a worker takes part only if it takes one.
    private let openSlots = Atomic<Int>(0)
    private let helpersDone = Atomic<Int>(0)
    /// Bumped once per job; idle workers wait for it to change.
    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Workers asleep on `wake`.
    private let sleeping = Atomic<Int>(0)
    private let wake = DispatchSemaphore(value: 0)
    let workerCount: Int

    /// Polls of `generation` an idle worker makes before it sleeps (some tens of microseconds).
    private static let spinRounds = 20_000

    private init(workers: Int) {
        workerCount = max(0, workers)
        for _ in 0..<workerCount { Self.startThread(Unmanaged.passUnretained(self).toOpaque()) }
    }

    private static func startThread(_ pool: UnsafeMutableRawPointer) {
        var thread = pthread_t()
        _ = pthread_create(&thread, nil, { pool in
            let worker = Unmanaged<WorkerPool>.fromOpaque(pool!).takeUnretainedValue()
            worker.workerLoop()
        }, pool)
        pthread_detach(thread)
    }

    /// Runs body(chunk) for every chunk in 0..<count on the calling thread and up to `threads - 1`
    /// workers; returns when all chunks are done.
    func run(chunks count: Int, threads: Int, _ body: (Int) -> Void) {
        let helpers = min(workerCount, threads - 1, count - 1)
        guard helpers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for chunk in 0..<count { body(chunk) }
            return
        }
        withoutActuallyEscaping(body) { body in
            job = body
            chunks = count
            nextChunk.store(0, ordering: .relaxed)
            finishedChunks.store(0, ordering: .relaxed)
            helpersDone.store(0, ordering: .relaxed)
            openSlots.store(helpers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            for _ in 0..<min(helpers, sleeping.load(ordering: .acquiring)) { wake.signal() }
            work()
            // Close the slots nobody took, then wait for the helpers that did.
            let joined = helpers - max(0, openSlots.exchange(0, ordering: .acquiringAndReleasing))
            while finishedChunks.load(ordering: .acquiring) < count || helpersDone.load(ordering: .acquiring) < joined {}
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs chunks of the current job until none is left.
    private func work() {
        guard let job else { return }
        while true {
            let chunk = nextChunk.add(1, ordering: .relaxed).oldValue
            guard chunk < chunks else { return }
            job(chunk)
            finishedChunks.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() -> Never {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins >= Self.spinRounds else { continue }
                sleeping.add(1, ordering: .releasing)
                if generation.load(ordering: .acquiring) == seen { wake.wait() }
                sleeping.subtract(1, ordering: .relaxed)
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
            // A slot makes this worker a helper of the job: only then may it read the job.
            if openSlots.subtract(1, ordering: .acquiringAndReleasing).newValue >= 0 {
                work()
                helpersDone.add(1, ordering: .releasing)
            }
        }
    }
}
