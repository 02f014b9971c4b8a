// A FastCGI FILTER: the web server sends the file (FCGI_DATA), the app answers it as HTML. A tiny Markdown subset:
// # headings, *emphasis*, `code`, paragraphs.
//   FCGI_SOCKET_PATH=/tmp/filter.sock node --import tsx examples/filter-markdown.ts
import { FastCGI, type ListenOptions } from 'libfcgi';

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function inline(text: string): string {
  return escape(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*([^*]+)\*/g, '<em>$1</em>');
}

export function markdownToHtml(markdown: string): string {
  return markdown
    .split(/\n{2,}/)
    .map((block) => block.trim())
    .filter((block) => block.length > 0)
    .map((block) => {
      const heading = /^(#{1,6})\s+(.*)$/.exec(block);
      if (heading) return `<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`;
      return `<p>${inline(block.replace(/\n/g, ' '))}</p>`;
    })
    .join('\n');
}

function listenOptions(env = process.env): ListenOptions | undefined {
  if (env.FCGI_SOCKET_PATH) return { path: env.FCGI_SOCKET_PATH };
  if (env.FCGI_PORT) return { host: env.FCGI_HOST ?? '127.0.0.1', port: Number(env.FCGI_PORT) };
  return undefined; // fd 0
}

if (require.main === module) {
  const fcgi = new FastCGI(listenOptions());
  while (fcgi.accept()) {
    if (fcgi.role !== 'FILTER') {
      fcgi.status(400).header({ 'Content-Type': 'text/plain' }).print('this app is a FastCGI FILTER\n');
      continue;
    }
    const html = markdownToHtml(fcgi.readData().toString('utf8'));
    fcgi.header({
      'Content-Type': 'text/html; charset=utf-8',
      'Last-Modified': new Date(Number(fcgi.env.FCGI_DATA_LAST_MOD ?? 0) * 1000).toUTCString(),
    });
    fcgi.print(`<!doctype html>\n${html}\n`);
  }
}
