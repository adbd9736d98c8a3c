import ArgumentParser

/// `gridhub adapter …`: the source adapters' daemons.
struct AdapterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter",
        abstract: "Run a source adapter daemon.",
        subcommands: [Hotline12345Command.self, ElinkCommand.self, EnforcementCommand.self, WoodpeckerCommand.self]
    )
}
