// A tiny FastCGI responder in plain Node, independent of the package: proves the server harness on its own.
import fs from 'fs';
import net from 'net';
import path from 'path';
import type { SocketTarget } from './process';

/** Raw CGI output (header lines, blank line, body) for one request. */
export type FakeRespond = (env: Record<string, string>, body: Buffer) => string | Buffer;

export interface FakeRequest {
  env: Record<string, string>;
  body: Buffer;
}

/** The default answer: `hello <REQUEST_URI>` as text/plain. */
/* istanbul ignore next -- stringified into a standalone script (fakeAppScript): it must stay uninstrumented */
export function helloRespond(env: Record<string, string>): string {
  return `Content-Type: text/plain\r\n\r\nhello ${env.REQUEST_URI ?? ''}`;
}

/**
 * Serves FastCGI requests on one connection: BEGIN_REQUEST, PARAMS until empty, STDIN until empty, then the
 * responder's output as STDOUT and END_REQUEST. Honours FCGI_KEEP_CONN and interleaved request ids; answers
 * GET_VALUES with an empty result, other roles with UNKNOWN_ROLE, unknown record types with UNKNOWN_TYPE.
 * Self-contained (no outside names) because fakeAppScript() embeds its source text.
 */
/* istanbul ignore next -- stringified into a standalone script (fakeAppScript): it must stay uninstrumented */
export function serveFakeConnection(socket: net.Socket, respond: FakeRespond, onRequest?: (request: FakeRequest) => void): void {
  type State = { keepConn: boolean; params: Buffer[]; stdin: Buffer[]; env?: Record<string, string> };
  const requests = new Map<number, State>();
  let pending: Buffer = Buffer.alloc(0);

  const record = (type: number, id: number, content: Buffer): Buffer => {
    const padding = (8 - (content.length % 8)) % 8;
    const header = Buffer.alloc(8);
    header[0] = 1;
    header[1] = type;
    header.writeUInt16BE(id, 2);
    header.writeUInt16BE(content.length, 4);
    header[6] = padding;
    return Buffer.concat([header, content, Buffer.alloc(padding)]);
  };
  const endRequest = (id: number, appStatus: number, protocolStatus: number): void => {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(appStatus, 0);
    body[4] = protocolStatus;
    const state = requests.get(id);
    requests.delete(id);
    socket.write(record(3, id, body));
    if (state !== undefined && !state.keepConn) socket.end();
  };
  const parsePairs = (data: Buffer): Record<string, string> => {
    const env: Record<string, string> = {};
    let i = 0;
    const length = (): number => {
      if (data[i] & 0x80) {
        const n = data.readUInt32BE(i) & 0x7fffffff;
        i += 4;
        return n;
      }
      return data[i++];
    };
    while (i < data.length) {
      const nameLength = length();
      const valueLength = length();
      const name = data.toString('utf8', i, i + nameLength);
      i += nameLength;
      env[name] = data.toString('utf8', i, i + valueLength);
      i += valueLength;
    }
    return env;
  };
  const answer = (id: number, state: State): void => {
    const env = state.env ?? {};
    const body = Buffer.concat(state.stdin);
    let output: Buffer;
    try {
      if (onRequest) onRequest({ env, body });
      const result = respond(env, body);
      output = typeof result === 'string' ? Buffer.from(result, 'utf8') : result;
    } catch (err) {
      output = Buffer.from(`Status: 500\r\nContent-Type: text/plain\r\n\r\n${String(err)}`, 'utf8');
    }
    for (let offset = 0; offset < output.length; offset += 65535) {
      socket.write(record(6, id, output.subarray(offset, offset + 65535)));
    }
    socket.write(record(6, id, Buffer.alloc(0)));
    endRequest(id, 0, 0);
  };

  socket.on('error', () => {
    // The web server may reset the connection (client gone, shutdown): nothing to do.
  });
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const type = pending[1];
      const id = pending.readUInt16BE(2);
      const contentLength = pending.readUInt16BE(4);
      const total = 8 + contentLength + pending[6];
      if (pending.length < total) break;
      const content = pending.subarray(8, 8 + contentLength);
      pending = pending.subarray(total);
      const state = requests.get(id);
      if (type === 1) {
        const role = content.readUInt16BE(0);
        requests.set(id, { keepConn: (content[2] & 1) === 1, params: [], stdin: [] });
        if (role !== 1) endRequest(id, 0, 3);
      } else if (type === 2) {
        if (state) endRequest(id, 0, 0);
      } else if (type === 4) {
        if (!state) continue;
        if (content.length > 0) state.params.push(Buffer.from(content));
        else state.env = parsePairs(Buffer.concat(state.params));
      } else if (type === 5) {
        if (!state) continue;
        if (content.length > 0) state.stdin.push(Buffer.from(content));
        else answer(id, state);
      } else if (type === 9) {
        socket.write(record(10, 0, Buffer.alloc(0)));
      } else if (type !== 8) {
        const unknown = Buffer.alloc(8);
        unknown[0] = type;
        socket.write(record(11, 0, unknown));
      }
    }
  });
}

