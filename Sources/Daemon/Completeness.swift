import BinaryIO
import GGUF
import ModelFolder
import Safetensors

/// Is a settled inbox entry complete, judged by what the files say about themselves?
///
/// Settling (size and mtime unchanged for a while) catches most copies in progress, but not a
/// stalled one, nor a sharded download whose remaining shards have not started. The formats tell
/// us more: a safetensors header declares the file's full size, a GGUF header the end of its last
/// tensor, an index the shards it needs. Anything that is merely *wrong* counts as complete here:
/// the executor fails it properly, with an error.json.
enum Completeness {
    enum Verdict: Equatable {
        case complete
        case arriving(String)
    }

    static func check(_ path: String) -> Verdict {
        guard let info = FileSystem.info(path) else { return .arriving("vanished") }
        return info.isDirectory ? checkFolder(path) : checkFile(path, size: info.size)
    }

    static func checkFile(_ path: String, size: Int) -> Verdict {
        if path.hasSuffix(".safetensors") { return checkSafetensors(path, size: size) }
        if path.hasSuffix(".gguf") {
            do {
                _ = try GGUFFile(path: path)
            } catch let error as GGUFError where error.kind == .truncated {
                return .arriving("GGUF ends early: \(error.message)")
            } catch {
                return .complete
            }
        }
        return .complete
    }

    static func checkSafetensors(_ path: String, size: Int) -> Verdict {
        do {
            let declared = try SafetensorsFile.declaredSize(path: path)
            if declared > size {
                return .arriving("\(lastComponent(path)): header declares \(declared) bytes, \(size) present")
            }
        } catch {
            if error.isTruncated { return .arriving("\(lastComponent(path)): header not complete yet") }
        }
        return .complete
    }

    /// A model folder: no download temporaries inside, every shard its index names present and
    /// every safetensors file as long as its header says.
    static func checkFolder(_ path: String) -> Verdict {
        let files = FileSystem.walk(path)
        let names = Set(files.map(\.relative))
        for file in files {
            let name = lastComponent(file.relative)
            if !name.hasPrefix("."), DropFolder.partialSuffixes.contains(where: { name.hasSuffix($0) }) {
                return .arriving("\(file.relative) is a partial download")
            }
        }
        let indexName = "model.safetensors.index.json"
        if names.contains(indexName) && !names.contains("model.safetensors") {
            if let shards = shardNames(path + "/" + indexName) {
                let missing = shards.filter { !names.contains($0) }
                if let first = missing.first {
                    return .arriving("waiting for \(missing.count) of \(shards.count) shards named in the index (\(first), ...)")
                }
            }
        }
        for file in files where file.relative.hasSuffix(".safetensors") && !lastComponent(file.relative).hasPrefix(".") {
            if case let .arriving(reason) = checkSafetensors(path + "/" + file.relative, size: file.info.size) {
                return .arriving(reason)
            }
        }
        return .complete
    }

    /// The shard names of an index, or nil when it cannot be read (then the executor reports it).
    private static func shardNames(_ indexPath: String) -> [String]? {
        guard let file = try? MappedFile(path: indexPath) else { return nil }
        do {
            return try SafetensorsShardIndex.parse(file.bytes, path: indexPath).shardNames
        } catch {
            return nil
        }
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
