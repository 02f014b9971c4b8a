// Public exports of libfcgi.
export { FastCGI, type FastCGIOptions } from './fastcgi';
export type { Stats, OperatorOptions } from './stats';
export { Request, type Role, type Output, type DenyResponse, type FastCGIRequest } from './request';
export { createServer, Server, ServerRequest, type Handler, type ServerOptions } from './server';
export { fromNodeListener, type NodeListener, type NodeListenerOptions } from './adapters/node-http';
export { fromFetchHandler, type FetchHandler, type FetchApp, type FetchEnv, type FetchAdapterOptions } from './adapters/fetch';
export type { MountOptions } from './adapters/cgi-http';
export type { Env } from './env';
export type { HeaderFields, HeaderValue } from './headers';
export type {
  ListenOptions,
  UnixListenOptions,
  TcpListenOptions,
  FdListenOptions,
  SystemdListenOptions,
  TimeoutOptions,
  LimitOptions,
} from './listen';
export type { NativeAddress as Address } from './native';
export { buildInfo, type BuildInfo } from './build-info';
export { isErrorWithCode, type LibfcgiError, type LibfcgiErrorCode } from './errors';
// The FastCGI client (the rest of its API: import from 'libfcgi/client').
export { FastCGIClient, fcgiRequest, parseCgiResponse } from './client';
export type { ClientRequest, FcgiRequestResult, CgiResponse } from './client';
