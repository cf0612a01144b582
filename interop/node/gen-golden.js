#!/usr/bin/env node
// Golden wire vectors for the STAN client protocol (package `pb`).
//
// Uses node-nats-streaming's own generated protobuf module
// (node-nats-streaming/lib/pb/protocol_pb.js, built on google-protobuf) as an
// implementation independent of ours (prost) to encode every message of
// pb/protocol.proto, and writes one JSON file per message type:
//
//   <outdir>/<MessageName>.json = [
//     { "case": "...", "hex": "<wire bytes>", "fields": { snake_case: value },
//       "unknown_fields": true            // only on non-canonical cases
//     }, ...
//   ]
//
// `fields` always lists EVERY field of the message (defaults included), read
// back by decoding `hex` with google-protobuf. Value encoding in JSON:
// string -> string, bytes -> lowercase hex string, int32/uint32/enum -> number,
// bool -> bool, int64/uint64 -> decimal string (JS numbers lose precision).
//
// Cases marked "unknown_fields": true carry fields with unknown field numbers
// (all wire types), sometimes interleaved with known fields, repeated known
// fields (last one wins) or explicitly encoded default values; re-encoding
// them is not expected to be byte-identical, only the decoded values must
// match. All other cases are canonical: a conforming proto3 encoder must
// produce exactly `hex`.
//
// Output is deterministic (fixed inputs, fixed order); re-running produces
// identical files.
//
// usage: node interop/node/gen-golden.js [OUTDIR]   (default proto/tests/golden)
"use strict";

const fs = require("fs");
const path = require("path");
const jspb = require("google-protobuf");
const { pb } = require("node-nats-streaming/lib/pb/protocol_pb.js");

const OUTDIR = path.resolve(process.argv[2] || path.join(__dirname, "..", "..", "proto", "tests", "golden"));

// ---------------------------------------------------------------------------
// Schema: [snake_case name (as in prost), field number, type] in field order.
// Must agree with proto/proto/protocol.proto (checked against the generated
// JS classes below: every setter/getter must exist).
const SCHEMA = {
  PubMsg: [
    ["client_id", 1, "string"],
    ["guid", 2, "string"],
    ["subject", 3, "string"],
    ["reply", 4, "string"],
    ["data", 5, "bytes"],
    ["conn_id", 6, "bytes"],
    ["sha256", 10, "bytes"],
  ],
  PubAck: [
    ["guid", 1, "string"],
    ["error", 2, "string"],
  ],
  MsgProto: [
    ["sequence", 1, "uint64"],
    ["subject", 2, "string"],
    ["reply", 3, "string"],
    ["data", 4, "bytes"],
    ["timestamp", 5, "int64"],
    ["redelivered", 6, "bool"],
    ["redelivery_count", 7, "uint32"],
    ["crc32", 10, "uint32"],
  ],
  Ack: [
    ["subject", 1, "string"],
    ["sequence", 2, "uint64"],
  ],
  ConnectRequest: [
    ["client_id", 1, "string"],
    ["heartbeat_inbox", 2, "string"],
    ["protocol", 3, "int32"],
    ["conn_id", 4, "bytes"],
    ["ping_interval", 5, "int32"],
    ["ping_max_out", 6, "int32"],
  ],
  ConnectResponse: [
    ["pub_prefix", 1, "string"],
    ["sub_requests", 2, "string"],
    ["unsub_requests", 3, "string"],
    ["close_requests", 4, "string"],
    ["error", 5, "string"],
    ["sub_close_requests", 6, "string"],
    ["ping_requests", 7, "string"],
    ["ping_interval", 8, "int32"],
    ["ping_max_out", 9, "int32"],
    ["protocol", 10, "int32"],
    ["public_key", 100, "string"],
  ],
  Ping: [["conn_id", 1, "bytes"]],
  PingResponse: [["error", 1, "string"]],
  SubscriptionRequest: [
    ["client_id", 1, "string"],
    ["subject", 2, "string"],
    ["q_group", 3, "string"],
    ["inbox", 4, "string"],
    ["max_in_flight", 5, "int32"],
    ["ack_wait_in_secs", 6, "int32"],
    ["durable_name", 7, "string"],
    ["start_position", 10, "enum"],
    ["start_sequence", 11, "uint64"],
    ["start_time_delta", 12, "int64"],
  ],
  SubscriptionResponse: [
    ["ack_inbox", 2, "string"],
    ["error", 3, "string"],
  ],
  UnsubscribeRequest: [
    ["client_id", 1, "string"],
    ["subject", 2, "string"],
    ["inbox", 3, "string"],
    ["durable_name", 4, "string"],
  ],
  CloseRequest: [["client_id", 1, "string"]],
  CloseResponse: [["error", 1, "string"]],
};

