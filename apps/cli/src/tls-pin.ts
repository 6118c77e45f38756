import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { CliError, EXIT } from './errors.js';

export interface PeerCertificate {
  sha256: string;
  pem: string;
  /** Signed by a CA this machine trusts, for this host name. */
  trusted: boolean;
  subject: string;
}

/** The certificate a TLS server presents, fetched without sending it anything. */
export function probeCertificate(url: string, timeoutMs = 10_000): Promise<PeerCertificate> {
  const u = new URL(url);
  const port = Number(u.port || 443);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate(false).raw;
      const trusted = socket.authorized;
      socket.destroy();
      if (!raw) return reject(new CliError(`${url}: the server sent no certificate`, EXIT.tls));
      const cert = new X509Certificate(raw);
      resolve({ sha256: cert.fingerprint256, pem: cert.toString(), trusted, subject: cert.subject });
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new CliError(`${url}: no TLS handshake within ${timeoutMs} ms`));
    });
    socket.once('error', (err) => reject(new CliError(`${url}: ${err.message}`)));
  });
}

/**
 * TLS options that trust exactly the pinned certificate: it is the only CA, and the host name
 * check becomes a fingerprint check (a self-signed gateway cert rarely names every address a
 * user reaches it by). Any other certificate fails the handshake before a byte is sent.
 */
export function pinnedTlsOptions(pin: { sha256: string; pem: string }): tls.ConnectionOptions {
  return {
    ca: pin.pem,
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === pin.sha256
        ? undefined
        : new Error(`certificate fingerprint ${cert.fingerprint256} is not the pinned ${pin.sha256}`),
  };
}

export function changedCertificateError(url: string, pinned: string, now: string): CliError {
  return new CliError(
    `the certificate of ${url} changed since login.\n  pinned:  SHA256 ${pinned}\n  now:     SHA256 ${now}\n` +
      `Refusing to send credentials. If the gateway's certificate was replaced on purpose, check the new\n` +
      `fingerprint on the gateway host and run: floe login ${url} --trust-new-cert`,
    EXIT.tls,
  );
}
