import JSON
import GGUF
import Safetensors

/// The `general.*` keys: `Metadata.load` + `set_gguf_meta_model` of gguf-py, for a local folder
/// without a metadata override file: the README.md model card's front matter first, then
/// config.json's `_name_or_path`, then the folder's name.
public struct GeneralMetadata: Equatable, Sendable {
    public var name: String
    public var organization: String?
    public var basename: String?
    public var finetune: String?
    public var version: String?
    public var sizeLabel: String?
    /// `general.sampling.*` from generation_config.json, in the reference's order.
    public var sampling: [(String, GGUFValue)] = []
    /// The rest of what the model card gives (license, base models, tags, ...).
    var card: ModelCard?

    public static func == (a: GeneralMetadata, b: GeneralMetadata) -> Bool {
        a.name == b.name && a.organization == b.organization && (a.card == nil) == (b.card == nil) && a.basename == b.basename && a.finetune == b.finetune
            && a.version == b.version && a.sizeLabel == b.sizeLabel
            && a.sampling.map(\.0) == b.sampling.map(\.0) && a.sampling.map(\.1) == b.sampling.map(\.1)
    }

    /// Derives the names from `_name_or_path` in config.json (when it looks like `org/model`) and
    /// then the folder's name, each filling only what is still unknown; the size label falls back
    /// to the parameter count.
    /// `defaultSizeLabel` is what the size label falls back to (`ModelNaming.sizeLabel(for:)`).
    init(folderName: String, config: HyperParameters, generationConfig: JSONValue?, parameterCount: Int,
         defaultSizeLabel: String? = nil, card: ModelCard? = nil) {
        var name = card?.fields["name"]
        var fill = ModelNaming.Components(fullName: nil, organization: card?.fields["organization"],
                                          basename: card?.fields["basename"], finetune: card?.fields["finetune"],
                                          version: card?.fields["version"], sizeLabel: card?.fields["size_label"])
        var ids: [String] = []
        if let hfID = config["_name_or_path"]?.stringValue, hfID.filter({ $0 == "/" }).count <= 1 { ids.append(hfID) }
        ids.append(folderName)
        for id in ids {
            let c = ModelNaming.components(of: id, totalParameters: parameterCount)
            if name == nil, let full = c.fullName { name = ModelNaming.title(full) }
            if fill.organization == nil, let org = c.organization { fill.organization = ModelNaming.title(org) }
            fill.basename = fill.basename ?? c.basename
            fill.finetune = fill.finetune ?? c.finetune
            fill.version = fill.version ?? c.version
            fill.sizeLabel = fill.sizeLabel ?? c.sizeLabel
        }
        self.name = name ?? folderName
        organization = fill.organization
        basename = fill.basename
        finetune = fill.finetune
        version = fill.version
        sizeLabel = fill.sizeLabel ?? defaultSizeLabel
            ?? (parameterCount > 0 ? ModelNaming.sizeLabel(parameterCount: parameterCount) : nil)
        sampling = Self.sampling(from: generationConfig)
        self.card = card
    }

    /// `general.sampling.*`: only values of the type gguf-py would write without failing.
    static func sampling(from config: JSONValue?) -> [(String, GGUFValue)] {
        guard let config, case .object = config else { return [] }
        var out: [(String, GGUFValue)] = []
        func int(_ key: String, _ names: [String]) {
            if let v = names.lazy.compactMap({ config[$0]?.intValue }).first, let narrow = Int32(exactly: v) {
                out.append((key, .int32(narrow)))
            }
        }
        func float(_ key: String, _ names: [String]) {
            if let v = names.lazy.compactMap({ config[$0]?.doubleValue }).first {
                out.append((key, .float32(Float(v))))
            }
        }
        if let sequence = config["sequence"]?.stringValue { out.append((GGUFKeys.General.samplingSequence, .string(sequence))) }
        int(GGUFKeys.General.samplingTopK, ["top_k"])
        float(GGUFKeys.General.samplingTopP, ["top_p"])
        float(GGUFKeys.General.samplingMinP, ["min_p"])
        float(GGUFKeys.General.samplingXTCProbability, ["xtc_probability"])
        float(GGUFKeys.General.samplingXTCThreshold, ["xtc_threshold"])
        float(GGUFKeys.General.samplingTemp, ["temperature"])
        int(GGUFKeys.General.samplingPenaltyLastN, ["penalty_last_n"])
        float(GGUFKeys.General.samplingPenaltyRepeat, ["penalty_repeat", "repetition_penalty"])
        int(GGUFKeys.General.samplingMirostat, ["mirostat"])
        float(GGUFKeys.General.samplingMirostatTau, ["mirostat_tau"])
        float(GGUFKeys.General.samplingMirostatEta, ["mirostat_eta"])
        return out
    }

