// The client's error codes and constructor: one error module for the package (lib/errors.ts), re-exported here
// so that `libfcgi/client` keeps offering them.
export { clientError, type ClientError, type ClientErrorCode } from '../errors';
