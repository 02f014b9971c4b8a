// Starts a real Apache httpd (Debian's apache2) with mod_proxy_fcgi or mod_fcgid, from a generated config.
//
// How it runs: /usr/sbin/apache2 -f CONF -DFOREGROUND with a complete config (no /etc/apache2, no APACHE_*
// variables from Debian's envvars file, which only apache2ctl reads). mpm_event with one child process.
// As root, Debian's apache2 refuses `User root` (only a -DBIG_SECURITY_HOLE build allows it), so the children
// run as www-data: the temp dir is made world-searchable and shareWithServerUser() opens the upstream socket
// and the fcgid wrapper to them. Not as root, the children stay our user and nothing is changed.
import fs from 'fs';
import { findBinary } from './binaries';
import { retryOnAddressInUse } from './ports';
import {
  inDir,
  launch,
  quote,
  readIfExists,
  runningAsRoot,
  shareWithServerUser,
  withTempDir,
  type Upstream,
  type WebServer,
} from './web-server';

const MODULES = '/usr/lib/apache2/modules';

/** The user Apache's children run as when we are root. */
export const APACHE_USER = 'www-data';

interface CommonApacheOptions {
  /** Appended at the end of the config (server context). */
  extraConf?: string;
  /** LogLevel; default `info`. */
  logLevel?: string;
}

export type ApacheOptions = CommonApacheOptions &
  (
    | {
        mode: 'proxy_fcgi';
        upstream: Upstream;
        /**
         * mod_proxy_balancer: `upstream` and these as BalancerMembers of `balancer://app` (with
         * balancerMemberParams, e.g. `retry=0`), ProxyPass to the balancer.
         */
        moreUpstreams?: Upstream[];
        balancerMemberParams?: string;
        /** `ProxySet` parameters of the balancer, e.g. `maxattempts=1`. */
        balancerParams?: string;
        /** Access log lines `STATUS BALANCER_WORKER` (which member answered). */
        logUpstream?: boolean;
        /** `enablereuse=on`: keep backend connections open between requests. */
        keepConn?: boolean;
      }
    | {
        mode: 'fcgid';
        /**
         * The executable mod_fcgid starts (`FcgidWrapper ... virtual`): it gets the listening socket as fd 0. As
         * root it runs as www-data, so it and whatever it runs must be readable by www-data.
         */
        command: string;
        /** FcgidMaxProcessesPerClass; default 2. */
        maxProcesses?: number;
      }
  );

export interface ApacheServer extends WebServer {
  accessLog(): string;
}

export interface ApachePlacement {
  dir: string;
  port: number;
  /** Add `User`/`Group www-data` (required when we are root); default: when running as root. */
  asRoot?: boolean;
}

function proxyTarget(upstream: Upstream): string {
  return 'path' in upstream ? `unix:${upstream.path}|fcgi://localhost/` : `fcgi://${upstream.host}:${upstream.port}/`;
}

/** The complete httpd config for `options` at `placement` (pure: nothing is written). */
/**
 * An httpd.conf for an example's site file: one small event-MPM server on 127.0.0.1:`port` under `dir`, loading
 * `modules` (mod_<name>.so), with `extra` directives before the `Include` of `dir`/site.conf.
 */
export function httpdConfForSite(dir: string, port: number, modules: string[], extra: string[] = []): string {
  return [
    `ServerRoot ${quote(dir)}`,
    'ServerName localhost',
    `Listen 127.0.0.1:${port}`,
    `PidFile ${quote(inDir(dir, 'httpd.pid'))}`,
    `DefaultRuntimeDir ${quote(dir)}`,
    `ErrorLog ${quote(inDir(dir, 'error.log'))}`,
    'LogLevel info',
    ...(runningAsRoot() ? [`User ${APACHE_USER}`, `Group ${APACHE_USER}`] : []),
    ...modules.map((m) => `LoadModule ${m}_module ${quote(`${MODULES}/mod_${m}.so`)}`),
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 16',
    'MinSpareThreads 1',
    'MaxSpareThreads 16',
    'MaxRequestWorkers 16',
    `DocumentRoot ${quote(dir)}`,
    ...extra,
    `Include ${quote(inDir(dir, 'site.conf'))}`,
    '',
  ].join('\n');
}