    /// Writes `general.type` and the authorship keys in `set_gguf_meta_model`'s order.
    func write(into m: inout MetadataBuilder) {
        m.set(GGUFKeys.General.type, .string("model"))
        for (key, value) in sampling { m.set(key, value) }
        let fields = card?.fields ?? [:]
        m.set(GGUFKeys.General.name, .string(name))
        m.set(GGUFKeys.General.author, fields["author"].map(GGUFValue.string))
        m.set(GGUFKeys.General.version, version.map(GGUFValue.string))
        m.set(GGUFKeys.General.organization, organization.map(GGUFValue.string))
        m.set(GGUFKeys.General.finetune, finetune.map(GGUFValue.string))
        m.set(GGUFKeys.General.basename, basename.map(GGUFValue.string))
        m.set(GGUFKeys.General.description, fields["description"].map(GGUFValue.string))
        m.set(GGUFKeys.General.sizeLabel, sizeLabel.map(GGUFValue.string))
        guard let card else { return }
        m.set(GGUFKeys.General.license, card.license.map(GGUFValue.string))
        m.set(GGUFKeys.General.licenseName, fields["license_name"].map(GGUFValue.string))
        m.set(GGUFKeys.General.licenseLink, fields["license_link"].map(GGUFValue.string))
        for (key, field) in [(GGUFKeys.General.sourceURL, "source_url"), (GGUFKeys.General.sourceDOI, "source_doi"),
                             (GGUFKeys.General.sourceUUID, "source_uuid"), (GGUFKeys.General.sourceRepoURL, "source_repo_url")] {
            m.set(key, fields[field].map(GGUFValue.string))
        }
        // Entry fields in set_gguf_meta_model's order, whatever order the card gave them in; a
        // card entry's field has the name of its key's last part.
        let baseModelKeys = [GGUFKeys.General.baseModelName, GGUFKeys.General.baseModelAuthor,
                             GGUFKeys.General.baseModelVersion, GGUFKeys.General.baseModelOrganization,
                             GGUFKeys.General.baseModelDescription, GGUFKeys.General.baseModelURL,
                             GGUFKeys.General.baseModelDOI, GGUFKeys.General.baseModelUUID, GGUFKeys.General.baseModelRepoURL]
        let datasetKeys = [GGUFKeys.General.datasetName, GGUFKeys.General.datasetAuthor, GGUFKeys.General.datasetVersion,
                           GGUFKeys.General.datasetOrganization, GGUFKeys.General.datasetDescription,
                           GGUFKeys.General.datasetURL, GGUFKeys.General.datasetDOI, GGUFKeys.General.datasetUUID,
                           GGUFKeys.General.datasetRepoURL]
        for (countKey, entryKeys, entries) in [(GGUFKeys.General.baseModelCount, baseModelKeys, card.baseModels),
                                               (GGUFKeys.General.datasetCount, datasetKeys, card.datasets)] {
            guard let entries else { continue }
            m.set(countKey, .uint32(UInt32(clamping: entries.count)))
            for (i, entry) in entries.enumerated() {
                for key in entryKeys {
                    if let value = entry.last(where: { $0.0 == key.field })?.1 { m.set(key(i), .string(value)) }
                }
            }
        }
        if let tags = card.tags { m.set(GGUFKeys.General.tags, MetadataBuilder.stringArray(tags)) }
        if let languages = card.languages { m.set(GGUFKeys.General.languages, MetadataBuilder.stringArray(languages)) }
    }

    /// The default output file name, `naming_convention(...)` + `.gguf`.
    public func fileName(outputType: OutputType) -> String { fileName(typeName: outputType.rawValue) }

    /// The file name for a file type given by its reference name (`MXFP4_MOE`).
    public func fileName(typeName: String) -> String {
        ModelNaming.fileName(name: name, basename: basename, finetune: finetune, version: version,
                             sizeLabel: sizeLabel, outputType: typeName) + ".gguf"
    }
}
