// Read an ITM topic with KafkaJS and print each record as one line of the JSON mapping,
// the same lines `itm events tail TOPIC --json` prints (docs/events/README.md).
//
//   node tail.mjs TOPIC [--from-beginning] [--key K] [--limit N]
//
// Environment: ITM_KAFKA_BOOTSTRAP (host:port[,host:port]; default 127.0.0.1:9092),
// ITM_TOPIC_PREFIX (the deployment's prefix, default none), ITM_DESCRIPTORS (the
// descriptor set; default proto/descriptors/itm.v1.binpb of this repository).
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { createFileRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const args = process.argv.slice(2);
const topic = args.find((a, i) => !a.startsWith("--") && !["--key", "--limit"].includes(args[i - 1]));
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
if (!topic) {
  console.error("usage: node tail.mjs TOPIC [--from-beginning] [--key K] [--limit N]");
  process.exit(2);
}
const fromBeginning = args.includes("--from-beginning");
const wantedKey = option("--key");
const limit = option("--limit") ? Number(option("--limit")) : Infinity;

// the published descriptor set: every ITM message, and the well-known types they use
const descriptors = process.env.ITM_DESCRIPTORS ??
  fileURLToPath(new URL("../../../../proto/descriptors/itm.v1.binpb", import.meta.url));
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptors)));
const Envelope = registry.getMessage("itm.v1.EventEnvelope");

function envelopeJson(value) {
  // canonical proto3 JSON, proto field names, the Any payload expanded with its "@type"
  return toJson(Envelope, fromBinary(Envelope, value), { registry, useProtoFieldName: true });
}

const kafka = new Kafka({
  clientId: "itm-events-node",
  brokers: (process.env.ITM_KAFKA_BOOTSTRAP ?? "127.0.0.1:9092").split(","),
  logLevel: logLevel.ERROR,
});
// KafkaJS consumers always join a group: a fresh one per run, never committed. Tansu holds
// a new group's first join for half the session timeout: 6 s (Kafka's smallest by default)
// makes that 3 s instead of KafkaJS's default 15 s. Leaving waits for the fetch in flight:
// a short long-poll lets it leave at once
const consumer = kafka.consumer({
  groupId: `itm-events-node-${randomUUID()}`, sessionTimeout: 6000, maxWaitTimeInMs: 500,
});
const prefix = process.env.ITM_TOPIC_PREFIX ?? "";
let seen = 0;
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(code), 5000).unref(); // leave the group if it answers in time
  await consumer.disconnect();
  process.exit(code);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

await consumer.connect();
await consumer.subscribe({ topic: prefix + topic, fromBeginning });
await consumer.run({
  autoCommit: false,
  eachMessage: async ({ partition, message }) => {
    const key = message.key === null ? null : message.key.toString("utf8");
    // partitions are handled concurrently: a second one may arrive before stop() runs
    if (stopping || seen >= limit || (wantedKey !== undefined && key !== wantedKey)) return;
    const record = {
      topic,
      partition,
      offset: Number(message.offset),
      timestamp: new Date(Number(message.timestamp)).toISOString(),
      key,
    };
    try {
      record.value = envelopeJson(message.value);
    } catch (err) {
      Object.assign(record, { value: null, error: String(err), value_base64: (message.value ?? Buffer.alloc(0)).toString("base64") });
    }
    console.log(JSON.stringify(record));
    // disconnecting waits for this handler to return: stop from outside it
    if (++seen >= limit) setImmediate(() => stop(0));
  },
});
