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

extension String {
    /// The columns the text takes on a terminal: two for each East Asian wide or full-width character
    /// (汉字, full-width digits and punctuation), none for a combining mark, one for the rest. For
    /// aligning tables that hold department and place names.
    public var terminalColumns: Int {
        unicodeScalars.reduce(0) { width, scalar in
            switch scalar.value {
            case 0x0300...0x036F, 0x200B...0x200F, 0xFE00...0xFE0F: width
            case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
                 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD: width + 2
            default: width + 1
            }
        }
    }

    /// The text followed by spaces up to `columns` terminal columns (``terminalColumns``).
    public func padded(toColumns columns: Int) -> String {
        self + String(repeating: " ", count: max(0, columns - terminalColumns))
    }
}
