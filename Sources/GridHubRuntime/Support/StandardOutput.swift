import Foundation

/// Writes lines to standard output immediately (no buffering), so a reader of a pipe sees each
/// line as soon as it is written.
public enum StandardOutput {
    public static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public static func writeLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
