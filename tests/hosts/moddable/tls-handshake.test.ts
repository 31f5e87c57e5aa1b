/**
 * What the Moddable host reads from the server's side of a TLS 1.2 handshake
 * (hosts/moddable/tls-handshake.ts): the Certificate message found in the bytes the SDK reads,
 * however they are split; the X.509 fields it needs, checked against Node's own parser on
 * certificates made for this run; and which check a refused chain failed, as a user sees it.
 */
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import {
  alertName,
  chainDates,
  commonName,
  explainMissingAuthorityKey,
  explainRejection,
  HandshakeObserver,
  MAX_CERTIFICATE_MESSAGE,
  namesOf,
  namesServer,
  readCertificate,
  type CertificateFacts,
} from "../../../hosts/moddable/tls-handshake.js";
import { createCertificateAuthority, issueCertificate } from "../../../server/certificates.js";
import { testCertificates } from "../../support/certs.js";
import { certificateFlight, der, handshake, record } from "../../support/tls-records.js";

const DAY_MS = 86_400_000;

function facts(overrides: Partial<CertificateFacts>): CertificateFacts {
  const empty = new Uint8Array(0);
  return { notBefore: 0, notAfter: 0, issuer: empty, subject: empty, spki: empty, dnsNames: [], ipAddresses: [], ...overrides };
}