const SP = pb.StartPosition; // { NEW_ONLY: 0, LAST_RECEIVED: 1, ... }

// ---------------------------------------------------------------------------
// Helpers.

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);
const I32_MAX = 2147483647;
const I32_MIN = -2147483648;
const U32_MAX = 4294967295;

function fail(msg) {
  throw new Error(msg);
}

function hex(u8) {
  return Buffer.from(u8).toString("hex");
}

function bytes(...parts) {
  const out = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...Buffer.from(p, "utf8"));
    else if (typeof p === "number") out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

function range(n, f) {
  return Uint8Array.from({ length: n }, (_, i) => f(i));
}

function concat(chunks) {
  return Uint8Array.from(Buffer.concat(chunks.map((c) => Buffer.from(c))));
}

function camel(snake) {
  return snake
    .split("_")
    .map((s) => s.charAt(0).toUpperCase() + s.slice(1))
    .join("");
}

const is64 = (t) => t === "uint64" || t === "int64";

function defaultOf(type) {
  switch (type) {
    case "string":
      return "";
    case "bytes":
      return new Uint8Array(0);
    case "bool":
      return false;
    case "uint64":
    case "int64":
      return 0n;
    default:
      return 0;
  }
}

function isDefault(type, v) {
  if (type === "bytes") return v.length === 0;
  return v === defaultOf(type);
}

// Value -> JSON representation used in the golden files.
function jsonValue(type, v) {
  switch (type) {
    case "bytes":
      return hex(v);
    case "uint64":
    case "int64":
      return BigInt(v).toString();
    default:
      return v;
  }
}

// Full spec (all fields) from a partial one; validates names and ranges.
function fullSpec(msg, partial) {
  const schema = SCHEMA[msg];
  for (const k of Object.keys(partial)) {
    if (!schema.some(([n]) => n === k)) fail(`${msg}: unknown field ${k}`);
  }
  const spec = {};
  for (const [name, , type] of schema) {
    const v = name in partial ? partial[name] : defaultOf(type);
    switch (type) {
      case "uint64":
        if (typeof v !== "bigint" || v < 0n || v > U64_MAX) fail(`${msg}.${name}: bad uint64 ${v}`);
        break;
      case "int64":
        if (typeof v !== "bigint" || v < I64_MIN || v > I64_MAX) fail(`${msg}.${name}: bad int64 ${v}`);
        break;
      case "int32":
      case "enum":
        if (!Number.isInteger(v) || v < I32_MIN || v > I32_MAX) fail(`${msg}.${name}: bad int32 ${v}`);
        break;
      case "uint32":
        if (!Number.isInteger(v) || v < 0 || v > U32_MAX) fail(`${msg}.${name}: bad uint32 ${v}`);
        break;
      case "bool":
        if (typeof v !== "boolean") fail(`${msg}.${name}: bad bool ${v}`);
        break;
      case "string":
        if (typeof v !== "string") fail(`${msg}.${name}: bad string ${v}`);
        break;
      case "bytes":
        if (!(v instanceof Uint8Array)) fail(`${msg}.${name}: bad bytes ${v}`);
        break;
      default:
        fail(`bad type ${type}`);
    }
    spec[name] = v;
  }
  return spec;
}

