import Foundation
import GridHubTesting
import Testing

/// HTTPS on the inbound endpoints (`--tls-certificate`, `--tls-key`), tested with curl, a client we did
/// not write, against a certificate made here with openssl.
@Suite("TLS on the inbound endpoints", .timeLimit(.minutes(2)))
struct TLSTests {
    @Test("with a certificate the 综治e通 adapter speaks HTTPS only, verified against its CA; one flag alone or an unreadable key stops it, named")
    func https() async throws {
        let openssl = try #require(GridHubPaths.which("openssl")), curl = try #require(GridHubPaths.which("curl"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let made = try await runCommand(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                                  "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert])
        #expect(made.status == 0, "\(made.stderr)")
        let env = ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_ELINK_API_KEY": "k", "GRIDHUB_LOG_LEVEL": "error"]
        let state = dir.appendingPathComponent("state").path
        let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0", "--state-dir", state,
                                                                 "--tls-certificate", cert, "--tls-key", key], environment: env)
        defer { adapter.signal(SIGKILL) }
        let listen = try await adapter.firstLine()
        let port = String(listen.dropFirst("GRIDHUB_LISTEN=127.0.0.1:".count))
        let secure = try await runCommand(curl, ["-sS", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", "https://127.0.0.1:\(port)/healthz"])
        #expect(secure.status == 0 && secure.stdout == "200 0", "\(secure.stdout) \(secure.stderr)")
        let refused = try await runCommand(curl, ["-sS", "-H", "X-Api-Key: wrong", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                                  "--data", "{}", "https://127.0.0.1:\(port)/elink/events"])
        #expect(refused.stdout == "401", "the endpoint behind TLS still checks its key: \(refused.stdout)")
        let plain = try await runCommand(curl, ["-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/healthz"])
        #expect(plain.stdout != "200", "plain HTTP is not served: \(plain.stdout) \(plain.stderr)")
        let unverified = try await runCommand(curl, ["-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/healthz"])
        #expect(unverified.status != 0, "a client that does not trust the certificate is refused by its own check")

        let half = try await runCommand(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0", "--state-dir", state, "--tls-certificate", cert],
                                        environment: env, timeout: .seconds(30))
        #expect(half.status != 0 && half.stderr.contains("--tls-certificate and --tls-key go together"), "\(half.stderr)")
        let bad = try await runCommand(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0", "--state-dir", state, "--tls-certificate", cert,
                                                                 "--tls-key", cert], environment: env, timeout: .seconds(30))
        #expect(bad.status != 0 && bad.stderr.contains("--tls-key \(cert): not a readable PEM private key"), "\(bad.stderr)")
    }
}
