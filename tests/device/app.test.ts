/**
 * src/device/app.ts: the device's JSON processing loop, as docs/protocol.md describes it, driven
 * through its public API on a virtual clock with a fake `send` that records every text
 * (tests/support/device-app.ts). Its built-in handlers are in handlers.test.ts, its
 * telemetry in telemetry.test.ts.
 */
import assert from "node:assert/strict";
import {
  DeviceApp,
  type DeviceAppOptions,
  defineHandler,
  RequestError,
  requestError,
  type RequestHandler,
} from "../../src/device/app.js";
import { WebSocketError } from "../../src/shared/errors.js";
import { DEVICE_SETTINGS, Settings } from "../../src/device/settings.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { assertStillAnswers, BOOT, errorOf, harness, onlyReply, settle, type Message } from "../support/device-app.js";

describe("DeviceApp", () => {
  describe("every bad input gets an error, and the loop goes on", () => {
    const requestErrors: [string, unknown, string, RegExp][] = [
      ["an unknown type with an id", { type: "selfdestruct", id: 8 }, "unknown_type", /no handler for type "selfdestruct"/],
      ["echo without a payload", { type: "echo", id: 8 }, "bad_request", /payload/],
      ["config without an action", { type: "config", id: 8 }, "bad_request", /action/],
      ["config with a bad action", { type: "config", id: 8, action: "delete" }, "bad_request", /action/],
      ["config get of an unknown key", { type: "config", id: 8, action: "get", key: "volume" }, "bad_request", /unknown setting "volume"/],
      ["config with a key that is not a string", { type: "config", id: 8, action: "get", key: 5 }, "bad_request", /key/],
      ["config set without a key", { type: "config", id: 8, action: "set", value: 5 }, "bad_request", /key/],
      ["config set without a value", { type: "config", id: 8, action: "set", key: "telemetryIntervalMs" }, "bad_request", /value/],
      ["config set out of range", { type: "config", id: 8, action: "set", key: "telemetryIntervalMs", value: 10 }, "bad_request", /telemetryIntervalMs must be an integer from 1000 to 86400000/],
      ["config set of the wrong type", { type: "config", id: 8, action: "set", key: "telemetryIntervalMs", value: "fast" }, "bad_request", /telemetryIntervalMs must be an integer/],
      ["config set of an unknown key", { type: "config", id: 8, action: "set", key: "volume", value: 1 }, "bad_request", /unknown setting "volume"/],
    ];
    for (const [what, message, code, pattern] of requestErrors) {
      it(`${what}: a reply with error ${code}`, () => {
        const h = harness();
        const reply = onlyReply(h.feed(message), 8);
        const error = errorOf(reply);
        assert.equal(error.code, code);
        assert.match(error.message, pattern);
        assert.equal("result" in reply, false);
        assertStillAnswers(h);
      });
    }

    const unreadable: [string, string, string][] = [
      ["text that is not JSON", "hello", "bad_json"],
      ["truncated JSON", '{"type":"ping","id":1', "bad_json"],
      ["an empty text", "", "bad_json"],
      ["text longer than maxJsonBytes", JSON.stringify({ type: "echo", id: 1, payload: "x".repeat(9000) }), "too_large"],
      ["text nested deeper than maxJsonDepth", JSON.stringify({ type: "echo", id: 1, payload: JSON.parse("[".repeat(20) + "]".repeat(20)) }), "too_deep"],
      ["4,000 levels of nesting (within 8 KB)", "[".repeat(4000) + "]".repeat(4000), "too_deep"],
      ["a request without an id", '{"type":"ping"}', "bad_request"],
      ["an empty string id", '{"type":"ping","id":""}', "bad_request"],
      ["a 65-character id", JSON.stringify({ type: "ping", id: "i".repeat(65) }), "bad_request"],
      ["a fractional id", '{"type":"ping","id":1.5}', "bad_request"],
      ["a null id", '{"type":"ping","id":null}', "bad_request"],
      ["an object id", '{"type":"ping","id":{"a":1}}', "bad_request"],
      ["a boolean id", '{"type":"ping","id":true}', "bad_request"],
      ["an unsafe integer id", '{"type":"ping","id":9007199254740993}', "bad_request"],
      ["an unknown type without an id", '{"type":"selfdestruct"}', "unknown_type"],
      ["an ack without a seq", JSON.stringify({ type: "ack", boot: BOOT }), "bad_request"],
      ["an ack with a negative seq", JSON.stringify({ type: "ack", boot: BOOT, seq: -1 }), "bad_request"],
      ["an ack without a boot", '{"type":"ack","seq":1}', "bad_request"],
    ];
    for (const [what, text, code] of unreadable) {
      it(`${what}: an error message ${code}`, () => {
        const h = harness();
        const sent = h.feed(text);
        assert.equal(sent.length, 1, JSON.stringify(sent));
        assert.equal(sent[0].type, "error");
        assert.equal("id" in sent[0], false);
        assert.equal(errorOf(sent[0]).code, code);
        assert.equal(h.app.counters.errorsSent, 1);
        assert.deepEqual(h.events("app_bad_input").map((l) => l.fields?.code), [code]);
        assertStillAnswers(h);
      });
    }

    it("10,000 levels of nesting within the size limit do not throw", () => {
      const h = harness({ limits: { maxJsonBytes: 1 << 20 } });
      for (const text of ["[".repeat(10_000) + "]".repeat(10_000), '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000)]) {
        assert.doesNotThrow(() => h.app.receive(text));
        assert.equal(errorOf(h.take()[0]).code, "too_deep");
      }
      assertStillAnswers(h);
    });

    it("a string id of 64 characters and a negative integer id are fine", () => {
      const h = harness();
      const long = "i".repeat(64);
      onlyReply(h.feed({ type: "ping", id: long }), long);
      onlyReply(h.feed({ type: "ping", id: -3 }), -3);
    });

    it("the error message does not grow with the input", () => {
      const h = harness();
      const sent = h.feed(JSON.stringify({ type: "t".repeat(4000), id: 1 }));
      assert.ok(errorOf(onlyReply(sent, 1)).message.length < 300);
    });
  });

  describe("what is not in the envelope is echoed back unchanged", () => {
    for (const text of ["[1,2,3]", "42", '"a string"', "null", "true", "false", '{"no":"type"}', '{"type":5}', ' [ 1 , {"a" : 2} ] ', '{"type":null,"id":1}', "1e3"]) {
      it(`echoes ${JSON.stringify(text)} as the exact original text`, () => {
        const h = harness();
        h.app.receive(text);
        assert.deepEqual(h.texts, [text]);
        h.texts.length = 0;
        assertStillAnswers(h);
      });
    }

    it("echoes a binary message unchanged", () => {
      const h = harness();
      const bytes = new Uint8Array([0, 1, 2, 0xff, 0x7b]);
      h.app.receive(bytes);
      assert.equal(h.binaries.length, 1);
      assert.deepEqual(h.binaries[0], bytes);
      assert.deepEqual(h.texts, []);
      assert.equal(h.app.counters.messagesOut, 1);
      assertStillAnswers(h);
    });

    it("without sendBinary, a binary message is counted as a dropped reply and logged", () => {
      const h = harness({ sendBinary: undefined });
      h.app.receive(new Uint8Array([1, 2, 3]));
      assert.equal(h.app.counters.repliesDropped, 1);
      assert.equal(h.app.counters.dropped, 1);
      assert.deepEqual(h.events("reply_dropped").map((l) => l.fields?.kind), ["binary"]);
      assertStillAnswers(h);
    });
  });

  describe("the device's own messages coming back are ignored", () => {
    for (const message of [
      { type: "hello", device: "sim-1", firmware: "0.1.0", boot: BOOT, capabilities: [] },
      { type: "telemetry", boot: BOOT, seq: 1, uptimeMs: 1, data: {} },
      { type: "reply", id: 7, result: { payload: "hi" } },
      { type: "reply", id: 8, error: { code: "unknown_type", message: "no handler" } },
      { type: "error", error: { code: "bad_json", message: "not JSON" } },
      { type: "error", id: 3, error: { code: "bad_json", message: "not JSON" } },
      { type: "reply" },
      { type: "hello", id: 1 },
    ]) {
      it(`${JSON.stringify(message).slice(0, 60)}: no answer, counted`, () => {
        const h = harness();
        assert.deepEqual(h.feed(message), []);
        assert.equal(h.app.counters.ignored, 1);
        assert.equal(h.app.counters.messagesIn, 1);
        assertStillAnswers(h);
      });
    }

    it("against an echo server, nothing storms: after one round trip the device falls silent", () => {
      const h = harness({ handlers: { led: { handle: () => ({ on: true }) } } });
      h.app.start();
      h.app.connected();
      h.clock.advance(30_000); // three telemetry records
      // The server side of a conversation, with a bad input of each kind in it.
      for (const input of [
        { type: "ping", id: 1 },
        { type: "led", id: 2 },
        { type: "selfdestruct", id: 3 },
        { type: "echo", id: 4 },
        "garbage",
        '{"type":"ping"}',
        "[".repeat(100),
      ]) {
        h.app.receive(typeof input === "string" ? input : JSON.stringify(input));
      }
      const first = h.texts.splice(0);
      assert.ok(first.length >= 11, `hello, 3 telemetry, 7 answers: ${first.length}`);
      // The echo server sends every message back; the device must not answer any of them.
      let pending = first;
      const perRound: number[] = [];
      for (let round = 0; round < 10; round++) {
        for (const text of pending) h.app.receive(text);
        pending = h.texts.splice(0);
        perRound.push(pending.length);
      }
      assert.deepEqual(perRound, new Array(10).fill(0));
      assert.equal(h.app.counters.ignored, first.length);
    });
  });

  describe("hello", () => {
    it("is sent first on every connection, with the handler types as capabilities", () => {
      const h = harness({ capabilities: ["ota", "echo"] });
      h.app.register("led", { handle: () => null });
      h.app.connected();
      assert.deepEqual(h.take(), [
        {
          type: "hello",
          device: "sim-1",
          firmware: "0.1.0",
          boot: BOOT,
          capabilities: ["echo", "ping", "status", "config", "reboot", "led", "ota"],
        },
      ]);
      h.app.disconnected();
      h.app.connected();
      assert.deepEqual(h.take().map((m) => m.type), ["hello"]);
    });
  });

  describe("user handlers", () => {
    it("registered with register() or options.handlers, typed with defineHandler", () => {
      const led = defineHandler({
        parse(message): { on: boolean } {
          if (typeof message.on !== "boolean") throw requestError("bad_request", '"on" must be true or false');
          return { on: message.on };
        },
        handle: ({ on }, context) => ({ on, type: context.type, id: context.id }),
      });
      const h = harness({ handlers: { led } });
      h.app.register("beep", { handle: () => undefined });
      assert.deepEqual(onlyReply(h.feed({ type: "led", id: 1, on: true }), 1).result, { on: true, type: "led", id: 1 });
      assert.deepEqual(onlyReply(h.feed({ type: "beep", id: 2 }), 2).result, null);
      const refused = onlyReply(h.feed({ type: "led", id: 3, on: "yes" }), 3);
      assert.deepEqual(errorOf(refused), { code: "bad_request", message: '"on" must be true or false' });
      assertStillAnswers(h);
    });

    it("a user handler type without an id gets a bad_request error message", () => {
      const h = harness({ handlers: { led: { handle: () => 1 } } });
      const sent = h.feed({ type: "led" });
      assert.equal(sent[0].type, "error");
      assert.equal(errorOf(sent[0]).code, "bad_request");
    });

    it("may not shadow a built-in, a protocol type, or another handler", () => {
      const h = harness();
      const handler = { handle: () => 1 };
      for (const type of ["echo", "ping", "status", "config", "reboot"]) {
        assert.throws(
          () => h.app.register(type, handler),
          (error: unknown) => error instanceof WebSocketError && error.code === "ERR_INVALID_ARGUMENT" && /built in/.test(error.message),
        );
      }
      for (const type of ["hello", "telemetry", "reply", "error", "ack"]) {
        assert.throws(() => h.app.register(type, handler), /protocol message/);
      }
      h.app.register("led", handler);
      assert.throws(() => h.app.register("led", handler), /already registered/);
      assert.throws(() => h.app.register("", handler), /1 to 64 characters/);
      assert.throws(() => h.app.register("x", {} as RequestHandler), /handle\(\) method/);
      assert.throws(() => harness({ handlers: { status: handler } }), /built in/);
      // The built-in still answers.
      assert.equal((onlyReply(h.feed({ type: "ping", id: 1 }), 1).result as Message).pong, true);
    });

    it("a handler that throws gets handler_failed, logged, and the loop goes on", () => {
      const h = harness({ handlers: { crash: { handle: () => { throw new TypeError("oops"); } } } });
      const error = errorOf(onlyReply(h.feed({ type: "crash", id: 5 }), 5));
      assert.equal(error.code, "handler_failed");
      assert.match(error.message, /crash.*oops/);
      assert.equal(h.events("handler_failed").length, 1);
      assertStillAnswers(h);
    });

    it("a parse that throws something other than a RequestError is handler_failed", () => {
      const h = harness({ handlers: { x: { parse: () => { throw new Error("bug"); }, handle: () => 1 } } });
      assert.equal(errorOf(onlyReply(h.feed({ type: "x", id: 1 }), 1)).code, "handler_failed");
    });

    it("a handler's own RequestError code is passed on", () => {
      const h = harness({ handlers: { find: { handle: () => { throw requestError("not_found", "no such file"); } } } });
      assert.deepEqual(errorOf(onlyReply(h.feed({ type: "find", id: 1 }), 1)), { code: "not_found", message: "no such file" });
      assert.ok(requestError("a", "b") instanceof RequestError);
    });

    it("a result that is not JSON gets handler_failed", () => {
      const h = harness({ handlers: { big: { handle: () => ({ n: 10n }) } } });
      assert.equal(errorOf(onlyReply(h.feed({ type: "big", id: 1 }), 1)).code, "handler_failed");
      assertStillAnswers(h);
    });

    it("a result larger than maxReplyBytes gets too_large", () => {
      const h = harness({ handlers: { dump: { handle: () => "x".repeat(20_000) } } });
      assert.equal(errorOf(onlyReply(h.feed({ type: "dump", id: 1 }), 1)).code, "too_large");
      assertStillAnswers(h);
    });
  });

  describe("asynchronous handlers", () => {
    /** A handler whose results the test resolves or rejects by hand. */
    function manual() {
      const waiting: { resolve(value: unknown): void; reject(error: unknown): void }[] = [];
      const handler: RequestHandler = {
        handle: () => new Promise((resolve, reject) => waiting.push({ resolve, reject })),
      };
      return { handler, waiting };
    }

    it("a Promise result is replied when it resolves", async () => {
      const h = harness({
        handlers: {
          slow: {
            handle: (_params, context) =>
              new Promise((resolve) => h.clock.set(() => resolve({ at: context.now() }), 500)),
          },
        },
      });
      assert.deepEqual(h.feed({ type: "slow", id: "a" }), []);
      assert.equal(h.app.counters.pending, 1);
      h.clock.advance(500);
      await settle();
      assert.deepEqual(onlyReply(h.take(), "a").result, { at: 500 });
      assert.equal(h.app.counters.pending, 0);
      assert.equal(h.clock.size, 0, "the timeout timer is cleared");
    });

    it("a rejection is handler_failed; a rejection with a RequestError keeps its code", async () => {
      const { handler, waiting } = manual();
      const h = harness({ handlers: { slow: handler } });
      h.feed({ type: "slow", id: 1 });
      h.feed({ type: "slow", id: 2 });
      waiting[0].reject(new Error("disk"));
      waiting[1].reject(requestError("bad_request", "no"));
      await settle();
      const [first, second] = h.take();
      assert.equal(errorOf(first).code, "handler_failed");
      assert.equal(errorOf(second).code, "bad_request");
    });

    it("more than maxPendingRequests at once: busy; built-ins still answer", async () => {
      const { handler, waiting } = manual();
      const h = harness({ handlers: { slow: handler }, limits: { maxPendingRequests: 2 } });
      h.feed({ type: "slow", id: 1 });
      h.feed({ type: "slow", id: 2 });
      const busy = errorOf(onlyReply(h.feed({ type: "slow", id: 3 }), 3));
      assert.equal(busy.code, "busy");
      assert.equal(waiting.length, 2, "the third handler never ran");
      assertStillAnswers(h);
      waiting[0].resolve("one");
      await settle();
      assert.deepEqual(onlyReply(h.take(), 1).result, "one");
      h.feed({ type: "slow", id: 4 });
      assert.equal(waiting.length, 3, "room again after a request completed");
    });

    it("a handler slower than handlerTimeoutMs gets handler_timeout; its late result is dropped and logged", async () => {
      const { handler, waiting } = manual();
      const h = harness({ handlers: { slow: handler }, limits: { handlerTimeoutMs: 2000 } });
      h.feed({ type: "slow", id: 9 });
      h.clock.advance(1999);
      assert.deepEqual(h.take(), []);
      h.clock.advance(1);
      const error = errorOf(onlyReply(h.take(), 9));
      assert.equal(error.code, "handler_timeout");
      assert.match(error.message, /2000 ms/);
      assert.equal(h.app.counters.pending, 0);
      waiting[0].resolve("too late");
      await settle();
      assert.deepEqual(h.take(), [], "exactly one reply per request");
      assert.equal(h.app.counters.lateResults, 1);
      assert.equal(h.events("app_late_result").length, 1);
      assertStillAnswers(h);
    });

    it("stop() abandons pending requests and clears their timers", async () => {
      const { handler, waiting } = manual();
      const h = harness({ handlers: { slow: handler } });
      h.app.start();
      h.feed({ type: "slow", id: 1 });
      assert.equal(h.clock.size, 2);
      h.app.stop();
      assert.equal(h.clock.size, 0);
      waiting[0].resolve(1);
      await settle();
      assert.deepEqual(h.take(), []);
      assert.equal(h.app.counters.lateResults, 1);
    });
  });

  describe("counters", () => {
    it("count messages in and out, errors sent and replies send() refused", () => {
      const h = harness();
      h.feed({ type: "ping", id: 1 });
      h.feed("nope");
      h.accept = false;
      h.feed({ type: "ping", id: 2 });
      const counters = h.app.counters;
      assert.equal(counters.messagesIn, 3);
      assert.equal(counters.messagesOut, 2);
      assert.equal(counters.errorsSent, 1);
      assert.equal(counters.repliesDropped, 1);
      assert.equal(counters.dropped, 1);
      assert.deepEqual(h.events("reply_dropped").map((l) => l.fields?.kind), ["reply"]);
    });

    it("a send() that throws counts as refused; receive() still does not throw", () => {
      const h = harness({ send: () => { throw new Error("socket gone"); } });
      assert.doesNotThrow(() => h.app.receive('{"type":"ping","id":1}'));
      assert.equal(h.app.counters.repliesDropped, 1);
    });
  });

  describe("logs", () => {
    it("app_disconnected once per connection that opened, not for an attempt that never did", () => {
      const h = harness();
      h.app.disconnected(); // the supervisor reports a refused attempt too
      assert.deepEqual(h.events("app_disconnected"), []);
      h.app.connected();
      h.app.disconnected();
      h.app.disconnected();
      assert.deepEqual(h.events("app_disconnected").map((l) => l.fields), [{ unacked: 0 }]);
    });

    it("log each request by type and id, and bad input by code", () => {
      const h = harness();
      h.feed({ type: "ping", id: 3 });
      h.feed("{{");
      assert.deepEqual(h.events("app_request").map((l) => l.fields), [{ type: "ping", id: 3 }]);
      assert.deepEqual(h.events("app_bad_input").map((l) => l.fields), [{ code: "bad_json" }]);
    });

    it("never carry a payload", () => {
      const secret = "SECRET-" + "s".repeat(100);
      const h = harness({ handlers: { fail: { handle: () => { throw new Error(secret); } } } });
      h.feed({ type: "echo", id: 1, payload: secret });
      h.feed(`not json ${secret}`);
      h.feed(JSON.stringify([secret]));
      h.feed({ type: "ack", boot: secret, seq: 1 });
      h.feed({ type: "fail", id: 2 });
      h.feed({ type: "config", id: 3, action: "set", key: "telemetryIntervalMs", value: secret });
      const text = JSON.stringify(h.logs);
      assert.equal(text.includes(secret), false, "no payload in full");
      assert.equal(text.includes("s".repeat(61)), false, "nothing longer than a clip");
    });
  });

  describe("options are checked at construction", () => {
    const base = () => ({
      identity: { deviceId: "d", firmware: "1", bootId: "b" },
      timers: new VirtualClock(),
      send: () => true,
      settings: new Settings({ storage: new MemoryStorage(), specs: DEVICE_SETTINGS }),
    });
    const cases: [string, (o: DeviceAppOptions) => void, RegExp][] = [
      ["an empty deviceId", (o) => { o.identity = { ...o.identity, deviceId: "" }; }, /identity\.deviceId/],
      ["a send that is not a function", (o) => { (o as { send: unknown }).send = 1; }, /option send/],
      ["a settings without telemetryIntervalMs", (o) => { o.settings = new Settings({ storage: new MemoryStorage(), specs: {} }); }, /option settings/],
      ["a zero limit", (o) => { o.limits = { maxPendingRequests: 0 }; }, /limits\.maxPendingRequests/],
      ["a depth beyond the native stack's", (o) => { o.limits = { maxJsonDepth: 1000 }; }, /limits\.maxJsonDepth/],
    ];
    for (const [what, change, pattern] of cases) {
      it(`refuses ${what}`, () => {
        const options: DeviceAppOptions = base();
        change(options);
        assert.throws(
          () => new DeviceApp(options),
          (error: unknown) => error instanceof WebSocketError && error.code === "ERR_INVALID_OPTION" && pattern.test(error.message),
        );
      });
    }
  });
});