function specJson(msg, spec) {
  const out = {};
  for (const [name, , type] of SCHEMA[msg]) out[name] = jsonValue(type, spec[name]);
  return out;
}

// A 64-bit value that survives the round trip through a JS double exactly.
function exactAsNumber(v) {
  return BigInt(Number(v)) === v;
}

// Encodes one field (non-default) with google-protobuf: via the generated
// class when possible, via BinaryWriter's *String writers for 64-bit values
// a double cannot hold.
function encodeField(msg, name, num, type, v) {
  if (is64(type) && !exactAsNumber(v)) {
    const w = new jspb.BinaryWriter();
    if (type === "uint64") w.writeUint64String(num, v.toString());
    else w.writeInt64String(num, v.toString());
    return w.getResultBuffer();
  }
  const m = new pb[msg]();
  m["set" + camel(name)](is64(type) ? Number(v) : v);
  return m.serializeBinary();
}

// Canonical encoding of a full spec: fields in number order, defaults omitted.
function encodeCanonical(msg, spec) {
  const chunks = [];
  let allExact = true;
  const whole = new pb[msg]();
  for (const [name, num, type] of SCHEMA[msg]) {
    const v = spec[name];
    if (is64(type) && !exactAsNumber(v)) allExact = false;
    if (isDefault(type, v)) continue;
    chunks.push(encodeField(msg, name, num, type, v));
    if (!is64(type) || exactAsNumber(v)) whole["set" + camel(name)](is64(type) ? Number(v) : v);
  }
  const out = concat(chunks);
  // Self-check: the generated serializer of the whole message agrees.
  if (allExact && hex(whole.serializeBinary()) !== hex(out)) {
    fail(`${msg}: per-field encoding differs from serializeBinary`);
  }
  return out;
}

// Decodes `buf` with google-protobuf and returns the JSON `fields` object.
// 64-bit fields are read as decimal strings with BinaryReader (last one wins,
// as for any scalar); everything else via the generated class's getters.
function decodeFields(msg, buf) {
  const m = pb[msg].deserializeBinary(buf);
  const wide = {};
  const reader = new jspb.BinaryReader(buf);
  while (reader.nextField()) {
    const num = reader.getFieldNumber();
    const f = SCHEMA[msg].find(([, n, t]) => n === num && is64(t));
    if (f && reader.getWireType() === 0 /* VARINT */) {
      wide[f[0]] = f[2] === "uint64" ? reader.readUint64String() : reader.readInt64String();
    } else {
      reader.skipField();
    }
  }
  const out = {};
  for (const [name, , type] of SCHEMA[msg]) {
    const getter = "get" + camel(name) + (type === "bytes" ? "_asU8" : "");
    if (typeof m[getter] !== "function") fail(`${msg}: no ${getter} in protocol_pb.js`);
    if (is64(type)) {
      out[name] = name in wide ? BigInt(wide[name]).toString() : "0";
    } else {
      out[name] = jsonValue(type, m[getter]());
    }
  }
  return out;
}

// --- unknown-field chunks (field numbers not used by any pb message) --------

function unkVarint(num, v) {
  const w = new jspb.BinaryWriter();
  w.writeUint64String(num, BigInt(v).toString());
  return w.getResultBuffer();
}
function unkBytes(num, b) {
  const w = new jspb.BinaryWriter();
  w.writeBytes(num, b);
  return w.getResultBuffer();
}
function unkString(num, s) {
  const w = new jspb.BinaryWriter();
  w.writeString(num, s);
  return w.getResultBuffer();
}
function unkFixed32(num, v) {
  const w = new jspb.BinaryWriter();
  w.writeFixed32(num, v);
  return w.getResultBuffer();
}
function unkFixed64(num, v) {
  const w = new jspb.BinaryWriter();
  w.writeFixed64String(num, BigInt(v).toString());
  return w.getResultBuffer();
}
// A group (wire types 3/4, deprecated but legal on the wire) whose body is a
// Ping message {conn_id}; decoders must skip it as a whole.
function unkGroup(num) {
  const w = new jspb.BinaryWriter();
  const inner = new pb.Ping();
  inner.setConnId(bytes("grp\x00"));
  w.writeGroup(num, inner, pb.Ping.serializeBinaryToWriter);
  return w.getResultBuffer();
}

