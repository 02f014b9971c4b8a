// Module-private keys for what the package's own modules call on each other's objects (undici's
// core/symbols.js pattern): members keyed by these are out of the public API, and index.ts never exports them.

/** ServerRequest: true while the handler's synchronous part runs (output then waits for its return). */
export const kInHandlerCall = Symbol('libfcgi.inHandlerCall');
/** ServerRequest: called once when the request is aborted (the Node-listener adapter's cheap abort hook). */
export const kAbortHook = Symbol('libfcgi.abortHook');
/** ServerRequest: the params as received ("NAME=value\0..."), for the adapters. */
export const kJoinedParams = Symbol('libfcgi.joinedParams');
/**
 * ServerRequest: where the params the adapters read sit in the joined params (native/request.h IndexParams):
 * code unit 0 is the count K of indexed params, then K value starts, K value ends, then (name start, '=', end)
 * of each HTTP_* entry. Undefined when the native side sent none (then the adapters search the string).
 */
export const kParamIndex = Symbol('libfcgi.paramIndex');
/** ServerRequest: the whole body when it came with the request and nothing read it yet (then it is taken). */
export const kTakeWholeBody = Symbol('libfcgi.takeWholeBody');
/** Server: listen on validated options, or on a FastCGI accept loop's socket. */
export const kAttach = Symbol('libfcgi.attach');
/** ServerOptions (internal): makes the native side from (source, concurrency, onEvent); the test seam. */
export const kNativeFactory = Symbol('libfcgi.nativeFactory');
/**
 * NodeListenerOptions (internal): the app whose req/res prototypes the adapter primes hidden classes for
 * (lib/adapters/app-shapes.ts) when the listener itself is a wrapper (libfcgi run's listen(): emit('request')).
 */
export const kShapesOf = Symbol('libfcgi.shapesOf');
