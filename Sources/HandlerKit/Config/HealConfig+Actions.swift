import ConsulWatch
import Platform

/// The `defaults` / route `policy` objects and the actions of a route, each error with its JSON path.
extension HealConfig.Parser {
    func policy(_ value: JSONValue, _ path: String, base: PolicySettings) throws(HealConfig.Error) -> PolicySettings {
        let fields = try object(value, path, allowed: ["threshold", "cooldown", "budget", "onStart"])
        var settings = base
        if let threshold = fields["threshold"] {
            let t = try object(threshold, path + ".threshold", allowed: ["deliveries", "duration"])
            settings.threshold = .init(
                deliveries: try int(t["deliveries"], path + ".threshold.deliveries", 1...1000) ?? 1,
                seconds: try duration(t["duration"], path + ".threshold.duration") ?? 0)
        }
        settings.cooldown = try duration(fields["cooldown"], path + ".cooldown") ?? settings.cooldown
        if let budget = fields["budget"] {
            let b = try object(budget, path + ".budget", allowed: ["max", "window", "reset"])
            settings.budget = .init(
                maximum: try int(b["max"], path + ".budget.max", 1...1000) ?? settings.budget.maximum,
                window: try duration(b["window"], path + ".budget.window") ?? settings.budget.window,
                reset: try duration(b["reset"], path + ".budget.reset") ?? settings.budget.reset)
        }
        if let text = try string(fields["onStart"], path + ".onStart") {
            guard let value = PolicySettings.OnStart(rawValue: text) else { throw fail(path + ".onStart", "expected wait or act") }
            settings.onStart = value
        }
        return settings
    }

    func action(_ value: JSONValue, _ path: String, config: HealConfig) throws(HealConfig.Error) -> HealConfig.ActionSpec {
        guard case .object(let raw) = value else { throw fail(path, "expected an object") }
        guard let typeText = try string(raw["type"], path + ".type") else {
            throw fail(path + ".type", "required: jenkins, redeploy, log, external or webhook")
        }
        guard let kind = HealConfig.ActionSpec.Kind(rawValue: typeText) else {
            throw fail(path + ".type", "unknown action type '\(typeText)' (known: jenkins, redeploy, log, external, webhook)")
        }
        let allowed: Set<String>
        switch kind {
        case .jenkins: allowed = ["type", "escalation", "on", "url", "job", "params", "wait"]
        case .redeploy, .external: allowed = ["type", "escalation", "on", "command", "timeout"]
        case .log: allowed = ["type", "file", "format"]
        case .webhook:
            allowed = ["type", "escalation", "on", "url", "urlFile", "preset", "body", "headerFiles", "routingKeyFile", "caFile", "timeout", "retries"]
        }
        let fields = try object(value, path, allowed: allowed)
        var spec = HealConfig.ActionSpec(kind: kind, escalation: try bool(fields["escalation"], path + ".escalation") ?? false)
        if fields["on"] != nil {
            var events: [NotifyEvent] = []
            for (index, text) in try strings(fields["on"], path + ".on").enumerated() {
                guard let event = NotifyEvent(rawValue: text) else { throw fail("\(path).on[\(index)]", "expected act, escalate or resolved") }
                if !events.contains(event) { events.append(event) }
            }
            guard !events.isEmpty else { throw fail(path + ".on", "expected one or more of act, escalate, resolved") }
            if fields["escalation"] != nil { throw fail(path + ".escalation", "give either escalation or on (escalation: true is on: [\"escalate\"])") }
            spec.on = events
        }
        switch kind {
        case .jenkins:
            spec.url = try string(fields["url"], path + ".url") ?? config.jenkins.url
            guard let url = spec.url else { throw fail(path + ".url", "no Jenkins URL here or in $.jenkins.url") }
            do { try JenkinsURL.validate(url) } catch { throw fail(fields["url"] == nil ? "$.jenkins.url" : path + ".url", error.description) }
            let jobText = try string(fields["job"], path + ".job") ?? "{service}"
            do { spec.job = try JenkinsJobTemplate(jobText) } catch {
                throw fail(path + ".job", error.description)
            }
            if let params = fields["params"] {
                guard case .object(let members) = params else { throw fail(path + ".params", "expected an object of NAME: TEMPLATE") }
                var list: [(name: String, value: Template)] = []
                for name in members.keys.sorted() {
                    guard case .string(let text)? = members[name] else { throw fail(path + ".params." + name, "expected a string") }
                    list.append((name, try template(text, path + ".params." + name)))
                }
                spec.parameters = list
            }
            spec.wait = try bool(fields["wait"], path + ".wait") ?? false
        case .redeploy, .external:
            let words = try strings(fields["command"], path + ".command")
            guard let program = words.first, !program.isEmpty else { throw fail(path + ".command", "expected [PROGRAM, ARG...]") }
            var templates: [Template] = []
            for (index, word) in words.enumerated() { templates.append(try template(word, "\(path).command[\(index)]")) }
            spec.command = templates
            spec.timeout = try duration(fields["timeout"], path + ".timeout")
        case .log:
            spec.file = try string(fields["file"], path + ".file")
            if let text = try string(fields["format"], path + ".format") {
                guard let format = LogFormat(rawValue: text) else { throw fail(path + ".format", "expected jsonl, logfmt or text") }
                spec.format = format
            }
        case .webhook:
            try webhook(fields, path, into: &spec)
        }
        return spec
    }

