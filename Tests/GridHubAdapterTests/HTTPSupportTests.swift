import Testing
@testable import GridHubAdapters

/// What the adapters read from a request's headers before the body.
@Suite("HTTP support: the Content-Type's charset")
struct HTTPSupportTests {
    @Test("the charset parameter is found in any case, with white space and quotes around it; without one there is none")
    func charsetParameter() {
        let cases: [(String?, String?)] = [
            ("application/xml; charset=GBK", "GBK"),
            ("application/xml;charset=utf-8", "utf-8"),
            ("text/xml; Charset=\"GB2312\"", "GB2312"),
            ("text/xml ;\tCHARSET = 'gbk' ", "gbk"),
            ("application/xml; boundary=x; charset=GB18030", "GB18030"),
            ("application/xml; charset=", nil),
            ("application/xml; charset", nil),
            ("application/xml; charsets=gbk", nil),
            ("charset=gbk", nil),
            ("application/xml", nil),
            ("", nil),
            (nil, nil),
        ]
        for (contentType, expected) in cases {
            #expect(charset(ofContentType: contentType) == expected, "\(contentType.debugDescription)")
        }
    }
}
