#!/usr/bin/env python3
"""Generate a Consul `checks` watch payload for the benchmarks, on stdout.

The bytes are what a Consul CE agent (~1.20) writes on a watch handler's stdin:
`json.NewEncoder(w).Encode(checks)` of `[]*api.HealthCheck`, i.e.

* compact JSON with one trailing newline;
* PascalCase fields in the Go struct's declaration order (Node, CheckID, Name,
  Status, Notes, Output, ServiceID, ServiceName, ServiceTags, Type,
  ExposedPort, Definition, CreateIndex, ModifyIndex);
* the full `Definition` object (HealthCheckDefinition.MarshalJSON: durations
  as Go strings such as "10s", then every embedded field);
* Go's HTML escaping: < > & as \\u003c \\u003e \\u0026 (and U+2028/U+2029).

Cluster shape (type `checks`, state `any`): every node has `serfHealth` plus
3 HTTP service checks; 1 % of the service checks are critical, and a critical
check's Output carries the HTML body of a 503, as an HTTP check records it.
About 580 bytes per check, so 40,000 checks are about 23 MB. Sorted by node,
then CheckID, as the health endpoint returns them.

With `--state critical` the payload is what a `state: critical` watch receives
during an incident: N critical service checks, one per node, the service names
cycling through `--services` names (`--state critical --checks 500
--services 500` is "500 services failing at once").

Examples
  python3 gen_checks.py --checks 40000 > /tmp/checks-40k.json
  python3 gen_checks.py --checks 10 --critical-count 1
  python3 gen_checks.py --state critical --checks 500 --services 500
  python3 gen_checks.py --checks 10000 --services 500 --critical-count 100

The output depends only on the options (the default seed is 7).
"""

import argparse
import json
import random
import sys
from collections import OrderedDict

BASE_NAMES = ["web", "api", "worker", "cache", "search", "billing", "auth", "gateway"]
TAGS = ["production", "v2"]
HTML_503 = ("<html><body><h1>503 Service Unavailable</h1>\n"
            "No server is available to handle this request.\n</body></html>")


