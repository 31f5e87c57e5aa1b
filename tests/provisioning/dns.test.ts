/**
 * The portal's DNS server (src/provisioning/dns.ts): answers byte for byte (RFC 1035 section
 * 4.1), every malformed query's code, no answer to responses or scraps, and the rate bound;
 * then the server over a UDP socket (a fake one here: the real one is the host's, tested in
 * tests/integration/portal.test.ts where the host has UDP).
 */
import assert from "node:assert/strict";
import { answerDnsQuery, DnsRcode, DnsServer, DnsType, parseDnsQuery } from "../../src/provisioning/dns.js";
import type { UdpSocket, UdpSocketOptions } from "../../src/shared/host.js";
import { VirtualClock } from "../support/virtual-clock.js";

/** A query as a resolver sends it: id, RD, one question; `extra` appended (an EDNS OPT record). */
function query(name: string, type: number, options: { id?: number; flags?: number; klass?: number; questions?: number; extra?: number[] } = {}): Uint8Array {
  const out: number[] = [];
  const id = options.id ?? 0x1234;
  const flags = options.flags ?? 0x0100;
  out.push(id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, options.questions ?? 1, 0, 0, 0, 0, 0, options.extra ? 1 : 0);
  for (const label of name.split(".").filter((l) => l !== "")) {
    out.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
  }
  out.push(0, type >> 8, type & 0xff, 0, options.klass ?? 1);
  out.push(...(options.extra ?? []));
  return new Uint8Array(out);
}

const OPT_RECORD = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0];

function answer(bytes: Uint8Array, address = "192.168.4.1", ttl = 10): Uint8Array | undefined {
  return answerDnsQuery(bytes, parseDnsQuery(bytes), address, ttl);
}

