/// An RFC 4180 CSV reader over already-decoded text: quoted fields may hold commas, doubled quotes
/// and line breaks; lines end in CRLF or LF.
public struct CSVTable: Sendable, Equatable {
    /// One parsed row with the 1-based line number it starts on (line breaks inside fields count).
    public struct Row: Sendable, Equatable {
        public var line: Int
        public var fields: [String]
    }

    public var header: [String]
    public var rows: [Row]

    /// Parses `text`; the first row is the header. Empty lines are skipped.
    public init(parsing text: String) throws(CSVError) {
        var all = try CSVTable.parseRows(text)
        guard !all.isEmpty else { throw CSVError(line: 1, message: "the file is empty: no header row") }
        header = all.removeFirst().fields
        rows = all
    }

    /// Index of each header column by name.
    public func columnIndex(_ name: String) -> Int? { header.firstIndex(of: name) }

    static func parseRows(_ text: String) throws(CSVError) -> [Row] {
        var rows: [Row] = []
        var field = String.UnicodeScalarView()
        var fields: [String] = []
        var inQuotes = false
        var afterQuote = false
        var line = 1
        var rowStart = 1
        var rowHasContent = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil

        func endField() {
            fields.append(String(field))
            field.removeAll(keepingCapacity: true)
        }
        while let c = pending ?? scalars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = scalars.next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; afterQuote = true; pending = n }
                    } else { inQuotes = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case ",":
                endField(); afterQuote = false; rowHasContent = true
            case "\r":
                continue
            case "\n":
                if rowHasContent || !field.isEmpty || !fields.isEmpty {
                    endField()
                    rows.append(Row(line: rowStart, fields: fields))
                }
                fields = []; afterQuote = false; rowHasContent = false
                line += 1; rowStart = line
            case "\"":
                if field.isEmpty && !afterQuote { inQuotes = true; rowHasContent = true } else {
                    throw CSVError(line: line, message: "a quote inside an unquoted field")
                }
            default:
                if afterQuote { throw CSVError(line: line, message: "text after a closing quote") }
                field.append(c); rowHasContent = true
            }
        }
        if inQuotes { throw CSVError(line: rowStart, message: "a quoted field is not closed before the end of the file") }
        if rowHasContent || !field.isEmpty || !fields.isEmpty {
            endField()
            rows.append(Row(line: rowStart, fields: fields))
        }
        return rows
    }
}

/// A CSV syntax error with the line it was found on.
public struct CSVError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// Cuts a CSV byte stream into records without decoding it, so that a large file is read a chunk at a
/// time and costs memory in proportion to its longest row, not its size. A record ends at a line
/// feed outside quotes. Safe for UTF-8 and GBK: neither uses the bytes of `"`, `,`, CR or LF inside a
/// multi-byte character (GBK's trail bytes start at 0x40).
public struct CSVRecordSplitter: Sendable {
    /// One record's bytes (without its line feed) and the 1-based line it starts on.
    public struct Record: Sendable, Equatable {
        public var line: Int
        public var bytes: [UInt8]
        /// Set when the record was longer than the limit: `bytes` holds its first `limit` bytes and the
        /// rest up to the next line feed was skipped.
        public var truncated: Bool
    }

    /// The longest record kept whole.
    public let limit: Int
    private var current: [UInt8] = []
    private var inQuotes = false
    private var line = 1
    private var start = 1
    private var overflowing = false

    public init(limit: Int = 1 << 20) { self.limit = limit }

    /// Feeds the next chunk; returns the records it completed.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [Record] {
        var out: [Record] = []
        for byte in chunk {
            if byte == UInt8(ascii: "\n") {
                line += 1
                // An overlong record ends at the next line feed, quoted or not: a row that never closes its
                // quote must not swallow the rest of the file.
                if !inQuotes || overflowing {
                    out.append(Record(line: start, bytes: current, truncated: overflowing))
                    current.removeAll(keepingCapacity: true)
                    inQuotes = false
                    overflowing = false
                    start = line
                    continue
                }
            }
            if overflowing { continue }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle() }
            if current.count == limit { overflowing = true; continue }
            current.append(byte)
        }
        return out
    }

    /// The last record, if the stream did not end with a line feed.
    public mutating func finish() -> Record? {
        defer { current = []; inQuotes = false; overflowing = false }
        guard !current.isEmpty || overflowing else { return nil }
        return Record(line: start, bytes: current, truncated: overflowing)
    }
}

extension CSVTable {
    /// The fields of one record's text (as cut by ``CSVRecordSplitter`` and decoded); `nil` for an empty line.
    public static func fields(ofRecord text: String, line: Int) throws(CSVError) -> [String]? {
        var rows = try parseRows(text)
        guard !rows.isEmpty else { return nil }
        guard rows.count == 1 else { throw CSVError(line: line + rows[1].line - 1, message: "more than one row in a record") }
        return rows.removeFirst().fields
    }
}