def go_encode(value):
    """json.Encoder.Encode: compact, HTML-escaped, newline-terminated."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text + "\n"


def definition(interval="0s", timeout="0s", http=""):
    """api.HealthCheckDefinition as its MarshalJSON writes it."""
    return OrderedDict([
        ("Interval", interval), ("Timeout", timeout), ("DeregisterCriticalServiceAfter", "0s"),
        ("HTTP", http), ("Header", None), ("Method", ""), ("Body", ""),
        ("TLSServerName", ""), ("TLSSkipVerify", False), ("TCP", ""), ("TCPUseTLS", False),
        ("UDP", ""), ("GRPC", ""), ("OSService", ""), ("GRPCUseTLS", False),
    ])


def health_check(node, check_id, name, status, output, service="", tags=(), check_type="",
                 defn=None, create_index=1, modify_index=1):
    """api.HealthCheck, CE agent (no Namespace/Partition), field order of the Go struct."""
    return OrderedDict([
        ("Node", node), ("CheckID", check_id), ("Name", name), ("Status", status),
        ("Notes", ""), ("Output", output), ("ServiceID", service), ("ServiceName", service),
        ("ServiceTags", list(tags)), ("Type", check_type), ("ExposedPort", 0),
        ("Definition", defn if defn is not None else definition()),
        ("CreateIndex", create_index), ("ModifyIndex", modify_index),
    ])


def serf_health(node, index):
    return health_check(node, "serfHealth", "Serf Health Status", "passing",
                        "Agent alive and reachable", create_index=index, modify_index=index)


def service_check(node, ip, port, service, critical, index):
    url = "http://%s:%d/health" % (ip, port)
    if critical:
        output = "HTTP GET %s: 503 Service Unavailable Output: %s" % (url, HTML_503)
    else:
        output = "HTTP GET %s: 200 OK Output: ok" % url
    return health_check(node, "service:" + service, "Service '%s' check" % service,
                        "critical" if critical else "passing", output, service=service, tags=TAGS,
                        check_type="http", defn=definition("10s", "2s", url),
                        create_index=index + 1, modify_index=index + (40000 if critical else 2))


def service_names(count):
    if count <= len(BASE_NAMES):
        return BASE_NAMES[:count]
    return ["%s-%03d" % (BASE_NAMES[i % len(BASE_NAMES)], i // len(BASE_NAMES)) for i in range(count)]


def node_of(i):
    return "node-%05d" % i, "10.%d.%d.%d" % (i // 65536 % 256, i // 256 % 256, i % 256)


def sort_key(check):
    return (check["Node"].lower(), check["CheckID"].lower())


def build_critical(args, names):
    """A `state: critical` delivery: N critical service checks, one per node."""
    checks = []
    for i in range(args.checks):
        node, ip = node_of(i)
        checks.append(service_check(node, ip, 8000 + i % 3, names[i % len(names)], True, 1000 + 3 * i))
    checks.sort(key=sort_key)
    return checks


def build_any(args, names):
    """A `state: any` delivery of exactly N checks (the last node may be cut short)."""
    rnd = random.Random(args.seed)
    per_node = min(args.services_per_node, len(names))
    nodes = -(-args.checks // (1 + per_node))
    # (node, slot, service) of every service check, in payload order.
    layout = []
    for i in range(nodes):
        slots = [(s, names[(i * per_node + s) % len(names)]) for s in range(per_node)]
        slots.sort(key=lambda item: ("service:" + item[1]).lower())
        layout.append(slots)
    # Which service checks survive the cut to N.
    kept = []
    remaining = args.checks
    for i, slots in enumerate(layout):
        remaining -= 1  # serfHealth comes first in each node (serfhealth < service:)
        for s, name in slots:
            if remaining <= 0:
                break
            kept.append((i, s, name))
            remaining -= 1
        if remaining <= 0:
            break

    if args.critical_count is not None:
        critical = set()
        by_service = OrderedDict()
        for position, (_, _, name) in enumerate(kept):
            by_service.setdefault(name, []).append(position)
        services = list(by_service)
        wanted = min(args.critical_count, len(kept))
        # One failing instance on each of `wanted` distinct services while there are enough.
        for name in rnd.sample(services, min(wanted, len(services))):
            critical.add(rnd.choice(by_service[name]))
        others = [p for p in range(len(kept)) if p not in critical]
        critical.update(rnd.sample(others, wanted - len(critical)))
    else:
        critical = {p for p in range(len(kept)) if rnd.random() < args.critical_fraction}

    checks = []
    position = 0
    for i in range(nodes):
        node, ip = node_of(i)
        index = 1000 + 3 * i
        checks.append(serf_health(node, index))
        for s, name in layout[i]:
            if position >= len(kept) or kept[position][0] != i:
                break
            checks.append(service_check(node, ip, 8000 + s, name, position in critical, index))
            position += 1
    return checks[:args.checks]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checks", type=int, default=40000, help="number of checks in the payload (default 40000)")
    p.add_argument("--state", choices=["any", "critical"], default="any",
                   help="any: the whole cluster (default); critical: only failing service checks")
    p.add_argument("--services", type=int, default=len(BASE_NAMES),
                   help="distinct service names (default %d)" % len(BASE_NAMES))
    p.add_argument("--services-per-node", type=int, default=3, help="service checks per node (default 3)")
    p.add_argument("--critical-fraction", type=float, default=0.01,
                   help="state any: probability that a service check is critical (default 0.01)")
    p.add_argument("--critical-count", type=int, default=None,
                   help="state any: exactly this many critical service checks, on distinct services "
                        "as long as there are enough (overrides --critical-fraction)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = p.parse_args()
    if args.checks < 0 or args.services < 1 or args.services_per_node < 1:
        p.error("--checks must be >= 0, --services and --services-per-node >= 1")
    names = service_names(args.services)
    checks = build_critical(args, names) if args.state == "critical" else build_any(args, names)
    sys.stdout.write(go_encode(checks))


if __name__ == "__main__":
    main()
