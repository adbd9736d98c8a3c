import ArgumentParser

/// `gridhub`: the one executable of GridHub. Commands follow `docs/contract.md`.
@main
struct GridHub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gridhub",
        abstract: "GridHub — the integration hub for grid-based city governance, on Kafka.",
        subcommands: [DevCommand.self, BrokerCommand.self, TopicsCommand.self, TailCommand.self, DeadLettersCommand.self, AdapterCommand.self, RouterCommand.self, CaseCommand.self, StatsCommand.self, ConsoleCommand.self, GatewayCommand.self, BenchCommand.self]
    )
}
