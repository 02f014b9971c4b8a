// A raw FastCGI connection as a web server holds it: requests one at a time, FCGI_KEEP_CONN by default; tells
// when the app closes it.
import net from 'net';
import { encodeBeginRequest, encodeParams, encodeRecord, RecordType } from '../../lib/client/protocol';
import { RecordDecoder } from '../../lib/client/record-decoder';

/** A connection a web server keeps: requests with FCGI_KEEP_CONN, one at a time. */
export class Kept {
  readonly socket: net.Socket;
  closed = false;
  readonly closedAt: Promise<number>;
  #decoder = new RecordDecoder();
  #out = '';
  #done: ((body: string) => void) | undefined;

  constructor(sock: string) {
    this.socket = net.connect(sock);
    this.socket.on('error', () => undefined); // a reset is one way of being closed
    this.closedAt = new Promise((resolve) => this.socket.on('close', () => ((this.closed = true), resolve(Date.now()))));
    this.socket.on('data', (chunk: Buffer) => {
      for (const r of this.#decoder.push(chunk)) {
        if (r.type === RecordType.STDOUT) this.#out += r.content.toString();
        if (r.type === RecordType.END_REQUEST) this.#done?.(this.#out);
      }
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  /** One request (keepConn: FCGI_KEEP_CONN, default true); resolves with the response's body. */
  request(keepConn = true): Promise<string> {
    this.#out = '';
    const body = new Promise<string>((resolve, reject) => {
      this.#done = (out) => resolve(out.split('\r\n\r\n').slice(1).join('\r\n\r\n'));
      this.socket.once('close', () => reject(new Error('closed before the response')));
    });
    this.socket.write(
      Buffer.concat([
        encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(1, keepConn)),
        encodeRecord(RecordType.PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: '/' })),
        encodeRecord(RecordType.PARAMS, 1, Buffer.alloc(0)),
        encodeRecord(RecordType.STDIN, 1, Buffer.alloc(0)),
      ]),
    );
    return body;
  }
}
