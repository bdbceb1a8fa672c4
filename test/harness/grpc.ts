/**
 * gRPC for the integration tests, with @grpc/grpc-js (a devDependency: only tests speak gRPC).
 *
 * One service, `meshc.test.Echo`, defined in code rather than in a .proto: its messages are JSON
 * in gRPC's length-prefixed frames, over HTTP/2 with `content-type: application/grpc` and the
 * status in trailers, which is what a proxy has to carry; the payload encoding is the
 * application's business. Methods: `Unary`, `Stream` (server streaming: `count` replies) and
 * `Chat` (bidirectional: one reply per message, sent as it arrives).
 */
import * as grpc from '@grpc/grpc-js';

export interface EchoRequest {
  text: string;
  /** Stream: how many replies. */
  count?: number;
}

export interface EchoReply {
  /** The backend's name. */
  from: string;
  text: string;
  /** Position of the reply in a stream, from 0. */
  index: number;
}

export interface GrpcCallRecord {
  method: string;
  metadata: Record<string, string>;
}

export interface GrpcBackend {
  name: string;
  host: string;
  port: number;
  /** Every call, in arrival order. */
  calls: GrpcCallRecord[];
  close(): Promise<void>;
}

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as never,
};

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/meshc.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}

export const ECHO_SERVICE = {
  Unary: method('Unary', false, false),
  Stream: method('Stream', false, true),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

/** The path prefix of every Echo method (an ingress route prefix). */
export const ECHO_PATH_PREFIX = '/meshc.test.Echo/';

function metadataOf(call: { metadata: grpc.Metadata }): Record<string, string> {
  return Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
}

/** A plaintext (h2c) gRPC server on host:port answering the Echo service as `name`. */
export async function startGrpcBackend(opts: { name: string; host: string; port?: number }): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const calls: GrpcCallRecord[] = [];
  const from = opts.name;
  server.addService(ECHO_SERVICE, {
    Unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      calls.push({ method: 'Unary', metadata: metadataOf(call) });
      cb(null, { from, text: call.request.text, index: 0 });
    },
    Stream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      calls.push({ method: 'Stream', metadata: metadataOf(call) });
      const count = call.request.count ?? 3;
      let i = 0;
      // One reply per tick, so the replies cross the proxies as separate frames.
      const timer = setInterval(() => {
        if (i === count) {
          clearInterval(timer);
          call.end();
          return;
        }
        call.write({ from, text: call.request.text, index: i++ });
      }, 20);
      call.on('cancelled', () => clearInterval(timer));
    },
    Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      calls.push({ method: 'Chat', metadata: metadataOf(call) });
      let i = 0;
      call.on('data', (req: EchoRequest) => call.write({ from, text: req.text, index: i++ }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    name: opts.name,
    host: opts.host,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Calls still open (a test that failed half way) must not hold the shutdown.
        setTimeout(() => server.forceShutdown(), 2_000).unref();
      }),
  };
}

export interface GrpcClientOptions {
  /** TLS towards the target (an ingress gateway): the CA to trust and the name to verify and send as SNI. */
  tls?: { ca: string; servername: string };
  /** The :authority to send (default: the target address). */
  authority?: string;
  /** Deadline of each call, default 10 000 ms. */
  timeoutMs?: number;
}

const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** A client of the Echo service at `host:port`; close() it when done. */
export function echoClient(host: string, port: number, opts: GrpcClientOptions = {}) {
  const creds = opts.tls ? grpc.credentials.createSsl(Buffer.from(opts.tls.ca)) : grpc.credentials.createInsecure();
  const options: grpc.ChannelOptions = {};
  if (opts.tls) options['grpc.ssl_target_name_override'] = opts.tls.servername;
  if (opts.authority ?? opts.tls) options['grpc.default_authority'] = opts.authority ?? opts.tls!.servername;
  const client = new EchoClient(`${host}:${port}`, creds, options) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const deadline = () => ({ deadline: Date.now() + (opts.timeoutMs ?? 10_000) });

  return {
    unary: (req: EchoRequest) =>
      new Promise<EchoReply>((resolve, reject) => {
        client.Unary(req, new grpc.Metadata(), deadline(), (err: grpc.ServiceError | null, reply: EchoReply) => (err ? reject(err) : resolve(reply)));
      }),
    /** Server streaming: every reply, once the server ends the stream with status OK. */
    stream: (req: EchoRequest) =>
      new Promise<EchoReply[]>((resolve, reject) => {
        const call = client.Stream(req, new grpc.Metadata(), deadline()) as grpc.ClientReadableStream<EchoReply>;
        const replies: EchoReply[] = [];
        call.on('data', (r: EchoReply) => replies.push(r));
        call.on('error', reject);
        call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve(replies) : reject(new Error(`status ${s.code}: ${s.details}`))));
      }),
    /**
     * Bidirectional: sends each text only after the reply to the previous one arrived, so the
     * exchange proves the proxies forward frames both ways while the stream stays open.
     */
    chat: (texts: string[]) =>
      new Promise<EchoReply[]>((resolve, reject) => {
        const call = client.Chat(new grpc.Metadata(), deadline()) as grpc.ClientDuplexStream<EchoRequest, EchoReply>;
        const replies: EchoReply[] = [];
        call.on('data', (r: EchoReply) => {
          replies.push(r);
          if (replies.length < texts.length) call.write({ text: texts[replies.length] });
          else call.end();
        });
        call.on('error', reject);
        call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve(replies) : reject(new Error(`status ${s.code}: ${s.details}`))));
        call.write({ text: texts[0] });
      }),
    close: () => client.close(),
  };
}
