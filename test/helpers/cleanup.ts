// Closes every handle a test registered, newest first, after each test (servers before the apps behind them).

export interface Closable {
  close(): unknown; // a Promise or nothing
}

/** Closes and removes every handle, newest first; all are closed even when one fails, then the first failure throws. */
async function closeAll(handles: Closable[]): Promise<void> {
  const errors: unknown[] = [];
  for (let handle = handles.pop(); handle !== undefined; handle = handles.pop()) {
    try {
      await handle.close();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * Call once in a describe block; returns `track(handle)`, which returns the handle unchanged and closes it in
 * afterEach. All handles are closed even when one close() fails; the first failure then fails the test.
 */
export function closeAfterEach(): <T extends Closable>(handle: T) => T {
  const handles: Closable[] = [];
  afterEach(() => closeAll(handles));
  return (handle) => {
    handles.push(handle);
    return handle;
  };
}

/** As closeAfterEach, for handles shared by the tests of a describe block (started in beforeAll): closed in afterAll. */
export function closeAfterAll(): <T extends Closable>(handle: T) => T {
  const handles: Closable[] = [];
  afterAll(() => closeAll(handles));
  return (handle) => {
    handles.push(handle);
    return handle;
  };
}
