// The native boundary: TS reads the slot limit and the event kinds from the addon (lib/native.ts), and the
// types it narrows events with say the same numbers; lib/native.ts is the only file that loads the addon.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { createServer } from '../../lib';
import { normalizeListenOptions } from '../../lib/listen';
import { MAX_SLOTS, ServerEventKind, native, type ServerEventKinds } from '../../lib/native';

const root = path.join(__dirname, '..', '..');

describe('native boundary', () => {
  test('the event kinds the addon exports are the numbers the ServerEvent types narrow by', () => {
    // Typed as ServerEventKinds: this literal only compiles with the numbers the types declare.
    const declared: ServerEventKinds = { Request: 0, Data: 1, Written: 2, Aborted: 3, WorkerExit: 4 };
    expect(native.constants.events).toEqual(declared);
    expect(ServerEventKind).toBe(native.constants.events);
    expect(new Set(Object.values(native.constants.events)).size).toBe(Object.keys(declared).length);
  });

  test("the slot limit is the addon's: createServer accepts it, and one more is refused by TS and the addon alike", () => {
    expect(MAX_SLOTS).toBe(native.constants.maxSlots);
    expect(Number.isInteger(MAX_SLOTS) && MAX_SLOTS > 0).toBe(true);
    expect(createServer(() => {}, { concurrency: MAX_SLOTS }).concurrency).toBe(MAX_SLOTS);
    expect(() => createServer(() => {}, { concurrency: MAX_SLOTS + 1 })).toThrow(RangeError);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libfcgi-boundary-'));
    try {
      const sock = path.join(dir, 's.sock');
      const options = normalizeListenOptions({ path: sock });
      let thrown: unknown;
      try {
        new native.ServerIo(options, MAX_SLOTS + 1, () => {});
      } catch (err) {
        thrown = err;
      }
      // The addon's RangeError is of Node's realm, not jest's sandbox: compared by name and message.
      expect(thrown).toMatchObject({ name: 'RangeError', message: `concurrency must be from 1 to ${MAX_SLOTS}` });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lib/native.ts is the only file that loads the addon', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.ts')) files.push(full);
      }
    };
    walk(path.join(root, 'lib'));
    const loaders = files.filter((f) => /node-gyp-build|\.node['"]|LIBFCGI_NATIVE/.test(fs.readFileSync(f, 'utf8')));
    expect(loaders.map((f) => path.relative(root, f))).toEqual(['lib/native.ts']);
  });
});
