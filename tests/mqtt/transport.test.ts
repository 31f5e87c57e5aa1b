/**
 * src/mqtt/transport.ts and connection.ts on a virtual clock: the whole client (transport,
 * supervisor, MQTT session, the real WebSocket client) over an in-memory TCP socket, the test
 * playing the broker with hand-made packets (tests/support/mqtt-packets.ts) and reading what
 * the device wrote with its own decoder. Real brokers are in tests/integration/mqtt.test.ts.
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { ErrorCode } from "../../src/shared/errors.js";
import type { NetHost } from "../../src/shared/host.js";
import { MqttTransport, OFFLINE_STATUS, telemetryPacketId, type MqttTransportOptions } from "../../src/mqtt/transport.js";
import type { CloseEvent } from "../../src/websocket/client.js";
import { CloseCode } from "../../src/websocket/constants.js";
import { closePayload, parseClientFrames, parseRequest, switchingProtocols } from "../support/client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { OP, serverFrame } from "../support/frames.js";
import { connack, decodeClientPackets, joined, pingresp, puback, publish, suback, type ClientPacket } from "../support/mqtt-packets.js";
import { VirtualClock } from "../support/virtual-clock.js";

/** The broker's end of one connection. */
class BrokerSide {
  /** Close frames the device sent: their codes. */
  closeCodes: number[] = [];
  constructor(readonly socket: FakeTcpSocket) {}

  /** TCP up, the handshake answered selecting `protocol` ("" for none). */
  accept(protocol = "mqtt"): void {
    this.socket.connect();
    const request = parseRequest(this.socket.takeWritten());
    assert.equal(request.headers.get("sec-websocket-protocol"), "mqtt", "the client offers the mqtt subprotocol");
    this.socket.receive(switchingProtocols(request, protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []));
  }

  /** The MQTT packets the device wrote since the last call (close frames noted apart). */
  packets(): ClientPacket[] {
    const packets: ClientPacket[] = [];
    for (const frame of parseClientFrames(this.socket.takeWritten())) {
      if (frame.opcode === OP.CLOSE) this.closeCodes.push(closePayload(frame.payload).code ?? 1005);
      else if (frame.opcode === OP.BINARY) packets.push(...decodeClientPackets(frame.payload));
      else throw new Error(`the device sent a frame with opcode ${frame.opcode}: MQTT travels in binary messages`);
    }
    return packets;
  }

  send(...packets: Uint8Array[]): void {
    this.socket.receive(serverFrame({ opcode: OP.BINARY, payload: joined(...packets) }));
  }

  sendText(text: string): void {
    this.socket.receive(serverFrame({ opcode: OP.TEXT, payload: text }));
  }

  /** Accepts, reads CONNECT, answers CONNACK 0; returns the CONNECT and SUBSCRIBE. */
  open(sessionPresent = false): ClientPacket[] {
    this.accept();
    const [connect] = this.packets();
    assert.equal(connect?.type, "CONNECT");
    this.send(connack(0, sessionPresent));
    return [connect!, ...this.packets()];
  }
}

function start(options: Partial<MqttTransportOptions> = {}) {
  const clock = new VirtualClock();
  const { tcp, sockets } = fakeTcp();
  const logs: Array<{ level: string; event: string; fields: Record<string, unknown> }> = [];
  const host: NetHost = {
    tcp,
    timers: clock,
    random: (into) => randomFillSync(into),
    log: (level, event, fields = {}) => logs.push({ level, event, fields }),
  };
  const messages: Array<string | Uint8Array> = [];
  const closes: Array<{ event: CloseEvent; retryInMs: number | undefined }> = [];
  let opens = 0;
  const transport = new MqttTransport({
    url: "ws://broker.example:8083/mqtt",
    host,
    deviceId: "d1",
    password: "tok-secret-1",
    backoff: { baseMs: 1000, capMs: 8000 },
    heartbeat: { intervalMs: 20_000, timeoutMs: 10_000 },
    onOpen: () => opens++,
    onMessage: (data) => messages.push(data),
    onClose: (event, retryInMs) => closes.push({ event, retryInMs }),
    ...options,
  });
  transport.start();
  return {
    transport,
    clock,
    logs,
    messages,
    closes,
    opens: () => opens,
    /** The broker's end of the newest connection. */
    broker: () => new BrokerSide(sockets.at(-1)!),
    sockets,
  };
}

