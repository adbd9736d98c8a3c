/// Reads the Kafka settings of the contract from environment variables.
///
/// - `GRIDHUB_BOOTSTRAP`: the bootstrap servers, required by every daemon.
/// - `GRIDHUB_KAFKA_<property>`: any librdkafka property, upper-cased with `.` written as `_`
///   (`GRIDHUB_KAFKA_SECURITY_PROTOCOL=SASL_SSL` → `security.protocol=SASL_SSL`).
public enum KafkaEnvironment {
    /// The variable that names the cluster.
    public static let bootstrapVariable = "GRIDHUB_BOOTSTRAP"
    public static let propertyPrefix = "GRIDHUB_KAFKA_"

    /// The client configuration from `environment`, or an error naming the missing variable.
    public static func clientConfiguration(from environment: [String: String]) throws(KafkaError) -> KafkaClientConfiguration {
        guard let bootstrap = environment[bootstrapVariable]?.trimmingSpaces, !bootstrap.isEmpty else {
            throw KafkaError(
                code: .configuration,
                message: "\(bootstrapVariable) is not set: set it to the Kafka bootstrap servers (host:port[,host:port…]), e.g. the GRIDHUB_BOOTSTRAP=… line printed by `gridhub broker`")
        }
        return KafkaClientConfiguration(bootstrapServers: bootstrap, properties: properties(from: environment))
    }

    /// The librdkafka properties given as `GRIDHUB_KAFKA_*` variables.
    public static func properties(from environment: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix(propertyPrefix) && name.count > propertyPrefix.count {
            let property = name.dropFirst(propertyPrefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
            result[property] = value
        }
        return result
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
