// One FCGX_Request through its life: accepted from a Listener, read and written, finished (kept or closed).
#pragma once

#include <napi.h>

#include <string>

extern "C" {
#include "fastcgi.h"
#include "fcgiapp.h"
}

#include "reactor.h"

namespace libfcgi {

// Process-wide library initialisation (FCGX_Init), once, from any thread.
void EnsureLibraryInit();

// FCGX_InitRequest plus our params limits.
void InitRequest(FCGX_Request* req, const ParamLimits& limits);

// Waits for the next request on the listener and reads its BEGIN_REQUEST and PARAMS through fcgi2.
// Connections that fail (protocol error, unknown role, peer gone) are closed and the wait goes on.
WaitResult AcceptRequest(FCGX_Request* req, Listener* listener, int extraFd);

// Reads BEGIN_REQUEST and PARAMS through fcgi2 from the open connection fd (into req->ipcFd). False when the
// connection failed: fcgi2 closed it, req->ipcFd is -1.
bool ReadRequestOn(FCGX_Request* req, int fd);

// Which stream a request's input (req->in) reads. A FILTER request's FCGI_DATA follows its FCGI_STDIN on the
// same fcgi2 stream, switched by FCGX_StartFilterData; fcgi2 keeps no public record of the switch.
enum class InputStream { kStdin, kData };

// FILTER: moves the input to FCGI_DATA (once; the unread rest of FCGI_STDIN is discarded). False for another
// role or when the input failed.
bool StartFilterData(FCGX_Request* req, InputStream* input);

// On a kept connection: reads what is left of the request body, and of a FILTER request's FCGI_DATA (it
// would be taken for the next request).
void DrainUnreadInput(FCGX_Request* req, InputStream* input);

// Ends the request: END_REQUEST, then the connection goes back to the listener (kept) or lingers closed.
void FinishRequest(FCGX_Request* req, Listener* listener, InputStream* input);

// Drops a connection still held by the request (a pipelined next request read ahead, patch 0009).
void ReleaseConnection(FCGX_Request* req);

// The FCGX_Request is done with: ReleaseConnection, then frees the memory fcgi2 keeps in it for a next request
// (patch 0020). It may still serve requests afterwards (they allocate again).
void FreeRequestMemory(FCGX_Request* req);

// True when the web server aborted the request (FCGI_ABORT_REQUEST) or a read/write on it failed.
bool RequestFailed(FCGX_Request* req);

// The request's params as "NAME=VALUE\0NAME=VALUE" (one string for JS to split: one crossing, not one per param).
std::string JoinParams(const FCGX_Request* req);

// Where the params JS reads on every request sit in the joined string, so it slices them instead of searching
// (fifteen searches of the string per request were the Node-listener adapter's largest cost). UTF-16 code
// units: kIndexedParamCount value starts (kParamAbsent when not sent; the first occurrence, as env), then as
// many value ends, then nameStart, '=' and end of every entry whose name starts with HTTP_ (more than that),
// in order. Empty when the joined string is kParamAbsent chars or longer (offsets would not fit): JS searches.
constexpr const char* kIndexedParams[] = {
    "REQUEST_METHOD", "REQUEST_URI",     "REQUEST_SCHEME", "HTTPS",          "HTTP_HOST",   "HTTP_TRANSFER_ENCODING",
    "HTTP_COOKIE",    "SERVER_PROTOCOL", "SERVER_NAME",    "SERVER_ADDR",    "SERVER_PORT", "SCRIPT_NAME",
    "PATH_INFO",      "QUERY_STRING",    "CONTENT_TYPE",   "CONTENT_LENGTH", "REMOTE_ADDR", "REMOTE_PORT"};
constexpr int kIndexedParamCount = sizeof(kIndexedParams) / sizeof(kIndexedParams[0]);
constexpr char16_t kParamAbsent = 0xffff;
std::u16string IndexParams(const std::string& joined);

// FCGX_PutStr for any length (it takes an int). False when the stream failed.
bool PutAll(FCGX_Stream* stream, const char* data, size_t len);

// Writes a JS string (as UTF-8, straight into libfcgi's buffer when it fits) or Uint8Array to the stream.
// Returns false when the stream is in error (peer gone).
bool WriteJsValue(Napi::Env env, Napi::Value value, FCGX_Stream* stream);

// The role's name by number (FCGI_RESPONDER 1, FCGI_AUTHORIZER 2, FCGI_FILTER 3); 0 and others: "UNKNOWN".
constexpr const char* kRoleNames[] = {"UNKNOWN", "RESPONDER", "AUTHORIZER", "FILTER"};
constexpr int kRoleNameCount = 4;

}  // namespace libfcgi
