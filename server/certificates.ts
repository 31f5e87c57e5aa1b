/**
 * Certificates for wss:// on the desktop: a local certificate authority and the server
 * certificates it signs, made on this machine. The companion server's `--tls` uses them
 * (ensureLocalTls), and the tests make every kind of bad certificate with them.
 *
 * Keys are RSA 2048 from Node's crypto (native, fast); the certificates are built and
 * signed (SHA-256) with node-forge, because Node can read X.509 but not write it. Private
 * keys are written readable by their owner only.
 */
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import forge from "node-forge";

/** Where `--tls` keeps its CA and certificate, relative to the working directory (gitignored). */
export const DEFAULT_TLS_DIR = join(".moorline", "tls");

/** What the local server certificate is valid for: this machine, by address and by name. */
export const LOCAL_SERVER_NAMES: readonly string[] = ["127.0.0.1", "::1", "localhost"];

const DAY_MS = 86_400_000;
/** The local CA's lifetime: long, it is only trusted where it was handed out. */
const CA_DAYS = 3650;
/** A server certificate's lifetime (the longest browsers accept from a private CA). */
const SERVER_DAYS = 825;
/** Issued this long before now, so a clock a little behind still accepts it. */
const BACKDATE_MS = 60 * 60 * 1000;
/** A server certificate this close to its end is renewed on the next start. */
const RENEW_BEFORE_MS = DAY_MS;

/** A certificate and its private key, both PEM. */
export interface KeyAndCertificate {
  cert: string;
  key: string;
}

export interface Issued extends KeyAndCertificate {
  /** base64 SHA-256 of the certificate's DER SubjectPublicKeyInfo (the pin, RFC 7469). */
  pin: string;
}

export interface CertificateRequest {
  /** The subject's CN. */
  commonName: string;
  /** DNS names and IP addresses (subjectAltName) a server certificate is valid for. */
  names?: readonly string[];
  /** A CA's certificate (may sign others) rather than a server's. */
  ca?: boolean;
  /** The CA that signs it; absent: self-signed. */
  issuer?: KeyAndCertificate;
  /** Default: an hour ago. */
  notBefore?: Date;
  /** Default: notBefore plus 825 days (a server) or 3650 (a CA). */
  notAfter?: Date;
}

/** Makes a key pair and a certificate for it, signed by `issuer` or by itself. */
export function issueCertificate(request: CertificateRequest): Issued {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const cert = forge.pki.createCertificate();
  cert.version = 2; // X.509 v3: extensions
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // RFC 5280 section 4.1.2.2: positive, at most 20 bytes, unique per CA: 16 random bytes
  // with the top bit clear.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString("hex");
  const notBefore = request.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = request.notAfter ?? new Date(notBefore.getTime() + (request.ca ? CA_DAYS : SERVER_DAYS) * DAY_MS);
  const subject = [
    { name: "commonName", value: request.commonName },
    { name: "organizationName", value: "moorline (local)" },
  ];
  cert.setSubject(subject);
  const issuerCert = request.issuer ? forge.pki.certificateFromPem(request.issuer.cert) : undefined;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);
  const extensions: forge.pki.Extension[] = [
    { name: "basicConstraints", critical: true, cA: request.ca === true },
    request.ca
      ? { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true }
      : { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
    { name: "subjectKeyIdentifier" },
  ];
  if (issuerCert) {
    extensions.push({ name: "authorityKeyIdentifier", keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes() });
  } else if (request.ca) {
    // A root's own key id (RFC 5280 section 4.2.1.1 allows it): Moddable's TLS (SDK 8.2.3)
    // fails on a chain that ends with a root without one.
    extensions.push({ name: "authorityKeyIdentifier", keyIdentifier: true });
  }
  if (!request.ca) {
    extensions.push({ name: "extKeyUsage", serverAuth: true });
    const names = request.names ?? [request.commonName];
    // RFC 5280 section 4.2.1.6: dNSName is type 2, iPAddress type 7.
    extensions.push({
      name: "subjectAltName",
      altNames: names.map((name) => (isIP(name) === 0 ? { type: 2, value: name } : { type: 7, ip: name })),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(request.issuer?.key ?? keyPem), forge.md.sha256.create());
  const pin = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("base64");
  return { cert: forge.pki.certificateToPem(cert), key: keyPem, pin };
}

/** A new certificate authority named `commonName`. */
export function createCertificateAuthority(commonName: string, validity: Pick<CertificateRequest, "notBefore" | "notAfter"> = {}): Issued {
  return issueCertificate({ commonName, ca: true, ...validity });
}

/** The files of a local TLS setup. */
export interface LocalTls {
  folder: string;
  /** The CA certificate: what a device is given (--ca) to trust the server. */
  caPath: string;
  caKeyPath: string;
  /** The server's certificate and key. */
  certPath: string;
  keyPath: string;
  /** The files written by this call (none when everything was there and valid). */
  created: string[];
}

/**
 * Makes sure `folder` holds a local CA (ca.pem, ca-key.pem) and a server certificate it
 * signed for 127.0.0.1, ::1 and localhost (server.pem, server-key.pem). server.pem holds the
 * chain, the server certificate then the CA's: Moddable's TLS (SDK 8.2.3) refuses a server
 * that sends its certificate alone. What is there is kept; a missing CA is made (and the
 * server certificate with it); a server certificate that is missing, expires within a day,
 * was not signed by this CA, or is not followed by it, is issued anew.
 * Throws, naming the file, when a file cannot be read or written.
 */
export function ensureLocalTls(folder: string = DEFAULT_TLS_DIR): LocalTls {
  const files = {
    folder,
    caPath: join(folder, "ca.pem"),
    caKeyPath: join(folder, "ca-key.pem"),
    certPath: join(folder, "server.pem"),
    keyPath: join(folder, "server-key.pem"),
  };
  const created: string[] = [];
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  let ca: KeyAndCertificate;
  if (existsSync(files.caPath) && existsSync(files.caKeyPath)) {
    ca = { cert: readText(files.caPath), key: readText(files.caKeyPath) };
  } else {
    ca = createCertificateAuthority("moorline local CA");
    writePrivate(files.caKeyPath, ca.key);
    writeFileSync(files.caPath, ca.cert);
    created.push(files.caPath, files.caKeyPath);
  }
  const usable =
    created.length === 0 &&
    existsSync(files.certPath) &&
    existsSync(files.keyPath) &&
    serverCertificateUsable(readText(files.certPath), ca.cert);
  if (!usable) {
    const server = issueCertificate({ commonName: "moorline companion server", names: LOCAL_SERVER_NAMES, issuer: ca });
    writePrivate(files.keyPath, server.key);
    writeFileSync(files.certPath, server.cert + ca.cert);
    created.push(files.certPath, files.keyPath);
  }
  return { ...files, created };
}

/** Signed by `caPem`, followed by it (the chain), and not within a day of expiring. */
function serverCertificateUsable(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    const chained = certPem.replace(/\r\n/g, "\n").trimEnd().endsWith(caPem.replace(/\r\n/g, "\n").trimEnd());
    return chained && cert.checkIssued(ca) && cert.verify(ca.publicKey) && new Date(cert.validTo).getTime() - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false; // not a certificate: make a new one
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // also when the file was already there
}
