/**
 * server/certificates.ts: the local CA and server certificates `--tls` makes, read back with
 * Node's own X.509 parser (not the library that wrote them), and ensureLocalTls keeping,
 * renewing and protecting the files.
 */
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCertificate } from "../../hosts/moddable/tls-handshake.js";

import {
  createCertificateAuthority,
  DEFAULT_TLS_DIR,
  ensureLocalTls,
  issueCertificate,
  LOCAL_SERVER_NAMES,
} from "../../server/certificates.js";

const DAY_MS = 86_400_000;

describe("certificates (server/certificates.ts)", function () {
  this.timeout(20_000);

  describe("issueCertificate", function () {
    // Made when these tests run, not when the file loads: the validity test compares with now.
    let ca: ReturnType<typeof createCertificateAuthority>;
    let server: ReturnType<typeof issueCertificate>;
    before(function () {
      ca = createCertificateAuthority("test CA");
      server = issueCertificate({ commonName: "device server", names: ["127.0.0.1", "localhost", "::1"], issuer: ca });
    });

    it("makes a CA certificate that may sign others", function () {
      const cert = new X509Certificate(ca.cert);
      assert.equal(cert.ca, true);
      assert.match(cert.subject, /CN=test CA/);
      assert.equal(cert.subject, cert.issuer, "self-signed");
      assert.ok(cert.verify(cert.publicKey));
    });

    it("names the CA's own key as its authority key (Moddable's TLS fails on a root without one)", function () {
      const facts = readCertificate(new Uint8Array(new X509Certificate(ca.cert).raw));
      assert.ok(facts.keyId && facts.keyId.length === 20);
      assert.deepEqual(facts.authorityKeyId, facts.keyId);
      const leaf = readCertificate(new Uint8Array(new X509Certificate(server.cert).raw));
      assert.deepEqual(leaf.authorityKeyId, facts.keyId, "the server certificate names the CA's key");
    });

    it("makes a server certificate for the names and addresses asked, signed by the CA", function () {
      const cert = new X509Certificate(server.cert);
      const issuer = new X509Certificate(ca.cert);
      assert.equal(cert.ca, false);
      assert.equal(cert.subjectAltName, "IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1");
      assert.ok(cert.checkIssued(issuer));
      assert.ok(cert.verify(issuer.publicKey));
      assert.ok(cert.checkHost("localhost"));
      assert.ok(cert.checkIP("127.0.0.1"));
      assert.equal(cert.checkHost("example.com"), undefined);
      assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extended key usage: TLS server");
    });

    it("gives the certificate's public key pin: base64 SHA-256 of its SubjectPublicKeyInfo", function () {
      const spki = new X509Certificate(server.cert).publicKey.export({ type: "spki", format: "der" });
      assert.equal(server.pin, createHash("sha256").update(spki).digest("base64"));
      assert.match(server.pin, /^[A-Za-z0-9+/]{43}=$/);
    });

    it("is valid from an hour ago for 825 days unless told otherwise, with a fresh serial number each time", function () {
      const cert = new X509Certificate(server.cert);
      const from = new Date(cert.validFrom).getTime();
      assert.ok(Math.abs(from - (Date.now() - 3_600_000)) < 120_000, cert.validFrom);
      assert.equal(Math.round((new Date(cert.validTo).getTime() - from) / DAY_MS), 825);
      const notBefore = new Date(Date.UTC(2020, 0, 1));
      const old = new X509Certificate(issueCertificate({ commonName: "old", issuer: ca, notBefore, notAfter: new Date(Date.UTC(2021, 0, 1)) }).cert);
      assert.equal(new Date(old.validTo).toISOString(), "2021-01-01T00:00:00.000Z");
      assert.notEqual(old.serialNumber, cert.serialNumber);
      assert.ok(Number.parseInt(cert.serialNumber[0]!, 16) < 8, "a positive serial number (RFC 5280 section 4.1.2.2)");
    });

    it("makes a self-signed server certificate when no issuer is given", function () {
      const cert = new X509Certificate(issueCertificate({ commonName: "127.0.0.1" }).cert);
      assert.equal(cert.subject, cert.issuer);
      assert.equal(cert.ca, false);
      assert.equal(cert.subjectAltName, "IP Address:127.0.0.1", "the common name is the one name");
    });
  });

  describe("ensureLocalTls", function () {
    let folder: string;
    beforeEach(() => (folder = join(mkdtempSync(join(tmpdir(), "moorline-certs-")), "tls")));
    afterEach(() => rmSync(join(folder, ".."), { recursive: true, force: true }));

    it("defaults to .moorline/tls (gitignored)", function () {
      assert.equal(DEFAULT_TLS_DIR, join(".moorline", "tls"));
      const gitignore = readFileSync(new URL("../../../.gitignore", import.meta.url), "utf8");
      assert.match(gitignore, /^\.moorline\/$/m);
    });

    it("makes a CA and a server certificate for this machine on first use, keys readable by their owner only", function () {
      const tls = ensureLocalTls(folder);
      assert.deepEqual(tls.created.sort(), [tls.caPath, tls.caKeyPath, tls.certPath, tls.keyPath].sort());
      assert.deepEqual(
        [tls.caPath, tls.caKeyPath, tls.certPath, tls.keyPath].map((path) => path.slice(folder.length + 1)),
        ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"],
      );
      const cert = new X509Certificate(readFileSync(tls.certPath, "utf8"));
      assert.ok(cert.checkIssued(new X509Certificate(readFileSync(tls.caPath, "utf8"))));
      for (const name of LOCAL_SERVER_NAMES) assert.ok(cert.checkHost(name) ?? cert.checkIP(name), name);
      if (process.platform !== "win32") {
        assert.equal(statSync(tls.caKeyPath).mode & 0o777, 0o600);
        assert.equal(statSync(tls.keyPath).mode & 0o777, 0o600);
        assert.equal(statSync(folder).mode & 0o777, 0o700);
      }
    });

    it("writes the chain to server.pem, the server certificate then the CA's (Moddable's TLS needs it)", function () {
      const tls = ensureLocalTls(folder);
      const ca = readFileSync(tls.caPath, "utf8");
      const chain = readFileSync(tls.certPath, "utf8");
      const pems = chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
      assert.equal(pems.length, 2);
      assert.ok(new X509Certificate(pems[0]!).checkIssued(new X509Certificate(ca)));
      assert.equal(new X509Certificate(pems[1]!).fingerprint256, new X509Certificate(ca).fingerprint256);
    });

    it("keeps what is there on later starts", function () {
      const first = ensureLocalTls(folder);
      const before = readFileSync(first.certPath, "utf8");
      const again = ensureLocalTls(folder);
      assert.deepEqual(again.created, []);
      assert.equal(readFileSync(again.certPath, "utf8"), before);
    });

    it("issues a new server certificate from the same CA when it is missing, expiring, or not the CA's", function () {
      const tls = ensureLocalTls(folder);
      const ca = readFileSync(tls.caPath, "utf8");
      unlinkSync(tls.certPath);
      assert.deepEqual(ensureLocalTls(folder).created.sort(), [tls.certPath, tls.keyPath].sort());
      assert.equal(readFileSync(tls.caPath, "utf8"), ca, "the CA devices trust stays the same");

      const authority = { cert: ca, key: readFileSync(tls.caKeyPath, "utf8") };
      const expiring = issueCertificate({ commonName: "x", issuer: authority, notAfter: new Date(Date.now() + 3_600_000) });
      writeFileSync(tls.certPath, expiring.cert + ca);
      assert.deepEqual(ensureLocalTls(folder).created.sort(), [tls.certPath, tls.keyPath].sort(), "expiring within a day");

      const alone = issueCertificate({ commonName: "127.0.0.1", names: LOCAL_SERVER_NAMES, issuer: authority });
      writeFileSync(tls.certPath, alone.cert);
      assert.deepEqual(ensureLocalTls(folder).created.sort(), [tls.certPath, tls.keyPath].sort(), "without the CA after it (a server.pem from before the chain)");

      writeFileSync(tls.certPath, issueCertificate({ commonName: "127.0.0.1", issuer: createCertificateAuthority("another") }).cert);
      assert.deepEqual(ensureLocalTls(folder).created.sort(), [tls.certPath, tls.keyPath].sort(), "signed by another CA");

      writeFileSync(tls.certPath, "not a certificate");
      assert.deepEqual(ensureLocalTls(folder).created.sort(), [tls.certPath, tls.keyPath].sort(), "unreadable");
      assert.ok(new X509Certificate(readFileSync(tls.certPath, "utf8")).checkIssued(new X509Certificate(ca)));
    });
  });
});