// One chunk per wire type, with large/odd field numbers.
function unknownMix(seed) {
  return [
    unkVarint(15, 150 + seed), // 1-byte tag, 2-byte varint
    unkString(16, "unknown ☃ " + seed), // first 2-byte tag
    unkFixed32(2047, 0xdeadbeef),
    unkFixed64(262143, 0x0123456789abcdefn),
    unkVarint(536870911, U64_MAX), // max field number, 10-byte varint
    unkBytes(99, bytes(0x00, 0xff, 0x80, seed & 0xff)),
  ];
}

// ---------------------------------------------------------------------------
// Cases.

const NON_ASCII = "ünïcødé ✓ 日本語 🚀 \u0000nul";
const BIN = bytes(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x0d, 0x00);
const BIG_DATA = range(300, (i) => (i * 37 + 11) & 0xff); // 2-byte length prefix
const LONG_STR = "subj." + "x".repeat(200); // 2-byte length prefix
const CONN_ID = bytes("hS4cbVJ0IuWk4VpGZzuBkb"); // 22 ASCII bytes, like a NUID
const SHA = range(32, (i) => (i * 73 + 5) & 0xff);

// Canonical cases: [name, partial spec].
const CASES = {
  PubMsg: [
    ["default_empty", {}],
    [
      "all_fields",
      {
        client_id: "client-1",
        guid: "G4SEbwHhDM6WLW0qgAVrxc",
        subject: "orders.eu",
        reply: "_INBOX.reply",
        data: BIN,
        conn_id: CONN_ID,
        sha256: SHA,
      },
    ],
    ["non_ascii_large_data", { client_id: NON_ASCII, guid: "g", subject: LONG_STR, data: BIG_DATA }],
    ["only_conn_id_and_sha256", { conn_id: bytes(0xff), sha256: bytes(0x00) }],
  ],
  PubAck: [
    ["default_empty", {}],
    ["success", { guid: "G4SEbwHhDM6WLW0qgAVrxc" }],
    ["error", { guid: "G1", error: "stan: invalid publish request" }],
    ["non_ascii_error_only", { error: NON_ASCII }],
  ],
  MsgProto: [
    ["default_empty", {}],
    [
      "all_fields",
      {
        sequence: 123456789n,
        subject: "orders.eu",
        reply: "_INBOX.r",
        data: BIN,
        timestamp: 1700000000123456789n,
        redelivered: true,
        redelivery_count: 3,
        crc32: 0xcbf43926,
      },
    ],
    [
      "max_values",
      {
        sequence: U64_MAX,
        subject: NON_ASCII,
        data: BIG_DATA,
        timestamp: I64_MAX,
        redelivered: true,
        redelivery_count: U32_MAX,
        crc32: U32_MAX,
      },
    ],
    ["negative_timestamp", { sequence: 1n, subject: "c", timestamp: -1n }],
    ["min_timestamp_exact_double", { sequence: 1n << 63n, timestamp: I64_MIN }],
    ["large_safe_values", { sequence: 9007199254740991n, timestamp: -9007199254740991n, redelivery_count: 1 }],
    ["first_sequence", { sequence: 1n, subject: "foo", data: bytes("hello"), timestamp: 1n }],
  ],
  Ack: [
    ["default_empty", {}],
    ["typical", { subject: "orders.eu", sequence: 42n }],
    ["max_sequence", { subject: NON_ASCII, sequence: U64_MAX }],
    ["exact_double_sequence", { subject: "s", sequence: 18446744073709549568n }],
  ],
  ConnectRequest: [
    ["default_empty", {}],
    [
      "stan_go_like",
      {
        client_id: "me",
        heartbeat_inbox: "_INBOX.Ed8KJ7Vd9oQcbRgQ1B2T3x",
        protocol: 1,
        conn_id: CONN_ID,
        ping_interval: 5,
        ping_max_out: 88,
      },
    ],
    [
      "int32_extremes",
      {
        client_id: "c-_9",
        heartbeat_inbox: NON_ASCII,
        protocol: -1,
        conn_id: BIN,
        ping_interval: I32_MAX,
        ping_max_out: I32_MIN,
      },
    ],
  ],
  ConnectResponse: [
    ["default_empty", {}],
    [
      "server_0_25_6",
      {
        pub_prefix: "_STAN.pub.test-cluster",
        sub_requests: "_STAN.sub.test-cluster",
        unsub_requests: "_STAN.unsub.test-cluster",
        close_requests: "_STAN.close.test-cluster",
        sub_close_requests: "_STAN.subclose.test-cluster",
        ping_requests: "_STAN.discover.test-cluster.pings",
        ping_interval: 5,
        ping_max_out: 88,
        protocol: 1,
      },
    ],
    ["error_only", { error: "stan: clientID already registered" }],
    [
      "all_fields_extremes",
      {
        pub_prefix: "p",
        sub_requests: "s",
        unsub_requests: "u",
        close_requests: "c",
        error: NON_ASCII,
        sub_close_requests: "sc",
        ping_requests: LONG_STR,
        ping_interval: -5,
        ping_max_out: I32_MAX,
        protocol: I32_MIN,
        public_key: "pk-ü", // field 100: 2-byte tag
      },
    ],
  ],
  Ping: [
    ["default_empty", {}],
    ["conn_id", { conn_id: CONN_ID }],
    ["binary_conn_id", { conn_id: BIG_DATA }],
  ],
  PingResponse: [
    ["default_empty", {}],
    ["error", { error: "client has been replaced or is no longer registered" }],
    ["non_ascii", { error: NON_ASCII }],
  ],
  SubscriptionRequest: [
    ["default_empty", {}],
    [
      "all_fields",
      {
        client_id: "me",
        subject: "orders.eu",
        q_group: "workers",
        inbox: "_INBOX.abc",
        max_in_flight: 1024,
        ack_wait_in_secs: 30,
        durable_name: "dur",
        start_position: SP.TIME_DELTA_START,
        start_sequence: 77n,
        start_time_delta: 60000000000n,
      },
    ],
    ["start_new_only", { client_id: "me", subject: "foo", inbox: "_INBOX.1", max_in_flight: 16384, ack_wait_in_secs: 30, start_position: SP.NEW_ONLY }],
    ["start_last_received", { client_id: "me", subject: "foo", inbox: "_INBOX.1", max_in_flight: 1, ack_wait_in_secs: 1, start_position: SP.LAST_RECEIVED }],
    ["start_time_delta", { client_id: "me", subject: "foo", inbox: "_INBOX.1", max_in_flight: 1, ack_wait_in_secs: 1, start_position: SP.TIME_DELTA_START, start_time_delta: 1500000000n }],
    ["start_sequence", { client_id: "me", subject: "foo", inbox: "_INBOX.1", max_in_flight: 1, ack_wait_in_secs: 1, start_position: SP.SEQUENCE_START, start_sequence: 100n }],
    ["start_first", { client_id: "me", subject: "foo", inbox: "_INBOX.1", max_in_flight: 1, ack_wait_in_secs: 1, start_position: SP.FIRST }],
    [
      "extremes_and_negative",
      {
        client_id: NON_ASCII,
        subject: LONG_STR,
        q_group: "q:ü",
        inbox: "_INBOX.x",
        max_in_flight: -1,
        ack_wait_in_secs: I32_MIN,
        durable_name: "d",
        start_position: SP.SEQUENCE_START,
        start_sequence: U64_MAX,
        start_time_delta: I64_MIN,
      },
    ],
    ["negative_time_delta", { client_id: "me", subject: "foo", start_position: SP.TIME_DELTA_START, start_time_delta: -1n }],
    ["max_time_delta", { start_position: SP.TIME_DELTA_START, start_time_delta: I64_MAX }],
    // proto3 enums are open: an out-of-range value must survive decoding.
    ["unknown_start_position_7", { client_id: "me", subject: "foo", start_position: 7 }],
    ["negative_start_position", { client_id: "me", subject: "foo", start_position: -1 }],
  ],
  SubscriptionResponse: [
    ["default_empty", {}],
    ["ack_inbox", { ack_inbox: "_INBOX.ZB1kT2vX0L6yUpXbVQq9Zp" }],
    ["error", { error: "stan: duplicate durable registration" }],
    ["both_non_ascii", { ack_inbox: NON_ASCII, error: "e" }],
  ],
  UnsubscribeRequest: [
    ["default_empty", {}],
    ["typical", { client_id: "me", subject: "foo", inbox: "_INBOX.ack" }],
    ["all_fields", { client_id: "me", subject: NON_ASCII, inbox: "_INBOX.ack", durable_name: "dur" }],
  ],
  CloseRequest: [
    ["default_empty", {}],
    ["client_id", { client_id: "client-1" }],
    ["long_client_id", { client_id: "c".repeat(200) }],
  ],
  CloseResponse: [
    ["default_empty", {}],
    ["error", { error: "stan: unknown clientID" }],
    ["non_ascii", { error: NON_ASCII }],
  ],
};

