import Foundation
import Testing
@testable import GridHubCore

@Suite("Model: personal data is masked unless explicitly disclosed")
struct ModelPersonalDataTests {
    func json<T: Encodable>(_ value: T, _ disclosure: PersonalDataDisclosure = .mask) throws -> String {
        String(decoding: try GridHubJSON.encoder(disclosingPersonalData: disclosure).encode(value), as: UTF8.self)
    }

    @Test("phone numbers and names: masked in JSON, description, interpolation and dumps")
    func maskedEverywhere() throws {
        let phone = PhoneNumber("13812345678")
        let name = PersonName("张先生")
        #expect(phone.masked == "138****5678")
        #expect(name.masked == "张**")
        #expect("\(phone) \(name)" == "138****5678 张**")
        #expect(String(reflecting: phone) == "PhoneNumber(138****5678)")
        let reporter = Reporter(kind: .citizen, name: name, phone: phone)
        var dump = ""
        Swift.dump(reporter, to: &dump)
        #expect(!dump.contains("13812345678") && !dump.contains("张先生") && dump.contains("138****5678"), "\(dump)")
        let text = try json(reporter)
        #expect(text.contains("\"138****5678\"") && text.contains("\"张**\""))
        #expect(!text.contains("13812345678") && !text.contains("张先生"))
        #expect(!"\(reporter)".contains("13812345678"))
    }

    @Test("revealed only when the encoder explicitly discloses, never for anonymous reporters")
    func disclosure() throws {
        let reporter = Reporter(kind: .citizen, name: PersonName("张先生"), phone: PhoneNumber("13812345678"))
        let revealed = try json(reporter, .reveal)
        #expect(revealed.contains("13812345678") && revealed.contains("张先生"))

        let anonymous = Reporter(kind: .citizen, name: PersonName("张先生"), phone: PhoneNumber("13812345678"), anonymous: true)
        let stillMasked = try json(anonymous, .reveal)
        #expect(!stillMasked.contains("13812345678") && stillMasked.contains("138****5678"))

        // An encoder someone built by hand, without the key, masks.
        let plain = String(decoding: try JSONEncoder().encode(reporter), as: UTF8.self)
        #expect(!plain.contains("13812345678"))

        // A dispatch to a department that needs the data carries it; the same dispatch masked does not.
        let dispatch = try #require(ModelFixtures.dispatches().first { !$0.contacts.isEmpty && !$0.contacts[0].anonymous && $0.contacts[0].phone != nil })
        let clear = try #require(dispatch.contacts[0].phone?.revealed)
        #expect(try json(dispatch, .reveal).contains(clear))
        #expect(try !json(dispatch).contains(clear))
    }

    @Test("a masked value decoded back stays masked, even under disclosure")
    func maskedOnly() throws {
        let data = try GridHubJSON.encoder().encode(PhoneNumber("13812345678"))
        let decoded = try GridHubJSON.decoder().decode(PhoneNumber.self, from: data)
        #expect(decoded.revealed == nil && decoded.masked == "138****5678")
        #expect(try json(decoded, .reveal) == "\"138****5678\"")
        #expect(PersonName("王某").masked == "王*")
        #expect(PersonName("李*").revealed == nil)
        #expect(PersonName("欧*明").revealed == nil && PersonName("欧*明").masked == "欧*明", "a mask anywhere in the name")
        #expect(PhoneNumber("138****5678").revealed == nil && PhoneNumber("138****5678").masked == "138****5678")
        #expect(PersonName("王").masked == "*")
    }

    @Test("phone masking shapes", arguments: [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "+86138****5678"),
        ("0510-86123456", "0510-****3456"),
        ("１３８１２３４５６７８", "138****5678"),
        ("12345", "***45"),
    ])
    func phoneShapes(raw: String, masked: String) {
        #expect(PhoneNumber(raw).masked == masked)
    }

    @Test("phone numbers inside free text are masked; ids, grid codes and dates are not", arguments: [
        ("联系电话13812345678，谢谢", "联系电话138****5678，谢谢"),
        ("call 138-1234-5678 or 139 1234 5678.", "call 138-****-5678 or 139 **** 5678."),
        ("座机0510-86123456转2", "座机0510-****3456转2"),
        ("手机+8613912345678", "手机+86139****5678"),
        ("全角１３８１２３４５６７８号", "全角１３８****５６７８号"),
        ("两个13812345678 13912345678", "两个138****5678 139****5678"),
        ("工单JY12345-20261127-000123已受理", "工单JY12345-20261127-000123已受理"),
        ("网格320281001006002，事件ZZ320281001002003-20261127-0042", "网格320281001006002，事件ZZ320281001002003-20261127-0042"),
        ("2026-11-27 09:15:32 金额12000元 WP202611270000123", "2026-11-27 09:15:32 金额12000元 WP202611270000123"),
        ("u13812345678", "u13812345678"),
        ("", ""),
    ])
    func freeText(text: String, expected: String) {
        #expect(PersonalDataMasking.maskPhoneNumbers(in: text) == expected)
    }

    @Test("dead-letter reasons never carry a phone number")
    func deadLetterReason() {
        let headers = DeadLetterHeader.headers(original: [("ce_id", Array("x".utf8))], stage: "router",
                                               reason: "unknown department for caller 13812345678", source: "gridhub.feedback.v1/0/42",
                                               time: ModelFixtures.time())
        let reason = headers.first { $0.key == DeadLetterHeader.reason }.map { String(decoding: $0.value, as: UTF8.self) }
        #expect(reason == "unknown department for caller 138****5678")
        #expect(headers.first?.key == "ce_id")
        #expect(headers.map(\.key).suffix(4) == [DeadLetterHeader.stage, DeadLetterHeader.reason, DeadLetterHeader.source, DeadLetterHeader.time])
    }
}
