import TOTP

#if canImport(Glibc)
import Glibc
#endif

/// How secret files (keys, the broker password, the TLS key) are read: as
/// ssh reads a private key, and without a gap between checking and reading.
///
/// The path is resolved once; the file it names is opened without following
/// a further link, and everything is checked on the opened descriptor
/// (`fstat`) before the bytes are read from that same descriptor: a regular
/// file, owned by this user or root (or, read by root, by the user who owns
/// its folder), with no permission bit for group or
/// others (unless `allow_loose_secret_files`), in folders that group or
/// others cannot write (the folder of the link, and of the file it leads
/// to; a sticky folder such as /tmp is fine). The checks never read or
/// quote the content.
public enum SecretFile {
    /// The file's bytes, for the caller to wipe (``SecretBytes/wipe(_:)``)
    /// once decoded.
    public static func read(
        path: String,
        allowLoose: Bool,
        maxBytes: Int = 4096,
        error makeError: (String) -> ConfigurationError
    ) throws(ConfigurationError) -> [UInt8] {
        let descriptor = try open(path: path, allowLoose: allowLoose, forWriting: false, error: makeError)
        defer { close(descriptor) }
        var info = stat()
        fstat(descriptor, &info)
        guard info.st_size <= maxBytes else {
            throw makeError("\(path) is \(info.st_size) bytes; a secret file holds one key, URI or password")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            offset += count
        }
        guard offset == bytes.count else {
            SecretBytes.wipe(&bytes)
            throw makeError(FileProblem.describe(path: path, fallback: "cannot be read"))
        }
        return bytes
    }

    /// Opens `path` as ``read(path:allowLoose:maxBytes:error:)`` does and
    /// returns the checked descriptor: for reading, or (`forWriting`) for
    /// appending, created with mode 0600 when it does not exist (the audit
    /// trail).
    public static func open(
        path: String,
        allowLoose: Bool,
        forWriting: Bool,
        error makeError: (String) -> ConfigurationError
    ) throws(ConfigurationError) -> Int32 {
        try checkFolder(of: path, error: makeError)
        var target = path
        if let resolved = realpath(path, nil) {
            target = String(cString: resolved)
            free(resolved)
            if target != path { try checkFolder(of: target, error: makeError) }
        } else if !forWriting || errno != ENOENT {
            throw makeError(FileProblem.describe(path: path, fallback: "cannot be read"))
        } else {
            var link = stat()
            if lstat(path, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK {
                throw makeError("\(path) is a symbolic link to nothing; give the file itself")
            }
        }
        let flags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (forWriting ? O_WRONLY | O_APPEND | O_CREAT : O_RDONLY)
        let descriptor = Glibc.open(target, flags, 0o600)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw makeError("\(path) changed into a symbolic link while it was read; refusing it") }
            throw makeError(FileProblem.describe(path: path, fallback: forWriting ? "cannot be opened for appending" : "cannot be read"))
        }
        var info = stat()
        fstat(descriptor, &info)
        let problem: String? = {
            guard (info.st_mode & S_IFMT) == S_IFREG else { return "\(path) is not a regular file" }
            guard info.st_uid == geteuid() || info.st_uid == 0 || rootReadsOwnersFolder(target: target, owner: info.st_uid) else {
                return "\(path) belongs to another user (uid \(info.st_uid)); it must be this user's (uid \(geteuid())) or root's"
            }
            let mode = info.st_mode & 0o777
            if mode & 0o077 != 0, !allowLoose {
                return "\(path) is accessible by group or others (mode \(String(mode, radix: 8))); run chmod 600 on it, or set allow_loose_secret_files: true"
            }
            return nil
        }()
        if let problem {
            close(descriptor)
            throw makeError(problem)
        }
        // Reads and writes block as usual from here.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return descriptor
    }

    /// Root (check-config run by an operator on the service user's files)
    /// also accepts a file whose owner owns the folder it is in: that user
    /// could replace the file through the folder anyway, so trusting the file
    /// trusts nobody new. A file some other user owns, in root's folder or
    /// the service user's, is still refused.
    private static func rootReadsOwnersFolder(target: String, owner: uid_t) -> Bool {
        guard geteuid() == 0 else { return false }
        var folder = stat()
        guard stat(folderPath(of: target), &folder) == 0 else { return false }
        return folder.st_uid == owner
    }

    private static func folderPath(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Anyone who may write a file's folder may replace the file.
    private static func checkFolder(of path: String, error makeError: (String) -> ConfigurationError) throws(ConfigurationError) {
        let folder = folderPath(of: path)
        var info = stat()
        guard stat(folder, &info) == 0 else { return }
        let mode = info.st_mode
        if mode & 0o022 != 0 && mode & S_ISVTX == 0 {
            throw makeError(
                "\(path) is in the folder \(folder), which group or others may write (mode \(String(mode & 0o777, radix: 8))): whoever can write it can replace the file; run chmod go-w on it"
            )
        }
    }
}
