#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the demo.
#
# The demo starts examples/prefork_workers (a master and 2 workers sharing port 18080 in
# multiprocess mode, the master serving the aggregated /metrics on 19464), drives traffic at it
# on 127.0.0.1, and shows: JSON log lines carrying trace ids, the aggregated metrics, the spans
# of one request, and the metrics surviving a killed worker. Then it stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target prefork_workers o11y_tool quickstart orders_service

bin=build/release
work=$(mktemp -d /tmp/o11y-demo.XXXXXX)
port=18080
metrics_port=19464
master=""
orders=""
cleanup() {
  for pid in $master $orders; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

title() { printf '\n\033[1m=== %s ===\033[0m\n' "$*"; }
pretty() { /usr/bin/python3 -c 'import json,sys
for line in sys.stdin:
    try: print(json.dumps(json.loads(line), indent=None, separators=(", ", ": ")))
    except ValueError: print(line, end="")'; }

title "quickstart: the 20 lines from the README"
"$bin/examples/quickstart"

title "prefork_workers: a master and 2 workers on 127.0.0.1:$port, metrics on :$metrics_port"
# Logs as JSON, spans printed as JSON lines by the console exporter, exported every 200 ms.
O11Y_LOGGING_FORMAT=json OTEL_TRACES_EXPORTER=console OTEL_BSP_SCHEDULE_DELAY=200 \
  O11Y_TRACING_SAMPLE_RATE=1.0 \
  "$bin/examples/prefork_workers" --port $port --metrics-port $metrics_port --workers 2 \
  --dir "$work/multiproc" >"$work/out.jsonl" 2>&1 &
master=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/whoami" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "driving traffic: 20 x GET /orders/ID, 5 x POST /orders"
for i in $(seq 20); do
  curl -sf -H "X-Tenant: tenant-$((i % 3))" "http://127.0.0.1:$port/orders/$i" >/dev/null
done
for _ in $(seq 5); do
  curl -sf -d "" "http://127.0.0.1:$port/orders" >/dev/null
done

# One request continuing a trace we chose, as if a caller upstream had started it.
trace=4bf92f3577b34da6a3ce929d0e0e4736
curl -sf -H "traceparent: 00-$trace-00f067aa0ba902b7-01" -H "X-Tenant: acme" \
  "http://127.0.0.1:$port/orders/42" >/dev/null
sleep 0.6  # one export interval

title "log lines (JSON): the handler's event and the request line share the trace id"
grep '"trace_id":"'$trace'"' "$work/out.jsonl" | pretty

title "the trace of that request: server span and its child, as exported"
grep '"traceId":"'$trace'"' "$work/out.jsonl" | /usr/bin/python3 -c '
import json, sys
kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
for line in sys.stdin:
    s = json.loads(line)
    attrs = {a["key"]: list(a["value"].values())[0] for a in s.get("attributes", [])}
    print("  %-22s span %s  parent %s  %-8s %s" % (repr(s["name"]), s["spanId"],
          s.get("parentSpanId", "-"), kinds.get(s["kind"], "?"), attrs))'

title "aggregated metrics, served by the master (from both workers' files)"
curl -sf "http://127.0.0.1:$metrics_port/metrics" |
  grep -E '^(orders_|http_requests_total|order_pricing_seconds_count)'

title "kill -9 one worker: the master replaces it, and its counts stay in the aggregate"
victim=$(curl -sf "http://127.0.0.1:$port/whoami")
kill -KILL "$victim"
sleep 0.5
grep '"event":"worker_replaced"' "$work/out.jsonl" | pretty
curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep -E '^orders_viewed_total'

title "the same directory through the o11y tool"
"$bin/o11y" metrics --dir "$work/multiproc" | grep -E '^orders_placed_total'

title "stopping"
kill -TERM "$master"
wait "$master" || true
master=""
grep -c '"event":"worker_exited"' "$work/out.jsonl" | xargs echo "worker exits logged:"

title "orders_service: inside a request, its queries (SQLite here) and the job it queues"
orders_port=18090
O11Y_LOGGING_FORMAT=json OTEL_TRACES_EXPORTER=console OTEL_BSP_SCHEDULE_DELAY=100 \
  O11Y_TRACING_SAMPLE_RATE=1.0 \
  "$bin/examples/orders_service" --port $orders_port --sqlite "$work/orders.db" \
  >"$work/orders.jsonl" 2>&1 &
orders=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$orders_port/metrics" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "driving traffic: 5 x POST /orders, GET /orders/1, GET /orders (the N+1 endpoint)"
for _ in $(seq 5); do
  curl -sf -d '{"email":"ann@example.com","total":49.99}' "http://127.0.0.1:$orders_port/orders" >/dev/null
done
curl -sf "http://127.0.0.1:$orders_port/orders/1" >/dev/null
curl -sf "http://127.0.0.1:$orders_port/orders" >/dev/null
sleep 0.6
kill -TERM "$orders"
wait "$orders" || true
orders=""
first=$(grep -m1 '"name":"POST /orders"' "$work/orders.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["traceId"])')
echo "the trace of the first POST /orders, across the service and its job worker:"
grep '"traceId":"'"$first"'"' "$work/orders.jsonl" | /usr/bin/python3 -c '
import json, sys
kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
for line in sys.stdin:
    s = json.loads(line)
    attrs = {a["key"]: list(a["value"].values())[0] for a in s.get("attributes", [])}
    print("  %-28s %-15s %-8s %s" % (repr(s["name"]), s["serviceName"], kinds.get(s["kind"], "?"),
          attrs.get("db.query.text", attrs.get("messaging.message.id", ""))))'
echo "the job's log lines, and the N+1 warning for GET /orders:"
grep -E '"event":"(task_succeeded|n_plus_one_detected)"' "$work/orders.jsonl" | head -2 | pretty
echo "demo finished"
