// The kernels' per-thread working space (Sources/LossKitKernels/ScratchArena.swift): nested buffers
// are aligned, do not overlap and keep their contents while deeper ones come and go; a nest larger
// than the first block still works (the deeper buffers from the heap that once); threads get buffers
// of their own. Each buffer is filled with a pattern of its own and checked after everything nested
// in it has been given back. (No-allocation per call is checked through the ABI, Tests/c.)
@testable import LossKitKernels
import XCTest

final class ScratchArenaTests: XCTestCase {
    /// Fills `buffer` with values derived from `seed`, runs `inner`, then checks the values are intact.
    private static func fill(_ buffer: UnsafeMutableBufferPointer<Int>, seed: Int, then inner: () -> Void,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Int(bitPattern: buffer.baseAddress!) % 64, 0, "64-byte aligned", file: file, line: line)
        for i in buffer.indices { buffer[i] = seed &* 1_000_003 &+ i }
        inner()
        let intact = buffer.indices.allSatisfy { buffer[$0] == seed &* 1_000_003 &+ $0 }
        XCTAssertTrue(intact, "buffer \(seed) changed while deeper buffers were in use", file: file, line: line)
    }

    /// Three levels, each level entered twice in a row (the second time reusing the first's room).
    private static func nest(counts: [Int], seed: Int = 1) {
        guard let count = counts.first else { return }
        for round in 0..<2 {
            ScratchArena.with(of: Int.self, capacity: count) { buffer in
                XCTAssertEqual(buffer.count, count)
                fill(buffer, seed: seed * 10 + round) { nest(counts: Array(counts.dropFirst()), seed: seed + 1) }
            }
        }
    }

    func testNestedBuffersKeepTheirContents() {
        Self.nest(counts: [1000, 3, 20_000])
        Self.nest(counts: [1, 1, 1])
        ScratchArena.with(of: Double.self, capacity: 0) { XCTAssertNotNil($0.baseAddress) }
    }

    /// 3 × 600 KB nested, past the first 1 MB block, twice: the second time from the grown block.
    func testANestLargerThanTheFirstBlock() {
        for _ in 0..<2 { Self.nest(counts: [75_000, 75_000, 75_000]) }
    }

    func testThreadsGetBuffersOfTheirOwn() {
        let threads = 4
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for _ in 0..<20 { Self.nest(counts: [5_000, 40_000, 100], seed: 100 * (t + 1)) }
        }
    }
}
