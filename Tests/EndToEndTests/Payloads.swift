import Foundation

/// Small `checks` payloads in the exact shape a Consul agent writes (compact, PascalCase, full
/// Definition, trailing newline), for scenario tests.
enum Payloads {
    struct Check {
        var node = "web-02"
        var checkID: String
        var service = ""
        var status = "critical"
        var output = "HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable"
        var notes = ""
        var modifyIndex: UInt64 = 48391
    }

    static func service(_ name: String, node: String = "web-02", status: String = "critical", output: String = "HTTP GET /health: 503 Service Unavailable")
        -> Check
    {
        Check(node: node, checkID: "service:\(name)", service: name, status: status, output: output)
    }

    static func serviceMaintenance(_ name: String, node: String = "web-02") -> Check {
        Check(
            node: node, checkID: "_service_maintenance:\(name)", service: name, status: "critical", output: "",
            notes: "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.")
    }

    static func checks(_ checks: [Check]) -> [UInt8] {
        let definition =
            #"{"Interval":"10s","Timeout":"2s","DeregisterCriticalServiceAfter":"0s","HTTP":"","Header":null,"Method":"","Body":"","TLSServerName":"","TLSSkipVerify":false,"TCP":"","TCPUseTLS":false,"UDP":"","GRPC":"","OSService":"","GRPCUseTLS":false}"#
        let objects = checks.map { check -> String in
            let tags = check.service.isEmpty ? "[]" : #"["production"]"#
            return
                #"{"Node":\#(quote(check.node)),"CheckID":\#(quote(check.checkID)),"Name":"check","Status":\#(quote(check.status)),"Notes":\#(quote(check.notes)),"Output":\#(quote(check.output)),"ServiceID":\#(quote(check.service)),"ServiceName":\#(quote(check.service)),"ServiceTags":\#(tags),"Type":"http","ExposedPort":0,"Definition":\#(definition),"CreateIndex":24,"ModifyIndex":\#(check.modifyIndex)}"#
        }
        return Array(("[" + objects.joined(separator: ",") + "]\n").utf8)
    }

    static func quote(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
