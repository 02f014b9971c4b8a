// Closes every handle a test registered, newest first, after each test (servers before the apps behind them).

export interface Closable {
  close(): Promise<unknown> | unknown;
}

/**
 * Call once in a describe block; returns `track(handle)`, which returns the handle unchanged and closes it in
 * afterEach. All handles are closed even when one close() fails; the first failure then fails the test.
 */
export function closeAfterEach(): <T extends Closable>(handle: T) => T {
  const handles: Closable[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (let handle = handles.pop(); handle !== undefined; handle = handles.pop()) {
      try {
        await handle.close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (handle) => {
    handles.push(handle);
    return handle;
  };
}
