import Foundation
import Testing
import AgentProtocol
@testable import VMFixtures

/// The Firecracker backend's request bodies checked against Firecracker's own
/// OpenAPI description (shared/reference/firecracker-api.yaml).
@Suite struct FirecrackerAPITests {
    struct Definition { var required: [String] = []; var types: [String: String] = [:]; var enums: [String: [String]] = [:] }

    /// Reads the `definitions:` section by indentation (2: name, 4: required /
    /// properties, 6: items and property names, 8: a property's fields).
    static func definitions(_ yaml: String) -> [String: Definition] {
        var defs: [String: Definition] = [:]
        var inDefinitions = false, current: String?, section = "", property: String?, inEnum = false
        func indent(_ l: Substring) -> Int { l.prefix { $0 == " " }.count }
        for raw in yaml.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            let n = indent(line)
            if n == 0 { inDefinitions = text == "definitions:"; continue }
            guard inDefinitions else { continue }
            switch n {
            case 2: current = String(text.dropLast()); defs[current!] = Definition(); section = ""; property = nil
            case 4: section = String(text.split(separator: ":").first ?? ""); property = nil
            case 6 where section == "required": defs[current!]?.required.append(String(text.dropFirst(2)))
            case 6 where section == "properties": property = String(text.dropLast()); inEnum = false
            case 8 where property != nil:
                if text.hasPrefix("type:") { defs[current!]?.types[property!] = text.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                if text.hasPrefix("$ref:") { defs[current!]?.types[property!] = "ref" }
                inEnum = text.hasPrefix("enum:")
                if inEnum, text.contains("[") {
                    let items = text.drop { $0 != "[" }.dropFirst().prefix { $0 != "]" }
                    defs[current!]?.enums[property!] = items.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
                    inEnum = false
                }
            case 10 where inEnum && text.hasPrefix("- "):
                defs[current!]?.enums[property!, default: []].append(String(text.dropFirst(2)))
            default: break
            }
        }
        return defs
    }

    static let specPath = ProjectPaths.root + "/../shared/reference/firecracker-api.yaml"

    static func spec() throws -> String {
        try String(contentsOfFile: specPath, encoding: .utf8)
    }

    // The spec ships beside the project (../shared/reference), as in CI.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: specPath), "Firecracker's API spec is not beside the project"))
    func bodiesConformToTheSpec() throws {
        let yaml = try Self.spec()
        let defs = Self.definitions(yaml)
        #expect(defs["BootSource"]?.required == ["kernel_image_path"], "the spec reader itself must work")
        let requests = FirecrackerAPI.bootRequests(kernel: "/k", initrd: "/i", rootfs: "/r", memoryMB: 128, bootArgs: "x")
        #expect(requests.map(\.path) == ["/boot-source", "/machine-config", "/drives/rootfs", "/actions"])
        for r in requests {
            let def = try #require(defs[r.definition], "no definition \(r.definition) in the spec")
            let body = try #require(r.body.object)
            for key in def.required { #expect(body[key] != nil, "\(r.path): required \(key) missing") }
            for (key, value) in body {
                let type = try #require(def.types[key], "\(r.path): \(key) is not a property of \(r.definition)")
                switch (type, value) {
                case ("string", .string), ("boolean", .bool): break
                case ("integer", .number(let n)): #expect(n == n.rounded(), "\(key) must be an integer")
                default: Issue.record("\(r.path): \(key) should be \(type), is \(value)")
                }
                if let allowed = def.enums[key], let s = value.string { #expect(allowed.contains(s), "\(key)=\(s) not in \(allowed)") }
            }
            // The path and method exist in the spec.
            let template = r.path.hasPrefix("/drives/") ? "/drives/{drive_id}" : r.path
            let block = yaml.components(separatedBy: "\n  \(template):\n").dropFirst().first?
                .components(separatedBy: "\n  /").first ?? ""
            #expect(("\n" + block).contains("\n    \(r.method.lowercased()):"), "\(r.method) \(template) not in the spec")
        }
    }

    @Test func doctorExplainsWhyFirecrackerCannotRunHere() {
        let a = FirecrackerBackend.availability()
        if !a.usable {
            #expect(!a.detail.isEmpty && a.fix != nil)
            #expect(throws: VMError.self) { try FirecrackerBackend.fromEnvironment() }
        }
    }
}
