/**
 * The Node host's TLS socket (hosts/node/tls.ts) against real `node:tls` servers on
 * 127.0.0.1: the same ECMA-419 contract as NodeTcpSocket, with onWritable meaning "TLS
 * established and verified", every check made before the first application byte, and each
 * failure reported through onError with its TlsErrorCode. (What the WebSocket client makes
 * of them, case by case, is in tests/integration/tls.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from "node:tls";

import { createNodeHost, NodeTlsSocket, NodeWallClock, WRITE_HIGH_WATER_BYTES } from "../../../hosts/node/host.js";
import { readCaFile, spkiPin } from "../../../hosts/node/tls.js";
import { TlsErrorCode, type TcpSocketOptions, type TlsErrorCodeValue, type TlsOptions } from "../../../src/shared/host.js";
import { testCertificates, type TestCertificates } from "../../support/certs.js";
import { closedPort, deferred, delay, listenLoopback, until, within } from "../../support/wait.js";

const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

interface Seen {
  events: string[];
  errors: Array<{ message: string | undefined; code: TlsErrorCodeValue | undefined }>;
}

/** A TLS server on 127.0.0.1 that records what its peers sent and the SNI they asked for. */
async function startServer(identity: { cert: string; key: string }, onPeer: (peer: TLSSocket) => void = () => {}) {
  const received: Buffer[] = [];
  /** The SNI of each ClientHello that carried one. */
  const servernames: string[] = [];
  const context = createSecureContext({ cert: identity.cert, key: identity.key });
  const options = {
    cert: identity.cert,
    key: identity.key,
    SNICallback: (name: string, done: (error: Error | null, context: SecureContext) => void) => {
      servernames.push(name);
      done(null, context);
    },
  };
  const server: Server = createServer(options, (peer) => {
    peer.on("error", () => {});
    peer.on("data", (chunk: Buffer) => received.push(chunk));
    onPeer(peer);
  });
  server.on("tlsClientError", () => {});
  const port = await listenLoopback(server);
  return {
    port,
    received: () => Buffer.concat(received).toString(),
    servernames,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("Node host: NodeTlsSocket (hosts/node/tls.ts)", function () {
  this.timeout(10_000);
  let certs: TestCertificates;
  const sockets: NodeTlsSocket[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  before(function () {
    certs = testCertificates();
  });
  afterEach(async function () {
    for (const socket of sockets.splice(0)) socket.close();
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  function open(port: number, tls: TlsOptions, extra: Partial<TcpSocketOptions> = {}) {
    const seen: Seen = { events: [], errors: [] };
    const socket = new NodeTlsSocket({
      host: "127.0.0.1",
      port,
      nodelay: true,
      tls,
      onWritable: (count) => seen.events.push(`writable ${count}`),
      onReadable: (count) => seen.events.push(`readable ${count}`),
      onError: (message, code) => {
        seen.events.push(`error ${code ?? "-"}`);
        seen.errors.push({ message, code });
      },
      ...extra,
    });
    sockets.push(socket);
    return { socket, seen };
  }

  async function serve(identity: { cert: string; key: string }, onPeer?: (peer: TLSSocket) => void) {
    const server = await startServer(identity, onPeer);
    cleanups.push(server.close);
    return server;
  }

  it("is the Node host's tls socket constructor (given the host's wall clock)", function () {
    assert.ok(createNodeHost({ logLevel: "silent" }).tls!.prototype instanceof NodeTlsSocket);
    const tuned = createNodeHost({ logLevel: "silent", tcp: { writeHighWaterBytes: 1024 } }).tls!;
    assert.ok(tuned.prototype instanceof NodeTlsSocket);
  });

  it("reports the connection with onWritable once TLS is verified, then carries bytes both ways", async function () {
    const server = await serve(certs.good, (peer) => peer.write("from the server"));
    const { socket, seen } = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert });
    await until(() => seen.events.some((e) => e.startsWith("readable")), 5000, "bytes from the server");
    assert.equal(seen.events[0], `writable ${WRITE_HIGH_WATER_BYTES}`, "onWritable came first, with the full space");
    assert.equal(text(socket.read()), "from the server");
    socket.write(new TextEncoder().encode("from the device"));
    await until(() => server.received() === "from the device", 5000, "bytes at the server");
    assert.deepEqual(seen.errors, []);
  });

  it("reports the server's orderly close after the bytes it sent were read", async function () {
    const server = await serve(certs.good, (peer) => peer.end("bye"));
    const { socket, seen } = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert });
    await until(() => seen.events.some((e) => e.startsWith("readable")), 5000, "bytes");
    await delay(50);
    assert.deepEqual(seen.errors, [], "no onError while bytes are unread");
    assert.equal(text(socket.read()), "bye");
    await until(() => seen.errors.length > 0, 5000, "onError");
    assert.deepEqual(seen.errors, [{ message: "peer closed the connection", code: undefined }], "an ordinary end, not a TLS failure");
  });

  it("refuses a key that is not pinned before writing anything: onError with ERR_TLS_PIN_MISMATCH, never onWritable", async function () {
    let secured = 0;
    const server = await serve(certs.good, () => secured++);
    const writable: number[] = [];
    const { socket, seen } = open(
      server.port,
      { serverName: "127.0.0.1", ca: certs.ca.cert, pins: [certs.otherCa.pin] },
      {
        onWritable: (count) => {
          writable.push(count);
          socket.write(new TextEncoder().encode("must never be sent"));
        },
      },
    );
    await until(() => seen.errors.length > 0, 5000, "onError");
    await delay(100);
    assert.deepEqual(seen.events, [`error ${TlsErrorCode.TLS_PIN_MISMATCH}`]);
    assert.match(seen.errors[0]!.message!, new RegExp(`pin ${certs.goodPin.replace(/[+/]/g, "\\$&")}\\) is not one of the pinned keys`));
    assert.equal(server.received(), "", "not one application byte reached the server");
    assert.deepEqual(writable, [], "onWritable never came");
    assert.ok(secured <= 1);
  });

  it("accepts the pin of the server's public key (base64 SHA-256 of its SubjectPublicKeyInfo)", async function () {
    const server = await serve(certs.good);
    const { seen } = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert, pins: [certs.goodPin] });
    await until(() => seen.events.length > 0, 5000, "a verdict");
    assert.deepEqual(seen.events, [`writable ${WRITE_HIGH_WATER_BYTES}`]);
    const { X509Certificate } = await import("node:crypto");
    const spki = new X509Certificate(certs.good.cert).publicKey.export({ type: "spki", format: "der" });
    assert.equal(spkiPin(spki), certs.goodPin, "the pin is computed the way RFC 7469 says");
  });

  it("checks the chain's dates by the device's own clock too: a clock at 1970 finds a valid certificate not yet valid", async function () {
    const server = await serve(certs.good);
    const chip = new NodeWallClock({ unset: true });
    const early = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert }, { wallClock: chip } as Partial<TcpSocketOptions>);
    await until(() => early.seen.events.length > 0, 5000, "a verdict");
    assert.deepEqual(early.seen.events, [`error ${TlsErrorCode.TLS_CERT_NOT_YET_VALID}`]);
    assert.match(early.seen.errors[0]!.message!, /^certificate for 127\.0\.0\.1 is not valid before .* by the device's clock, which reads 1970-01-01T00:00:0/);
    assert.equal(server.received(), "");
    // Set to the true time (what NTP does), the same certificate passes.
    chip.set(Date.now());
    const synced = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert }, { wallClock: chip } as Partial<TcpSocketOptions>);
    await until(() => synced.seen.events.length > 0, 5000, "a verdict");
    assert.deepEqual(synced.seen.events, [`writable ${WRITE_HIGH_WATER_BYTES}`]);
    // A clock far ahead finds it expired, naming the date and what the clock reads.
    chip.set(Date.UTC(2099, 0, 1));
    const late = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert }, { wallClock: chip } as Partial<TcpSocketOptions>);
    await until(() => late.seen.events.length > 0, 5000, "a verdict");
    assert.equal(late.seen.errors[0]!.code, TlsErrorCode.TLS_CERT_EXPIRED);
    assert.match(late.seen.errors[0]!.message!, /expired on .* by the device's clock, which reads 2099-01-01/);
  });

  it("checks the server name asked for, whatever address was dialled, and sends it as SNI", async function () {
    const server = await serve(certs.wrongHost);
    const asked = open(server.port, { serverName: "other.example", ca: certs.ca.cert });
    await until(() => asked.seen.events.length > 0, 5000, "a verdict");
    assert.deepEqual(asked.seen.events, [`writable ${WRITE_HIGH_WATER_BYTES}`], "other.example is what the certificate names");
    assert.deepEqual(server.servernames, ["other.example"]);
    const dialled = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert });
    await until(() => dialled.seen.errors.length > 0, 5000, "onError");
    assert.equal(dialled.seen.errors[0]!.code, TlsErrorCode.TLS_HOSTNAME_MISMATCH);
    assert.deepEqual(server.servernames, ["other.example"], "no SNI for an IP address (RFC 6066 section 3)");
  });

  it("calls a server that hangs up during the handshake a failed handshake, and a refused port a connection failure", async function () {
    const hangup = createTcpServer((peer: Socket) => {
      peer.on("error", () => {});
      peer.once("data", () => peer.end());
    });
    const port = await listenLoopback(hangup);
    cleanups.push(() => new Promise<void>((resolve) => hangup.close(() => resolve())));
    const failed = open(port, { serverName: "127.0.0.1" });
    await until(() => failed.seen.errors.length > 0, 5000, "onError");
    assert.deepEqual(failed.seen.errors, [
      { message: "TLS handshake with 127.0.0.1 failed: the server closed the connection", code: TlsErrorCode.TLS_HANDSHAKE_FAILED },
    ]);
    const refusedPort = await closedPort();
    const refused = open(refusedPort, { serverName: "127.0.0.1" });
    await until(() => refused.seen.errors.length > 0, 5000, "onError");
    await delay(50);
    assert.deepEqual(refused.seen.errors, [{ message: "connection refused", code: undefined }]);
  });

  it("close() during the handshake abandons it without a callback", async function () {
    const server = await serve(certs.good);
    const { socket, seen } = open(server.port, { serverName: "127.0.0.1", ca: certs.ca.cert });
    socket.close();
    await delay(200);
    assert.deepEqual(seen.events, []);
    assert.equal(server.received(), "");
  });

  it("refuses to start without the tls option, or with a CA that is not PEM (a Moddable resource name)", function () {
    const base = { host: "127.0.0.1", port: 1 };
    assert.throws(() => new NodeTlsSocket(base), { name: "TypeError", message: /needs the tls option/ });
    assert.throws(() => new NodeTlsSocket({ ...base, tls: { serverName: "" } }), /tls\.serverName must be a non-empty string/);
    assert.throws(() => new NodeTlsSocket({ ...base, tls: { serverName: "x", ca: "server-ca" } }), /tls\.ca must be PEM text/);
    assert.throws(() => new NodeTlsSocket({ ...base, tls: { serverName: "x", pins: ["abc"] } }), /tls\.pins must be base64 SHA-256/);
  });

  describe("readCaFile (the command lines' --ca)", function () {
    let folder: string;
    beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-ca-"))));
    afterEach(() => rmSync(folder, { recursive: true, force: true }));

    it("returns the PEM text of one certificate or a bundle", function () {
      const bundle = join(folder, "bundle.pem");
      writeFileSync(bundle, `# my CAs\n${certs.otherCa.cert}${certs.ca.cert}`);
      assert.ok(readCaFile(bundle).includes(certs.ca.cert));
    });

    it("names the file and the problem when it is missing, a folder, not PEM or not a certificate", function () {
      assert.throws(() => readCaFile(join(folder, "none.pem")), /cannot read the CA file .*none\.pem: no such file/);
      assert.throws(() => readCaFile(folder), /cannot read the CA file .*: it is a folder/);
      writeFileSync(join(folder, "key.pem"), certs.ca.key);
      assert.throws(() => readCaFile(join(folder, "key.pem")), /key\.pem holds no PEM certificate/);
      writeFileSync(join(folder, "bad.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
      assert.throws(() => readCaFile(join(folder, "bad.pem")), /bad\.pem holds a certificate that cannot be read/);
    });
  });

  it("hands the XS bridge what it needs: onError's code passes through a plain callback", async function () {
    // The XS host's bridge constructs NodeTlsSockets with the same options as NodeTcpSockets.
    const server = await serve(certs.expired);
    const reported = deferred<[string | undefined, TlsErrorCodeValue | undefined]>();
    sockets.push(
      new NodeTlsSocket({
        host: "127.0.0.1",
        port: server.port,
        nodelay: true,
        tls: { serverName: "127.0.0.1", ca: certs.ca.cert },
        onError: (message, code) => reported.resolve([message, code]),
      }),
    );
    const [message, code] = await within(reported.promise, 5000, "onError");
    assert.equal(code, TlsErrorCode.TLS_CERT_EXPIRED);
    assert.match(message!, /certificate for 127\.0\.0\.1 expired on/);
  });
});
