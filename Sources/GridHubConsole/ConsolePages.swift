import Foundation
import GridHubCore
import GridHubKafka

/// The console's pages, rendered on the server (no script or style from elsewhere; the little script
/// there is polls the console itself so that pages update without a reload).
enum ConsolePages {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        let text = RFC3339.format(date)
        // 2026-12-05T21:03:04.123+08:00 → 2026-12-05 21:03
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    /// An RFC 3339 time as written in a header (`2026-12-05T21:03:04.123+08:00`), to the second on one
    /// line (`2026-12-05 21:03:04`); anything else as it is.
    static func secondsTime(_ text: String) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 19, utf8[10] == UInt8(ascii: "T") else { return text }
        return String(decoding: utf8[0..<10], as: UTF8.self) + " " + String(decoding: utf8[11..<19], as: UTF8.self)
    }

    static let style = """
        body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
        header{background:#17324d;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:center}
        header a{color:#cfe3f7;text-decoration:none} header .who{margin-left:auto;font-size:.9em}
        main{padding:1em 1.2em;display:grid;gap:1em} section{background:#fff;border-radius:6px;padding:.8em 1em;box-shadow:0 1px 2px #0002}
        h1{font-size:1.2em;margin:0} h2{font-size:1.05em;margin:.2em 0 .6em}
        table{border-collapse:collapse;font-size:.9em} td,th{padding:.25em .6em;border-bottom:1px solid #e3e7eb;text-align:left}
        th{background:#eef2f5} td.n{text-align:right;font-variant-numeric:tabular-nums} td.when{white-space:nowrap;font-variant-numeric:tabular-nums}
        .grid-map path{stroke:#fff;stroke-width:.4} .grid-map path.none{fill:#dfe5ea} .grid-map path.few{fill:#9cc9e8}
        .grid-map path.many{fill:#f0b44c} .grid-map path.overdue{fill:#d9473b} .grid-map path.other{fill:#f1f3f5}
        .legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}
        .badge{padding:.1em .5em;border-radius:1em;font-size:.85em;background:#e3e7eb} .badge.overdue{background:#d9473b;color:#fff}
        .flash{padding:.5em 1em;border-radius:4px;background:#e6f4ea} .flash.refused{background:#fbe3e1}
        form.cmd{display:inline-block;margin:.3em 1em .3em 0;padding:.5em;border:1px solid #e3e7eb;border-radius:4px}
        .cols{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1em}
        .stack{display:grid;grid-template-columns:minmax(0,1fr);gap:1em;align-content:start} .wide{overflow-x:auto}
        """

    static func layout(title: String, session: ConsoleSessions.Session?, body: String, script: String = "") -> String {
        var who = ""
        if let session {
            who = """
                <span class="who">\(escape(session.user)) · \(session.scope == .city ? "全市 city" : "镇 " + escape(session.scope.description))
                <form method="post" action="/logout" style="display:inline"><input type="hidden" name="token" value="\(session.formToken)"><button>退出 log out</button></form></span>
                """
        }
        return """
            <!doctype html><html lang="zh"><head><meta charset="utf-8"><title>\(escape(title)) · GridHub 指挥中心</title>
            <meta name="viewport" content="width=device-width,initial-scale=1"><style>\(style)</style></head>
            <body><header><h1>GridHub 指挥中心</h1><a href="/">总览 overview</a><a href="/cases?overdue=1">超期 overdue</a>
            <a href="/stats">考核 assessment</a><a href="/deadletters">死信 dead letters</a>\(who)</header>
            <main>\(body)</main>\(script.isEmpty ? "" : "<script>\(script)</script>")</body></html>
            """
    }

    static func login(error: String?) -> String {
        layout(title: "登录 log in", session: nil, body: """
            <section style="max-width:22em"><h2>登录 log in</h2>\(error.map { "<p class=\"flash refused\">\(escape($0))</p>" } ?? "")
            <form method="post" action="/login"><p><label>用户 user<br><input name="user" id="user" autocomplete="username" required></label></p>
            <p><label>密码 password<br><input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
            <p><button id="login">登录 log in</button></p></form></section>
            """)
    }

    // MARK: overview

    struct Queue: Hashable {
        var department: String
        var level: String
        var open = 0
        var overdue = 0
    }

    static func queues(_ counts: [ConsoleStore.OpenCount]) -> [Queue] {
        var table: [String: Queue] = [:]
        for c in counts {
            let department = c.department ?? "—", level = c.level ?? "—"
            table["\(department)/\(level)", default: Queue(department: department, level: level)].open += c.open
            table["\(department)/\(level)", default: Queue(department: department, level: level)].overdue += c.overdue
        }
        return table.values.sorted { ($0.overdue, $0.open, $1.department) > ($1.overdue, $1.open, $0.department) }
    }

    static func perGrid(_ counts: [ConsoleStore.OpenCount]) -> [String: (open: Int, overdue: Int)] {
        var table: [String: (open: Int, overdue: Int)] = [:]
        for c in counts {
            guard let grid = c.gridCode else { continue }
            table[grid, default: (0, 0)].open += c.open
            table[grid, default: (0, 0)].overdue += c.overdue
        }
        return table
    }

    static func overview(map: GridMap, counts: [ConsoleStore.OpenCount], scope: ConsoleScope, reference: ReferenceData,
                         stats: [Assessment.Row], flags: [ReportMixAnomaly.Flag], session: ConsoleSessions.Session) -> String {
        let grids = perGrid(counts)
        var paths = ""
        paths.reserveCapacity(map.shapes.count * 200)
        for shape in map.shapes {
            let mine = scope.covers(gridCode: shape.gridCode)
            let c = grids[shape.gridCode] ?? (0, 0)
            let cls = mine ? GridMap.colourClass(open: c.open, overdue: c.overdue) : "other"
            paths += "<a href=\"/cases?grid=\(shape.gridCode)\"><path id=\"g\(shape.gridCode)\" class=\"\(cls)\" d=\"\(shape.path)\"><title>\(escape(shape.title)): \(c.open) open, \(c.overdue) overdue</title></path></a>"
        }
        let totalOpen = counts.reduce(0) { $0 + $1.open }, totalOverdue = counts.reduce(0) { $0 + $1.overdue }
        let mapSection = """
            <section><h2>网格 grids · <span id="total-open">\(totalOpen)</span> open, <span id="total-overdue">\(totalOverdue)</span> overdue</h2>
            <svg class="grid-map" id="grid-map" viewBox="0 0 \(Int(map.width)) \(Int(map.height))" width="100%" role="img" aria-label="map of the grids">\(paths)</svg>
            <p class="legend"><span style="background:#dfe5ea"></span>none<span style="background:#9cc9e8"></span>1–2 open<span style="background:#f0b44c"></span>3+ open<span style="background:#d9473b"></span>overdue</p></section>
            """
        return layout(title: "总览 overview", session: session, body: """
            <div class="cols">\(mapSection)<div class="stack">
            <section class="wide"><h2>队列 queues (department / level)</h2><div id="queues">\(queueTable(queues(counts), reference: reference))</div></section>
            <section class="wide"><h2>考核 last 30 days</h2>\(statsTable(stats, compact: true))<p><a href="/stats">more…</a></p></section>
            <section class="wide"><h2>异常 report-mix anomalies</h2>\(flagsTable(flags, reference: reference))</section>
            </div></div>
            """, script: overviewScript)
    }

    static func queueTable(_ queues: [Queue], reference: ReferenceData) -> String {
        guard !queues.isEmpty else { return "<p>No open cases.</p>" }
        var rows = ""
        for q in queues {
            let name = reference.department(code: q.department)?.nameZh ?? q.department
            let link = "/cases?department=\(q.department)&level=\(q.level)"
            rows += "<tr><td><a href=\"\(escape(link))\">\(escape(name))</a></td><td>\(escape(q.level))</td><td class=\"n\">\(q.open)</td><td class=\"n\">\(q.overdue > 0 ? "<span class=\"badge overdue\">\(q.overdue)</span>" : "0")</td></tr>"
        }
        return "<table id=\"queue-table\"><tr><th>department</th><th>level</th><th>open</th><th>overdue</th></tr>\(rows)</table>"
    }

    static let overviewScript = """
        async function refresh(){try{const r=await fetch('/api/overview',{credentials:'same-origin'});if(!r.ok)return;const d=await r.json();
        for(const p of document.querySelectorAll('#grid-map path')){const c=d.grids[p.id.slice(1)];if(c!==undefined&&!p.classList.contains('other'))p.setAttribute('class',c);}
        document.getElementById('total-open').textContent=d.open;document.getElementById('total-overdue').textContent=d.overdue;
        document.getElementById('queues').innerHTML=d.queues;}catch(e){}}
        setInterval(refresh,3000);
        """

    // MARK: cases

    /// A department works on it and its due date has passed.
    static func isOverdue(_ c: Case, now: Date) -> Bool {
        [.dispatched, .accepted, .inProgress].contains(c.status) && (c.dueAt.map { $0 < now } ?? false)
    }

    static func caseList(_ cases: [Case], title: String, reference: ReferenceData, now: Date, session: ConsoleSessions.Session) -> String {
        var rows = ""
        for c in cases {
            let overdue = isOverdue(c, now: now) ? " <span class=\"badge overdue\">overdue</span>" : ""
            rows += """
                <tr><td><a href="/cases/\(escape(c.caseId))">\(escape(String(c.caseId.prefix(12))))</a></td><td>\(escape(c.status.rawValue))\(overdue)</td>
                <td>\(escape(c.itemCode.flatMap { reference.item(code: $0)?.nameZh } ?? "—"))</td><td>\(escape(c.gridCode.flatMap { reference.grid(code: $0)?.name } ?? "—"))</td>
                <td>\(escape(c.department.flatMap { reference.department(code: $0)?.nameZh } ?? "—"))</td><td>\(escape(c.level?.rawValue ?? "—"))</td>
                <td>\(time(c.dueAt))</td><td class="n">\(c.reports.count)</td></tr>
                """
        }
        return layout(title: title, session: session, body: """
            <section><h2>\(escape(title)) · \(cases.count)</h2><table id="case-list"><tr><th>case</th><th>status</th><th>item</th><th>grid</th><th>department</th><th>level</th><th>due</th><th>reports</th></tr>\(rows)</table></section>
            """)
    }

    static func casePage(_ c: Case, reference: ReferenceData, now: Date, flash: String, session: ConsoleSessions.Session) -> String {
        let departments = reference.departments.map { "<option value=\"\($0.code)\">\(escape($0.nameZh)) (\($0.code))</option>" }.joined()
        let token = "<input type=\"hidden\" name=\"token\" value=\"\(session.formToken)\">"
        let action = "/cases/\(escape(c.caseId))/commands"
        let commands = """
            <section><h2>指令 commands</h2>
            <form class="cmd" method="post" action="\(action)">\(token)<input type="hidden" name="command" value="assign"><select name="department" id="assign-department">\(departments)</select>
            <input name="message" placeholder="note"><button id="assign">交办 assign</button></form>
            <form class="cmd" method="post" action="\(action)">\(token)<input type="hidden" name="command" value="reassign"><select name="department">\(departments)</select><button id="reassign">改派 reassign</button></form>
            <form class="cmd" method="post" action="\(action)">\(token)<input type="hidden" name="command" value="supervise"><input name="message" id="supervise-message" required placeholder="督办 message"><button id="supervise">督办 supervise</button></form>
            <form class="cmd" method="post" action="\(action)">\(token)<input type="hidden" name="command" value="due"><input name="due" required placeholder="2026-12-08T18:00:00+08:00"><button id="due">改期 due</button></form>
            <form class="cmd" method="post" action="\(action)">\(token)<input type="hidden" name="command" value="close"><input name="message" required placeholder="reason"><button id="close">结案 close</button></form>
            </section>
            """
        let live = "/cases/\(c.caseId)/live?\(flash.isEmpty ? "" : "sent=" + flash)"
        return layout(title: "case \(c.caseId)", session: session, body: """
            <div id="live">\(caseLive(c, reference: reference, now: now, outcome: nil))</div>\(commands)
            """, script: """
            const live=\(jsonString(live));let last='';
            async function refresh(){try{const r=await fetch(live,{credentials:'same-origin'});if(!r.ok)return;const t=await r.text();if(t!==last){last=t;document.getElementById('live').innerHTML=t;}}catch(e){}}
            refresh();setInterval(refresh,2000);
            """)
    }

    static func jsonString(_ s: String) -> String {
        let escaped = s.replacingScalars { u in
            switch u {
            case "\"": "\\\""
            case "\\": "\\\\"
            case "<": "\\u003c"
            default: nil
            }
        }
        return "\"" + escaped + "\""
    }

    /// The parts of a case page that change: its state, reports with why they merged, the timeline, and
    /// what became of a command sent from this page.
    static func caseLive(_ c: Case, reference: ReferenceData, now: Date, outcome: (id: String, outcome: CommandPublisher.Outcome)?) -> String {
        var flash = ""
        if let outcome {
            switch outcome.outcome {
            case .pending: flash = "<p class=\"flash\" id=\"outcome\">指令已发送 command sent, waiting for the router…</p>"
            case .applied: flash = "<p class=\"flash\" id=\"outcome\">指令已执行 command applied</p>"
            case .refused(let reason): flash = "<p class=\"flash refused\" id=\"outcome\">指令被拒绝 refused: \(escape(reason))</p>"
            }
        }
        let overdue = isOverdue(c, now: now) ? " <span class=\"badge overdue\" id=\"overdue\">超期 overdue</span>" : ""
        let item = c.itemCode.map { code in "\(code) \(reference.item(code: code)?.nameZh ?? "")" } ?? "unclassified"
        let grid = c.gridCode.map { code in "\(code) \(reference.grid(code: code).map { "\($0.townName) \($0.name)" } ?? "")" } ?? "no grid"
        let department = c.department.map { code in reference.department(code: code)?.nameZh ?? code } ?? "—"
        var reports = ""
        for r in c.reports {
            var why = "opened the case"
            if let m = r.match {
                let distance = m.distanceMeters.map { String(format: "%.0f m", $0) } ?? "same place (no position)"
                let allowed = m.uncertaintyMeters.map { String(format: " (of %.0f m allowed)", $0 + 100) } ?? ""
                why = "\(distance)\(allowed), \(String(format: "%.1f h", m.timeGapSeconds / 3600)) apart, item: \(m.itemRelation.rawValue), text \(String(format: "%.2f", m.textScore))"
            }
            reports += "<tr><td>\(escape(r.system.rawValue))</td><td class=\"record\">\(escape(r.recordId))</td><td class=\"n\">v\(r.version)</td><td>\(time(r.mergedAt))</td><td>\(escape(why))</td><td>\(r.isActive ? "" : "withdrawn")</td></tr>"
        }
        // How sure the place is: an address match's precision and confidence, how wide the place it names
        // is, and the other grids an ambiguous address could be in.
        var placed = ""
        let positioning = c.location.positioning
        if positioning.method == .addressMatch {
            // A grid worker's event without a fix is placed by the place its text names: it has no address.
            let source = c.location.address.map { "address \(escape($0))" } ?? "placed by the place its text names"
            placed = "<p id=\"placed\">\(source) · matched \(escape(positioning.precision?.rawValue ?? "—")), confidence \(String(format: "%.2f", positioning.confidence ?? 0))"
            if let extent = positioning.extentMeters {
                placed += " · an area: the spot may be up to \(String(format: "%.0f", extent)) m from the point"
            }
            if !positioning.candidates.isEmpty {
                let others = positioning.candidates.map { code in escape("\(code) \(reference.grid(code: code).map { "\($0.townName) \($0.name)" } ?? "")") }
                placed += " · <b>ambiguous</b>, could also be: " + others.joined(separator: "; ")
            }
            placed += "</p>"
        }
        var apart = ""
        for k in c.keptApart {
            let distance = k.distanceMeters.map { String(format: "%.0f m", $0) } ?? "no position"
            apart += "<tr><td><a href=\"/cases/\(escape(k.caseId))\">\(escape(k.caseId))</a></td><td class=\"reason\">\(escape(k.reason.rawValue))</td><td>\(distance) of \(String(format: "%.0f m", k.limitMeters)) allowed, \(String(format: "%.1f h", k.timeGapSeconds / 3600)) apart, item: \(escape(k.itemRelation.rawValue)), text \(String(format: "%.2f", k.textScore))</td></tr>"
        }
        let apartSection = apart.isEmpty ? "" : "<section><h2>未合并 cases nearby it was kept apart from</h2><table id=\"kept-apart\"><tr><th>case</th><th>why not</th><th>evidence</th></tr>\(apart)</table></section>"
        var timeline = ""
        for h in c.history.reversed() {
            let whereTo = [h.department.map { reference.department(code: $0)?.nameZh ?? $0 }, h.level?.rawValue].compactMap { $0 }.joined(separator: " / ")
            timeline += "<tr><td>\(time(h.at))</td><td class=\"event\">\(escape(h.event.rawValue))</td><td>\(escape(h.from?.rawValue ?? ""))→\(escape(h.to.rawValue))</td><td>\(escape(whereTo))</td><td>\(h.dueAt.map { "due " + time($0) } ?? "")</td><td>\(escape(h.note.map(PersonalDataMasking.maskPhoneNumbers(in:)) ?? ""))\(h.commandId != nil ? " (command)" : "")</td></tr>"
        }
        return """
            \(flash)<section><h2>案件 case \(escape(c.caseId))</h2>
            <p>status <b id="status">\(escape(c.status.rawValue))</b>\(overdue) · <span id="department">\(escape(department))</span> \(escape(c.level?.rawValue ?? "")) · due \(time(c.dueAt)) · version \(c.version)</p>
            <p>\(escape(item)) · \(escape(grid))</p>\(placed)<p>\(escape(c.description))</p>\(c.recurrenceOf.map { "<p>recurrence of <a href=\"/cases/\(escape($0))\">\(escape($0))</a></p>" } ?? "")</section>
            <section><h2>来源 reports (\(c.reports.count)) and why they merged</h2><table id="reports"><tr><th>source</th><th>record</th><th>version</th><th>merged</th><th>evidence</th><th></th></tr>\(reports)</table></section>\(apartSection)
            <section><h2>时间线 timeline</h2><table id="timeline"><tr><th>at</th><th>event</th><th>status</th><th>where</th><th>due</th><th>note</th></tr>\(timeline)</table></section>
            """
    }

    // MARK: assessment, anomalies, dead letters

    static func statsTable(_ rows: [Assessment.Row], compact: Bool) -> String {
        func rate(_ r: Double?) -> String { r.map { String(format: "%.1f%%", $0 * 100) } ?? "—" }
        var body = ""
        for r in rows {
            body += "<tr><td>\(escape(r.name.isEmpty ? "— (\(r.group.isEmpty ? "none" : r.group))" : r.name))</td><td class=\"n\">\(r.cases)</td><td class=\"n\">\(r.dispatched)</td><td class=\"n\">\(rate(r.responseRate))</td><td class=\"n\">\(rate(r.resolutionRate))</td><td class=\"n\">\(rate(r.satisfactionRate))</td><td class=\"n\">\(r.overdue)</td>"
            if !compact { body += "<td class=\"n\">\(r.returned)</td><td class=\"n\">\(r.reopened)</td><td class=\"n\">\(r.medianHoursToResolve.map { String(format: "%.1f", $0) } ?? "—")</td><td class=\"n\">\(r.p90HoursToResolve.map { String(format: "%.1f", $0) } ?? "—")</td>" }
            body += "</tr>"
        }
        let extra = compact ? "" : "<th>returned</th><th>reopened</th><th>median h</th><th>p90 h</th>"
        return "<table class=\"stats\"><tr><th>name</th><th>cases</th><th>dispatched</th><th>响应率</th><th>办结率</th><th>满意率</th><th>overdue</th>\(extra)</tr>\(body)</table>"
    }

    static func statsPage(_ rows: [Assessment.Row], by: Assessment.Grouping, days: Int, session: ConsoleSessions.Session) -> String {
        let links = Assessment.Grouping.allCases.map { "<a href=\"/stats?by=\($0.rawValue)&days=\(days)\">\($0.rawValue)</a>" }.joined(separator: " · ")
        return layout(title: "考核 assessment", session: session, body: """
            <section><h2>考核 assessment by \(by.rawValue), cases first reported in the last \(days) days</h2><p>\(links)</p>\(statsTable(rows, compact: false))
            <p>Definitions: docs/assessment.md.</p></section>
            """)
    }

    static func flagsTable(_ flags: [ReportMixAnomaly.Flag], reference: ReferenceData) -> String {
        guard !flags.isEmpty else { return "<p id=\"anomalies\">No grid or grid worker reports a significantly easier mix than similar grids.</p>" }
        var rows = ""
        for f in flags.prefix(20) {
            rows += "<tr><td>\(escape(f.subjectKind.rawValue))</td><td>\(escape(f.subject))</td><td class=\"n\">\(f.reports)</td><td class=\"n\">\(String(format: "%.0f%%", f.easyShare * 100))</td><td class=\"n\">\(String(format: "%.0f%%", f.baselineEasyShare * 100))</td><td class=\"n\">\(String(format: "%.1f", f.zScore))</td><td class=\"n\">\(String(format: "%.1e", f.pValue))</td><td>\(escape(f.topItems.map { reference.item(code: $0).map { "\($0.code) \($0.nameZh)" } ?? $0 }.joined(separator: ", ")))</td></tr>"
        }
        return "<table id=\"anomalies\"><tr><th>kind</th><th>who</th><th>reports</th><th>easy share</th><th>town baseline</th><th>z</th><th>p (chance)</th><th>most reported</th></tr>\(rows)</table>"
    }

    static func deadLetters(_ records: [ConsumerRecord], flash: String?, session: ConsoleSessions.Session) -> String {
        var rows = ""
        for r in records.suffix(200).reversed() {
            let h = r.headers
            let position = "\(r.partition)@\(r.offset)"
            let replayable = (h.string(DeadLetterHeader.source) ?? "").hasPrefix("gridhub.")
            let action = replayable
                ? "<form method=\"post\" action=\"/deadletters/\(position)/replay\"><input type=\"hidden\" name=\"token\" value=\"\(session.formToken)\"><button>重放 replay</button></form>"
                : "<code>gridhub deadletters replay \(position) --adapter-url …</code>"
            let when = h.string(DeadLetterHeader.time) ?? ""
            rows += "<tr><td>\(position)</td><td class=\"when\" title=\"\(escape(when))\">\(escape(secondsTime(when)))</td><td>\(escape(h.string(DeadLetterHeader.stage) ?? ""))</td><td>\(escape(PersonalDataMasking.maskPhoneNumbers(in: h.string(DeadLetterHeader.reason) ?? "")))</td><td>\(action)</td></tr>"
        }
        return layout(title: "死信 dead letters", session: session, body: """
            \(flash.map { "<p class=\"flash\">\(escape($0))</p>" } ?? "")<section><h2>死信 dead letters · \(records.count) retained</h2>
            <table id="deadletters"><tr><th>position</th><th>time</th><th>stage</th><th>reason</th><th></th></tr>\(rows)</table></section>
            """)
    }
}
