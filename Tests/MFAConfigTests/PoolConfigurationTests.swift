import Foundation
import Testing

@testable import MFAConfig

/// `pools.NAME.members`: several accounts behind one name.
@Suite("Configuration: pools")
struct PoolConfigurationTests {
    /// Three accounts `sf-eu-1..3` (issue `issue1` for the first, `issue`
    /// for the others), the given pools and allowlist.
    func outcome(
        pools: String, allow: String = "  rpa-bot-1: [sf-eu]", issue: String = "once_per_window", issue1: String? = nil
    )
        -> (LoadedConfiguration?, String)
    {
        let fixture = ConfigFixture()
        var accounts = ""
        for index in 1...3 {
            fixture.writeSecret("secrets/sf-eu-\(index).key", index == 1 ? ConfigFixture.goodKey : "JBSWY3DPEHPK3PXP\(index)AAAAAAAAAAAAAAA")
            accounts += "  sf-eu-\(index):\n    secret_file: secrets/sf-eu-\(index).key\n    issue: \(index == 1 ? issue1 ?? issue : issue)\n"
        }
        fixture.writeConfig(ConfigFixture.yaml(accounts: accounts, allow: allow, extra: "pools:\n" + pools))
        do {
            return (try LoadedConfiguration.load(path: fixture.configPath, environment: [:]), "")
        } catch {
            return (nil, error.description.replacingOccurrences(of: fixture.directory, with: "DIR"))
        }
    }

    @Test("A pool of once_per_window accounts has one turn queue for all its members, named apart from theirs")
    func turnGroup() throws {
        let (loaded, error) = outcome(pools: "  sf-eu: {members: [sf-eu-1, sf-eu-2, sf-eu-3]}")
        let configuration = try #require(loaded, "\(error)")
        #expect(configuration.pools["sf-eu"]?.members == ["sf-eu-1", "sf-eu-2", "sf-eu-3"])
        #expect(configuration.turnGroups.count == 1)
        let group = try #require(configuration.turnGroups.first)
        #expect(group.accounts == ["sf-eu-1", "sf-eu-2", "sf-eu-3"])
        #expect(group.pool == "sf-eu")
        // A member asked for by name is decided in the same place.
        for name in ["sf-eu", "sf-eu-1", "sf-eu-2", "sf-eu-3"] {
            #expect(configuration.turnQueues[name] == group.queue)
        }
        #expect(!group.queue.contains("sf-eu"))
        #expect(configuration.oncePerWindowAccounts == ["sf-eu-1", "sf-eu-2", "sf-eu-3"])
    }

    @Test("A pool of shared accounts needs no turn queue; accounts outside pools keep their own")
    func sharedPool() throws {
        let (shared, error) = outcome(pools: "  sf-eu: {members: [sf-eu-1, sf-eu-2]}", issue: "shared")
        #expect(try #require(shared, "\(error)").turnGroups.isEmpty)
        let (mixed, mixedError) = outcome(pools: "  sf-eu: {members: [sf-eu-1, sf-eu-2]}")
        let groups = try #require(mixed, "\(mixedError)").turnGroups
        #expect(groups.count == 2)
        #expect(groups.contains { $0.accounts == ["sf-eu-3"] && $0.pool == nil })
    }

    @Test("The allowlist may name a pool and its members alike")
    func allowPool() {
        #expect(outcome(pools: "  sf-eu: {members: [sf-eu-1]}", allow: "  rpa-bot-1: [sf-eu, sf-eu-2]").0 != nil)
        #expect(outcome(pools: "  sf-eu: {members: [sf-eu-1]}", allow: "  rpa-bot-1: [sf-ue]").1.contains("(did you mean 'sf-eu'?)"))
    }

    @Test(
        "A pool that cannot be served is refused with where and why",
        arguments: [
            ("  sf-eu-1: {members: [sf-eu-2]}", "'sf-eu-1' is an account too; an account and a pool share one namespace"),
            ("  sf-eu: {members: [sf-eu-4]}", "names account 'sf-eu-4', which is not configured under accounts"),
            ("  sf-eu: {members: [sf-eu-1, sf-eu-1]}", "names account 'sf-eu-1' twice"),
            ("  sf-eu: {members: [sf-eu-1]}\n  sf-us: {members: [sf-eu-1]}", "'sf-eu-1' is a member of pool 'sf-eu' already"),
            ("  sf-eu: {members: []}", "a pool needs at least one member"),
            ("  sf-eu: {members: [sf-eu-1], order: random}", "order"),
            ("  \"sf eu\": {members: [sf-eu-1]}", "pool names are account names"),
        ])
    func refused(_ pools: String, _ message: String) {
        let (loaded, error) = outcome(pools: pools, allow: "  rpa-bot-1: [sf-eu-1]")
        #expect(loaded == nil)
        #expect(error.contains("pools."), "\(error)")
        #expect(error.contains(message), "\(error)")
    }

    @Test("A pool's members hand out codes alike: shared and once_per_window do not mix")
    func mixedIssue() {
        let (loaded, error) = outcome(pools: "  sf-eu: {members: [sf-eu-1, sf-eu-2]}", issue: "once_per_window", issue1: "shared")
        #expect(loaded == nil)
        #expect(error.contains("'sf-eu-2' has issue: once_per_window, 'sf-eu-1' issue: shared"), "\(error)")
    }
}
