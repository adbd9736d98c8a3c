import HummingbirdTLS
import NIOSSL

/// A server's TLS certificate chain and private key, PEM files (`--tls-certificate`, `--tls-key`):
/// the HTTP endpoints then speak HTTPS only (TLS 1.2 or later).
public struct TLSFiles: Sendable, Hashable {
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }

    /// Both flags or neither; one alone is a mistake worth stopping for.
    public static func from(certificate: String?, key: String?) throws(ConfigFileError) -> TLSFiles? {
        switch (certificate, key) {
        case (nil, nil): return nil
        case let (c?, k?): return TLSFiles(certificate: c, key: k)
        default: throw ConfigFileError(message: "--tls-certificate and --tls-key go together: give both for HTTPS, or neither for plain HTTP")
        }
    }

    /// The server configuration, or a clear error naming the file that cannot be used.
    public func serverConfiguration() throws(ConfigFileError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw ConfigFileError(message: "--tls-certificate \(certificate): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw ConfigFileError(message: "--tls-certificate \(certificate) holds no certificate") }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw ConfigFileError(message: "--tls-key \(key): not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
