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
