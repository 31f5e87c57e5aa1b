/**
 * Our own declarations for the little of node-forge (1.4) we use: building and signing
 * X.509 certificates for a local CA (server/certificates.ts). Keys come from Node's crypto.
 */
declare module "node-forge" {
  namespace forge {
    namespace pki {
      interface PublicKey {
        readonly n: unknown;
        readonly e: unknown;
      }
      interface PrivateKey {
        readonly d: unknown;
      }
      interface Attribute {
        name?: string;
        shortName?: string;
        value: string;
      }
      /** An extension as forge takes it: its name and that extension's own fields. */
      interface Extension {
        name: string;
        critical?: boolean;
        [field: string]: unknown;
      }
      interface Certificate {
        version: number;
        serialNumber: string;
        publicKey: PublicKey;
        validity: { notBefore: Date; notAfter: Date };
        subject: { attributes: Attribute[] };
        issuer: { attributes: Attribute[] };
        setSubject(attributes: Attribute[]): void;
        setIssuer(attributes: Attribute[]): void;
        setExtensions(extensions: Extension[]): void;
        generateSubjectKeyIdentifier(): { getBytes(): string };
        sign(key: PrivateKey, md: unknown): void;
      }
      function createCertificate(): Certificate;
      function certificateToPem(certificate: Certificate): string;
      function certificateFromPem(pem: string): Certificate;
      function publicKeyFromPem(pem: string): PublicKey;
      function privateKeyFromPem(pem: string): PrivateKey;
    }
    namespace md {
      namespace sha256 {
        function create(): unknown;
      }
    }
  }
  export default forge;
}
