// One HTTP request to a web server the tests started, on a fresh connection unless an agent is given.
import http from 'http';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body as UTF-8. */
  text: string;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** Default 10000 ms. */
  timeoutMs?: number;
  /** An agent whose connections are kept alive between requests; default none (a fresh connection each time). */
  agent?: http.Agent;
}

export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, text: body.toString('utf8') });
        });
      },
    );
    const timeoutMs = options.timeoutMs ?? 10000;
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`${url}: no response within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(options.body);
  });
}