const record = (seq: number, boot = "b1") => JSON.stringify({ type: "telemetry", boot, seq, uptimeMs: seq * 1000, data: {} });
const topics = { telemetry: "moorline/d1/telemetry", req: "moorline/d1/req", reply: "moorline/d1/reply", status: "moorline/d1/status" };

describe("MqttTransport (virtual clock, the test as the broker)", () => {
  it("offers mqtt, sends CONNECT (client id, user name, token, keep alive, persistent session, will) and opens only at CONNACK", () => {
    const h = start();
    const broker = h.broker();
    broker.accept();
    const [connect] = broker.packets();
    assert.deepEqual(connect, {
      type: "CONNECT",
      protocol: "MQTT",
      level: 4,
      clientId: "d1",
      cleanSession: false,
      keepAlive: 30,
      username: "d1",
      password: "tok-secret-1",
      will: { topic: topics.status, message: OFFLINE_STATUS, qos: 1, retain: true },
    });
    assert.equal(h.transport.state, "connecting", "the WebSocket is open, the session is not");
    assert.equal(h.transport.send("{}", "reply"), false, "nothing is published before CONNACK");
    broker.send(connack(0));
    assert.equal(h.transport.state, "open");
    assert.equal(h.opens(), 1);
    assert.deepEqual(broker.packets(), [{ type: "SUBSCRIBE", packetId: 65535, filters: [{ filter: topics.req, qos: 1 }] }]);
    assert.ok(!JSON.stringify(h.logs).includes("tok-secret-1"), "the token is never logged");
  });

  it("publishes hello on status (retained), telemetry with identifiers from seq, replies; a telemetry PUBACK comes back as the ack", () => {
    const h = start();
    const broker = h.broker();
    broker.open();
    assert.equal(h.transport.send('{"type":"hello"}', "hello"), true);
    assert.equal(h.transport.send(record(1), "telemetry"), true);
    assert.equal(h.transport.send(record(2), "telemetry"), true);
    assert.equal(h.transport.send('{"type":"reply","id":1,"result":null}', "reply"), true);
    const [hello, t1, t2, reply] = broker.packets() as Array<Extract<ClientPacket, { type: "PUBLISH" }>>;
    assert.deepEqual([hello!.topic, hello!.qos, hello!.retain], [topics.status, 1, true]);
    assert.deepEqual([t1!.topic, t1!.packetId, t1!.qos, t1!.dup, t1!.retain], [topics.telemetry, 1, 1, false, false]);
    assert.equal(t2!.packetId, 2);
    assert.equal(t1!.payload.toString(), record(1));
    assert.deepEqual([reply!.topic, reply!.qos], [topics.reply, 1]);
    broker.send(puback(hello!.packetId!), puback(1), puback(2), puback(reply!.packetId!));
    assert.deepEqual(h.messages, ['{"type":"ack","boot":"b1","seq":1}', '{"type":"ack","boot":"b1","seq":2}']);
    assert.deepEqual(h.transport.mqttStats, { inflightTelemetry: 0, inflightReplies: 0, resent: 0, ignored: 0 });
  });

  it("hands requests on req to the JSON loop and acknowledges them; other topics and retained requests are ignored, and logged", () => {
    const h = start();
    const broker = h.broker();
    broker.open();
    broker.send(
      publish({ topic: topics.req, payload: '{"type":"ping","id":1}', qos: 1, packetId: 5 }),
      publish({ topic: "moorline/other/req", payload: "x", qos: 1, packetId: 6 }),
      publish({ topic: topics.req, payload: '{"type":"reboot","id":2}', qos: 1, packetId: 7, retain: true }),
      publish({ topic: topics.req, payload: Uint8Array.of(0xff, 0xfe) }),
    );
    assert.deepEqual(h.messages, ['{"type":"ping","id":1}', Uint8Array.of(0xff, 0xfe)]);
    assert.deepEqual(broker.packets(), [5, 6, 7].map((packetId) => ({ type: "PUBACK", packetId })));
    assert.deepEqual(h.logs.filter((l) => l.event === "mqtt_ignored").map((l) => l.fields.reason), ["not this device's request topic", "a retained request"]);
    assert.equal(h.transport.state, "open");
  });

  it("after a reconnect resends unacknowledged replies with DUP and their identifiers, and telemetry sent again carries DUP", () => {
    const h = start();
    let broker = h.broker();
    broker.open();
    h.transport.send(record(1), "telemetry");
    h.transport.send('{"type":"reply","id":"a","result":1}', "reply");
    const [, reply] = broker.packets() as Array<Extract<ClientPacket, { type: "PUBLISH" }>>;
    broker.socket.fail("connection reset");
    assert.equal(h.transport.state, "backoff");
    h.clock.advance(h.closes[0]!.retryInMs!);
    broker = h.broker();
    const [, subscribe, resent] = broker.open(true);
    assert.equal(subscribe!.type, "SUBSCRIBE");
    assert.deepEqual(resent, { ...reply!, dup: true });
    // The outbox sends record 1 again (with DUP and its identifier), then a new record 2.
    h.transport.send(record(1), "telemetry");
    h.transport.send(record(2), "telemetry");
    const [again, fresh] = broker.packets() as Array<Extract<ClientPacket, { type: "PUBLISH" }>>;
    assert.deepEqual([again!.packetId, again!.dup], [1, true]);
    assert.deepEqual([fresh!.packetId, fresh!.dup], [2, false]);
    assert.equal(h.transport.mqttStats.resent, 2);
  });

  it("refused credentials (CONNACK 5, then 4) end with ERR_UNAUTHORIZED and wait the longest backoff, never a tight loop", () => {
    const h = start();
    for (const code of [5, 4, 5, 4]) {
      const broker = h.broker();
      broker.accept();
      broker.packets();
      broker.send(connack(code));
      broker.packets();
      assert.deepEqual(broker.closeCodes, [CloseCode.NORMAL], "the device closes the WebSocket");
      broker.socket.fail("closed by the broker");
      const { event, retryInMs } = h.closes.at(-1)!;
      assert.equal(event.error?.code, ErrorCode.UNAUTHORIZED);
      assert.match(event.reason, code === 5 ? /credentials \(CONNACK 5: not authorized\)/ : /CONNACK 4: bad user name or password/);
      assert.ok(retryInMs! >= 4000 && retryInMs! <= 8000, `waits in the upper half of the 8 s cap, got ${retryInMs}`);
      assert.ok(!event.reason.includes("tok-secret-1"));
      h.clock.advance(retryInMs!);
    }
    assert.equal(h.opens(), 0);
  });

  it("a refusal for another reason (CONNACK 3), no CONNACK in time, and no mqtt subprotocol are each a clear error, backed off as usual", () => {
    const h = start({ limits: { connectTimeoutMs: 2000 } });
    let broker = h.broker();
    broker.accept();
    broker.send(connack(3));
    broker.socket.fail();
    assert.equal(h.closes[0]!.event.error?.code, ErrorCode.MQTT_REFUSED);
    assert.match(h.closes[0]!.event.reason, /CONNACK 3: server unavailable/);
    assert.ok(h.closes[0]!.retryInMs! <= 1000, "the first ordinary backoff window");

    h.clock.advance(h.closes[0]!.retryInMs!);
    broker = h.broker();
    broker.accept();
    h.clock.advance(2000);
    assert.equal(h.closes[1]!.event.error?.code, ErrorCode.MQTT_CONNACK_TIMEOUT);

    h.clock.advance(h.closes[1]!.retryInMs!);
    broker = h.broker();
    broker.accept("");
    assert.deepEqual(broker.packets(), [], "no CONNECT to a server that is not a broker");
    broker.socket.fail();
    assert.equal(h.closes[2]!.event.error?.code, ErrorCode.MQTT_SUBPROTOCOL);
    assert.match(h.closes[2]!.event.reason, /did not select the WebSocket subprotocol "mqtt"/);
  });

  const violations: Array<[string, (broker: BrokerSide) => void, string, RegExp]> = [
    ["a text message", (b) => b.sendText("{}"), ErrorCode.MQTT_MALFORMED, /text WebSocket message/],
    ["a malformed packet", (b) => b.send(Uint8Array.of(0x40, 3, 0, 1, 0)), ErrorCode.MQTT_MALFORMED, /PUBACK with a Remaining Length of 3/],
    ["a PUBACK for nothing in flight", (b) => b.send(puback(77)), ErrorCode.MQTT_UNEXPECTED, /PUBACK for packet identifier 77/],
    ["a PINGRESP without PINGREQ", (b) => b.send(pingresp()), ErrorCode.MQTT_UNEXPECTED, /PINGRESP without a PINGREQ/],
    ["a second SUBACK", (b) => b.send(suback(65535, 1), suback(65535, 1)), ErrorCode.MQTT_UNEXPECTED, /SUBACK/],
    ["a refused subscription", (b) => b.send(suback(65535, 0x80)), ErrorCode.MQTT_SUBSCRIBE_REFUSED, /refused the subscription to moorline\/d1\/req/],
    ["a packet over maxPacketBytes", (b) => b.send(publish({ topic: topics.req, payload: "x".repeat(300) })), ErrorCode.MQTT_PACKET_TOO_BIG, /exceeds maxPacketBytes \(256 bytes\)/],
  ];
  for (const [what, act, code, message] of violations) {
    it(`fails the session on ${what}: the WebSocket is closed with the error's code and the supervisor backs off`, () => {
      const h = start({ limits: { maxPacketBytes: 256 } });
      const broker = h.broker();
      broker.open();
      act(broker);
      broker.packets();
      const expectedClose = code === ErrorCode.MQTT_PACKET_TOO_BIG ? CloseCode.MESSAGE_TOO_BIG : code === ErrorCode.MQTT_SUBSCRIBE_REFUSED ? CloseCode.NORMAL : CloseCode.PROTOCOL_ERROR;
      assert.deepEqual(broker.closeCodes, [expectedClose]);
      assert.equal(h.transport.send('{"type":"reply"}', "reply"), false, "nothing more is published");
      broker.socket.fail("closed by the broker");
      const { event, retryInMs } = h.closes[0]!;
      assert.equal(event.error?.code, code);
      assert.match(event.reason, message);
      assert.equal(h.transport.state, "backoff");
      assert.ok(retryInMs !== undefined && retryInMs >= 100);
    });
  }

  it("pings with PINGREQ (MQTT's keep alive); PINGRESP gives the round trip; a broker that stops answering is replaced", () => {
    const h = start();
    const broker = h.broker();
    broker.open();
    h.clock.advance(20_000);
    assert.deepEqual(broker.packets(), [{ type: "PINGREQ" }]);
    h.clock.advance(15);
    broker.send(pingresp());
    assert.equal(h.transport.stats.lastRttMs, 15);
    h.clock.advance(20_000);
    assert.deepEqual(broker.packets(), [{ type: "PINGREQ" }]);
    h.clock.advance(10_000);
    assert.equal(h.closes[0]!.event.error?.code, ErrorCode.HEARTBEAT_TIMEOUT);
    assert.equal(h.transport.state, "backoff");
  });

  it("with the heartbeat off, asks the broker for no keep alive", () => {
    const h = start({ heartbeat: false });
    const broker = h.broker();
    broker.accept();
    assert.equal((broker.packets()[0] as { keepAlive: number }).keepAlive, 0);
  });

  it("stop() leaves {\"online\":false} on status (retained), sends DISCONNECT so the broker drops the will, then closes with 1001", () => {
    const h = start();
    const broker = h.broker();
    broker.open();
    let stopped = false;
    h.transport.stop(() => (stopped = true));
    const [goodbye, disconnect] = broker.packets();
    assert.deepEqual(goodbye, { type: "PUBLISH", topic: topics.status, payload: Buffer.from(OFFLINE_STATUS), qos: 0, dup: false, retain: true });
    assert.deepEqual(disconnect, { type: "DISCONNECT" });
    assert.deepEqual(broker.closeCodes, [CloseCode.GOING_AWAY]);
    broker.socket.fail("closed");
    assert.equal(stopped, true);
  });

  it("bounds what is in flight: telemetry waits in the outbox, a reply is refused, a record whose identifier is taken waits", () => {
    const h = start({ limits: { maxInflightTelemetry: 2, maxInflightReplies: 1 } });
    const broker = h.broker();
    broker.open();
    assert.equal(h.transport.send(record(1), "telemetry"), true);
    assert.equal(h.transport.send(record(1 + 32_768), "telemetry"), false, "identifier 1 is in flight");
    assert.equal(telemetryPacketId(1 + 32_768), 1);
    assert.equal(h.transport.send(record(2), "telemetry"), true);
    assert.equal(h.transport.send(record(3), "telemetry"), false, "maxInflightTelemetry");
    assert.equal(h.transport.send('{"r":1}', "reply"), true);
    assert.equal(h.transport.send('{"r":2}', "error"), false, "maxInflightReplies");
    broker.packets();
    broker.send(puback(1));
    assert.equal(h.transport.send(record(3), "telemetry"), true);
  });
});
