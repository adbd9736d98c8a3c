import Foundation
@testable import gridhub
import GridHubRuntime
import GridHubTesting
import Testing

/// `Deploy/container`, `Deploy/compose` and `Deploy/kubernetes`: no Docker engine or cluster runs here,
/// so each is checked with what is installable — the Dockerfile by its rules, the compose file by
/// Debian's `docker-compose config`, the manifests by `kubernetes-validate` (the Kubernetes API's
/// schemas) — and every daemon they start must be a `gridhub` command whose `GRIDHUB_OPT_*` settings
/// are its flags, probed where it listens.
@Suite("Container, compose and Kubernetes files", .timeLimit(.minutes(2)))
struct ContainerDeployTests {
    static let root = GridHubPaths.packageRoot
    static let deploy = root.appendingPathComponent("Deploy")

    /// YAML (one or more documents) as JSON objects, read by Python's yaml.
    static func yamlDocuments(_ text: String) async throws -> [[String: Any]] {
        let converted = try await runCommand("/usr/bin/python3", ["-c", "import sys, yaml, json; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"],
                                             stdin: Data(text.utf8))
        #expect(converted.status == 0, "\(converted.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(converted.stdout.utf8)) as? [[String: Any]])
    }

    /// Checks a daemon as a container starts it: `arguments` parse as a gridhub command once its
    /// `GRIDHUB_OPT_*` variables are added as the flags they stand for, every such variable is a flag of
    /// the command; returns the port it listens on for /readyz.
    static func daemon(_ arguments: [String], environment: [String: String], where place: String) throws -> Int? {
        let config = ConfigFile(environment: environment)
        var flags: [String] = []
        for (flag, value) in config.values.sorted(by: { $0.key < $1.key }) { flags += ["--\(flag)", value] }
        let command = try GridHub.parseAsRoot(arguments + flags)
        #expect(throws: Never.self, "\(place)") { try config.checkKeys(allowed: DaemonSupport.configKeys(of: command)) }
        let listen = config.values["admin-listen"] ?? config.values["listen"]
        return listen.flatMap { ListenAddress($0)?.port }
    }

