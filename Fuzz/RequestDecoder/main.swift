// libFuzzer target for the request decoder: any bytes in, no crash, no
// hang, and the decoder's promises hold for what it accepts.
// Built and run by scripts/fuzz.sh (swiftc -sanitize=fuzzer,address).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let first = RequestBodyDecoder.decode(bytes)
    switch first {
    case .success(let body):
        // Accepted: within the size limit, a valid account, a bounded value.
        precondition(size <= RequestBody.maxBytes)
        precondition(AccountName.isValid(body.account))
        if let minValidity = body.minValidityMilliseconds {
            precondition(minValidity >= 0 && minValidity <= RequestBody.largestMinValidity)
        }
    case .failure(let error):
        // Refused: with a message that never echoes the input.
        precondition(!error.message.isEmpty && !error.message.contains("\n"))
        if size > RequestBody.maxBytes { precondition(error == .tooLarge(bytes: size)) }
    }
    // Deterministic.
    precondition(RequestBodyDecoder.decode(Array(bytes)) == first)

    // The same bytes as a reply_to: a name classified as the broker's own
    // shape has a node of digits, and its probe name reads back as it.
    let name = "amq.rabbitmq.reply-to." + String(decoding: bytes, as: UTF8.self)
    if case .node(let node) = DirectReplyTo.classify(name) {
        precondition(!node.isEmpty && node.utf8.allSatisfy { (48...57).contains($0) })
        precondition(DirectReplyTo.classify(DirectReplyTo.probeName(node: node)) == .node(node))
    }
    return 0
}
