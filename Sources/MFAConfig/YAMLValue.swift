import Yams

/// A strict reader over a Yams node tree.
///
/// Each value knows its key path and line, so every error says where it
/// stands. A mapping remembers which keys were read; ``YAMLMapping/finish()``
/// rejects the rest, naming the unknown key and suggesting the nearest known
/// one, so that a typo cannot pass silently.
struct YAMLValue {
    let node: Node
    let path: String
    let file: String?
    /// The line of the key this value stands under, when it has one.
    var keyLine: Int? = nil

    /// Where to point a person: the key's line, else the value's.
    var line: Int? { keyLine ?? node.mark.map { $0.line } }

    func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, keyPath: path, line: line, message: message)
    }

    func child(_ node: Node, key: String, keyLine: Int? = nil) -> YAMLValue {
        YAMLValue(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file, keyLine: keyLine)
    }

    var isNull: Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            return true
        }
        return false
    }

    func mapping() throws(ConfigurationError) -> YAMLMapping {
        guard case .mapping(let mapping) = node else { throw error("must be a mapping of keys to values, not \(kind)") }
        return YAMLMapping(mapping: mapping, value: self)
    }

    func sequence() throws(ConfigurationError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw error("must be a list, not \(kind)") }
        return sequence.enumerated().map { child($1, key: "[\($0)]") }
    }

    func string() throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, !isNull else { throw error("must be a string, not \(kind)") }
        return scalar.string
    }

    func nonEmptyString() throws(ConfigurationError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw error("must not be empty") }
        return text
    }

    func int(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Int(scalar.string) else {
            throw error("must be a whole number, not \(kind)")
        }
        guard range.contains(value) else {
            throw error("must be \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
        return value
    }

    func bool() throws(ConfigurationError) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { throw error("must be true or false, not \(kind)") }
        switch scalar.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("must be true or false, not \(kind)")
        }
    }

    /// A short, secret-free name for what the node is.
    var kind: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull { return "empty" }
            if scalar.style != .plain { return "a quoted string" }
            if Int(scalar.string) != nil { return "a number" }
            if Double(scalar.string) != nil { return "a decimal number" }
            if ["true", "false", "True", "False", "TRUE", "FALSE"].contains(scalar.string) { return "a boolean" }
            return "a string"
        }
    }
}

/// A YAML mapping read key by key.
struct YAMLMapping {
    let value: YAMLValue
    private let entries: [(key: String, node: Node, keyLine: Int?)]
    private var read: Set<String> = []
    private var known: [String] = []

    init(mapping: Node.Mapping, value: YAMLValue) {
        self.value = value
        entries = mapping.map { (key: $0.key.string ?? "", node: $0.value, keyLine: $0.key.mark?.line) }
    }

    /// All keys, in file order (for maps keyed by names: accounts, allow).
    var keys: [String] { entries.map(\.key) }

    /// The value at `key`, or nil when absent or null. Marks `key` as known.
    mutating func optional(_ key: String) -> YAMLValue? {
        known.append(key)
        read.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let child = value.child(entry.node, key: key, keyLine: entry.keyLine)
        return child.isNull ? nil : child
    }

    /// The value at `key`, or an error naming the missing key.
    mutating func required(_ key: String) throws(ConfigurationError) -> YAMLValue {
        guard let child = optional(key) else {
            let path = value.path.isEmpty ? key : "\(value.path).\(key)"
            throw ConfigurationError(file: value.file, keyPath: path, line: value.line, message: "is required")
        }
        return child
    }

    /// Every entry, for mappings whose keys are names chosen by the user.
    func entriesByName() -> [(name: String, value: YAMLValue)] {
        entries.map { (name: $0.key, value: value.child($0.node, key: $0.key, keyLine: $0.keyLine)) }
    }

    /// Rejects any key that was not read, naming it and its place.
    func finish() throws(ConfigurationError) {
        for entry in entries where !read.contains(entry.key) {
            let place = value.path.isEmpty ? "at the top level" : "in \(value.path)"
            var message = "unknown key '\(entry.key)' \(place)"
            if let suggestion = Self.nearest(to: entry.key, among: known) {
                message += " (did you mean '\(suggestion)'?)"
            }
            message += "; known keys: \(known.joined(separator: ", "))"
            let path = value.path.isEmpty ? entry.key : "\(value.path).\(entry.key)"
            throw ConfigurationError(file: value.file, keyPath: path, line: entry.keyLine, message: message)
        }
    }

    /// The known key within edit distance 2 of `key`, if any.
    static func nearest(to key: String, among candidates: [String]) -> String? {
        candidates
            .map { ($0, editDistance(Array(key.utf8), Array($0.utf8))) }
            .filter { $0.1 <= 2 }
            .min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
