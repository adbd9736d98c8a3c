import Crypto
import Foundation
import GridHubCore
import Synchronization
import _CryptoExtras

/// Who may use the console and what they see: the city's operators see every case, a town's operators
/// the cases of their town's grids.
public enum ConsoleScope: Sendable, Hashable, CustomStringConvertible {
    case city
    /// A town (镇/街道) by its 9-digit code.
    case town(String)

    /// `city`, or a town code of the reference data.
    public init?(_ text: String, reference: ReferenceData) {
        if text == "city" { self = .city; return }
        guard reference.town(code: text) != nil else { return nil }
        self = .town(text)
    }

    /// Whether a case in `gridCode` is this scope's. A case without a grid is the city's.
    public func covers(gridCode: String?) -> Bool {
        switch self {
        case .city: return true
        case .town(let code): return gridCode?.hasPrefix(code) ?? false
        }
    }

    /// The prefix grid codes of the scope start with (nil: every grid).
    var gridPrefix: String? {
        if case .town(let code) = self { return code }
        return nil
    }

    public var description: String {
        switch self {
        case .city: return "city"
        case .town(let code): return code
        }
    }
}

/// One operator of the users file.
public struct ConsoleUser: Sendable, Hashable, Codable {
    /// The login name.
    public var name: String
    /// `pbkdf2-sha256$<rounds>$<salt, base64>$<key, base64>`, as `gridhub console passwd` prints it.
    public var password: String
    /// `city` or a town code.
    public var scope: String

    public init(name: String, password: String, scope: String) {
        self.name = name
        self.password = password
        self.scope = scope
    }
}

/// The console's users file is unusable.
public struct ConsoleUsersError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The operators who may log in (a JSON file: `{"users": [{"name", "password", "scope"}]}`), with
/// passwords stored as PBKDF2-SHA256 hashes, never in clear.
public struct ConsoleUsers: Sendable {
    /// PBKDF2 rounds of new hashes (OWASP's minimum for SHA-256).
    public static let rounds = 210_000

    private let users: [String: (user: ConsoleUser, scope: ConsoleScope)]

    public init(_ users: [ConsoleUser], reference: ReferenceData) throws(ConsoleUsersError) {
        var table: [String: (user: ConsoleUser, scope: ConsoleScope)] = [:]
        for user in users {
            guard !user.name.isEmpty, table[user.name] == nil else { throw ConsoleUsersError(description: "user names must be present and unique (\(user.name))") }
            guard let scope = ConsoleScope(user.scope, reference: reference) else {
                throw ConsoleUsersError(description: "user \(user.name): scope \(user.scope) is neither city nor a town code of the reference data")
            }
            guard Self.parse(user.password) != nil else {
                throw ConsoleUsersError(description: "user \(user.name): password is not a pbkdf2-sha256 hash (make one with gridhub console passwd)")
            }
            table[user.name] = (user, scope)
        }
        guard !table.isEmpty else { throw ConsoleUsersError(description: "the users file names no user") }
        self.users = table
    }

    /// Reads the users file.
    public static func load(path: String, reference: ReferenceData) throws(ConsoleUsersError) -> ConsoleUsers {
        struct File: Decodable { var users: [ConsoleUser] }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw ConsoleUsersError(description: "cannot read the users file \(path): \(error.localizedDescription)") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch { throw ConsoleUsersError(description: "the users file \(path) is not {\"users\": [{\"name\", \"password\", \"scope\"}]}: \(error)") }
        return try ConsoleUsers(file.users, reference: reference)
    }

    /// A stored form of `password` with a fresh random salt.
    public static func hash(password: String, rounds: Int = ConsoleUsers.rounds) -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = derive(password, salt: salt, rounds: rounds)
        return "pbkdf2-sha256$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(key).base64EncodedString())"
    }

    /// The user and scope when `password` is theirs; nil otherwise (unknown names cost as much time as known ones).
    public func authenticate(name: String, password: String) -> (user: ConsoleUser, scope: ConsoleScope)? {
        guard let entry = users[name], let stored = Self.parse(entry.user.password) else {
            _ = Self.derive(password, salt: Array(repeating: 0, count: 16), rounds: Self.rounds)
            return nil
        }
        let key = Self.derive(password, salt: stored.salt, rounds: stored.rounds)
        // Constant-time comparison of the derived keys.
        guard key.count == stored.key.count else { return nil }
        var difference: UInt8 = 0
        for (a, b) in zip(key, stored.key) { difference |= a ^ b }
        return difference == 0 ? entry : nil
    }

    private static func parse(_ stored: String) -> (rounds: Int, salt: [UInt8], key: [UInt8])? {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds >= 1_000,
              let salt = Data(base64Encoded: String(parts[2])), let key = Data(base64Encoded: String(parts[3])), key.count == 32 else { return nil }
        return (rounds, Array(salt), Array(key))
    }

    private static func derive(_ password: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        let key = try? KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.map { k in k.withUnsafeBytes { Array($0) } } ?? []
    }
}

/// The logged-in operators: a random session token (the cookie) per login, with its own token against
/// cross-site form posts, ended by logging out or after ``idleLimit`` without a request.
public final class ConsoleSessions: Sendable {
    public struct Session: Sendable {
        public var user: String
        public var scope: ConsoleScope
        /// Every form of the session carries it; a post without it is refused.
        public var formToken: String
        var lastSeen: ContinuousClock.Instant
    }

    public static let idleLimit: Duration = .seconds(12 * 3_600)
    /// Beyond this many sessions the least recently used ends.
    static let maximum = 10_000
    private let sessions = Mutex<[String: Session]>([:])

    public init() {}

    /// A new session for the user; returns its cookie token.
    public func start(user: String, scope: ConsoleScope) -> (token: String, session: Session) {
        let session = Session(user: user, scope: scope, formToken: Self.randomToken(), lastSeen: .now)
        let token = Self.randomToken()
        sessions.withLock { table in
            if table.count >= Self.maximum, let oldest = table.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key { table[oldest] = nil }
            table[token] = session
        }
        return (token, session)
    }

    /// The session of a cookie token, when it is live (and marks it used).
    public func session(_ token: String?) -> Session? {
        guard let token else { return nil }
        return sessions.withLock { table -> Session? in
            guard var s = table[token] else { return nil }
            guard ContinuousClock.now - s.lastSeen < Self.idleLimit else {
                table[token] = nil
                return nil
            }
            s.lastSeen = .now
            table[token] = s
            return s
        }
    }

    public func end(_ token: String?) {
        guard let token else { return }
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }

    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