/**
 * Source of a standalone Node script serving the fake responder: on the unix socket path given as its first
 * argument, or else on the listening socket inherited as fd 0 (spawn-fcgi, mod_fcgid, lighttpd bin-path).
 */
export function fakeAppScript(): string {
  return [
    "'use strict';",
    "const net = require('net');",
    `const respond = ${helloRespond.toString()};`,
    `const serve = ${serveFakeConnection.toString()};`,
    'const target = process.argv[2];',
    'net.createServer((socket) => serve(socket, respond)).listen(target ? { path: target } : { fd: 0 });',
    '',
  ].join('\n');
}

export interface FakeAppFiles {
  /** The Node script (fakeAppScript()). */
  script: string;
  /** An executable `#!/bin/sh` wrapper that execs node on the script: the command for mod_fcgid and friends. */
  wrapper: string;
}

/** Writes fake-app.js and fake-app.sh (world-readable, so a server running as another user can run them). */
export function writeFakeApp(dir: string): FakeAppFiles {
  const script = path.join(dir, 'fake-app.js');
  const wrapper = path.join(dir, 'fake-app.sh');
  fs.writeFileSync(script, fakeAppScript(), { mode: 0o644 });
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${script}' "$@"\n`, { mode: 0o755 });
  return { script, wrapper };
}

export interface FakeApp {
  address: SocketTarget;
  /** Every request served so far, in order. */
  requests: FakeRequest[];
  /** Connections accepted so far (keep-conn shows as fewer connections than requests). */
  readonly connections: number;
  /** Stops listening, drops open connections, removes the unix socket file. */
  close(): Promise<void>;
}

/** Runs the fake responder in this process on a unix socket (`mode` chmods it) or loopback TCP (port 0: any). */
export function startFakeApp(
  listen: { path: string; mode?: number } | { host?: string; port?: number },
  options: { respond?: FakeRespond } = {},
): Promise<FakeApp> {
  const respond = options.respond ?? helloRespond;
  const requests: FakeRequest[] = [];
  const connections = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveFakeConnection(socket, respond, (request) => requests.push(request));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = () => {
      let address: SocketTarget;
      if ('path' in listen) {
        if (listen.mode !== undefined) fs.chmodSync(listen.path, listen.mode);
        address = { path: listen.path };
      } else {
        const bound = server.address() as net.AddressInfo;
        address = { host: bound.address, port: bound.port };
      }
      resolve({
        address,
        requests,
        get connections() {
          return accepted;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of connections) socket.destroy();
            server.close(() => done());
          }),
      });
    };
    if ('path' in listen) server.listen({ path: listen.path }, onListening);
    else server.listen({ host: listen.host ?? '127.0.0.1', port: listen.port ?? 0 }, onListening);
  });
}
