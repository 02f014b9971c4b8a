// A FastCGI AUTHORIZER and the page it protects, in one app (the role of each request says which it is).
//   FCGI_PORT=9000 node --import tsx examples/authorizer.ts
// With examples/apache-authorizer.conf (mod_authnz_fcgi) or examples/lighttpd-authorizer.conf (mode "authorizer").
import { createServer, type ListenOptions, type ServerRequest } from 'libfcgi';

// Demo credentials: use your user store here.
const USERS: Record<string, { password: string; level: number }> = { alice: { password: 'secret', level: 7 } };

function basicAuth(req: ServerRequest): { user: string; password: string } | undefined {
  // Apache's authn phase passes the parsed credentials; lighttpd passes the Authorization header.
  if (req.env.REMOTE_USER !== undefined && req.env.REMOTE_PASSWD !== undefined) {
    return { user: req.env.REMOTE_USER, password: req.env.REMOTE_PASSWD };
  }
  const m = /^Basic (.+)$/.exec(req.env.HTTP_AUTHORIZATION ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString();
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function authorize(req: ServerRequest): void {
  const uri = req.env.REQUEST_URI ?? '';
  if (req.env.FCGI_APACHE_ROLE === 'AUTHORIZER') {
    // Apache's authz phase (Require): the user is authenticated already; decide on the resource.
    const user = req.env.REMOTE_USER ?? '';
    if (USERS[user] !== undefined && !uri.includes('/forbidden')) req.allow({ AUTHZ_LEVEL: USERS[user].level });
    else req.deny(403, { headers: { 'Content-Type': 'text/plain' }, body: `${user} may not see ${uri}\n` });
    return;
  }
  const auth = basicAuth(req);
  const known = auth && USERS[auth.user];
  if (auth && known && known.password === auth.password) {
    if (uri.includes('/forbidden')) {
      req.deny(403, { headers: { 'Content-Type': 'text/plain' }, body: `${auth.user} may not see ${uri}\n` });
    } else {
      req.allow({ AUTH_USER: auth.user, AUTH_LEVEL: known.level });
    }
    return;
  }
  req.deny(401, {
    headers: { 'WWW-Authenticate': 'Basic realm="private"', 'Content-Type': 'text/plain' },
    body: 'Who are you? (the authorizer asks)\n',
  });
}

const server = createServer((req) => {
  if (req.role === 'AUTHORIZER') return authorize(req);
  // The protected page: the variables the authorizer set arrive in its environment.
  const vars = Object.fromEntries(Object.entries(req.env).filter(([name]) => /^(AUTH|AUTHZ)_|^REMOTE_USER$/.test(name)));
  req.header({ 'Content-Type': 'application/json' });
  req.print(JSON.stringify({ page: req.env.REQUEST_URI, vars }));
});

function listenOptions(env = process.env): ListenOptions | undefined {
  if (env.FCGI_SOCKET_PATH) return { path: env.FCGI_SOCKET_PATH };
  if (env.FCGI_PORT) return { host: env.FCGI_HOST ?? '127.0.0.1', port: Number(env.FCGI_PORT) };
  return undefined; // fd 0
}
void server.listen(listenOptions());
