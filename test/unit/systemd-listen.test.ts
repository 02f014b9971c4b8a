// How listen options resolve under systemd socket activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), as
// sd_listen_fds_with_names(unset_environment = 1): the variables checked, then removed. The real
// systemd-socket-activate runs in test/integration/systemd.test.ts.
import { normalizeListenOptions } from '../../lib/listen';
import { receivedSystemdSockets, systemdListenFd } from '../../lib/systemd';

const VARS = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];
const pid = String(process.pid);

function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('did not throw');
}

describe('systemdListenFd', () => {
  test('LISTEN_FDS=1 for this PID: fd 3, and the variables are removed', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: pid, LISTEN_FDNAMES: 'app.socket', OTHER: 'x' };
    expect(systemdListenFd(undefined, env)).toBe(3);
    expect(env).toEqual({ OTHER: 'x' });
  });

  test('no LISTEN_FDS: undefined (fd 0 is next), nothing removed', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: pid };
    expect(systemdListenFd(undefined, env)).toBeUndefined();
    expect(env).toEqual({ LISTEN_PID: pid });
  });

  test('LISTEN_FDS=0: undefined', () => {
    expect(systemdListenFd(undefined, { LISTEN_FDS: '0', LISTEN_PID: pid })).toBeUndefined();
  });

  test('a name picks its socket: fd 3 + its index in LISTEN_FDNAMES', () => {
    const env = { LISTEN_FDS: '3', LISTEN_PID: pid, LISTEN_FDNAMES: 'http:fastcgi:admin' };
    expect(systemdListenFd('fastcgi', { ...env })).toBe(4);
    expect(systemdListenFd('admin', { ...env })).toBe(5);
  });

  test('without LISTEN_FDNAMES every socket is named "unknown" (as systemd does)', () => {
    expect(systemdListenFd('unknown', { LISTEN_FDS: '1', LISTEN_PID: pid })).toBe(3);
  });

  test.each<[string, NodeJS.ProcessEnv, string | undefined, string]>([
    [
      'another PID',
      { LISTEN_FDS: '1', LISTEN_PID: '1' },
      undefined,
      `LISTEN_FDS=1 is for process 1 (LISTEN_PID), not this process (${pid})`,
    ],
    ['no LISTEN_PID', { LISTEN_FDS: '1' }, undefined, 'LISTEN_FDS=1 comes without a valid LISTEN_PID (not set)'],
    ['a malformed LISTEN_PID', { LISTEN_FDS: '1', LISTEN_PID: 'me' }, undefined, "without a valid LISTEN_PID ('me')"],
    ['a malformed LISTEN_FDS', { LISTEN_FDS: 'two', LISTEN_PID: pid }, undefined, "LISTEN_FDS='two' is not a count of descriptors"],
    [
      'names that do not match the count',
      { LISTEN_FDS: '2', LISTEN_PID: pid, LISTEN_FDNAMES: 'a' },
      undefined,
      "LISTEN_FDNAMES names 1 sockets ('a'), LISTEN_FDS=2",
    ],
    [
      'two sockets, no name',
      { LISTEN_FDS: '2', LISTEN_PID: pid, LISTEN_FDNAMES: 'a:b' },
      undefined,
      '2 sockets were passed: a (fd 3), b (fd 4); choose one with { fdName }',
    ],
    [
      'a name that is not there',
      { LISTEN_FDS: '1', LISTEN_PID: pid, LISTEN_FDNAMES: 'web' },
      'fastcgi',
      "no socket named 'fastcgi' was passed (options.fdName); LISTEN_FDNAMES has: web (fd 3)",
    ],
    ['a name but no sockets', {}, 'fastcgi', "options.fdName is 'fastcgi', but no sockets were passed (LISTEN_FDS is not set)"],
  ])('%s: an FCGI_LISTEN_FDS error that says so', (_what, env, name, message) => {
    const err = thrown(() => systemdListenFd(name, env));
    expect(err.code).toBe('FCGI_LISTEN_FDS');
    expect(err.message).toContain(message);
    for (const v of VARS) expect(env[v]).toBeUndefined(); // removed even then: they are not for a child either
  });
});

describe('normalizeListenOptions and systemd (precedence of design.md §4b)', () => {
  const saved = VARS.map((v) => [v, process.env[v]] as const);
  afterEach(() => {
    for (const [v, value] of saved) {
      if (value === undefined) delete process.env[v];
      else process.env[v] = value;
    }
  });

  test('no options and LISTEN_FDS for this process: fd 3 (before fd 0); process.env loses the variables', () => {
    Object.assign(process.env, { LISTEN_FDS: '1', LISTEN_PID: pid, LISTEN_FDNAMES: 'x' });
    expect(receivedSystemdSockets()).toBe(false);
    expect(normalizeListenOptions(undefined)).toMatchObject({ kind: 'fd', fd: 3 });
    for (const v of VARS) expect(process.env[v]).toBeUndefined();
    expect(receivedSystemdSockets()).toBe(true); // still known once the variables are gone
  });

  test('no options, no LISTEN_FDS: fd 0', () => {
    for (const v of VARS) delete process.env[v];
    expect(normalizeListenOptions(undefined)).toMatchObject({ kind: 'fd', fd: 0 });
  });

  test('explicit options win: { path } with LISTEN_FDS set ignores (and keeps) the variables', () => {
    Object.assign(process.env, { LISTEN_FDS: '1', LISTEN_PID: pid });
    expect(normalizeListenOptions({ path: '/tmp/x.sock' })).toMatchObject({ kind: 'unix' });
    expect(process.env.LISTEN_FDS).toBe('1');
  });

  test('{ fdName } resolves to the named socket', () => {
    Object.assign(process.env, { LISTEN_FDS: '2', LISTEN_PID: pid, LISTEN_FDNAMES: 'a:fcgi' });
    expect(normalizeListenOptions({ fdName: 'fcgi', readTimeout: 5 })).toMatchObject({ kind: 'fd', fd: 4, readTimeout: 5 });
  });

  test.each<[unknown, string, string]>([
    [{ fdName: 3 }, 'ERR_INVALID_ARG_TYPE', 'options.fdName'],
    [{ fdName: '' }, 'ERR_INVALID_ARG_VALUE', 'options.fdName'],
    [{ fdName: 'a:b' }, 'ERR_INVALID_ARG_VALUE', 'options.fdName'],
    [{ fdName: 'a', fd: 3 }, 'ERR_INVALID_ARG_VALUE', 'got fd, fdName'],
    [{ fdName: 'a', backlog: 5 }, 'ERR_INVALID_ARG_VALUE', 'options.backlog'],
  ])('bad %j: %s naming %s', (options, code, name) => {
    const err = thrown(() => normalizeListenOptions(options));
    expect(err.code).toBe(code);
    expect(err.message).toContain(name);
  });
});
