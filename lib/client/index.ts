// The FastCGI client's public API: connection, requests, wire-format helpers and CGI response parsing.
export { FastCGIClient } from './client';
export type {
  ClientRequest,
  CollectedResponse,
  ConnectOptions,
  ConnectTarget,
  EndRequest,
  ReadRecordsOptions,
  ReadRecordsResult,
  RequestOptions,
} from './client';
export type { BodySource } from './body-source';
export { fcgiRequest, requestRejection } from './fcgi-request';
export type { FcgiRequestResult } from './fcgi-request';
export { CgiResponseParser, CgiResponseStream, parseCgiResponse } from './cgi-response';
export type { CgiParseOptions, CgiResponse, CgiResponseHead } from './cgi-response';
export { RecordDecoder } from './record-decoder';
export type { ClientError, ClientErrorCode } from './errors';
export {
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONNS,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_MAX_PADDING_LENGTH,
  FCGI_MAX_PARAM_LENGTH,
  FCGI_MAX_REQS,
  FCGI_MPXS_CONNS,
  FCGI_NULL_REQUEST_ID,
  FCGI_VERSION_1,
  ProtocolStatus,
  RecordType,
  Role,
  decodeBeginRequest,
  decodeEndRequest,
  decodeParams,
  decodeUnknownType,
  encodeBeginRequest,
  encodeEndRequest,
  encodeHeader,
  encodeParamLength,
  encodeParams,
  encodeRecord,
  encodeStreamRecords,
  recordTypeName,
} from './protocol';
export type {
  BeginRequestBody,
  EndRequestBody,
  FastCGIRecord,
  ParamBytes,
  ParamsInput,
  ProtocolStatusName,
  RecordTypeName,
  RoleName,
  StreamRecordsOptions,
} from './protocol';
