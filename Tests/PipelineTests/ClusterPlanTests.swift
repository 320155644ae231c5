import GGUF
import Pipeline
import Testing

/// `ClusterPlan`: predicted times from given rates, files to nodes longest first, the default cut.
struct ClusterPlanTests {
    /// Rates in values per second per core: reading F16 at 100, quantizing to Q4_K at 10.
    let rates = TypeThroughput(readRates: [.f16: 100], writeRates: [.q4_K: 10])

    @Test func filesGoToTheNodeFreeFirstLongestFirst() throws {
        // Five tensors, one file each.
        let elements = [1100, 550, 2200, 550, 32]
        let sources: [GGMLType] = [.f16, .f16, .f16, .f16, .f32]
        let targets: [GGMLType] = [.q4_K, .q4_K, .q4_K, .q4_K, .f32]
        let plan = try ClusterPlan.make(names: ["a", "b", "c", "d", "e"], elements: elements, sources: sources, targets: targets,
                                        bytes: [64, 64, 64, 64, 128], prefix: "m", nodes: 2, coresPerNode: 2,
                                        rule: .maxTensors(1), throughput: rates)
        // Per core: a 11 + 110 = 121, b 60.5, c 242, d 60.5, e 0 (copied); two cores per node halve them.
        #expect(plan.files.map(\.seconds) == [60.5, 30.25, 121, 30.25, 0])
        #expect(plan.coreSeconds == 484)
        // Longest first: c → node 0, a → node 1, b → node 1 (60.5 < 121), d → node 1 (90.75 < 121),
        // e → node 0 (a tie: the first node).
        #expect(plan.files.map(\.node) == [1, 1, 0, 1, 0])
        #expect(plan.nodeSeconds == [121, 121])
        #expect(plan.wallSeconds == 121)
        #expect(plan.files.map(\.name) == (1...5).map { "m-0000\($0)-of-00005.gguf" })
        // A node's read rate adds its source bytes (F16: 2 bytes a value) over that rate.
        let reading = try ClusterPlan.make(names: ["a"], elements: [1100], sources: [.f16], targets: [.q4_K], bytes: [64], prefix: "m",
                                           nodes: 1, coresPerNode: 1, rule: nil, throughput: rates, readBytesPerSecond: 200)
        #expect(reading.wallSeconds == 121 + 11)
    }

    @Test func theDefaultCutGivesEachNodeAFile() throws {
        let sizes = [25_165_824] + Array(repeating: 4_000_000, count: 60) + [25_165_824]
        let names = sizes.indices.map { "t\($0)" }
        for nodes in [1, 2, 4, 8, 16] {
            let plan = try ClusterPlan.make(names: names, elements: sizes, sources: sizes.map { _ in .f16 }, targets: sizes.map { _ in .q4_K },
                                            bytes: sizes, prefix: "m", nodes: nodes, coresPerNode: 1, rule: nil, throughput: rates)
            #expect(plan.files.count <= nodes, "\(nodes) nodes")
            guard case .maxBytes(let limit) = plan.rule else { Issue.record("not a size"); continue }
            #expect(limit % 1_000_000 == 0 && limit >= 26_000_000)
            // One MB less would need more files than nodes (unless the largest tensor forbids it).
            if limit > 26_000_000 {
                let smaller = try GGUFSplitLayout.shards(names: names, byteCounts: sizes, rule: .maxBytes(limit - 1_000_000))
                #expect(smaller.count > nodes, "\(nodes) nodes")
            }
        }
        // More than 45G a node: files of 45G, more files than nodes.
        let huge = Array(repeating: 40_000_000_000, count: 6)
        let plan = try ClusterPlan.make(names: huge.indices.map { "h\($0)" }, elements: huge, sources: huge.map { _ in .f16 },
                                        targets: huge.map { _ in .q4_K }, bytes: huge, prefix: "m", nodes: 2, coresPerNode: 1,
                                        rule: nil, throughput: rates)
        #expect(plan.rule == .maxBytes(45_000_000_000))
        #expect(plan.files.count == 6)
    }
}