export function apacheConfig(options: ApacheOptions, placement: ApachePlacement): string {
  const { dir, port } = placement;
  const asRoot = placement.asRoot ?? runningAsRoot();
  const balanced = options.mode === 'proxy_fcgi' && options.moreUpstreams !== undefined;
  const modules = [
    'mpm_event',
    'authz_core',
    ...(options.mode === 'fcgid' ? ['fcgid'] : ['proxy', 'proxy_fcgi']),
    ...(balanced ? ['proxy_balancer', 'slotmem_shm', 'lbmethod_byrequests'] : []),
  ];
  const app =
    options.mode === 'proxy_fcgi' && options.moreUpstreams !== undefined
      ? [
          'ProxyFCGIBackendType GENERIC',
          '<Proxy "balancer://app">',
          ...[options.upstream, ...options.moreUpstreams].map(
            (u) => `  BalancerMember ${quote(proxyTarget(u))}${options.balancerMemberParams ? ` ${options.balancerMemberParams}` : ''}`,
          ),
          ...(options.balancerParams ? [`  ProxySet ${options.balancerParams}`] : []),
          '</Proxy>',
          'ProxyPass "/" "balancer://app/"',
        ]
      : options.mode === 'proxy_fcgi'
        ? [
            // GENERIC: SCRIPT_FILENAME etc. as for any FastCGI app, not the php-fpm flavoured ones (the default).
            'ProxyFCGIBackendType GENERIC',
            `ProxyPass "/" ${quote(proxyTarget(options.upstream))}${options.keepConn ? ' enablereuse=on' : ''}`,
          ]
        : [
            `FcgidIPCDir ${quote(inDir(dir, 'fcgid'))}`,
            `FcgidProcessTableFile ${quote(inDir(dir, 'fcgid_shm'))}`,
            `FcgidMaxProcessesPerClass ${options.maxProcesses ?? 2}`,
            'FcgidConnectTimeout 5',
            'FcgidIOTimeout 60',
            // The default (128 KiB) would refuse ordinary uploads; match nginx's client_max_body_size default.
            'FcgidMaxRequestLen 209715200',
            '<Location "/">',
            '  SetHandler fcgid-script',
            '  Options +ExecCGI',
            // virtual: every URL goes to this one app, no file is looked up.
            `  FcgidWrapper ${quote(options.command)} virtual`,
            '</Location>',
          ];
  return [
    '# Generated by test/helpers/apache.ts',
    `ServerRoot ${quote(dir)}`,
    'ServerName localhost',
    `Listen 127.0.0.1:${port}`,
    `PidFile ${quote(inDir(dir, 'httpd.pid'))}`,
    `DefaultRuntimeDir ${quote(dir)}`,
    `ErrorLog ${quote(inDir(dir, 'error.log'))}`,
    `LogLevel ${options.logLevel ?? 'info'}`,
    `LogFormat "%h %l %u %t \\"%r\\" %>s %b" common`,
    `LogFormat "%>s %{BALANCER_WORKER_NAME}e" upstream`,
    `CustomLog ${quote(inDir(dir, 'access.log'))} ${options.mode === 'proxy_fcgi' && options.logUpstream ? 'upstream' : 'common'}`,
    ...(asRoot ? [`User ${APACHE_USER}`, `Group ${APACHE_USER}`] : []),
    ...modules.map((m) => `LoadModule ${m}_module ${quote(`${MODULES}/mod_${m}.so`)}`),
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 16',
    'MinSpareThreads 1',
    'MaxSpareThreads 16',
    'MaxRequestWorkers 16',
    `DocumentRoot ${quote(dir)}`,
    '<Directory "/">',
    '  Require all granted',
    '</Directory>',
    ...app,
    options.extraConf ?? '',
    '',
  ].join('\n');
}

/**
 * Apache in the foreground on 127.0.0.1:freeport. close() sends SIGTERM (the parent stops its children, mod_fcgid's
 * process manager stops the apps), SIGKILL after 5 s, and sweeps up any process left below it.
 */
export async function startApache(options: ApacheOptions): Promise<ApacheServer> {
  const apache2 = findBinary('apache2');
  if (apache2 === undefined) throw new Error('apache2 is not installed');
  if (options.mode === 'fcgid' && !fs.existsSync(`${MODULES}/mod_fcgid.so`)) {
    throw new Error(`mod_fcgid is not installed (${MODULES}/mod_fcgid.so; Debian package libapache2-mod-fcgid)`);
  }
  if (options.mode === 'proxy_fcgi' && 'path' in options.upstream) shareWithServerUser(options.upstream.path);
  if (options.mode === 'fcgid') shareWithServerUser(options.command);
  return withTempDir('fcgi-apache-', (dir) => {
    // The children (www-data when we are root) read DocumentRoot and write mod_fcgid's sockets here.
    shareWithServerUser(dir);
    return retryOnAddressInUse(async (port) => {
      const configFile = inDir(dir, 'httpd.conf');
      const accessLogFile = inDir(dir, 'access.log');
      const server = await launch({
        dir,
        command: apache2,
        args: ['-f', configFile, '-DFOREGROUND'],
        configFile,
        configText: apacheConfig(options, { dir, port }),
        ready: { tcpPort: port },
        errorLogFile: inDir(dir, 'error.log'),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
      });
      return { ...server, port, url: `http://127.0.0.1:${port}`, accessLog: () => readIfExists(accessLogFile) };
    });
  });
}
