import Foundation
import Glibc

/// One entry of the enforcement inbox as the directory lists it: raw name bytes (a name need not be
/// UTF-8), its UTF-8 reading if it has one, and its identity (device, inode), so that an entry set
/// aside is recognised even if another with the same name arrives later.
struct InboxEntry: Sendable {
    struct Identity: Hashable, Sendable {
        var name: [UInt8]
        var device: UInt64
        var inode: UInt64
    }

    /// Why an entry is not read: it is not a regular file.
    struct Refusal: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    var rawName: [UInt8]
    var name: String?
    var identity: Identity

    /// The entries of `directory` (not `.` and `..`), read with `readdir` so that no name can fail the
    /// listing; an entry that vanishes while listed is left out.
    static func list(_ directory: URL) throws -> [InboxEntry] {
        guard let dir = opendir(directory.path) else { throw POSIXFailure("cannot list \(directory.path)", errno) }
        defer { closedir(dir) }
        var entries: [InboxEntry] = []
        while let item = readdir(dir) {
            let raw: [UInt8] = withUnsafePointer(to: &item.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout.size(ofValue: item.pointee.d_name)) { bytes in
                    Array(UnsafeBufferPointer(start: bytes, count: strlen(UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self))))
                }
            }
            if raw == [0x2E] || raw == [0x2E, 0x2E] { continue }
            var info = stat()
            let path = Array(directory.path.utf8) + [0x2F] + raw + [0]
            guard path.withUnsafeBufferPointer({ lstat(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), &info) }) == 0 else { continue }
            entries.append(InboxEntry(rawName: raw, name: String(validating: raw, as: UTF8.self),
                                      identity: Identity(name: raw, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))))
        }
        return entries
    }

    /// Moves the entry `name` of `directory` into `target`, then its `.ok` marker. A regular file is
    /// copied where a rename cannot cross file systems; anything else is only renamed. Returns false
    /// when the entry could not be moved (it stays where it is).
    static func rename(_ name: [UInt8], in directory: URL, to target: URL) throws -> Bool {
        func path(_ dir: URL, _ name: [UInt8]) -> [UInt8] { Array(dir.path.utf8) + [0x2F] + name + [0] }
        func move(_ name: [UInt8]) -> Bool {
            let from = path(directory, name), to = path(target, name)
            let renamed = from.withUnsafeBufferPointer { f in
                to.withUnsafeBufferPointer { t in
                    Glibc.rename(UnsafeRawPointer(f.baseAddress!).assumingMemoryBound(to: CChar.self), UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: CChar.self))
                }
            }
            if renamed == 0 { return true }
            guard errno == EXDEV, let text = String(validating: name, as: UTF8.self) else { return false }
            let source = directory.appendingPathComponent(text)
            guard let kind = try? FileManager.default.attributesOfItem(atPath: source.path)[.type] as? FileAttributeType, kind == .typeRegular else { return false }
            let destination = target.appendingPathComponent(text)
            try? FileManager.default.removeItem(at: destination)
            return (try? FileManager.default.moveItem(at: source, to: destination)) != nil
        }
        guard move(name) else { return false }
        if !move(name + Array(".ok".utf8)) {
            _ = path(directory, name + Array(".ok".utf8)).withUnsafeBufferPointer { unlink(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
        }
        return true
    }

    /// Reads a regular file a chunk at a time. Opened without following a symbolic link and without
    /// blocking on a FIFO; anything but a regular file is refused before a byte is read.
    final class Reader: @unchecked Sendable {
        private let descriptor: Int32
        let chunkSize: Int

        /// Opens `file`; nil when it no longer exists (it vanished since it was listed).
        init?(_ file: URL, chunkSize: Int = 64 * 1024) throws {
            let fd = open(file.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 {
                switch errno {
                case ENOENT: return nil
                case ELOOP: throw Refusal(reason: "is a symbolic link, not a regular file")
                default: throw POSIXFailure("cannot open \(file.path)", errno)
                }
            }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                let e = errno
                close(fd)
                throw POSIXFailure("cannot stat \(file.path)", e)
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                close(fd)
                let kind = switch info.st_mode & S_IFMT {
                case S_IFDIR: "a directory"
                case S_IFIFO: "a FIFO"
                case S_IFSOCK: "a socket"
                case S_IFCHR, S_IFBLK: "a device"
                default: "not a regular file"
                }
                throw Refusal(reason: "is \(kind), not a regular file")
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            descriptor = fd
            self.chunkSize = chunkSize
        }

        deinit { close(descriptor) }

        /// The next chunk; empty at the end of the file.
        func read() throws -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: chunkSize)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if n >= 0 { return Array(buffer.prefix(n)) }
                if errno != EINTR { throw POSIXFailure("cannot read", errno) }
            }
        }
    }
}

/// A system call failed.
struct POSIXFailure: Error, CustomStringConvertible {
    var message: String
    var code: Int32
    init(_ message: String, _ code: Int32) {
        self.message = message
        self.code = code
    }
    var description: String { "\(message): \(String(cString: strerror(code)))" }
}
