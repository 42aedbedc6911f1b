import CRabbitMQ

/// Memory for the bytes that one librabbitmq call reads.
///
/// librabbitmq takes `amqp_bytes_t` and C strings by pointer and reads them
/// during the call, so they must outlive the call (a Swift temporary C
/// string does not). The arena copies them into memory it owns, and
/// ``reset()`` after the call makes that memory available again. Steady
/// state allocates nothing: the first chunk is kept.
final class CallArena {
    private var chunks: [UnsafeMutableRawBufferPointer] = []
    private var offset = 0
    private static let chunkSize = 8192

    init() {
        chunks.append(.allocate(byteCount: Self.chunkSize, alignment: 16))
    }

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    /// `count` bytes of scratch memory, aligned to 16, valid until `reset()`.
    func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let aligned = (offset + 15) & ~15
        if aligned + count <= chunks[chunks.count - 1].count {
            offset = aligned + count
            return chunks[chunks.count - 1].baseAddress! + aligned
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: max(Self.chunkSize, count), alignment: 16)
        chunks.append(chunk)
        offset = count
        return chunk.baseAddress!
    }

    /// Makes every allocation since the last reset available again.
    func reset() {
        if chunks.count > 1 {
            for chunk in chunks[1...] { chunk.deallocate() }
            chunks.removeSubrange(1...)
        }
        offset = 0
    }

    func bytes<Bytes: Collection>(_ source: Bytes) -> amqp_bytes_t where Bytes.Element == UInt8 {
        let count = source.count
        guard count > 0 else { return amqp_bytes_t(len: 0, bytes: nil) }
        let pointer = allocate(count)
        let buffer = UnsafeMutableRawBufferPointer(start: pointer, count: count)
        _ = buffer.initializeMemory(as: UInt8.self, from: source)
        return amqp_bytes_t(len: count, bytes: pointer)
    }

    func bytes(_ string: String) -> amqp_bytes_t { bytes(string.utf8) }

    func cString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = string.utf8
        let pointer = allocate(utf8.count + 1)
        let buffer = UnsafeMutableRawBufferPointer(start: pointer, count: utf8.count + 1)
        _ = buffer.initializeMemory(as: UInt8.self, from: utf8)
        buffer[utf8.count] = 0
        return UnsafePointer(pointer.assumingMemoryBound(to: CChar.self))
    }

    func table(_ entries: [(String, FieldValue)]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let size = MemoryLayout<amqp_table_entry_t>.stride * entries.count
        let pointer = allocate(size).bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        for (index, (key, value)) in entries.enumerated() {
            var field = amqp_field_value_t()
            switch value {
            case .string(let text):
                field.kind = UInt8(ascii: "S")
                field.value.bytes = bytes(text)
            case .int(let number):
                field.kind = UInt8(ascii: "l")
                field.value.i64 = number
            case .bool(let flag):
                field.kind = UInt8(ascii: "t")
                field.value.boolean = flag ? 1 : 0
            case .table(let nested):
                field.kind = UInt8(ascii: "F")
                field.value.table = table(nested)
            }
            (pointer + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: pointer)
    }
}
