import CLibXML2
import Foundation

/// XSD validation through libxml2 (`xmlSchemaValidateDoc`). FoundationXML's
/// `XMLDocument.validate()` only checks DTDs, so the schema check goes to
/// libxml2 directly. Every message libxml2 reports is collected, with its line.
public struct XMLSchemaValidator: Sendable {
    /// A name for messages, e.g. `junit-10.xsd`.
    public let name: String
    private let schemaText: Data

    public init(name: String, schema: Data) {
        self.name = name
        self.schemaText = schema
    }

    public init(name: String, schema: String) {
        self.init(name: name, schema: Data(schema.utf8))
    }

    public init(contentsOf url: URL) throws {
        do { self.init(name: url.path, schema: try Data(contentsOf: url)) } catch {
            throw ReportError.schemaUnusable(schema: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
    }

    /// Returns the problems found; an empty array means the document is valid.
    /// Throws when the schema itself cannot be parsed.
    public func problems(in document: Data) throws -> [String] {
        Self.initialise
        let sink = MessageSink()
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        let context = box.toOpaque()
        // Errors raised below the schema and validation contexts (plain XML
        // parse errors, of the schema text too) go through the thread's
        // structured-error handler: collect them for the whole call instead of
        // letting libxml2 print them to stderr.
        // The thread's previous handler (FoundationXML may have one) is restored.
        let savedHandler = __xmlStructuredError().pointee
        let savedContext = __xmlStructuredErrorContext().pointee
        xmlSetStructuredErrorFunc(context, collectMessage)
        defer { xmlSetStructuredErrorFunc(savedContext, savedHandler) }

        // Parse the schema.
        let parserContext: xmlSchemaParserCtxtPtr? = schemaText.withUnsafeBytes { raw in
            xmlSchemaNewMemParserCtxt(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard let parserContext else { throw ReportError.schemaUnusable(schema: name, problem: "libxml2 could not create a schema parser") }
        defer { xmlSchemaFreeParserCtxt(parserContext) }
        xmlSchemaSetParserStructuredErrors(parserContext, collectMessage, context)
        guard let schema = xmlSchemaParse(parserContext) else {
            throw ReportError.schemaUnusable(schema: name, problem: sink.messages.isEmpty ? "not a valid XML schema" : sink.messages.joined(separator: "; "))
        }
        defer { xmlSchemaFree(schema) }
        sink.messages.removeAll()

        // Parse the document.
        let doc: xmlDocPtr? = document.withUnsafeBytes { raw in
            xmlReadMemory(raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count), "report.xml", "UTF-8",
                          Int32(XML_PARSE_NONET.rawValue))
        }
        guard let doc else {
            return sink.messages.isEmpty ? ["the document is not well-formed XML"] : sink.messages
        }
        defer { xmlFreeDoc(doc) }

        guard let validContext = xmlSchemaNewValidCtxt(schema) else {
            throw ReportError.schemaUnusable(schema: name, problem: "libxml2 could not create a validation context")
        }
        defer { xmlSchemaFreeValidCtxt(validContext) }
        xmlSchemaSetValidStructuredErrors(validContext, collectMessage, context)
        let result = xmlSchemaValidateDoc(validContext, doc)
        if result == 0 { return [] }
        if sink.messages.isEmpty {
            return [result < 0 ? "libxml2 internal error while validating (code \(result))" : "\(result) validation error(s)"]
        }
        return sink.messages
    }

    /// Throws `ReportError.invalidReport` listing every problem.
    public func validate(_ document: Data) throws {
        let found = try problems(in: document)
        if !found.isEmpty { throw ReportError.invalidReport(schema: name, problems: found) }
    }

    /// libxml2 must be initialised once before use from several threads.
    private static let initialise: Void = { xmlInitParser() }()
}

private final class MessageSink: @unchecked Sendable {
    // Only touched from the thread running `problems(in:)`, which owns the sink.
    var messages: [String] = []
}

private func collectMessage(_ context: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let context, let error else { return }
    let sink = Unmanaged<MessageSink>.fromOpaque(context).takeUnretainedValue()
    var text = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
    while text.hasSuffix("\n") { text.removeLast() }
    let line = error.pointee.line
    sink.messages.append(line > 0 ? "line \(line): \(text)" : text)
}
