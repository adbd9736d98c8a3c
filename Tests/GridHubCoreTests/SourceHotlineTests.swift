import Foundation
import GridHubCore
import Testing

@Suite("12345 hotline documents")
struct SourceHotlineTests {
    @Test("flat XML: entities, character references, CDATA, comments; malformed documents are refused")
    func xml() throws {
        let doc = try FlatXML.parse("<?xml version=\"1.0\"?>\n<!-- c --><A><B>a &amp; b &lt;c&gt; &#20013;&#x6587;</B><C><![CDATA[<raw> & text]]></C><D/></A>")
        #expect(doc.childText("B") == "a & b <c> 中文")
        #expect(doc.childText("C") == "<raw> & text")
        #expect(doc.childText("D") == "")
        #expect(throws: XMLError.self) { try FlatXML.parse("<A><B></A>") }
        #expect(throws: XMLError.self) { try FlatXML.parse("<A>&bogus;</A>") }
        #expect(throws: XMLError.self) { try FlatXML.parse("<A></A><B/>") }
        #expect(FlatXML.declaredEncoding(Array("<?xml version=\"1.0\" encoding='GBK'?><A/>".utf8)) == "GBK")
    }

    @Test("work order: every field read; invalid values named")
    func workOrder() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?><GDXX><GDBH>JY12345-20261127-000123</GDBH><BBH>2</BBH><LDSJ>2026-11-27 09:15:32</LDSJ>
        <LDRXM>张先生</LDRXM><LDHM>13812345678</LDHM><NMBZ>0</NMBZ><GDLX>投诉</GDLX><SQLB>城乡建设/市容环境/占道经营</SQLB><SQBT></SQBT>
        <SQNR><![CDATA[摊贩 & 夜市]]></SQNR><FSDZ>江阴市澄江街道人民东路１８８号</FSDZ><SFJJ>1</SFJJ><BLSX></BLSX>
        <FJLB><FJ><WJM>a.jpg</WJM><URL>https://x/a.jpg</URL></FJ><FJ><WJM>b.jpg</WJM><URL>https://x/b.jpg</URL></FJ></FJLB><BZ>备注</BZ></GDXX>
        """
        let order = try Hotline12345.WorkOrder(xml: xml)
        #expect(order.version == 2 && order.urgent && order.timeLimitDays == nil && order.title.isEmpty)
        #expect(order.content == "摊贩 & 夜市" && order.attachments.count == 2 && order.remarks == "备注")
        #expect(RFC3339.format(order.calledAt) == "2026-11-27T09:15:32+08:00")
        #expect(try Hotline12345.WorkOrder(xml: order.xml()) == order)
        // BLSX: the time limit in working days travels on the incident (none when empty).
        #expect(order.incident(reference: ReferenceTestData.data, receivedAt: Date()).source.timeLimitWorkingDays == nil)
        let limited = try Hotline12345.WorkOrder(xml: xml.replacingOccurrences(of: "<BLSX></BLSX>", with: "<BLSX>5</BLSX>"))
        #expect(limited.timeLimitDays == 5 && limited.incident(reference: ReferenceTestData.data, receivedAt: Date()).source.timeLimitWorkingDays == 5)
        for (bad, field) in [("<BBH>2</BBH>", "BBH"), ("<GDLX>投诉</GDLX>", "GDLX"), ("<LDSJ>2026-11-27 09:15:32</LDSJ>", "LDSJ")] {
            let broken = xml.replacingOccurrences(of: bad, with: "<\(field)>x</\(field)>")
            #expect(throws: SourceRecordProblem.self) { try Hotline12345.WorkOrder(xml: broken) }
        }
    }

    @Test("signature is HMAC-SHA256 over timestamp LF body in lowercase hex, fed in any chunks; only the exact signature matches")
    func signature() throws {
        // Computed independently: Python's hmac.new(b"k", b"1795740932\n<A/>", hashlib.sha256).hexdigest()
        let expected = "a56dbbb3c91102ffb20db04ea74f1e7f0df92b52d5a7b8abb79b130e6b70e707"
        #expect(Hotline12345.signature(secret: Array("k".utf8), timestamp: "1795740932", body: Array("<A/>".utf8)) == expected)
        var fed = Hotline12345.Signature(secret: Array("k".utf8), timestamp: "1795740932")
        fed.update(Array("<A".utf8))
        fed.update([])
        fed.update(Array("/>".utf8))
        #expect(fed.hex == expected)
        let raw = try #require(Hotline12345.unhex(expected))
        #expect(fed.matches(raw))
        #expect(!fed.matches(Array(raw.dropLast()) + [raw.last! ^ 1]))
        #expect(!fed.matches(Array(raw.dropLast())))
        #expect(!Hotline12345.Signature(secret: Array("K".utf8), timestamp: "1795740932").matches(raw))
    }

    @Test("one signing key serves every request: signatures begun from it, interleaved and on many tasks at once, are each that request's own")
    func signingKeyShared() async throws {
        let key = Hotline12345.SigningKey(secret: Array("k".utf8))
        var first = Hotline12345.Signature(key: key, timestamp: "1795740932")
        var second = Hotline12345.Signature(key: key, timestamp: "1795740999")
        first.update(Array("<A".utf8))
        second.update(Array("<B/>".utf8))
        first.update(Array("/>".utf8))
        #expect(first.hex == "a56dbbb3c91102ffb20db04ea74f1e7f0df92b52d5a7b8abb79b130e6b70e707")
        #expect(second.hex == Hotline12345.signature(secret: Array("k".utf8), timestamp: "1795740999", body: Array("<B/>".utf8)))
        #expect(first.hex != second.hex)
        let mismatches = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<64 {
                group.addTask {
                    var signature = Hotline12345.Signature(key: key, timestamp: "\(1795740000 + i)")
                    signature.update(Array("<GD>\(i)</GD>".utf8))
                    return signature.hex != Hotline12345.signature(secret: Array("k".utf8), timestamp: "\(1795740000 + i)", body: Array("<GD>\(i)</GD>".utf8))
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(mismatches == 0)
    }

    @Test("the 综治e通 API key is compared whole: a prefix, a longer key or one differing byte is refused")
    func apiKey() {
        let key = Array("elink-key-2026".utf8)
        #expect(Elink.isAPIKey(key, key))
        #expect(!Elink.isAPIKey(Array(key.dropLast()), key))
        #expect(!Elink.isAPIKey(key + [0x31], key))
        #expect(!Elink.isAPIKey(Array("elink-key-2027".utf8), key))
    }

    @Test("status → FKXX: CLZT mapping, CLJG present for 办结, local time")
    func report() throws {
        let at = RFC3339.parse("2026-11-28T14:02:00+08:00")!
        func status(_ s: CaseStatus, note: String?) -> StatusUpdate {
            StatusUpdate(system: .hotline12345, recordId: "JY-1", caseId: "c-1", caseVersion: 3, status: s, department: "urban-mgmt", note: note, at: at)
        }
        #expect(Hotline12345.Report(status: status(.open, note: nil), departmentName: nil) == nil)
        #expect(Hotline12345.Report(status: status(.dispatched, note: nil), departmentName: "市城市综合管理局")?.state == "已签收")
        #expect(Hotline12345.Report(status: status(.inProgress, note: nil), departmentName: "x")?.state == "处理中")
        let done = try #require(Hotline12345.Report(status: status(.resolved, note: "已劝离 & 设牌"), departmentName: "市城市综合管理局"))
        let parsed = try Hotline12345.Report(xml: done.xml)
        #expect(parsed == done && parsed.state == "办结" && parsed.result == "已劝离 & 设牌")
        #expect(done.xml.contains("<FKSJ>2026-11-28 14:02:00</FKSJ>"))
        #expect(try Hotline12345.Report(xml: Hotline12345.Report(status: status(.closed, note: nil), departmentName: "x")!.xml).result.isEmpty == false)
    }
}
