import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// POSTs a JSON alert (`lgperf compare --alert-webhook URL`).
public enum WebhookAlert {
    public struct Delivery: Sendable, Equatable {
        public var statusCode: Int
    }

    /// Sends `body` as `application/json`; a non-2xx answer is an error.
    public static func post(_ body: Data, to url: URL, timeout: TimeInterval = 10) async throws -> Delivery {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ReportError.unusableInput("alert webhook \(url.absoluteString) is not an http(s) URL")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("lgperf", forHTTPHeaderField: "User-Agent")
        request.httpBody = body
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let response: URLResponse
        do { (_, response) = try await session.data(for: request) } catch {
            throw ReportError.io("alert webhook \(url.absoluteString) failed: \(error.localizedDescription)")
        }
        let code = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(code) else {
            throw ReportError.io("alert webhook \(url.absoluteString) answered HTTP \(code)")
        }
        return Delivery(statusCode: code)
    }
}
