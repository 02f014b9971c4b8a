// Module-private keys for what the package's own modules call on each other's objects (undici's
// core/symbols.js pattern): members keyed by these are out of the public API, and index.ts never exports them.

/** ServerRequest: true while the handler's synchronous part runs (output then waits for its return). */
export const kInHandlerCall = Symbol('libfcgi.inHandlerCall');
/** ServerRequest: called once when the request is aborted (the Node-listener adapter's cheap abort hook). */
export const kAbortHook = Symbol('libfcgi.abortHook');
/** ServerRequest: the params as received ("NAME=value\0..."), for the adapters. */
export const kJoinedParams = Symbol('libfcgi.joinedParams');
/** ServerRequest: the whole body when it came with the request and nothing read it yet (then it is taken). */
export const kTakeWholeBody = Symbol('libfcgi.takeWholeBody');
/** Server: listen on validated options, or on a FastCGI accept loop's socket. */
export const kAttach = Symbol('libfcgi.attach');
/** ServerOptions (internal): makes the native side from (source, concurrency, onEvent); the test seam. */
export const kNativeFactory = Symbol('libfcgi.nativeFactory');