// Non-canonical cases (all contain unknown fields): built from per-field
// chunks of a spec interleaved with unknown-field chunks.
function unknownCases(msg) {
  const schema = SCHEMA[msg];
  const canon = CASES[msg];
  // The richest canonical case (most non-default fields).
  let rich = canon[0];
  let richCount = -1;
  for (const c of canon) {
    const s = fullSpec(msg, c[1]);
    const n = schema.filter(([name, , t]) => !isDefault(t, s[name])).length;
    if (n > richCount) {
      rich = c;
      richCount = n;
    }
  }
  const spec = fullSpec(msg, rich[1]);
  const fieldChunks = schema
    .filter(([name, , t]) => !isDefault(t, spec[name]))
    .map(([name, num, t]) => encodeField(msg, name, num, t, spec[name]));
  const out = [];

  // Unknown fields appended after a full message.
  out.push(["unknown_appended", spec, concat([encodeCanonical(msg, spec), ...unknownMix(1)])]);

  // Unknown fields before, between and after the known fields, in reverse
  // field order, plus a group.
  const mix = unknownMix(2);
  const inter = [mix[0], unkGroup(1000)];
  fieldChunks
    .slice()
    .reverse()
    .forEach((c, i) => {
      inter.push(c);
      inter.push(mix[(i + 1) % mix.length]);
    });
  inter.push(...mix);
  out.push(["unknown_interleaved_reversed_with_group", spec, concat(inter)]);

  // Only unknown fields: decodes to the default message.
  out.push(["only_unknown", fullSpec(msg, {}), concat(unknownMix(3))]);

  // Every known field encoded twice (first with a different value; the last
  // one wins) plus explicit default values, with an unknown field in between.
  const firstVals = [];
  for (const [name, num, t] of schema) {
    if (isDefault(t, spec[name])) continue; // nothing later would override it
    let other;
    switch (t) {
      case "string":
        other = "first-" + name;
        break;
      case "bytes":
        other = bytes(0x01, 0x02);
        break;
      case "bool":
        other = true;
        break;
      case "uint64":
      case "int64":
        other = 5n;
        break;
      default:
        other = 9;
    }
    firstVals.push(encodeField(msg, name, num, t, other));
  }
  const explicitDefaults = [];
  for (const [, num, t] of schema) {
    // Default value written explicitly on the wire (proto3 encoders omit it).
    const w = new jspb.BinaryWriter();
    switch (t) {
      case "string":
        w.writeString(num, "x");
        break;
      case "bytes":
        w.writeBytes(num, bytes(0x78));
        break;
      default:
        w.writeUint64String(num, "1");
    }
    // Turn the one-byte payload into an empty/zero payload.
    const buf = Buffer.from(w.getResultBuffer());
    if (t === "string" || t === "bytes") {
      explicitDefaults.push(Uint8Array.from([...buf.subarray(0, buf.length - 2), 0x00]));
    } else {
      explicitDefaults.push(Uint8Array.from([...buf.subarray(0, buf.length - 1), 0x00]));
    }
  }
  // dup: explicit defaults first, then "first" values, unknown, then the real ones.
  out.push([
    "unknown_with_duplicate_and_explicit_default_fields",
    spec,
    concat([...explicitDefaults, ...firstVals, unkFixed32(3000, 7), ...fieldChunks]),
  ]);
  // All fields explicitly zero/empty, plus an unknown: the default message.
  out.push(["unknown_with_explicit_defaults_only", fullSpec(msg, {}), concat([...explicitDefaults, unkFixed64(3001, 1n)])]);
  return out;
}