describe("the portal's DNS answers", () => {
  it("answers an A query with the device's address: header, the question echoed, one record", () => {
    const asked = query("connectivitycheck.gstatic.com", DnsType.A);
    const reply = answer(asked)!;
    const questionEnd = asked.length;
    assert.deepEqual(Array.from(reply.subarray(0, 12)), [0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(reply.subarray(12, questionEnd)), Array.from(asked.subarray(12)));
    assert.deepEqual(Array.from(reply.subarray(questionEnd)), [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 10, 0, 4, 192, 168, 4, 1]);
  });

  it("copies RD (or its absence), answers ANY with A, and ignores an EDNS record", () => {
    assert.equal(answer(query("a.b", DnsType.A, { flags: 0 }))![2], 0x84);
    const any = answer(query("captive.apple.com", DnsType.ANY))!;
    assert.equal(any[7], 1);
    const withOpt = query("www.msftconnecttest.com", DnsType.A, { extra: OPT_RECORD });
    const reply = answer(withOpt, "127.0.0.1", 0)!;
    assert.equal(reply[11], 0, "no additional record in the answer");
    assert.deepEqual(Array.from(reply.subarray(reply.length - 4)), [127, 0, 0, 1]);
    assert.equal(reply.length, withOpt.length - OPT_RECORD.length + 16);
  });

  it("answers AAAA (and other types) with no record and NOERROR, so a phone falls back to A", () => {
    for (const type of [DnsType.AAAA, 16, 65]) {
      const reply = answer(query("example.org", type))!;
      assert.equal(reply[3] & 0x0f, DnsRcode.NOERROR);
      assert.equal(reply[7], 0, "no answer");
    }
  });

  it("FORMERR for a malformed question, NOTIMP for another opcode, REFUSED for another class", () => {
    const rcode = (bytes: Uint8Array): number => answer(bytes)![3] & 0x0f;
    assert.equal(rcode(query("a", 1, { questions: 0 })), DnsRcode.FORMERR);
    assert.equal(rcode(query("a", 1, { questions: 2 })), DnsRcode.FORMERR);
    assert.equal(rcode(query("a", 1, { flags: 0x2800 })), DnsRcode.NOTIMP);
    assert.equal(rcode(query("a", 1, { klass: 3 })), DnsRcode.REFUSED);
    const long = query("x".repeat(64), 1);
    assert.equal(rcode(long), DnsRcode.FORMERR, "a label over 63 bytes");
    const pointer = query("a", 1);
    pointer[12] = 0xc0;
    assert.equal(rcode(pointer), DnsRcode.FORMERR, "a compression pointer in a question");
    const huge = query(Array.from({ length: 5 }, () => "y".repeat(60)).join("."), 1);
    assert.equal(rcode(huge), DnsRcode.FORMERR, "a name over 255 bytes");
    for (let cut = 12; cut < query("abc.de", 1).length; cut++) {
      assert.equal(rcode(query("abc.de", 1).subarray(0, cut)), DnsRcode.FORMERR, `cut at ${cut}`);
    }
  });

  it("says nothing to a response, to fewer than 12 bytes, or to more than 512", () => {
    assert.equal(answer(query("a", 1, { flags: 0x8180 })), undefined);
    assert.equal(answer(new Uint8Array(11)), undefined);
    assert.equal(answer(new Uint8Array(513)), undefined);
  });

  it("gives no record when its own address is not IPv4", () => {
    assert.equal(answer(query("a", 1), "::1")![7], 0);
  });
});

/** A UDP socket that records what was sent; the test delivers datagrams itself. */
class FakeUdp implements UdpSocket {
  static last: FakeUdp | undefined;
  readonly sent: Array<{ address: string; port: number; bytes: Uint8Array }> = [];
  closed = false;
  constructor(readonly options: UdpSocketOptions) {
    FakeUdp.last = this;
  }
  send(address: string, port: number, bytes: Uint8Array): void {
    this.sent.push({ address, port, bytes });
  }
  close(): void {
    this.closed = true;
  }
}

describe("DnsServer", () => {
  it("binds its port and address, answers each query to its sender, and closes", () => {
    const clock = new VirtualClock();
    const server = new DnsServer({ udp: FakeUdp, timers: clock, port: 5353, address: "127.0.0.1", answer: () => "10.1.2.3" });
    const socket = FakeUdp.last!;
    assert.equal(socket.options.port, 5353);
    assert.equal(socket.options.address, "127.0.0.1");
    socket.options.onMessage!(query("anything.example", 1), "10.1.2.50", 40000);
    assert.equal(socket.sent.length, 1);
    assert.equal(socket.sent[0]!.address, "10.1.2.50");
    assert.equal(socket.sent[0]!.port, 40000);
    assert.deepEqual(Array.from(socket.sent[0]!.bytes.subarray(-4)), [10, 1, 2, 3]);
    socket.options.onMessage!(new Uint8Array(3), "10.1.2.50", 40000);
    assert.deepEqual(server.counts, { answered: 1, dropped: 1 });
    server.close();
    assert.ok(socket.closed);
  });

  it("answers at most maxAnswersPerSecond a second, and drops the rest", () => {
    const clock = new VirtualClock();
    const server = new DnsServer({ udp: FakeUdp, timers: clock, port: 53, answer: () => "192.168.4.1", maxAnswersPerSecond: 5 });
    const socket = FakeUdp.last!;
    for (let i = 0; i < 20; i++) socket.options.onMessage!(query("flood.example", 1, { id: i }), "192.168.4.2", 1000 + i);
    assert.equal(socket.sent.length, 5);
    clock.advance(1000);
    socket.options.onMessage!(query("later.example", 1), "192.168.4.2", 2000);
    assert.equal(socket.sent.length, 6);
    assert.deepEqual(server.counts, { answered: 6, dropped: 15 });
  });

  it("checks its options", () => {
    assert.throws(() => new DnsServer({ udp: FakeUdp, timers: new VirtualClock(), port: 0, answer: () => "1.2.3.4" }), /option port must be an integer from 1 to 65535/);
    assert.throws(() => new DnsServer({ udp: FakeUdp, timers: new VirtualClock(), port: 53, ttlSeconds: -1, answer: () => "1.2.3.4" }), /ttlSeconds/);
  });
});
