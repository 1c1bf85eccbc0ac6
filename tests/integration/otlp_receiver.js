// An OTLP/HTTP trace, logs and metrics receiver for the tests, built on the OpenTelemetry JS project's generated
// protobuf types (@opentelemetry/otlp-transformer, installed by the test command), so that what
// our exporter sends is checked by code nobody on this team wrote.
//
//   node otlp_receiver.js NODE_MODULES_DIR OUT_FILE
//
// Listens on 127.0.0.1 on a free port and prints it. Every request is decoded (JSON or
// protobuf, gzip or not) and appended to OUT_FILE as one JSON line: the request as the
// generated types read it, ids in hex. A JSON request whose keys or value types the types do not
// accept is answered 400 and recorded as {"error": ...}.
"use strict";
const http = require("http");
const path = require("path");
const zlib = require("zlib");
const fs = require("fs");

const [modules, outFile] = process.argv.slice(2);
const root = require(path.join(modules, "@opentelemetry/otlp-transformer/build/src/generated/root.js"));
const REQUESTS = {
  "/v1/traces": root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest,
  "/v1/logs": root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest,
  "/v1/metrics": root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest,
};
const toObjectOptions = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };

const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"]);

// OTLP/JSON carries ids as hex; protobuf's canonical JSON (what fromObject reads) as base64.
function mapIds(value, convert) {
  if (Array.isArray(value)) return value.map((v) => mapIds(v, convert));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = ID_KEYS.has(k) && typeof v === "string" ? convert(v) : mapIds(v, convert);
    }
    return out;
  }
  return value;
}
const hexToBase64 = (h) => Buffer.from(h, "hex").toString("base64");
const base64ToHex = (b) => Buffer.from(b, "base64").toString("hex");

// Every key we sent must survive a round trip through the generated types (an unknown or
// misspelt key is silently dropped by fromObject), with the same value.
function differences(sent, back, where, out) {
  // With arrays: true every repeated field comes back, empty when we left it out.
  if (sent === undefined && Array.isArray(back) && back.length === 0) return out;
  if (Array.isArray(sent) || Array.isArray(back)) {
    if (!Array.isArray(sent) || !Array.isArray(back) || sent.length !== back.length) {
      out.push(`${where}: array differs`);
      return out;
    }
    sent.forEach((v, i) => differences(v, back[i], `${where}[${i}]`, out));
    return out;
  }
  if (sent && typeof sent === "object") {
    if (!back || typeof back !== "object") {
      out.push(`${where}: object expected`);
      return out;
    }
    for (const k of new Set([...Object.keys(sent), ...Object.keys(back)])) {
      differences(sent[k], back[k], `${where}.${k}`, out);
    }
    return out;
  }
  if (sent !== back) out.push(`${where}: sent ${JSON.stringify(sent)}, decoded ${JSON.stringify(back)}`);
  return out;
}

function decode(req, body) {
  const Request = REQUESTS[req.url];
  const type = req.headers["content-type"] || "";
  if (type.startsWith("application/x-protobuf")) {
    const msg = Request.decode(body);
    return { encoding: "protobuf", request: mapIds(Request.toObject(msg, toObjectOptions), base64ToHex) };
  }
  if (!type.startsWith("application/json")) throw new Error(`unexpected content-type ${type}`);
  const sent = JSON.parse(body.toString("utf8"));
  const msg = Request.fromObject(mapIds(sent, hexToBase64));
  const back = mapIds(Request.toObject(msg, toObjectOptions), base64ToHex);
  const diff = differences(sent, back, "$", []);
  if (diff.length) throw new Error(diff.slice(0, 5).join("; "));
  return { encoding: "json", request: back };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let record;
    let status = 200;
    try {
      if (req.method !== "POST" || !REQUESTS[req.url]) throw new Error(`${req.method} ${req.url}`);
      let body = Buffer.concat(chunks);
      const gzip = req.headers["content-encoding"] === "gzip";
      if (gzip) body = zlib.gunzipSync(body);
      record = decode(req, body);
      record.gzip = gzip;
      record.path = req.url;
      record.headers = { authorization: req.headers["authorization"] || null, "x-tenant": req.headers["x-tenant"] || null };
    } catch (e) {
      status = 400;
      record = { error: String(e.message || e) };
    }
    fs.appendFileSync(outFile, JSON.stringify(record) + "\n");
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(status === 200 ? "{}" : JSON.stringify({ message: record.error }));
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