    @Test("the Dockerfile: a multi-stage build with the static Swift stdlib, pinned bases, slim apt layers, non-root, the reference data, a HEALTHCHECK on /readyz, gridhub as entry point")
    func dockerfile() throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("container/Dockerfile"), encoding: .utf8)
        // Instructions, continuation lines joined, comments dropped.
        var instructions: [(keyword: String, rest: String)] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && (trimmed.isEmpty || trimmed.hasPrefix("#")) { continue }
            current += (current.isEmpty ? "" : " ") + trimmed
            if current.hasSuffix("\\") { current.removeLast(); continue }
            let parts = current.split(separator: " ", maxSplits: 1).map(String.init)
            instructions.append((parts[0].uppercased(), parts.count > 1 ? parts[1] : ""))
            current = ""
        }
        let froms = instructions.enumerated().filter { $0.element.keyword == "FROM" }
        #expect(froms.count == 2 && froms[0].element.rest.hasSuffix(" AS build"), "a build stage and a runtime stage")
        for from in froms { #expect(!from.element.rest.contains(":latest") && from.element.rest.contains(":"), "a pinned base: \(from.element.rest)") }
        let final = Array(instructions[froms.last!.offset...])
        for run in instructions where run.keyword == "RUN" && run.rest.contains("apt-get install") {
            #expect(run.rest.contains("--no-install-recommends") && run.rest.contains("rm -rf /var/lib/apt/lists/*"), "\(run.rest)")
        }
        #expect(instructions.contains { $0.keyword == "RUN" && $0.rest.contains("--static-swift-stdlib") })
        let user = try #require(final.last { $0.keyword == "USER" }?.rest)
        #expect(!["root", "0"].contains(user.split(separator: ":").first.map(String.init) ?? ""), "runs as \(user)")
        let health = try #require(final.first { $0.keyword == "HEALTHCHECK" }?.rest)
        #expect(health.contains("CMD") && health.contains("HEALTHCHECK_URL"))
        #expect(final.contains { $0.keyword == "ENV" && $0.rest.contains("/readyz") })
        #expect(final.last { $0.keyword == "ENTRYPOINT" }?.rest == "[\"/usr/local/bin/gridhub\"]")
        // Everything copied from the context exists and is let through by the ignore file.
        let ignore = try String(contentsOf: Self.deploy.appendingPathComponent("container/Dockerfile.dockerignore"), encoding: .utf8)
        let allowed = ignore.split(separator: "\n").filter { $0.hasPrefix("!") }.map { String($0.dropFirst()).replacingOccurrences(of: "/**", with: "") }
        var copied: [String] = []
        for copy in instructions where copy.keyword == "COPY" && !copy.rest.hasPrefix("--from") {
            let paths = copy.rest.split(separator: " ").map(String.init).dropLast()
            for path in paths {
                copied.append(path)
                #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(path).path), "COPY \(path): not in the repository")
                #expect(allowed.contains { path == $0 || path.hasPrefix($0 + "/") || path.hasSuffix("/") && $0.hasPrefix(path) || path.trimmingCharacters(in: CharacterSet(charactersIn: "./")) == $0 },
                        "COPY \(path) is excluded by Dockerfile.dockerignore")
            }
        }
        #expect(copied.contains("Deploy/reference") && copied.contains("Deploy/routing.json") && copied.contains("Sources"))
    }

    @Test("the compose file is valid for docker-compose; Kafka in KRaft mode and PostgreSQL; every GridHub service a gridhub command configured by its environment, health-checked where it listens")
    func compose() async throws {
        let compose = try #require(GridHubPaths.which("docker-compose"), "docker-compose (Debian) is one of the test packages")
        let file = Self.deploy.appendingPathComponent("compose/compose.yaml").path
        let resolved = try await runCommand(compose, ["-f", file, "config"])
        #expect(resolved.status == 0, "\(resolved.stderr)")
        let document = try #require(try await Self.yamlDocuments(resolved.stdout).first)
        let services = try #require(document["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["kafka", "postgres", "topics", "router", "hotline12345", "elink", "woodpecker", "enforcement", "console"])
        let kafka = try #require(services["kafka"])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        #expect(((kafka["environment"] as? [String: Any])?["KAFKA_PROCESS_ROLES"] as? String) == "broker,controller", "KRaft, no ZooKeeper")
        for (name, service) in services where (service["build"] as? [String: Any])?["dockerfile"] as? String == "Deploy/container/Dockerfile" {
            let command = try #require(service["command"] as? [String], "\(name)")
            let environment = (service["environment"] as? [String: Any])?.mapValues { "\($0)" } ?? [:]
            #expect(environment["GRIDHUB_BOOTSTRAP"] == "kafka:9092", "\(name)")
            #expect(!environment.keys.contains { $0.hasSuffix("_SECRET") || $0.hasSuffix("_KEY") || $0.hasSuffix("_TOKEN") || $0 == "GRIDHUB_DATABASE_URL" },
                    "\(name): secrets come from files (…_FILE), not the compose file")
            let port = try Self.daemon(command, environment: environment, where: name)
            if name == "topics" {
                #expect(command.starts(with: ["topics", "create"]))
                continue
            }
            let listening = try #require(port, "\(name)")
            #expect(environment["HEALTHCHECK_URL"] == "http://127.0.0.1:\(listening)/readyz", "\(name) is health-checked where it listens")
        }
    }

    @Test("the Kubernetes manifests pass the Kubernetes API's schemas (strict); a Deployment per daemon with probes on /healthz and /readyz where it listens, resources, non-root; a disruption budget for the router; a Job for the topics")
    func kubernetes() async throws {
        let validate = try #require(GridHubPaths.which("kubernetes-validate"), "kubernetes-validate (PyPI) is installed by scripts/test")
        let folder = Self.deploy.appendingPathComponent("kubernetes")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted().map { folder.appendingPathComponent($0).path }
        let checked = try await runCommand(validate, ["--strict"] + files, timeout: .seconds(90))
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        var objects: [[String: Any]] = []
        for file in files { objects += try await Self.yamlDocuments(try String(contentsOfFile: file, encoding: .utf8)) }
        func kind(_ k: String) -> [[String: Any]] { objects.filter { $0["kind"] as? String == k } }
        func name(_ o: [String: Any]) -> String { (o["metadata"] as? [String: Any])?["name"] as? String ?? "?" }
        let deployments = kind("Deployment")
        #expect(Set(deployments.map(name)) == ["gridhub-router", "gridhub-hotline12345", "gridhub-elink", "gridhub-woodpecker", "gridhub-enforcement", "gridhub-console"])
        for d in deployments {
            let spec = try #require(d["spec"] as? [String: Any])
            let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true, "\(name(d))")
            let container = try #require((pod["containers"] as? [[String: Any]])?.first)
            let args = try #require(container["args"] as? [String])
            var environment: [String: String] = [:]
            for e in container["env"] as? [[String: Any]] ?? [] { if let n = e["name"] as? String, let v = e["value"] as? String { environment[n] = v } }
            let port = try #require(try Self.daemon(args, environment: environment, where: name(d)), "\(name(d)) listens")
            let ports = container["ports"] as? [[String: Any]] ?? []
            #expect(ports.contains { $0["containerPort"] as? Int == port }, "\(name(d)) declares port \(port)")
            let portName = ports.first { $0["containerPort"] as? Int == port }?["name"] as? String
            for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                let get = (container[probe] as? [String: Any])?["httpGet"] as? [String: Any]
                #expect(get?["path"] as? String == path && (get?["port"] as? String == portName || get?["port"] as? Int == port), "\(name(d)) \(probe)")
            }
            let resources = container["resources"] as? [String: Any]
            #expect(resources?["requests"] != nil && resources?["limits"] != nil, "\(name(d)) resources")
            // The adapters keep their delivery ledger on a volume: one instance, never two at once.
            if name(d) != "gridhub-router" && name(d) != "gridhub-console" {
                #expect(spec["replicas"] as? Int == 1 && (spec["strategy"] as? [String: Any])?["type"] as? String == "Recreate", "\(name(d))")
            }
        }
        let budget = try #require(kind("PodDisruptionBudget").first)
        #expect(name(budget) == "gridhub-router" && (budget["spec"] as? [String: Any])?["minAvailable"] as? Int == 1)
        let job = try #require(kind("Job").first)
        let jobArgs = ((((job["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first?["args"] as? [String]
        #expect(jobArgs == ["topics", "create", "--partitions", "12", "--replication-factor", "3", "--min-insync-replicas", "2"])
        _ = try GridHub.parseAsRoot(jobArgs ?? [])
        // Configuration and secrets apart: the ConfigMap holds no secret, the Secret holds them.
        let config = try #require(kind("ConfigMap").first?["data"] as? [String: String])
        #expect(!config.keys.contains { $0.contains("PASSWORD") || $0.contains("SECRET") || $0 == "GRIDHUB_DATABASE_URL" })
        #expect(kind("Secret").count == 1)
    }

    @Test("every systemd unit is hardened: systemd-analyze security --offline=yes scores it below 5 (it was 8.5)")
    func systemdHardening() async throws {
        let analyze = try #require(GridHubPaths.which("systemd-analyze"), "systemd-analyze (Debian's systemd) is one of the test packages")
        let folder = Self.deploy.appendingPathComponent("systemd")
        let units = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".service") }.sorted()
        #expect(units.count == 5)
        for unit in units {
            let result = try await runCommand(analyze, ["security", "--offline=yes", folder.appendingPathComponent(unit).path])
            let line = try #require(result.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }, "\(unit): \(result.stdout.suffix(300)) \(result.stderr)")
            let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
            #expect(score < 5, "\(unit): \(line)")
        }
    }

    @Test("the Prometheus alert rules pass promtool check rules, and their unit tests (promtool test rules) fire when they should")
    func alertRules() async throws {
        let promtool = try #require(GridHubPaths.which("promtool"), "promtool (Debian's prometheus) is one of the test packages")
        let folder = Self.deploy.appendingPathComponent("prometheus")
        let checked = try await runCommand(promtool, ["check", "rules", folder.appendingPathComponent("gridhub-alerts.yaml").path])
        #expect(checked.status == 0 && checked.stdout.contains("SUCCESS"), "\(checked.stdout)\(checked.stderr)")
        let tested = try await runCommand(promtool, ["test", "rules", folder.appendingPathComponent("gridhub-alerts.test.yaml").path])
        #expect(tested.status == 0 && tested.stdout.contains("SUCCESS"), "\(tested.stdout)\(tested.stderr)")
    }
}
