import type tls from 'node:tls';
import { Counter, register } from 'prom-client';
import type { ClusterTls } from './cluster-pki.js';

/** A peer that does not finish the handshake in this long is dropped (and counted). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * What every internal listener requires of a peer: a certificate issued by the cluster CA
 * (mutual TLS 1.3). Nothing is read from a connection before its handshake is done, so an
 * unauthenticated peer never reaches a handler.
 */
export function serverTlsOptions(t: ClusterTls): tls.TlsOptions {
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

/**
 * What every internal client requires of a server: the same. The identity checked is the
 * cluster CA's signature, not a host name: agents advertise whatever address they are
 * reached at (a pod IP, a host name), and every certificate the CA issues is a Floe service.
 */
export function clientTlsOptions(t: ClusterTls): tls.ConnectionOptions {
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
  };
}

const METRIC = 'floe_rpc_unauthenticated_total';

/** Connections closed before their handshake succeeded, per listener (default registry). */
export function unauthenticatedCounter(): Counter<'listener'> {
  return (
    (register.getSingleMetric(METRIC) as Counter<'listener'> | undefined) ??
    new Counter({
      name: METRIC,
      help: 'Connections to an internal listener closed because the peer did not authenticate (no or a foreign client certificate, not TLS, handshake timeout)',
      labelNames: ['listener'] as const,
    })
  );
}

/**
 * Counts the peers a TLS server turned away. Node has already closed their sockets when it
 * emits `tlsClientError`; this only makes them visible. `server` is a tls.Server, or Nest's
 * microservice, which forwards `on` to its tls.Server. Not logged: a peer could fill the log.
 */
export function countUnauthenticated(
  server: { on(event: 'tlsClientError', cb: (err: Error, socket?: tls.TLSSocket) => void): unknown },
  listener: string,
): void {
  const counter = unauthenticatedCounter();
  const child = counter.labels(listener);
  counter.inc({ listener }, 0); // exported as 0 before the first refusal
  server.on('tlsClientError', (_err: Error, socket?: tls.TLSSocket) => {
    child.inc();
    socket?.destroy();
  });
}

/**
 * Options for a Nest TCP microservice listener (`@nestjs/microservices`, TCP transport): its
 * address, and mutual TLS with the cluster CA when `t` is given. Pass the microservice to
 * countUnauthenticated. Plain objects, so this lib stays free of Nest.
 */
export function rpcServerOptions(address: { host: string; port: number }, t?: ClusterTls) {
  return { ...address, tlsOptions: t && serverTlsOptions(t) };
}

/** Options for a Nest TCP client (ClientTCP, ClientProxyFactory) of such a listener. */
export function rpcClientOptions(address: { host: string; port: number }, t?: ClusterTls) {
  return { ...address, tlsOptions: t && clientTlsOptions(t) };
}
