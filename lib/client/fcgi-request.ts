// One request on a fresh connection, answered as an HTTP-style response: what `libfcgi request` (cgi-fcgi) needs.
import { type CgiParseOptions, type CgiResponseHead, parseCgiResponse } from './cgi-response';
import { type ConnectOptions, type ConnectTarget, FastCGIClient, type RequestOptions } from './client';
import { type ClientError, type ClientErrorCode, clientError } from './errors';
import { ProtocolStatus } from './protocol';

/** What {@link fcgiRequest} resolves with: the parsed CGI response, FCGI_STDERR and the exit status. */
export interface FcgiRequestResult extends CgiResponseHead {
  /** The response body (after the CGI header section). */
  body: Buffer;
  /** All FCGI_STDERR bytes. */
  stderr: Buffer;
  /** The application's exit status from END_REQUEST. */
  appStatus: number;
}

const REJECTIONS: Record<number, [ClientErrorCode, string]> = {
  [ProtocolStatus.CANT_MPX_CONN]: ['FCGI_CANT_MPX_CONN', 'CANT_MPX_CONN (it handles one request per connection)'],
  [ProtocolStatus.OVERLOADED]: ['FCGI_OVERLOADED', 'OVERLOADED'],
  [ProtocolStatus.UNKNOWN_ROLE]: ['FCGI_UNKNOWN_ROLE', 'UNKNOWN_ROLE (it does not play the role asked for)'],
};

/**
 * The error for an END_REQUEST that rejected the request (protocolStatus other than REQUEST_COMPLETE), or
 * undefined when it completed.
 */
export function requestRejection(protocolStatus: number): ClientError | undefined {
  if (protocolStatus === ProtocolStatus.REQUEST_COMPLETE) return undefined;
  const [code, name] = REJECTIONS[protocolStatus] ?? ['FCGI_REQUEST_REJECTED', `protocolStatus ${protocolStatus}`];
  return clientError(code, `the application rejected the request: ${name}`);
}

/**
 * Connects, sends one request (keepConn false unless asked), parses stdout as a CGI response and closes.
 * An END_REQUEST that rejects the request (protocolStatus other than REQUEST_COMPLETE) rejects with
 * FCGI_CANT_MPX_CONN / FCGI_OVERLOADED / FCGI_UNKNOWN_ROLE (FCGI_REQUEST_REJECTED for values the spec lacks);
 * output that is not a CGI response rejects with FCGI_CGI_RESPONSE_ERROR.
 */
export async function fcgiRequest(
  connect: ConnectTarget & ConnectOptions,
  request: RequestOptions = {},
  parse: CgiParseOptions = {},
): Promise<FcgiRequestResult> {
  const client = await FastCGIClient.connect(connect, connect);
  try {
    const { stdout, stderr, appStatus, protocolStatus } = await client.request(request).response();
    const rejection = requestRejection(protocolStatus);
    if (rejection) throw rejection;
    return { ...parseCgiResponse(stdout, parse), stderr, appStatus };
  } finally {
    await client.close();
  }
}