describe("Moddable host TLS handshake reading (hosts/moddable/tls-handshake.ts)", function () {
  this.timeout(20_000);

  describe("HandshakeObserver", function () {
    const certs = testCertificates();
    const chain = [der(certs.good.cert), der(certs.ca.cert)];
    const flight = certificateFlight(chain);

    it("finds the server's chain, leaf first, in its first flight", function () {
      const observer = new HandshakeObserver();
      observer.feed(flight);
      assert.deepEqual(observer.certificates?.map((c) => [...c]), chain.map((c) => [...c]));
      assert.equal(observer.changedCipher, false);
      assert.equal(observer.notTls, false);
    });

    it("finds it whatever the split of the bytes, down to one byte at a time", function () {
      for (const size of [1, 2, 3, 4, 5, 7, 100, 1000]) {
        const observer = new HandshakeObserver();
        for (let at = 0; at < flight.length; at += size) observer.feed(flight.subarray(at, at + size));
        assert.deepEqual(observer.certificates?.map((c) => c.length), chain.map((c) => c.length), `${size} bytes at a time`);
      }
    });

    it("finds a Certificate message split across records, and several messages in one record", function () {
      const hello = handshake(2, new Uint8Array(70));
      const certificate = certificateFlight(chain, { recordsOf: 100, hello: false });
      const observer = new HandshakeObserver();
      observer.feed(record(22, hello));
      observer.feed(certificate);
      assert.equal(observer.certificates?.length, 2);
      const packed = new HandshakeObserver();
      packed.feed(certificateFlight(chain, { hello: true, done: true }));
      assert.equal(packed.certificates?.length, 2);
    });

    it("stops at the server's ChangeCipherSpec: what follows is encrypted", function () {
      const observer = new HandshakeObserver();
      observer.feed(flight);
      observer.feed(record(20, Uint8Array.of(1)));
      assert.equal(observer.changedCipher, true);
      observer.feed(record(22, handshake(11, new Uint8Array(10))));
      assert.equal(observer.certificates?.length, 2, "nothing after ChangeCipherSpec is read");
    });

    it("tells bytes that are not TLS (an HTTP answer) from TLS", function () {
      const observer = new HandshakeObserver();
      observer.feed(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
      assert.equal(observer.notTls, true);
      assert.equal(observer.certificates, undefined);
    });

    it("keeps an alert the server sent in the clear", function () {
      const observer = new HandshakeObserver();
      observer.feed(record(21, Uint8Array.of(2, 40)));
      assert.deepEqual(observer.alert, [2, 40]);
      assert.equal(alertName(40), "handshake_failure (40)");
      assert.equal(alertName(0), "close_notify (0)");
      assert.equal(alertName(250), "alert (250)");
    });

    it(`keeps no Certificate message over ${MAX_CERTIFICATE_MESSAGE} bytes, and says so`, function () {
      const big = new Uint8Array(MAX_CERTIFICATE_MESSAGE);
      const observer = new HandshakeObserver();
      observer.feed(certificateFlight([big]));
      assert.equal(observer.certificates, undefined);
      assert.equal(observer.certificatesTooLarge, true);
    });

    it("reads a malformed certificate list as none", function () {
      const observer = new HandshakeObserver();
      observer.feed(record(22, handshake(11, Uint8Array.of(0, 0, 9, 0, 0, 1, 7))));
      assert.equal(observer.certificates, undefined);
    });
  });

  describe("readCertificate", function () {
    const certs = testCertificates();

    it("reads the validity, names and public key as Node reads them", function () {
      const node = new X509Certificate(certs.good.cert);
      const read = readCertificate(new Uint8Array(node.raw));
      assert.equal(read.notBefore, new Date(node.validFrom).getTime());
      assert.equal(read.notAfter, new Date(node.validTo).getTime());
      assert.deepEqual(read.dnsNames, ["localhost"]);
      assert.deepEqual(read.ipAddresses, ["127.0.0.1", "0:0:0:0:0:0:0:1"]);
      assert.equal(createHash("sha256").update(read.spki).digest("base64"), certs.good.pin, "the pin is the SHA-256 of the SPKI read");
      assert.equal(commonName(read.subject), "127.0.0.1");
      assert.equal(commonName(read.issuer), "moorline test CA");
    });

    it("reads a self-signed certificate's issuer and subject as the same bytes", function () {
      const self = readCertificate(der(certs.selfSigned.cert));
      assert.deepEqual([...self.issuer], [...self.subject]);
      const leaf = readCertificate(der(certs.good.cert));
      assert.notDeepEqual([...leaf.issuer], [...leaf.subject]);
    });

    it("reads the key identifiers: a leaf's authority key is its CA's key", function () {
      const ca = readCertificate(der(certs.ca.cert));
      const leaf = readCertificate(der(certs.good.cert));
      assert.equal(ca.keyId?.length, 20);
      assert.deepEqual(leaf.authorityKeyId, ca.keyId);
    });

    it("reads GeneralizedTime dates past 2049", function () {
      const far = issueCertificate({
        commonName: "far",
        issuer: certs.ca,
        notBefore: new Date(Date.UTC(2049, 0, 1)),
        notAfter: new Date(Date.UTC(2051, 5, 30, 12, 0, 0)),
      });
      const read = readCertificate(der(far.cert));
      assert.equal(read.notBefore, Date.UTC(2049, 0, 1));
      assert.equal(read.notAfter, Date.UTC(2051, 5, 30, 12, 0, 0));
    });

    it("throws a RangeError for bytes that are not a certificate", function () {
      assert.throws(() => readCertificate(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)), RangeError);
      assert.throws(() => readCertificate(Uint8Array.of(0x30, 0x82, 0xff)), RangeError);
      assert.throws(() => readCertificate(new TextEncoder().encode("-----BEGIN CERTIFICATE-----")), RangeError);
    });
  });

  describe("namesServer (the SDK's name rules)", function () {
    it("matches a dNSName whatever its case, and an IPv4 iPAddress", function () {
      const cert = facts({ dnsNames: ["device.example.com"], ipAddresses: ["10.0.0.7"] });
      assert.equal(namesServer(cert, "Device.Example.COM"), true);
      assert.equal(namesServer(cert, "10.0.0.7"), true);
      assert.equal(namesServer(cert, "other.example.com"), false);
      assert.equal(namesServer(cert, "10.0.0.8"), false);
    });

    it("matches a wildcard on the part from the first dot only", function () {
      const cert = facts({ dnsNames: ["*.example.com"] });
      assert.equal(namesServer(cert, "a.example.com"), true);
      assert.equal(namesServer(cert, "a.b.example.com"), false);
      assert.equal(namesServer(cert, "example.com"), false);
      assert.equal(namesServer(facts({ dnsNames: ["*.*.com"] }), "a.b.com"), false, "one wildcard only");
    });

    it("does not match an IPv6 address (the SDK compares IPv4 only), nor falls back to the CN", function () {
      assert.equal(namesServer(facts({ ipAddresses: ["0:0:0:0:0:0:0:1"] }), "0:0:0:0:0:0:0:1"), false);
      assert.equal(namesServer(facts({}), "127.0.0.1"), false);
      assert.equal(namesOf(facts({})), "no name in subjectAltName");
      assert.equal(namesOf(facts({ dnsNames: ["a.example"], ipAddresses: ["10.0.0.1"] })), "DNS:a.example, IP:10.0.0.1");
    });
  });

  describe("explainRejection: which check a refused chain failed", function () {
    const certs = testCertificates();
    const now = Date.now();
    const ca = { name: "test-ca.der", der: der(certs.ca.cert) };
    const explain = (chain: string[] | undefined, extra: Partial<Parameters<typeof explainRejection>[0]> = {}) =>
      explainRejection({ chain: chain?.map(der), serverName: "127.0.0.1", now, ca, ...extra });

    it("an expired certificate: ERR_TLS_CERT_EXPIRED with its end date", function () {
      const failure = explain([certs.expired.cert, certs.ca.cert]);
      assert.equal(failure.code, "ERR_TLS_CERT_EXPIRED");
      const end = new Date(new X509Certificate(certs.expired.cert).validTo).toISOString().replace(".000Z", "Z");
      assert.equal(failure.message, `certificate for 127.0.0.1 expired on ${end}`);
    });

    it("a certificate not valid yet: ERR_TLS_CERT_NOT_YET_VALID", function () {
      const failure = explain([certs.notYetValid.cert, certs.ca.cert]);
      assert.equal(failure.code, "ERR_TLS_CERT_NOT_YET_VALID");
      assert.match(failure.message, /^certificate for 127\.0\.0\.1 is not valid before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it("a clock never set (an ESP32 without SNTP starts in 1970): says so", function () {
      const failure = explain([certs.good.cert, certs.ca.cert], { now: 5_000 });
      assert.equal(failure.code, "ERR_TLS_CERT_NOT_YET_VALID");
      assert.match(failure.message, /the device's clock reads 1970-01-01T00:00:05Z: it has not been set/);
    });

    it("an expired CA in the chain: names it", function () {
      const old = createCertificateAuthority("old CA", { notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) });
      const leaf = issueCertificate({ commonName: "127.0.0.1", names: ["127.0.0.1"], issuer: old });
      const failure = explain([leaf.cert, old.cert]);
      assert.equal(failure.code, "ERR_TLS_CERT_EXPIRED");
      assert.match(failure.message, /^certificate 2 of 2 \(CN=old CA\) in the chain of 127\.0\.0\.1 expired on /);
    });

    it("a self-signed certificate: ERR_TLS_SELF_SIGNED", function () {
      assert.deepEqual(explain([certs.selfSigned.cert]), {
        code: "ERR_TLS_SELF_SIGNED",
        message: "certificate for 127.0.0.1 is self-signed, and not a trusted CA",
      });
    });

    it("a certificate for other names: ERR_TLS_HOSTNAME_MISMATCH, listing them", function () {
      assert.deepEqual(explain([certs.wrongHost.cert, certs.ca.cert]), {
        code: "ERR_TLS_HOSTNAME_MISMATCH",
        message: "the server's certificate is not valid for 127.0.0.1: it names DNS:other.example, IP:127.0.0.2",
      });
    });

    it("a CA the device does not trust: ERR_TLS_UNKNOWN_CA, naming the issuer and what the device trusts", function () {
      assert.deepEqual(explain([certs.unknownCa.cert, certs.otherCa.cert]), {
        code: "ERR_TLS_UNKNOWN_CA",
        message: "certificate for 127.0.0.1 is signed by an unknown CA (issuer CN=some other CA; the device trusts test-ca.der)",
      });
      assert.match(explain([certs.good.cert, certs.ca.cert], { ca: undefined }).message, /the device was given no CA/);
      assert.equal(explain([certs.unknownCa.cert]).code, "ERR_TLS_UNKNOWN_CA", "alone, by another CA");
    });

    it("a good certificate sent alone: the SDK refuses any chain of one, and the message says what to change", function () {
      const failure = explain([certs.good.cert]);
      assert.equal(failure.code, "ERR_TLS_HANDSHAKE_FAILED");
      assert.equal(
        failure.message,
        "the server sent its certificate for 127.0.0.1 alone, and Moddable's TLS only accepts a chain: " +
          "make the server send its certificate followed by its CA's (CN=moorline test CA, the device's test-ca.der)",
      );
    });

    it("no chain seen, or one that cannot be read: ERR_TLS_HANDSHAKE_FAILED", function () {
      assert.equal(explain(undefined).code, "ERR_TLS_HANDSHAKE_FAILED");
      const failure = explainRejection({ chain: [Uint8Array.of(1, 2, 3)], serverName: "127.0.0.1", now });
      assert.equal(failure.code, "ERR_TLS_HANDSHAKE_FAILED");
      assert.match(failure.message, /cannot be read/);
    });
  });

  describe("chainDates and explainMissingAuthorityKey", function () {
    const certs = testCertificates();

    it("chainDates: the first certificate of an accepted chain outside its dates", function () {
      const now = Date.now();
      assert.equal(chainDates([der(certs.good.cert), der(certs.ca.cert)], "127.0.0.1", now), undefined);
      assert.equal(chainDates([der(certs.good.cert), der(certs.ca.cert)], "127.0.0.1", now + 4000 * DAY_MS)?.code, "ERR_TLS_CERT_EXPIRED");
      assert.equal(chainDates([Uint8Array.of(9)], "127.0.0.1", now), undefined, "unreadable: left to the SDK");
    });

    it("explainMissingAuthorityKey: a CA in the chain without an authorityKeyIdentifier", function () {
      const withKey = [der(certs.good.cert), der(certs.ca.cert)];
      assert.equal(explainMissingAuthorityKey(withKey, "127.0.0.1"), undefined);
      const intermediate = issueCertificate({ commonName: "intermediate", ca: true, issuer: certs.ca });
      assert.equal(explainMissingAuthorityKey([der(certs.good.cert), der(intermediate.cert)], "127.0.0.1"), undefined);
      const rootWithoutKeyId = der(certs.selfSigned.cert); // self-signed, no authorityKeyIdentifier
      const failure = explainMissingAuthorityKey([der(certs.good.cert), rootWithoutKeyId], "127.0.0.1");
      assert.equal(failure?.code, "ERR_TLS_HANDSHAKE_FAILED");
      assert.match(failure!.message, /holds a CA certificate without an authorityKeyIdentifier \(CN=127\.0\.0\.1\)/);
    });
  });
});
