import Quantization
import Testing

/// The error statistics against values worked out by hand, across the four-lane body and the tail.
struct ErrorAccumulatorTests {
    private func measure(_ reference: [Float], _ reconstructed: [Float]) -> ErrorAccumulator {
        var acc = ErrorAccumulator()
        reference.withUnsafeBufferPointer { r in
            reconstructed.withUnsafeBufferPointer { q in acc.add(reference: r, reconstructed: q) }
        }
        return acc
    }

    @Test func sumsAndMaximumMatchHandComputation() {
        // Errors 0, 0, 0, -0.5 in the lanes and +2 in the tail.
        let m = measure([1, 2, 3, 4, 5], [1, 2, 3, 3.5, 7])
        #expect(m.count == 5)
        #expect(m.sumSquaredError == 0.25 + 4)
        #expect(m.sumSquaredReference == 1 + 4 + 9 + 16 + 25)
        #expect(m.sumSquaredReconstructed == 1 + 4 + 9 + 12.25 + 49)
        #expect(m.dot == 1 + 4 + 9 + 14 + 35)
        #expect(m.maxAbsError == 2)
        #expect(abs(m.rmse - (4.25 / 5).squareRoot()) < 1e-15)
    }

    @Test func theLargestErrorIsFoundInAnyLane() {
        for lane in 0..<9 {
            var reconstructed = [Float](repeating: 1, count: 9)
            reconstructed[lane] = -2
            #expect(measure([Float](repeating: 1, count: 9), reconstructed).maxAbsError == 3, "lane \(lane)")
        }
    }

    @Test func nonFiniteErrorsAreReportedNotHidden() {
        #expect(measure([1, 2, 3, 4], [1, .nan, 3, 4]).maxAbsError.isNaN)
        #expect(measure([1, 2, 3, 4, 5], [1, 2, 3, 4, .nan]).maxAbsError.isNaN)
        var merged = measure([1, 2, 3, 4], [1, .nan, 3, 4])
        merged.merge(measure([1], [5]))
        #expect(merged.maxAbsError.isNaN)
    }
}
