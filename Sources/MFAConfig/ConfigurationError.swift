/// A configuration that cannot be used, with where it stands.
///
/// The description is one line: the file, the key path (or the account), the
/// line when known, and what is wrong. It never holds a secret: messages are
/// built from key names, numbers and file paths only.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// The configuration file, as given.
    public var file: String?
    /// Dotted path of the key, `accounts.sf-automation-eu.secret_file` say.
    public var keyPath: String
    /// 1-based line in the file, when known.
    public var line: Int?
    /// What is wrong, for a person.
    public var message: String

    public init(file: String? = nil, keyPath: String, line: Int? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        var place = keyPath
        if let line { place += keyPath.isEmpty ? "line \(line)" : " (line \(line))" }
        let parts = [file, place.isEmpty ? nil : place, message].compactMap { $0 }
        return parts.joined(separator: ": ")
    }
}
