import JSON
import Safetensors
/// `model.safetensors.index.json`: which shard holds each tensor of a sharded checkpoint.
///
/// The shard names come from a file we did not write and are joined to the folder path, so each
/// must be a plain file name: no directory separator and no `..`, or an index could make us read
/// (and report on) any file on the machine.
public struct SafetensorsShardIndex: Sendable {
    /// `weight_map` in file order: tensor name → shard file name.
    public let weightMap: [(tensor: String, shard: String)]
    /// The distinct shard file names, sorted (shards are named `model-0000k-of-0000n`).
    public let shardNames: [String]
    /// `metadata.total_size` when present: the sum of tensor data bytes the writer saw.
    public let totalSize: Int?

    /// Parses and checks an index document; `path` names the index in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(ModelFolderError) -> SafetensorsShardIndex {
        let root: JSONValue
        do {
            root = try StrictJSON.parse(bytes)
        } catch {
            throw .index(path: path, message: "not valid JSON: \(error)")
        }
        guard case .object = root else {
            throw .index(path: path, message: "the index is \(root.kindName), not a JSON object")
        }
        guard let map = root["weight_map"] else {
            throw .index(path: path, message: "the index has no 'weight_map'")
        }
        guard case let .object(entries) = map else {
            throw .index(path: path, message: "'weight_map' is \(map.kindName), not an object")
        }
        var weightMap: [(tensor: String, shard: String)] = []
        var shards = Set<String>()
        for entry in entries {
            guard case let .string(shard) = entry.value else {
                throw .index(path: path, message: "'weight_map' entry '\(entry.key)' is \(entry.value.kindName), not a file name")
            }
            if !shards.contains(shard) {
                try checkShardName(shard, tensor: entry.key, path: path)
                shards.insert(shard)
            }
            weightMap.append((tensor: entry.key, shard: shard))
        }
        var totalSize: Int?
        if let metadata = root["metadata"], let total = metadata["total_size"] {
            // Some writers emit a float here; only an exact integer is kept, anything else ignored.
            totalSize = total.intValue
        }
        return SafetensorsShardIndex(weightMap: weightMap, shardNames: shards.sorted(), totalSize: totalSize)
    }

    static func checkShardName(_ name: String, tensor: String, path: String) throws(ModelFolderError) {
        let plain = !name.isEmpty && !name.contains("/") && !name.contains("\\") && !name.contains("..")
            && !name.utf8.contains(0)
        guard plain else {
            throw .index(path: path, message: "tensor '\(tensor)' names shard '\(name)', which is not a plain file name "
                + "in the model folder (no '/', '\\' or '..' allowed)")
        }
        guard name.hasSuffix(".safetensors") else {
            throw .index(path: path, message: "tensor '\(tensor)' names shard '\(name)', which is not a .safetensors file")
        }
    }

    /// Checks the index against the opened shards: every indexed tensor is in the shard the index
    /// names, and every tensor of every shard is indexed (to that shard).
    public func validate(against shards: [String: SafetensorsFile], path: String) throws(ModelFolderError) {
        var expected: [String: String] = [:]
        for (tensor, shard) in weightMap {
            expected[tensor] = shard
            guard let file = shards[shard] else {
                throw .index(path: path, message: "shard '\(shard)' of tensor '\(tensor)' was not opened")
            }
            guard file.tensor(named: tensor) != nil else {
                throw .index(path: path, message: "the index puts tensor '\(tensor)' in '\(shard)', but that shard has no such tensor")
            }
        }
        for shard in shardNames {
            guard let file = shards[shard] else { continue }
            for tensor in file.tensors {
                guard let indexed = expected[tensor.name] else {
                    throw .index(path: path, message: "shard '\(shard)' holds tensor '\(tensor.name)', which the index does not list")
                }
                guard indexed == shard else {
                    throw .index(path: path, message: "shard '\(shard)' holds tensor '\(tensor.name)', which the index puts in '\(indexed)'")
                }
            }
        }
    }
}
