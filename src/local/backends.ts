/**
 * Backends: small Node servers that answer with their own name (or what `answer` says), so a
 * test can see which instance served a request (load balancing, routing) and what reached it
 * (headers, peers). `meshc up --echo` runs one per replica; `test --live` stands in for external sites.
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface BackendRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string;
}

export interface Backend {
  name: string;
  host: string;
  port: number;
  /** Every request except those to healthPath, in arrival order. */
  requests: BackendRequest[];
  /** Every accepted TCP connection (health checks included). */
  connections: { remoteAddress: string; remotePort: number }[];
  /** Status for every following response (default 200); health responses use it too. */
  setStatus(code: number): void;
  /** Delay before every following response is sent (not applied to healthPath). */
  setDelay(ms: number): void;
  close(): Promise<void>;
  /** Number of requests to healthPath (they are not in `requests`). */
  healthChecks: number;
  /** Forgets recorded requests, connections and health checks (status and delay stay). */
  reset(): void;
}

export interface TlsBackend extends Backend {
  /** Per TLS connection: the client certificate (node:tls PeerCertificate, not detailed), or null when none was sent. */
  peerCertificates: (object | null)[];
  /** Per TLS connection: the SNI the client sent, or null. */
  servernames: (string | null)[];
}

type Server = http.Server | https.Server | http2.Http2Server;

/** The body of a (non-health) response; default: the backend's name. */
export type Answer = (req: BackendRequest) => string;

function wire(server: Server, name: string, healthPath: string | undefined, backend: Backend, answer?: Answer): void {
  let status = 200;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  backend.setStatus = (code) => void (status = code);
  backend.setDelay = (ms) => void (delayMs = ms);
  backend.reset = () => {
    backend.requests.length = 0;
    backend.connections.length = 0;
    backend.healthChecks = 0;
    const tls = backend as Partial<TlsBackend>;
    if (tls.peerCertificates) tls.peerCertificates.length = 0;
    if (tls.servernames) tls.servernames.length = 0;
  };
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    backend.connections.push({ remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 });
  };
  // For TLS servers 'connection' fires with the raw TCP socket before the handshake.
  server.on('connection', onSocket);
  // http2's compatibility API (Http2ServerRequest/Response) offers the same calls used here.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '/';
    const isHealth = healthPath !== undefined && url.split('?')[0] === healthPath;
    // Drain the body, then answer.
    req.resume();
    req.on('end', () => {
      const code = status;
      const request: BackendRequest = { method: req.method ?? '', path: url, headers: { ...req.headers }, remoteAddress: req.socket.remoteAddress ?? '' };
      const send = () => {
        if (res.destroyed || (res as unknown as { stream?: { destroyed: boolean } }).stream?.destroyed) return;
        const body = isHealth ? (code < 400 ? 'ok' : 'unhealthy') : answer ? answer(request) : name;
        res.writeHead(code, {
          'content-type': 'text/plain',
          'x-backend': name,
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      };
      if (isHealth) {
        backend.healthChecks++;
        send();
        return;
      }
      backend.requests.push(request);
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  });
  backend.close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
      (server as http.Server).closeAllConnections?.();
    });
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function blank(name: string, host: string): Backend {
  return {
    name,
    host,
    port: 0,
    requests: [],
    connections: [],
    healthChecks: 0,
    setStatus: () => {},
    setDelay: () => {},
    reset: () => {},
    close: async () => {},
  };
}

/**
 * Plain HTTP backend on host:port (port 0 / omitted: the kernel picks). Answers every request
 * with the current status (default 200), body = name (text/plain) and header `x-backend: name`.
 * Requests to healthPath answer `ok` (or `unhealthy` when the status is >= 400), are not
 * delayed and are counted in healthChecks, not in requests.
 */
export async function startHttpBackend(opts: {
  name: string;
  host: string;
  port?: number;
  healthPath?: string;
  /** 'http1' (default), or 'h2c': HTTP/2 over cleartext with prior knowledge (grpc/http2 services). */
  protocol?: 'http1' | 'h2c';
  answer?: Answer;
  /** How long an idle kept-alive connection stays open (HTTP/1 only). Default 5 s, Node's. */
  keepAliveTimeoutMs?: number;
}): Promise<Backend> {
  const backend = blank(opts.name, opts.host);
  const server: Server = opts.protocol === 'h2c' ? http2.createServer() : http.createServer({ keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000 });
  wire(server, opts.name, opts.healthPath, backend, opts.answer);
  backend.port = await listen(server, opts.host, opts.port ?? 0);
  return backend;
}

/**
 * HTTPS backend (the fake external site of egress tests, or a TLS upstream). cert/key/ca are PEM
 * strings. With requestCert the client certificate is requested; it is verified against ca only
 * when rejectUnauthorized is true (default false: record whatever came).
 */
export async function startTlsBackend(opts: {
  name: string;
  host: string;
  port?: number;
  cert: string;
  key: string;
  ca?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  healthPath?: string;
  answer?: Answer;
}): Promise<TlsBackend> {
  const backend: TlsBackend = { ...blank(opts.name, opts.host), peerCertificates: [], servernames: [] };
  const server = https.createServer({
    cert: opts.cert,
    key: opts.key,
    ca: opts.ca,
    requestCert: opts.requestCert ?? false,
    rejectUnauthorized: opts.rejectUnauthorized ?? false,
    keepAliveTimeout: 5_000,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate(); // not detailed: JSON-safe (a detailed chain is circular at the root)
    backend.peerCertificates.push(peer && Object.keys(peer).length > 0 ? peer : null);
    const sni = (socket as TLSSocket & { servername?: string | false }).servername;
    backend.servernames.push(typeof sni === 'string' ? sni : null);
  });
  wire(server, opts.name, opts.healthPath, backend, opts.answer);
  backend.port = await listen(server, opts.host, opts.port ?? 0);
  return backend;
}
