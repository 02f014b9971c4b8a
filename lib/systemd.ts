// systemd socket activation: the sockets systemd (or systemd-socket-activate) passed as fd 3.. with LISTEN_FDS,
// LISTEN_PID and LISTEN_FDNAMES, read as sd_listen_fds_with_names(unset_environment = 1) does.
import { fcgiError } from './errors';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

const VARIABLES = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

let received = false;

/**
 * True once systemdListenFd() found sockets passed to this process (LISTEN_PID matched, LISTEN_FDS > 0). The
 * variables are gone from process.env by then, so this is how to tell afterwards that systemd started us.
 */
export function receivedSystemdSockets(): boolean {
  return received;
}

function notForUs(message: string): Error {
  return fcgiError('FCGI_LISTEN_FDS', `systemd socket activation: ${message}`);
}

/**
 * The descriptor to listen on from systemd's variables, which are then removed from `process.env` (so child
 * processes do not take sockets meant for this one), or undefined when LISTEN_FDS is not set and no `name` was
 * asked for. `name` picks a socket by its name in LISTEN_FDNAMES (`FileDescriptorName=`); without it there must
 * be exactly one socket. Throws an FCGI_LISTEN_FDS error when the variables are for another process
 * (LISTEN_PID), malformed, name no such socket, or pass several sockets and no name says which.
 */
export function systemdListenFd(name: string | undefined, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fdsText = env.LISTEN_FDS;
  const pidText = env.LISTEN_PID;
  const namesText = env.LISTEN_FDNAMES;
  if (fdsText === undefined) {
    if (name === undefined) return undefined;
    throw notForUs(`options.fdName is '${name}', but no sockets were passed (LISTEN_FDS is not set)`);
  }
  for (const variable of VARIABLES) delete env[variable];

  if (pidText === undefined || !/^[1-9][0-9]*$/.test(pidText)) {
    throw notForUs(`LISTEN_FDS=${fdsText} comes without a valid LISTEN_PID (${pidText === undefined ? 'not set' : `'${pidText}'`})`);
  }
  if (Number(pidText) !== process.pid) {
    throw notForUs(
      `LISTEN_FDS=${fdsText} is for process ${pidText} (LISTEN_PID), not this process (${process.pid}): ` +
        'the sockets were passed to another process (start the app with exec, not from a wrapper that forks)',
    );
  }
  if (!/^[0-9]+$/.test(fdsText) || Number(fdsText) > 2 ** 16) throw notForUs(`LISTEN_FDS='${fdsText}' is not a count of descriptors`);
  const count = Number(fdsText);
  if (count > 0 && env === process.env) received = true;
  const names = namesText === undefined ? Array<string>(count).fill('unknown') : namesText.split(':');
  if (names.length !== count) {
    throw notForUs(`LISTEN_FDNAMES names ${names.length} sockets ('${namesText}'), LISTEN_FDS=${count}`);
  }
  const list = names.map((n, i) => `${n} (fd ${SD_LISTEN_FDS_START + i})`).join(', ');
  if (name !== undefined) {
    const index = names.indexOf(name);
    if (index < 0) {
      throw notForUs(`no socket named '${name}' was passed (options.fdName); LISTEN_FDNAMES has: ${list || 'none'}`);
    }
    return SD_LISTEN_FDS_START + index;
  }
  if (count === 0) return undefined;
  if (count > 1) throw notForUs(`${count} sockets were passed: ${list}; choose one with { fdName }`);
  return SD_LISTEN_FDS_START;
}
