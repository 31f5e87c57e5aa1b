/**
 * The Moddable host's TLS socket (hosts/moddable/tls.ts) over fakes that behave like the
 * SDK's (8.2.3): a TLS socket that opens its TCP socket with `new options.TCP.io(...)`, reads
 * the server's bytes through it into a Uint8Array, reports "connected" with onWritable, and
 * refuses a certificate by THROWING from inside the TCP callback ("certificate: auth err",
 * "date validation failed", "Resource not found: ca7.der", "alert: 2, 40"); and a TCP socket
 * like tcp.test.ts's. The server's flights are real TLS records holding certificates made
 * for this run, so what the host reads from the handshake is what a server sends.
 */
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import type { TcpSocket, TcpSocketOptions, TlsOptions } from "../../../src/shared/host.js";
import type { Ecma419Tcp, Ecma419TcpOptions, Resolve } from "../../../hosts/moddable/tcp.js";
import {
  caResourceName,
  createTlsSocketClass,
  loadCa,
  type Ecma419TlsOptions,
  type SessionSocket,
} from "../../../hosts/moddable/tls.js";
import { issueCertificate } from "../../../server/certificates.js";
import { testCertificates } from "../../support/certs.js";
import { certificateFlight, CHANGE_CIPHER_SPEC, der, record } from "../../support/tls-records.js";

/** The SDK's TCP socket: an address only; read() into a Uint8Array fills it and gives the count. */
class FakeSdkTcp implements Ecma419Tcp {
  static made: FakeSdkTcp[] = [];
  readonly options: Ecma419TcpOptions;
  buffered: number[] = [];
  written: number[][] = [];
  closed = 0;

  constructor(options: Ecma419TcpOptions) {
    if (!/^[0-9.:a-fA-F]+$/.test(options.address)) throw new Error("invalid address");
    this.options = options;
    FakeSdkTcp.made.push(this);
  }
  read(count?: number | Uint8Array): ArrayBuffer | number | undefined {
    if (this.buffered.length === 0) return undefined;
    if (count instanceof Uint8Array) {
      if (count.length === 0 || count.length > this.buffered.length) throw new Error("invalid");
      count.set(this.buffered.splice(0, count.length));
      return count.length;
    }
    const wanted = count ?? this.buffered.length;
    if (wanted <= 0 || wanted > this.buffered.length) throw new Error("invalid");
    return Uint8Array.from(this.buffered.splice(0, wanted)).buffer;
  }
  write(bytes: Uint8Array): number {
    this.written.push([...bytes]);
    return 5744;
  }
  close(): void {
    this.closed++;
  }
  connected(): void {
    this.options.onWritable?.call(this as never, 5744);
  }
  receive(bytes: Uint8Array): void {
    this.buffered.push(...bytes);
    this.options.onReadable?.call(this as never, this.buffered.length);
  }
  fail(): void {
    this.options.onError?.call(this as never);
  }
}

/** An SDK failure: the SDK's TLSError has the name "TLS" and the message says what it is. */
function sdkError(message: string): Error {
  const error = new Error(message);
  error.name = "TLS";
  return error;
}

/**
 * The SDK's TLS socket (examples/io/tcp/tlssocket): what each test lets it decide is
 * `decide(bytes)`, called with the server's bytes it read, inside the TCP callback: it may
 * throw (the SDK refusing), return "established" (the handshake is done), or nothing yet.
 */
class FakeSdkTls implements Ecma419Tcp {
  static made: FakeSdkTls[] = [];
  static refuseAtStart: Error | undefined;
  readonly options: Ecma419TlsOptions;
  readonly socket: SessionSocket;
  decide: (bytes: Uint8Array) => "established" | undefined = () => undefined;
  ready = false;
  application: number[] = [];
  written: number[][] = [];
  closed = 0;