    func webhook(_ fields: [String: JSONValue], _ path: String, into spec: inout HealConfig.ActionSpec) throws(HealConfig.Error) {
        var hook = HealConfig.WebhookSpec()
        if let text = try string(fields["preset"], path + ".preset") {
            guard let preset = WebhookPreset(rawValue: text) else { throw fail(path + ".preset", "expected generic, slack or pagerduty") }
            hook.preset = preset
        }
        spec.url = try string(fields["url"], path + ".url")
        hook.urlFile = try string(fields["urlFile"], path + ".urlFile")
        if spec.url != nil && hook.urlFile != nil { throw fail(path + ".urlFile", "give url or urlFile, not both") }
        if spec.url == nil && hook.urlFile == nil {
            guard hook.preset == .pagerduty else { throw fail(path + ".url", "required (or urlFile, a 0600 file holding the URL)") }
            spec.url = WebhookPreset.pagerDutyURL
        }
        if let url = spec.url {
            if !(url.hasPrefix("http://") || url.hasPrefix("https://")) { throw fail(path + ".url", "must start with http:// or https://") }
            if url.split(separator: "/", maxSplits: 3).dropFirst().first?.contains("@") == true {
                throw fail(path + ".url", "must not carry credentials: use headerFiles")
            }
        }
        if let body = fields["body"] {
            if fields["preset"] != nil { throw fail(path + ".body", "give preset or body, not both") }
            do { hook.body = try BodyTemplate(body) } catch { throw fail(path + ".body", error.description) }
        }
        if let headers = fields["headerFiles"] {
            guard case .object(let members) = headers else { throw fail(path + ".headerFiles", "expected an object of HEADER: FILE") }
            for name in members.keys.sorted() {
                let headerPath = path + ".headerFiles." + name
                let valid =
                    !name.isEmpty
                    && name.unicodeScalars.allSatisfy {
                        $0.isASCII && ($0.properties.isAlphabetic || "!#$%&'*+-.^_`|~0123456789".unicodeScalars.contains($0))
                    }
                guard valid else { throw fail(headerPath, "not a valid header name") }
                guard !["host", "content-length", "content-type", "transfer-encoding", "connection"].contains(name.lowercased()) else {
                    throw fail(headerPath, "consul-heal sets \(name) itself")
                }
                guard let file = try string(members[name], headerPath) else { throw fail(headerPath, "expected a file path") }
                hook.headerFiles.append((name, file))
            }
        }
        hook.routingKeyFile = try string(fields["routingKeyFile"], path + ".routingKeyFile")
        if hook.preset == .pagerduty && hook.body == nil && hook.routingKeyFile == nil {
            throw fail(path + ".routingKeyFile", "required by the pagerduty preset: a 0600 file holding the integration's routing key")
        }
        if hook.routingKeyFile != nil && (hook.preset != .pagerduty || hook.body != nil) {
            throw fail(path + ".routingKeyFile", "used by the pagerduty preset only")
        }
        hook.caFile = try string(fields["caFile"], path + ".caFile")
        hook.requestTimeout = try duration(fields["timeout"], path + ".timeout") ?? hook.requestTimeout
        hook.retries = try int(fields["retries"], path + ".retries", 0...10) ?? hook.retries
        spec.webhook = hook
    }
}
