/// The worker's version, defined here only: `mfa-worker --version` prints
/// it, `mfa_build_info` exports it, and scripts/package-deb.sh reads it from
/// the built binary for the Debian package's version.
public enum WorkerVersion {
    public static let current = "0.1.0"
}