  constructor(options: Ecma419TlsOptions) {
    this.options = options;
    if (FakeSdkTls.refuseAtStart) throw FakeSdkTls.refuseAtStart;
    this.socket = new options.TCP.io({
      ...options,
      onReadable: (count: number) => this.onTcpReadable(count),
      onWritable: (count: number) => this.onTcpWritable(count),
      onError: () => this.options.onError?.(),
    });
    FakeSdkTls.made.push(this);
  }
  private onTcpWritable(count: number): void {
    this.socket.writable = count;
    if (this.ready) this.options.onWritable?.(count - 96);
    else this.socket.write(Uint8Array.of(22, 3, 1)); // a ClientHello
  }
  private onTcpReadable(count: number): void {
    this.socket.readable = count;
    const bytes = new Uint8Array(count);
    this.socket.read(bytes);
    if (this.ready) {
      this.application.push(...bytes);
      this.options.onReadable?.(this.application.length);
      return;
    }
    if (this.decide(bytes) === "established") {
      this.ready = true;
      this.options.onWritable?.(this.socket.writable - 96);
    }
  }
  read(count?: number): ArrayBuffer | undefined {
    const wanted = count ?? this.application.length;
    if (wanted > this.application.length) throw new Error("invalid");
    return Uint8Array.from(this.application.splice(0, wanted)).buffer;
  }
  write(bytes: Uint8Array): number {
    this.written.push([...bytes]);
    return 5000;
  }
  close(): void {
    this.closed++;
    this.socket.close();
  }
}

const certs = testCertificates();
const CA_DER = der(certs.ca.cert);

function pendingResolver() {
  const asked: Array<{ name: string; answer: (address?: string) => void }> = [];
  const resolve: Resolve = (name, callback) => asked.push({ name, answer: (address) => callback(name, address) });
  return { resolve, asked };
}

function recorder(tls: TlsOptions, host = "127.0.0.1", port = 8443) {
  const events: string[] = [];
  const options: TcpSocketOptions = {
    host,
    port,
    nodelay: true,
    tls,
    onReadable: (count) => events.push(`readable ${count}`),
    onWritable: (count) => events.push(`writable ${count}`),
    onError: (message, code) => events.push(`error ${code ?? "-"} ${message}`),
  };
  return { options, events };
}

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest());

