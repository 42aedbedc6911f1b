import Foundation
import MFAProtocol
import Testing

@Suite("Request body decoding")
struct RequestBodyDecoderTests {
    func decode(_ text: String) -> Result<RequestBody, RequestBodyError> {
        RequestBodyDecoder.decode(Array(text.utf8))
    }

    @Test(
        "Well-formed bodies",
        arguments: [
            (#"{"account": "sf-automation-eu", "min_validity_ms": 5000}"#, RequestBody(account: "sf-automation-eu", minValidityMilliseconds: 5000)),
            (#"{"account":"a"}"#, RequestBody(account: "a")),
            (#" {"min_validity_ms": null, "account": "A.b_c@d-9"} "#, RequestBody(account: "A.b_c@d-9")),
            (#"{"account":"a","min_validity_ms":0}"#, RequestBody(account: "a", minValidityMilliseconds: 0)),
            (#"{"account":"a","min_validity_ms":3599000}"#, RequestBody(account: "a", minValidityMilliseconds: 3_599_000)),
            (#"{"account":"a","max_wait_ms":0}"#, RequestBody(account: "a", maxWaitMilliseconds: 0)),
            (
                #"{"max_wait_ms":3600000,"account":"a","min_validity_ms":1}"#,
                RequestBody(account: "a", minValidityMilliseconds: 1, maxWaitMilliseconds: 3_600_000)
            ),
            (#"{"account":"a","max_wait_ms":null}"#, RequestBody(account: "a")),
            (#"{"account":"\u0061cc","future":{"x":[1,2.5e3,true,false,null,"é"]}}"#, RequestBody(account: "acc")),
            (#"{"\u0061ccount":"a"}"#, RequestBody(account: "a")),
            ("{\"account\":\"a\",\"note\":\"\u{1F600} \\ud83d\\ude00\"}", RequestBody(account: "a")),
        ])
    func wellFormed(text: String, expected: RequestBody) {
        #expect(decode(text) == .success(expected))
    }

    @Test(
        "Malformed bodies, each with its error",
        arguments: [
            ("", RequestBodyError.notJSON(offset: 0)),
            ("not json", .notJSON(offset: 0)),
            (#"["account"]"#, .notAnObject),
            (#""account""#, .notAnObject),
            ("42", .notAnObject),
            ("null", .notAnObject),
            (#"{"account":"a"} {}"#, .notJSON(offset: 16)),
            (#"{"account":"a",}"#, .notJSON(offset: 15)),
            (#"{'account':'a'}"#, .notJSON(offset: 1)),
            (#"{"account":"a","min_validity_ms":NaN}"#, .notJSON(offset: 33)),
            (#"{"account":"a","min_validity_ms":Infinity}"#, .notJSON(offset: 33)),
            (#"{"account":"a","x":01}"#, .notJSON(offset: 20)),
            (#"{"account":"a","account":"b"}"#, .duplicateKey(offset: 15)),
            (#"{"account":"a","\u0061ccount":"b"}"#, .duplicateKey(offset: 15)),
            (#"{"account":"a","x":{"k":1,"k":2}}"#, .duplicateKey(offset: 26)),
            (#"{"min_validity_ms":5000}"#, .accountMissing),
            (#"{}"#, .accountMissing),
            (#"{"account":null}"#, .accountNotString),
            (#"{"account":42}"#, .accountNotString),
            (#"{"account":["a"]}"#, .accountNotString),
            (#"{"account":""}"#, .accountSyntax),
            (#"{"account":"a b"}"#, .accountSyntax),
            (#"{"account":"a/b"}"#, .accountSyntax),
            (#"{"account":"é"}"#, .accountSyntax),
            (#"{"account":"a","min_validity_ms":5000.0}"#, .minValidityNotInteger),
            (#"{"account":"a","min_validity_ms":5e3}"#, .minValidityNotInteger),
            (#"{"account":"a","min_validity_ms":"5000"}"#, .minValidityNotInteger),
            (#"{"account":"a","min_validity_ms":true}"#, .minValidityNotInteger),
            (#"{"account":"a","min_validity_ms":-1}"#, .minValidityOutOfRange),
            (#"{"account":"a","min_validity_ms":3599001}"#, .minValidityOutOfRange),
            (#"{"account":"a","min_validity_ms":99999999999999999999999999}"#, .minValidityOutOfRange),
            (#"{"account":"a","max_wait_ms":1000.0}"#, .maxWaitNotInteger),
            (#"{"account":"a","max_wait_ms":"1000"}"#, .maxWaitNotInteger),
            (#"{"account":"a","max_wait_ms":-1}"#, .maxWaitOutOfRange),
            (#"{"account":"a","max_wait_ms":3600001}"#, .maxWaitOutOfRange),
            (#"{"account":"a","max_wait_ms":-1,"min_validity_ms":-1}"#, .minValidityOutOfRange),
            (#"{"account":"a","x":"\ud800"}"#, .notJSON(offset: 20)),
            (#"{"account":"a","x":"\udc00"}"#, .notJSON(offset: 20)),
            (#"{"account":"a","x":"\q"}"#, .notJSON(offset: 21)),
        ])
    func malformed(text: String, expected: RequestBodyError) {
        #expect(decode(text) == .failure(expected))
    }

    @Test("The account's syntax: 128 characters, not 129")
    func accountLength() {
        let ok = String(repeating: "a", count: 128)
        #expect(decode(#"{"account":"\#(ok)"}"#) == .success(RequestBody(account: ok)))
        #expect(decode(#"{"account":"\#(ok)a"}"#) == .failure(.accountSyntax))
    }

    @Test("Bytes that are not UTF-8, NUL and control characters")
    func bytes() {
        func body(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
        let prefix = Array(#"{"account":"a","x":""#.utf8), suffix = Array(#""}"#.utf8)
        #expect(RequestBodyDecoder.decode(body(prefix, [0xFF], suffix)) == .failure(.invalidUTF8(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0xC0, 0xAF], suffix)) == .failure(.invalidUTF8(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0xED, 0xA0, 0x80], suffix)) == .failure(.invalidUTF8(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0xF4, 0x90, 0x80, 0x80], suffix)) == .failure(.invalidUTF8(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0xE2, 0x82], suffix)) == .failure(.invalidUTF8(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0x00], suffix)) == .failure(.notJSON(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(prefix, [0x0A], suffix)) == .failure(.notJSON(offset: 20)))
        #expect(RequestBodyDecoder.decode(body(Array(#"{"account":"a"}"#.utf8), [0])) == .failure(.notJSON(offset: 15)))
        #expect(RequestBodyDecoder.decode([0xEF, 0xBB, 0xBF] + Array(#"{"account":"a"}"#.utf8)) == .failure(.notJSON(offset: 0)))
    }

    @Test("Nesting is bounded; 4096 bytes is the limit")
    func limits() {
        let deep = #"{"account":"a","x":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        #expect(decode(deep) == .failure(.tooDeep))
        let fine = #"{"account":"a","x":"# + String(repeating: "[", count: 30) + String(repeating: "]", count: 30) + "}"
        #expect(decode(fine) == .success(RequestBody(account: "a")))

        let head = #"{"account":"a","pad":""#
        let exact = head + String(repeating: "x", count: 4096 - head.utf8.count - 2) + #""}"#
        #expect(exact.utf8.count == 4096)
        #expect(decode(exact) == .success(RequestBody(account: "a")))
        let over = head + String(repeating: "x", count: 4097 - head.utf8.count - 2) + #""}"#
        #expect(decode(over) == .failure(.tooLarge(bytes: 4097)))
    }

    @Test("Agrees with Foundation's JSON reader on what is valid, for random mutations")
    func againstFoundation() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [#"{"account":"sf-eu","min_validity_ms":5000,"x":[1,{"y":null}],"s":"a\"b\\u00e9"}"#, #"{"account":"a"}"#]
        let alphabet = Array(#"{}[]:,"\ 0123456789.eE+-truefalsn\u"#.utf8)
        for _ in 0..<3000 {
            var bytes = Array(seeds.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: position)
                default: bytes[position] = alphabet.randomElement(using: &rng)!
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            let ours = RequestBodyDecoder.decode(bytes)
            let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            // Where we call it "not JSON", Foundation must fail too, except for
            // trailing commas, which Foundation's reader accepts and RFC 8259 does not.
            let text = String(decoding: bytes, as: UTF8.self)
            let trailingComma = text.range(of: #",\s*[}\]]"#, options: .regularExpression) != nil
            if case .failure(.notJSON) = ours, !trailingComma {
                #expect(foundation == nil, "we refused valid JSON: \(String(decoding: bytes, as: UTF8.self))")
            }
            // Where Foundation fails, we must not accept.
            if foundation == nil, case .success = ours {
                Issue.record("we accepted invalid JSON: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}

@Suite("Reply bodies")
struct ReplyBodyTests {
    @Test func success() throws {
        var buffer: [UInt8] = []
        ReplyBody.success(
            into: &buffer, account: "sf-automation-eu", code: .init(value: 492_039, digitCount: 6), period: 30,
            window: .init(counter: 58_812_420, period: 30), expiresInMilliseconds: 12_345)
        #expect(
            String(decoding: buffer, as: UTF8.self)
                == #"{"status":"ok","account":"sf-automation-eu","code":"492039","digits":6,"period":30,"window_start":1764372600,"window_end":1764372630,"expires_in_ms":12345}"#
        )
        #expect(try JSONSerialization.jsonObject(with: Data(buffer)) is [String: Any])
    }

    @Test func error() {
        var buffer: [UInt8] = []
        ReplyBody.error(into: &buffer, .rateLimited, message: "over \"the\" limit\n", retryAfterMilliseconds: 250)
        #expect(
            String(decoding: buffer, as: UTF8.self) == #"{"status":"error","error":"rate_limited","message":"over \"the\" limit\u000a","retry_after_ms":250}"#)
        ReplyBody.error(into: &buffer, .forbidden, message: "requester is not allowed this account")
        #expect(String(decoding: buffer, as: UTF8.self) == #"{"status":"error","error":"forbidden","message":"requester is not allowed this account"}"#)
    }
}

/// Replies as a requester reads them, and request bodies as it writes them.
@Suite("Reply reading and request writing")
struct ReplyReaderTests {
    @Test("A code and an error read back; unknown fields are ignored; anything else is not a reply")
    func replies() {
        let ok = Array(
            #"{"status":"ok","account":"sf-eu","code":"492039","digits":6,"period":30,"window_start":1764372600,"window_end":1764372630,"expires_in_ms":12345,"later":[1]}"#
                .utf8)
        #expect(
            ReplyMessage.decode(ok)
                == .code(
                    account: "sf-eu", code: "492039", digits: 6, period: 30, windowStart: 1_764_372_600, windowEnd: 1_764_372_630,
                    expiresInMilliseconds: 12_345,
                    username: nil, pool: nil
                ))
        let pooled = Array(
            #"{"status":"ok","account":"sf-eu-2","pool":"sf-eu","username":"robot2@example.com","code":"492039","digits":6,"period":30,"window_start":1764372600,"window_end":1764372630,"expires_in_ms":12345}"#
                .utf8)
        #expect(
            ReplyMessage.decode(pooled)
                == .code(
                    account: "sf-eu-2", code: "492039", digits: 6, period: 30, windowStart: 1_764_372_600, windowEnd: 1_764_372_630,
                    expiresInMilliseconds: 12_345, username: "robot2@example.com", pool: "sf-eu"))
        let busy = Array(#"{"status":"error","error":"busy","message":"ask \"later\"","retry_after_ms":17655}"#.utf8)
        #expect(ReplyMessage.decode(busy) == .error(kind: "busy", message: #"ask "later""#, retryAfterMilliseconds: 17_655))
        #expect(ReplyMessage.decode(Array(#"{"status":"ok"}"#.utf8)) == .accepted, "a login outcome's answer")
        #expect(ReplyMessage.decode(Array(#"{"status":"ok","code":"123456"}"#.utf8)) == nil, "half a code")
        for text in [#"{"status":"error"}"#, #"{"status":"ok","status":"error","error":"x"}"#, "[]", "", #"{"status":"maybe"}"#] {
            #expect(ReplyMessage.decode(Array(text.utf8)) == nil, "\(text)")
        }
    }

    @Test("A request body: the account escaped, the numbers when set, max_wait_ms within an hour; it reads back")
    func requestBody() throws {
        #expect(String(decoding: RequestBody(account: "sf-eu").encoded(), as: UTF8.self) == #"{"account":"sf-eu"}"#)
        let body = RequestBody(account: "sf-eu", minValidityMilliseconds: 5000, maxWaitMilliseconds: 9_000_000).encoded()
        #expect(String(decoding: body, as: UTF8.self) == #"{"account":"sf-eu","min_validity_ms":5000,"max_wait_ms":3600000}"#)
        #expect(try RequestBodyDecoder.decode(body).get() == RequestBody(account: "sf-eu", minValidityMilliseconds: 5000, maxWaitMilliseconds: 3_600_000))
    }
}
