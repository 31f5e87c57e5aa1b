/**
 * Certificates made for this test run (server/certificates.ts: keys from Node's crypto,
 * certificates signed with node-forge): a CA the client trusts, and a server certificate
 * for every case a device must tell apart. Made once per process, on first use (about a
 * second: nine RSA 2048 keys), and never written to disk unless a test does it.
 */
import { createCertificateAuthority, issueCertificate, type Issued } from "../../server/certificates.js";

const DAY_MS = 86_400_000;

export interface TestCertificates {
  /** The CA the client is given (tls.ca). */
  ca: Issued;
  /** A CA the client does not know. */
  otherCa: Issued;
  /** Valid for 127.0.0.1, ::1 and localhost, signed by `ca`: everything right. */
  good: Issued;
  /** Valid for 127.0.0.1, signed by `otherCa`. */
  unknownCa: Issued;
  /** Signed by `ca`, but for other.example and 127.0.0.2 only. */
  wrongHost: Issued;
  /** Signed by `ca`, for 127.0.0.1, expired a year ago. */
  expired: Issued;
  /** Signed by `ca`, for 127.0.0.1, valid from a year from now. */
  notYetValid: Issued;
  /** For 127.0.0.1, signed by its own key. */
  selfSigned: Issued;
  /** The SPKI pin of `good` (base64 SHA-256 of its public key). */
  goodPin: string;
}

let made: TestCertificates | undefined;

export function testCertificates(): TestCertificates {
  if (made) return made;
  const now = Date.now();
  const ca = createCertificateAuthority("moorline test CA");
  const otherCa = createCertificateAuthority("some other CA");
  const local = ["127.0.0.1", "::1", "localhost"];
  const good = issueCertificate({ commonName: "127.0.0.1", names: local, issuer: ca });
  made = {
    ca,
    otherCa,
    good,
    unknownCa: issueCertificate({ commonName: "127.0.0.1", names: local, issuer: otherCa }),
    wrongHost: issueCertificate({ commonName: "other.example", names: ["other.example", "127.0.0.2"], issuer: ca }),
    expired: issueCertificate({
      commonName: "127.0.0.1",
      names: local,
      issuer: ca,
      notBefore: new Date(now - 730 * DAY_MS),
      notAfter: new Date(now - 365 * DAY_MS),
    }),
    notYetValid: issueCertificate({
      commonName: "127.0.0.1",
      names: local,
      issuer: ca,
      notBefore: new Date(now + 365 * DAY_MS),
      notAfter: new Date(now + 730 * DAY_MS),
    }),
    selfSigned: issueCertificate({ commonName: "127.0.0.1", names: local }),
    goodPin: good.pin,
  };
  return made;
}