/** The host lets go of the SDK's socket in a promise job: after this, it has. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Moddable host TLS (hosts/moddable/tls.ts)", function () {
  this.timeout(20_000);
  let resolver: ReturnType<typeof pendingResolver>;
  let resources: Map<string, ArrayBuffer>;
  let clock: number;
  let Tls: new (options: TcpSocketOptions) => TcpSocket;

  beforeEach(function () {
    FakeSdkTcp.made = [];
    FakeSdkTls.made = [];
    FakeSdkTls.refuseAtStart = undefined;
    resolver = pendingResolver();
    resources = new Map([["test-ca.der", CA_DER.slice().buffer]]);
    clock = Date.now();
    Tls = createTlsSocketClass({
      TLS: FakeSdkTls,
      TCP: FakeSdkTcp,
      resolve: resolver.resolve,
      resource: (name) => resources.get(name),
      sha256,
      now: () => clock,
    });
  });

  /** Opens a connection to 127.0.0.1 trusting test-ca, its TCP connected. */
  function open(tls: Partial<TlsOptions> = {}) {
    const { options, events } = recorder({ serverName: "127.0.0.1", ca: "test-ca", ...tls });
    const socket = new Tls(options);
    const sdk = FakeSdkTls.made[0]!;
    const tcp = FakeSdkTcp.made[0]!;
    tcp.connected();
    return { socket, sdk, tcp, events };
  }

  /** The server's first flight with `chain`, then its ChangeCipherSpec and Finished. */
  function handshakeWith(tcp: FakeSdkTcp, sdk: FakeSdkTls, chain: string[]): void {
    sdk.decide = () => undefined;
    tcp.receive(certificateFlight(chain.map(der), { done: true }));
    sdk.decide = () => "established";
    tcp.receive(new Uint8Array([...CHANGE_CIPHER_SPEC, ...record(22, new Uint8Array(40))]));
  }

  describe("opening", function () {
    it("opens the SDK's TLS socket over a TCP socket of its own, with the server name for SNI and the CA resource", function () {
      const { options } = recorder({ serverName: "127.0.0.1", ca: "test-ca" });
      new Tls(options);
      const sdk = FakeSdkTls.made[0]!.options;
      assert.equal(sdk.address, "127.0.0.1");
      assert.equal(sdk.port, 8443);
      assert.equal(sdk.host, "127.0.0.1");
      assert.equal(sdk.nodelay, true);
      assert.deepEqual(new Uint8Array(sdk.secure.certificate!), CA_DER);
      assert.equal(sdk.secure.verify, undefined, "verification is the SDK's default: on");
      assert.equal(sdk.secure.cache, undefined, "session resumption is kept without pins");
      const tcp = FakeSdkTcp.made[0]!.options;
      assert.equal(tcp.address, "127.0.0.1");
      assert.equal(tcp.port, 8443);
      assert.equal(tcp.format, "buffer");
    });

    it("resolves a host name with Net.resolve, connects to the address and checks the certificate for the name", function () {
      const { options } = recorder({ serverName: "iot.example" }, "iot.example");
      new Tls(options);
      assert.equal(FakeSdkTls.made.length, 0);
      resolver.asked[0]!.answer("10.1.2.3");
      assert.equal(FakeSdkTls.made[0]!.options.address, "10.1.2.3");
      assert.equal(FakeSdkTls.made[0]!.options.host, "iot.example");
      assert.equal(FakeSdkTls.made[0]!.options.secure.certificate, undefined, "no ca: the SDK's own store");
    });

    it("reports a name that does not resolve, without a TLS code", function () {
      const { options, events } = recorder({ serverName: "nowhere.invalid" }, "nowhere.invalid");
      new Tls(options);
      resolver.asked[0]!.answer(undefined);
      assert.deepEqual(events, ['error - cannot resolve host name "nowhere.invalid"']);
    });

    it("asks the SDK for no session resumption when pins are given, and no verification for insecure", function () {
      open({ pins: [certs.goodPin] });
      assert.equal(FakeSdkTls.made[0]!.options.secure.cache, false);
      FakeSdkTls.made = [];
      FakeSdkTcp.made = [];
      open({ insecure: true, ca: undefined });
      assert.equal(FakeSdkTls.made[0]!.options.secure.verify, false);
    });

    it("throws for bad options, as the Node host does", function () {
      const bad = (tls: unknown, host = "127.0.0.1") => () => new Tls({ ...recorder(tls as TlsOptions, host).options });
      assert.throws(bad(undefined), { name: "TypeError", message: /needs the tls option/ });
      assert.throws(bad({ serverName: "" }), { name: "TypeError", message: /tls\.serverName must be a non-empty string/ });
      assert.throws(bad({ serverName: "a", pins: ["nope"] }), { name: "TypeError", message: /tls\.pins must be base64 SHA-256/ });
      assert.throws(bad({ serverName: "a", insecure: "yes" }), { name: "TypeError", message: /tls\.insecure must be a boolean/ });
      assert.throws(bad({ serverName: "a" }, ""), { name: "TypeError", message: /TCP host must be a non-empty string/ });
    });
  });

  describe("the CA, a certificate resource", function () {
    it("is named with or without .der", function () {
      assert.equal(caResourceName("my-ca"), "my-ca.der");
      assert.equal(caResourceName("my-ca.der"), "my-ca.der");
      assert.equal(caResourceName("My-CA.DER"), "My-CA.DER");
    });

    it("is refused when the firmware has none by that name, saying where to put it", function () {
      const { options } = recorder({ serverName: "127.0.0.1", ca: "missing-ca" });
      assert.throws(() => new Tls(options), {
        message:
          "the firmware has no certificate resource missing-ca.der: put the CA in DER at certs/missing-ca.der " +
          "(openssl x509 -in ca.pem -outform der -out certs/missing-ca.der) and rebuild",
      });
    });

    it("is refused when it is PEM text, or a resource that is not a DER certificate", function () {
      assert.throws(() => loadCa(certs.ca.cert, (name) => resources.get(name)), { name: "TypeError", message: /names a certificate resource .* not PEM text/ });
      resources.set("pem-ca.der", new TextEncoder().encode(certs.ca.cert).buffer as ArrayBuffer);
      assert.throws(() => loadCa("pem-ca", (name) => resources.get(name)), { message: /^the resource pem-ca\.der is not a DER certificate .*openssl x509 -in ca\.pem -outform der/ });
      assert.throws(() => loadCa("../etc/passwd", (name) => resources.get(name)), { name: "TypeError", message: /letters, digits and \._-/ });
    });

    it("is read once for every connection", function () {
      let reads = 0;
      const Counting = createTlsSocketClass({
        TLS: FakeSdkTls,
        TCP: FakeSdkTcp,
        resolve: resolver.resolve,
        resource: (name) => (reads++, resources.get(name)),
        sha256,
        now: () => clock,
      });
      new Counting(recorder({ serverName: "127.0.0.1", ca: "test-ca" }).options).close();
      new Counting(recorder({ serverName: "127.0.0.1", ca: "test-ca.der" }).options).close();
      assert.equal(reads, 1);
    });
  });

  describe("a verified connection", function () {
    it("says connected (onWritable) once the SDK finished the handshake and the server changed cipher", function () {
      const { socket, sdk, tcp, events } = open();
      handshakeWith(tcp, sdk, [certs.good.cert, certs.ca.cert]);
      assert.deepEqual(events, [`writable ${5744 - 96}`]);
      socket.write(Uint8Array.of(1, 2, 3));
      assert.deepEqual(sdk.written, [[1, 2, 3]]);
    });

    it("reads what the SDK decrypted, as Uint8Arrays, never asking for more than announced", function () {
      const { socket, sdk, tcp, events } = open();
      handshakeWith(tcp, sdk, [certs.good.cert, certs.ca.cert]);
      tcp.receive(Uint8Array.of(0x81, 0x02, 0x68, 0x69));
      assert.deepEqual(events.slice(1), ["readable 4"]);
      assert.deepEqual([...socket.read(2)!], [0x81, 0x02]);
      assert.deepEqual([...socket.read(100)!], [0x68, 0x69]);
      assert.equal(socket.read(), undefined);
    });

    it("refuses to write before it is connected, and after close()", function () {
      const { socket } = open();
      assert.throws(() => socket.write(Uint8Array.of(1)), /before the connection is open/);
      socket.close();
      assert.throws(() => socket.write(Uint8Array.of(1)), /write after close\(\)/);
    });

    it("accepts a pinned public key", function () {
      const { sdk, tcp, events } = open({ pins: ["A".repeat(43) + "=", certs.goodPin] });
      handshakeWith(tcp, sdk, [certs.good.cert, certs.ca.cert]);
      assert.deepEqual(events, [`writable ${5744 - 96}`]);
    });

    it("refuses a public key that is not pinned, before anything is written: ERR_TLS_PIN_MISMATCH", async function () {
      const other = issueCertificate({ commonName: "127.0.0.1", names: ["127.0.0.1"], issuer: certs.ca });
      const { sdk, tcp, events } = open({ pins: [certs.goodPin] });
      handshakeWith(tcp, sdk, [other.cert, certs.ca.cert]);
      assert.deepEqual(events, [
        `error ERR_TLS_PIN_MISMATCH the public key of the certificate for 127.0.0.1 (pin ${other.pin}) is not one of the pinned keys (1 given)`,
      ]);
      assert.equal(sdk.closed, 0, "not from inside the SDK's own callback");
      await settled();
      assert.equal(sdk.closed, 1);
      assert.deepEqual(sdk.written, []);
    });

    it("refuses a pinned connection whose certificate it did not see (a chain too large to keep)", function () {
      const { sdk, tcp, events } = open({ pins: [certs.goodPin] });
      sdk.decide = () => undefined;
      tcp.receive(certificateFlight([new Uint8Array(9000)]));
      sdk.decide = () => "established";
      tcp.receive(CHANGE_CIPHER_SPEC);
      assert.match(events[0]!, /^error ERR_TLS_PIN_MISMATCH .*\(pin \(certificate chain too large to check\)\)/);
    });

    it("refuses a chain the SDK accepted with an expired CA certificate in it (the SDK checks the leaf's dates only)", function () {
      const { sdk, tcp, events } = open();
      clock = new Date(new X509Certificate(certs.ca.cert).validTo).getTime() + 1000;
      handshakeWith(tcp, sdk, [certs.good.cert, certs.ca.cert]);
      assert.equal(events.length, 1);
      assert.match(events[0]!, /^error ERR_TLS_CERT_EXPIRED certificate for 127\.0\.0\.1 expired on /);
    });

    it("takes an insecure connection without looking at its certificate", function () {
      const { sdk, tcp, events } = open({ insecure: true, ca: undefined });
      clock = Date.UTC(1970, 0, 1);
      handshakeWith(tcp, sdk, [certs.selfSigned.cert]);
      assert.deepEqual(events, [`writable ${5744 - 96}`]);
    });

    it("does not take the SDK's word for a handshake the server ended with an alert", function () {
      const { sdk, tcp, events } = open();
      sdk.decide = () => "established"; // the SDK takes a close_notify for the end of the handshake
      tcp.receive(record(21, Uint8Array.of(1, 0)));
      assert.deepEqual(events, ["error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 failed: the server sent alert close_notify (0)"]);
    });
  });

  describe("refusals: the SDK throws from inside its callbacks, the host reports why", function () {
    /** The SDK reads the server's first flight, then throws `message`. */
    async function refused(chain: string[], message: string, tls: Partial<TlsOptions> = {}): Promise<string[]> {
      const { sdk, tcp, events } = open(tls);
      sdk.decide = () => {
        throw sdkError(message);
      };
      assert.doesNotThrow(() => tcp.receive(certificateFlight(chain.map(der), { done: true })), "nothing reaches the SDK's TCP (XS would abort)");
      tcp.receive(Uint8Array.of(1));
      tcp.fail();
      await settled();
      assert.equal(sdk.closed, 1, "the SDK socket is closed");
      return events;
    }

    it("a CA the device does not trust: ERR_TLS_UNKNOWN_CA", async function () {
      assert.deepEqual(await refused([certs.unknownCa.cert, certs.otherCa.cert], "certificate: auth err"), [
        "error ERR_TLS_UNKNOWN_CA certificate for 127.0.0.1 is signed by an unknown CA (issuer CN=some other CA; the device trusts test-ca.der)",
      ]);
    });

    it("a certificate for another name: ERR_TLS_HOSTNAME_MISMATCH", async function () {
      assert.deepEqual(await refused([certs.wrongHost.cert, certs.ca.cert], "certificate: auth err"), [
        "error ERR_TLS_HOSTNAME_MISMATCH the server's certificate is not valid for 127.0.0.1: it names DNS:other.example, IP:127.0.0.2",
      ]);
    });

    it("a self-signed certificate: ERR_TLS_SELF_SIGNED", async function () {
      assert.deepEqual(await refused([certs.selfSigned.cert], "certificate: auth err"), [
        "error ERR_TLS_SELF_SIGNED certificate for 127.0.0.1 is self-signed, and not a trusted CA",
      ]);
    });

    it("an expired or not yet valid certificate (the SDK says 'date validation failed'): ERR_TLS_CERT_EXPIRED, ERR_TLS_CERT_NOT_YET_VALID", async function () {
      assert.match((await refused([certs.expired.cert, certs.ca.cert], "date validation failed"))[0]!, /^error ERR_TLS_CERT_EXPIRED certificate for 127\.0\.0\.1 expired on /);
      FakeSdkTls.made = [];
      FakeSdkTcp.made = [];
      assert.match((await refused([certs.notYetValid.cert, certs.ca.cert], "date validation failed"))[0]!, /^error ERR_TLS_CERT_NOT_YET_VALID /);
    });

    it("a chain whose CA is in the SDK's store but not in the firmware: ERR_TLS_UNKNOWN_CA naming the resource to add", async function () {
      assert.deepEqual(await refused([certs.good.cert, certs.ca.cert], "Resource not found: ca7.der", { ca: undefined }), [
        'error ERR_TLS_UNKNOWN_CA certificate for 127.0.0.1 is signed by a CA of the SDK\'s store (ca7.der) that is not built into the firmware: add "$(MODULES)/crypt/data/ca7" to the manifest\'s resources, or give the device its CA (ca=)',
      ]);
    });

    it("a chain ending with a root without an authorityKeyIdentifier (the SDK says 'invalid buffer')", async function () {
      assert.match((await refused([certs.good.cert, certs.selfSigned.cert], "invalid buffer"))[0]!, /^error ERR_TLS_HANDSHAKE_FAILED the chain of 127\.0\.0\.1 holds a CA certificate without an authorityKeyIdentifier/);
    });

    it("the server's alert: ERR_TLS_HANDSHAKE_FAILED naming it", async function () {
      assert.deepEqual(await refused([certs.good.cert, certs.ca.cert], "alert: 2, 40"), [
        "error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 failed: the server sent alert handshake_failure (40)",
      ]);
    });

    it("anything else: ERR_TLS_HANDSHAKE_FAILED with the SDK's words", async function () {
      assert.deepEqual(await refused([certs.good.cert, certs.ca.cert], "handshake: unsuppoorted cipher"), [
        "error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 failed: handshake: unsuppoorted cipher",
      ]);
    });

    it("the device's own CA outside its dates (the SDK refuses it at the start): names the CA", function () {
      FakeSdkTls.refuseAtStart = sdkError("date validation failed");
      clock = Date.UTC(1970, 0, 1, 0, 0, 9);
      const { options, events } = recorder({ serverName: "127.0.0.1", ca: "test-ca" });
      new Tls(options);
      assert.equal(events.length, 1);
      assert.match(events[0]!, /^error ERR_TLS_CERT_NOT_YET_VALID the device's CA test-ca\.der is not valid before .* \(the device's clock reads 1970-01-01T00:00:09Z: it has not been set, so no certificate can be checked\)$/);
    });
  });

  describe("ending", function () {
    it("a connection refused before TCP connects: no TLS code, as for TCP", function () {
      const { options, events } = recorder({ serverName: "127.0.0.1" });
      new Tls(options);
      FakeSdkTcp.made[0]!.fail();
      assert.deepEqual(events, ["error - connection failed or closed (127.0.0.1:8443)"]);
    });

    it("the server closing during the handshake: ERR_TLS_HANDSHAKE_FAILED, saying whether it spoke TLS", function () {
      const closed = open();
      closed.tcp.fail();
      assert.deepEqual(closed.events, ["error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 (127.0.0.1:8443) failed: the server closed the connection"]);
      FakeSdkTls.made = [];
      FakeSdkTcp.made = [];
      const plain = open();
      plain.tcp.receive(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
      plain.tcp.fail();
      assert.deepEqual(plain.events, ["error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 (127.0.0.1:8443) failed: the server does not speak TLS"]);
      FakeSdkTls.made = [];
      FakeSdkTcp.made = [];
      const alert = open();
      alert.tcp.receive(record(21, Uint8Array.of(2, 70)));
      alert.tcp.fail();
      assert.deepEqual(alert.events, ["error ERR_TLS_HANDSHAKE_FAILED TLS handshake with 127.0.0.1 (127.0.0.1:8443) failed: the server sent alert protocol_version (70)"]);
    });

    it("after the handshake: the connection's end, or the SDK's exception, without a TLS code", function () {
      const ended = open();
      handshakeWith(ended.tcp, ended.sdk, [certs.good.cert, certs.ca.cert]);
      ended.tcp.fail();
      assert.deepEqual(ended.events.slice(1), ["error - connection failed or closed (127.0.0.1:8443)"]);
      FakeSdkTls.made = [];
      FakeSdkTcp.made = [];
      const broken = open();
      handshakeWith(broken.tcp, broken.sdk, [certs.good.cert, certs.ca.cert]);
      broken.sdk.options.onReadable = () => {
        throw sdkError("recordProtocol auth failed");
      };
      assert.doesNotThrow(() => broken.tcp.receive(Uint8Array.of(23, 3, 3)));
      assert.deepEqual(broken.events.slice(1), ["error - TLS connection to 127.0.0.1:8443 failed: recordProtocol auth failed"]);
    });

    it("close() closes the SDK socket once, and nothing is reported after", async function () {
      const { socket, sdk, tcp, events } = open();
      socket.close();
      socket.close();
      await settled();
      tcp.receive(certificateFlight([der(certs.good.cert)]));
      tcp.fail();
      assert.equal(sdk.closed, 1);
      assert.equal(tcp.closed, 1);
      assert.deepEqual(events, []);
    });

    it("a lookup that answers after close() opens nothing", function () {
      const { options, events } = recorder({ serverName: "iot.example" }, "iot.example");
      new Tls(options).close();
      resolver.asked[0]!.answer("10.1.2.3");
      assert.equal(FakeSdkTls.made.length, 0);
      assert.deepEqual(events, []);
    });
  });
});
