// Listen options from the environment, chosen as in examples/hello.ts; shared by the other examples.
import type { ListenOptions } from 'libfcgi';

/**
 * FCGI_SOCKET_PATH: a unix socket; FCGI_PORT: TCP on FCGI_HOST (default 127.0.0.1); otherwise undefined, which
 * makes FastCGI use the socket systemd passed (LISTEN_FDS), else fd 0 (spawn-fcgi, mod_fcgid, lighttpd bin-path).
 */
export function listenOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ListenOptions | undefined {
  if (env.FCGI_SOCKET_PATH) return { path: env.FCGI_SOCKET_PATH };
  if (env.FCGI_PORT) return { host: env.FCGI_HOST ?? '127.0.0.1', port: Number(env.FCGI_PORT) };
  return undefined;
}
