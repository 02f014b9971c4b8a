// A GET that notes when each chunk of the response body arrives (streaming tests: does the first part come early?).
import http from 'http';

export interface TimedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** ms from the request's start to the arrival of each chunk of the body */
  chunks: Array<{ ms: number; text: string }>;
}

export function timedGet(url: string, timeoutMs = 20000): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: TimedResponse['chunks'] = [];
      res.setEncoding('utf8');
      res.on('data', (text: string) => chunks.push({ ms: Date.now() - start, text }));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.map((c) => c.text).join(''), chunks }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** When the chunk that completes `marker` arrived (ms from the start). */
export function arrivalOf(response: TimedResponse, marker: string): number {
  let text = '';
  for (const c of response.chunks) {
    text += c.text;
    if (text.includes(marker)) return c.ms;
  }
  throw new Error(`"${marker.trim()}" never arrived: ${JSON.stringify(response.body.slice(-100))}`);
}
