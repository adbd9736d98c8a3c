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
        for (bad, field) in [("<BBH>2</BBH>", "BBH"), ("<GDLX>投诉</GDLX>", "GDLX"), ("<LDSJ>2026-11-27 09:15:32</LDSJ>", "LDSJ")] {
            let broken = xml.replacingOccurrences(of: bad, with: "<\(field)>x</\(field)>")
            #expect(throws: SourceRecordProblem.self) { try Hotline12345.WorkOrder(xml: broken) }
        }
    }

    @Test("signature is HMAC-SHA256 over timestamp LF body, lowercase hex (RFC 4231 vector for the MAC)")
    func signature() {
        let key = [UInt8](repeating: 0x0b, count: 20)
        #expect(Hotline12345.hex(HMACSHA256.authenticationCode(key: key, message: Array("Hi There".utf8)))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        var mac = HMACSHA256.Incremental(key: key)
        mac.update(Array("Hi ".utf8))
        mac.update(Array("There".utf8))
        #expect(Hotline12345.hex(mac.finalize()) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        let s = Hotline12345.signature(secret: Array("k".utf8), timestamp: "1795740932", body: Array("<A/>".utf8))
        #expect(s == Hotline12345.hex(HMACSHA256.authenticationCode(key: Array("k".utf8), message: Array("1795740932\n<A/>".utf8))))
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
