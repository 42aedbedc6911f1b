// libFuzzer target for the bodies of the worker's internal queues (a turn
// request and a record; the guard log's records) and of a robot's login
// outcome: any bytes in, no crash, no hang; what is accepted is in range and
// reads back the same once written again. Built and run by scripts/fuzz.sh.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let request = TurnBody.decodeRequest(bytes) {
        precondition(size <= RequestBody.maxBytes)
        precondition(AccountName.isValid(request.account))
        precondition(!request.requester.utf8.isEmpty && request.requester.utf8.count <= TurnBody.largestNameBytes)
        precondition((0...Int64(RequestBody.largestMinValidity)).contains(request.minValidityMilliseconds))
        precondition((0...Int64(RequestBody.largestMaxWait)).contains(request.maxWaitMilliseconds))
        precondition((0...TurnBody.largestTimestampMilliseconds).contains(request.receivedMilliseconds))
        precondition(TurnBody.decodeRequest(TurnBody.encode(request)) == request)
    }
    if let record = TurnBody.decodeRecord(bytes) {
        precondition(AccountName.isValid(record.account))
        precondition(!record.holder.utf8.isEmpty && record.holder.utf8.count <= TurnBody.largestNameBytes)
        precondition(record.windows.count <= TurnBody.largestWindowCount)
        precondition(record.windows.allSatisfy { $0 <= UInt64(TurnBody.largestTimestampMilliseconds / 1000) })
        precondition(TurnBody.decodeRecord(TurnBody.encode(record)) == record)
    }
    for type in [GuardRecord.handoutType, GuardRecord.outcomeType, GuardRecord.resumeType, GuardRecord.markerType] {
        if let record = GuardRecord.decode(type: type, body: bytes) {
            precondition(size <= GuardRecord.largestBody)
            precondition(record.type == type)
            precondition(GuardRecord.decode(type: type, body: record.encoded()) == record)
        }
    }
    if case .success(let outcome) = LoginOutcome.decode(bytes) {
        precondition(AccountName.isValid(outcome.account))
        precondition((0...TurnBody.largestTimestampMilliseconds / 1000).contains(outcome.windowStart))
        precondition((outcome.reason?.unicodeScalars.count ?? 0) <= LoginOutcome.largestReason)
        precondition(try! LoginOutcome.decode(outcome.encoded()).get() == outcome)
    }
    // Deterministic.
    precondition(TurnBody.decodeRequest(bytes) == TurnBody.decodeRequest(Array(bytes)))
    return 0
}