// ---------------------------------------------------------------------------
// Build, self-check, write.

function checkSchemaAgainstGenerated() {
  for (const [msg, schema] of Object.entries(SCHEMA)) {
    if (typeof pb[msg] !== "function") fail(`protocol_pb.js has no ${msg}`);
    const m = new pb[msg]();
    for (const [name] of schema) {
      if (typeof m["set" + camel(name)] !== "function") fail(`${msg}: no setter for ${name}`);
    }
    // Every field number in the generated toObject is covered by the schema.
    const keys = Object.keys(m.toObject());
    if (keys.length !== schema.length) fail(`${msg}: schema has ${schema.length} fields, generated has ${keys.length}`);
  }
  const want = { NEW_ONLY: 0, LAST_RECEIVED: 1, TIME_DELTA_START: 2, SEQUENCE_START: 3, FIRST: 4 };
  if (JSON.stringify(SP) !== JSON.stringify(want)) fail(`unexpected StartPosition ${JSON.stringify(SP)}`);
}

function build() {
  checkSchemaAgainstGenerated();
  const files = {};
  for (const msg of Object.keys(SCHEMA).sort()) {
    const entries = [];
    const seen = new Set();
    const add = (name, spec, buf, unknown) => {
      if (seen.has(name)) fail(`${msg}: duplicate case ${name}`);
      seen.add(name);
      const want = specJson(msg, spec);
      const got = decodeFields(msg, buf);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        fail(`${msg}/${name}: google-protobuf decodes ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
      const e = { case: name, hex: hex(buf), fields: got };
      if (unknown) e.unknown_fields = true;
      entries.push(e);
    };
    for (const [name, partial] of CASES[msg]) {
      const spec = fullSpec(msg, partial);
      add(name, spec, encodeCanonical(msg, spec), false);
    }
    for (const [name, spec, buf] of unknownCases(msg)) add(name, spec, buf, true);
    files[msg] = entries;
  }
  return files;
}

function main() {
  const files = build();
  fs.mkdirSync(OUTDIR, { recursive: true });
  let total = 0;
  for (const [msg, entries] of Object.entries(files)) {
    const file = path.join(OUTDIR, `${msg}.json`);
    fs.writeFileSync(file, JSON.stringify(entries, null, 2) + "\n");
    total += entries.length;
  }
  const ver = require("node-nats-streaming/package.json").version;
  const gpb = require("google-protobuf/package.json").version;
  console.log(
    `gen-golden: wrote ${Object.keys(files).length} files, ${total} cases to ${OUTDIR} ` +
      `(node-nats-streaming ${ver}, google-protobuf ${gpb})`,
  );
}

main();
