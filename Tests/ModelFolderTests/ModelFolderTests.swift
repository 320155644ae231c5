import Testing
import QuantdTestSupport

@testable import ModelFolder
import Safetensors

/// A valid safetensors file with the given tensors laid out in order, data all zero.
private func tinySafetensors(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int])]) -> [UInt8] {
    var entries: [String] = []
    var offset = 0
    for tensor in tensors {
        let bytes = (tensor.dtype.byteCount(forElements: tensor.shape.reduce(1, *))) ?? 0
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        entries.append(#""\#(tensor.name)":{"dtype":"\#(tensor.dtype)","shape":[\#(shape)],"data_offsets":[\#(offset),\#(offset + bytes)]}"#)
        offset += bytes
    }
    return safetensorsBytes(header: "{" + entries.joined(separator: ",") + "}",
                            data: Array(repeating: 0, count: offset), padToEight: true)
}

private let llamaConfig = #"""
    {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8,"num_hidden_layers":2,
     "vocab_size":16,"max_position_embeddings":4096,"torch_dtype":"bfloat16","rope_theta":500000.0}
    """#

private func indexJSON(_ map: [(String, String)]) -> String {
    let entries = map.map { #""\#($0.0)":"\#($0.1)""# }.joined(separator: ",")
    return #"{"metadata":{"total_size":1234},"weight_map":{\#(entries)}}"#
}

private func folderError(_ path: String) -> ModelFolderError? {
    do {
        _ = try ModelFolder(path: path)
        return nil
    } catch {
        return error
    }
}

@Suite struct ModelFolderTests {
    @Test func singleFileFolderSummary() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        let weights = tinySafetensors([
            ("model.embed_tokens.weight", .bf16, [16, 8]), ("model.norm.weight", .f32, [8]),
        ])
        try directory.write("model.safetensors", weights)
        try directory.write("tokenizer.json", text: "{}")
        try directory.write("chat_template.jinja", text: "{{ messages }}")
        try directory.write("tokenizer_config.json", text: "{}")
        try directory.write("README.md", text: "# model")

        let folder = try ModelFolder(path: directory.path)
        #expect(folder.architectures == ["LlamaForCausalLM"])
        #expect(folder.modelType == "llama")
        #expect(folder.hiddenSize == 8)
        #expect(folder.numHiddenLayers == 2)
        #expect(folder.vocabSize == 16)
        #expect(folder.maxPositionEmbeddings == 4096)
        #expect(folder.torchDtype == "bfloat16")
        #expect(folder.index == nil)
        #expect(folder.safetensorsFileNames == ["model.safetensors"])
        #expect(folder.totalSafetensorsBytes == weights.count)
        #expect(folder.parameterCount == 16 * 8 + 8)
        #expect(folder.tensorCount == 2)
        #expect(folder.tokenizerFiles == ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"])
        #expect(folder.locate(tensor: "model.norm.weight")?.tensor.shape == [8])
        #expect(folder.locate(tensor: "nope") == nil)
        try folder.validateIndex()
    }

    @Test func shardedFolderUsesIndex() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        let shard1 = tinySafetensors([("a", .f16, [4, 2]), ("b", .f16, [2])])
        let shard2 = tinySafetensors([("c", .f32, [3])])
        try directory.write("model-00002-of-00002.safetensors", shard2)
        try directory.write("model-00001-of-00002.safetensors", shard1)
        try directory.write("model.safetensors.index.json", text: indexJSON([
            ("c", "model-00002-of-00002.safetensors"), ("a", "model-00001-of-00002.safetensors"),
            ("b", "model-00001-of-00002.safetensors"),
        ]))
        let folder = try ModelFolder(path: directory.path)
        #expect(folder.safetensorsFileNames == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        #expect(folder.index?.totalSize == 1234)
        #expect(folder.index?.weightMap.map(\.tensor) == ["c", "a", "b"])
        #expect(folder.parameterCount == 8 + 2 + 3)
        #expect(folder.totalSafetensorsBytes == shard1.count + shard2.count)
        #expect(folder.locate(tensor: "c").map { lastComponent($0.file.path) } == "model-00002-of-00002.safetensors")
        try folder.validateIndex()
    }

    @Test func singleFileWinsOverIndexAsInTransformers() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        try directory.write("model.safetensors", tinySafetensors([("a", .u8, [1])]))
        try directory.write("model.safetensors.index.json", text: indexJSON([("a", "gone.safetensors")]))
        let folder = try ModelFolder(path: directory.path)
        #expect(folder.index == nil)
        #expect(folder.safetensorsFileNames == ["model.safetensors"])
    }

    @Test func indexShardNamesMustBePlainFileNames() throws {
        for bad in ["../outside.safetensors", "sub/x.safetensors", "/etc/passwd", "", "x.bin", "a..b.safetensors"] {
            let directory = TemporaryFolder("model-folder")
            try directory.write("config.json", text: llamaConfig)
            try directory.write("model.safetensors.index.json", text: indexJSON([("a", bad)]))
            guard case let .index(_, message)? = folderError(directory.path) else {
                Issue.record("shard name '\(bad)' should be rejected")
                continue
            }
            #expect(message.contains("shard"), "\(bad)")
        }
    }

    @Test func indexedShardMustExist() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        try directory.write("model.safetensors.index.json", text: indexJSON([("a", "model-00001-of-00001.safetensors")]))
        guard case let .index(_, message)? = folderError(directory.path) else {
            Issue.record("expected an index error")
            return
        }
        #expect(message.contains("not in the folder"))
    }

    @Test func validateIndexCrossChecksShards() throws {
        let cases: [(map: [(String, String)], expected: String)] = [
            ([("a", "s1.safetensors"), ("b", "s1.safetensors"), ("zz", "s1.safetensors")], "has no such tensor"),
            ([("a", "s1.safetensors")], "does not list"),
            ([("a", "s1.safetensors"), ("b", "s2.safetensors")], "has no such tensor"),
        ]
        for (map, expected) in cases {
            let directory = TemporaryFolder("model-folder")
            try directory.write("config.json", text: llamaConfig)
            try directory.write("s1.safetensors", tinySafetensors([("a", .u8, [1]), ("b", .u8, [1])]))
            try directory.write("s2.safetensors", tinySafetensors([("c", .u8, [1])]))
            try directory.write("model.safetensors.index.json", text: indexJSON(map))
            let folder = try ModelFolder(path: directory.path)
            do {
                try folder.validateIndex()
                Issue.record("expected '\(expected)'")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }

    @Test func pickleCheckpointsAreRefusedWithAHowTo() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        try directory.write("pytorch_model.bin", [0x80, 0x02])
        guard case let .pickleOnly(_, files)? = folderError(directory.path) else {
            Issue.record("expected pickleOnly")
            return
        }
        #expect(files == ["pytorch_model.bin"])
        let message = ModelFolderError.pickleOnly(path: directory.path, files: files).description
        #expect(message.contains("unpickling runs arbitrary code"))
        #expect(message.contains("safe_serialization=True"))
    }

    @Test func missingPiecesAreNamed() throws {
        let empty = TemporaryFolder("model-folder")
        guard case .config? = folderError(empty.path) else {
            Issue.record("expected a config error")
            return
        }
        let noWeights = TemporaryFolder("model-folder")
        try noWeights.write("config.json", text: llamaConfig)
        try noWeights.write("tokenizer.json", text: "{}")
        guard case let .noWeights(_, files)? = folderError(noWeights.path) else {
            Issue.record("expected noWeights")
            return
        }
        #expect(files == ["config.json", "tokenizer.json"])
        guard case .notADirectory? = folderError(empty.path + "/missing") else {
            Issue.record("expected notADirectory")
            return
        }
    }

    @Test func invalidConfigIsRejected() throws {
        for config in [#"{"a":1,"a":2}"#, "[]", #"{"x": NaN}"#] {
            let directory = TemporaryFolder("model-folder")
            try directory.write("config.json", text: config)
            try directory.write("model.safetensors", tinySafetensors([]))
            guard case .config? = folderError(directory.path) else {
                Issue.record("config \(config) should be rejected")
                continue
            }
        }
    }

    @Test func truncatedShardIsReportedAsTruncated() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: llamaConfig)
        try directory.write("model.safetensors", Array(tinySafetensors([("a", .f32, [64])]).dropLast(10)))
        let error = try #require(folderError(directory.path))
        #expect(error.isTruncated)
        #expect(error.description.contains("was the copy finished?"))
    }

    @Test func multimodalConfigFallsBackToTextConfig() throws {
        let directory = TemporaryFolder("model-folder")
        try directory.write("config.json", text: #"""
            {"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","dtype":"bfloat16",
             "text_config":{"hidden_size":32,"num_hidden_layers":4,"vocab_size":262208}}
            """#)
        try directory.write("model.safetensors", tinySafetensors([]))
        let folder = try ModelFolder(path: directory.path)
        #expect(folder.hiddenSize == 32)
        #expect(folder.numHiddenLayers == 4)
        #expect(folder.vocabSize == 262_208)
        #expect(folder.maxPositionEmbeddings == nil)
        #expect(folder.torchDtype == "bfloat16")
        #expect(folder.parameterCount == 0)
    }
}
