// FCGX_Request lifecycle on top of fcgi2: accept through our Listener, finish with keep-alive or lingering close.
#include "request.h"

#include "fcgi2_features.h"

#include <unistd.h>

#include <cstdlib>

#include <cstring>
#include <mutex>
#include <vector>

namespace libfcgi {

namespace {
// The buffers fcgi2 gives each request (patch 0015; kept with the FCGX_Request from one request to the next,
// patch 0020). Output: large writes bypass the buffer. Input: the params plus a few KiB of body in one read; bigger
// buffers cost a larger malloc/free per request without patch 0020 (bench/README.md, "Measurements behind code
// choices").
constexpr int kOutputBufferBytes = 8192;
constexpr int kInputBufferBytes = 16384;
}  // namespace

void EnsureLibraryInit() {
  static std::once_flag once;
  std::call_once(once, [] { FCGX_Init(); });
}

void InitRequest(FCGX_Request* req, const ParamLimits& limits) {
  FCGX_InitRequest(req, -1, 0);
#ifdef LIBFCGI_HAVE_PARAM_LIMITS
  req->maxParamNameLen = limits.maxNameLength;
  req->maxParamValueLen = limits.maxValueLength;
  req->maxParamsTotal = limits.maxTotal;
#else
  (void)limits;  // a system libfcgi: no limits on params (README, "Linking the system libfcgi")
#endif
#ifdef FCGX_HAVE_BUF_SIZES
  // Patch 0015: buffer sizes per request (see above).
  req->outBufSize = kOutputBufferBytes;
  req->inBufSize = kInputBufferBytes;
#endif
#ifdef LIBFCGI_HAVE_SPARES
  // Patch 0020: FCGX_Free keeps the streams and the params vector for the next request on this FCGX_Request
  // instead of freeing them (FreeRequestMemory frees them when the request is done with).
  req->keepSpares = 1;
#endif
}

WaitResult AcceptRequest(FCGX_Request* req, Listener* listener, int extraFd) {
  for (;;) {
    int fd = req->ipcFd;  // >= 0: the next request was already read ahead on the kept connection
    if (fd < 0) {
      WaitResult w = listener->NextConnection(extraFd, &fd);
      if (w != WaitResult::kConnection) return w;
    }
    if (ReadRequestOn(req, fd)) return WaitResult::kConnection;
  }
}

bool ReadRequestOn(FCGX_Request* req, int fd) {
  // fcgi2 reads from an already open ipcFd. listen_sock -1 makes its own accept() fail (EBADF) instead of
  // blocking, so a failed connection returns here; keepConnection stops the Finish_r at the top of
  // FCGX_Accept_r from closing the new fd; detached makes a failed connection close without the
  // blocking 2 s drain of OS_Close.
  req->ipcFd = fd;
  req->listen_sock = -1;
  req->keepConnection = 1;
  req->detached = 1;
#ifdef LIBFCGI_HAVE_GATE
  // The request gate read the request already (non-blocking, in the reactor): fcgi2 parses it from memory.
  size_t len = 0;
  uint8_t* bytes = TakeHandedBytes(fd, &len);
  if (bytes != nullptr && FCGX_SetPreread(req, bytes, len) != 0) free(bytes);
#endif
  int rc = FCGX_Accept_r(req);
  req->detached = 0;
  if (rc == 0) return true;
  req->ipcFd = -1;  // fcgi2 closed it
  return false;
}

namespace {
void SkipToEnd(FCGX_Stream* in) {
  char trash[8192];
  while (FCGX_GetStr(trash, sizeof trash, in) > 0) {
  }
}
}  // namespace

bool StartFilterData(FCGX_Request* req, InputStream* input) {
  if (req->in == nullptr || req->role != FCGI_FILTER) return false;
  if (*input == InputStream::kData) return true;
  // fcgi2 reads the streams in order: FCGI_DATA only after FCGI_STDIN's end.
  SkipToEnd(req->in);
  if (FCGX_GetError(req->in) != 0 || FCGX_StartFilterData(req->in) != 0) return false;
  *input = InputStream::kData;
  return true;
}

void DrainUnreadInput(FCGX_Request* req, InputStream* input) {
  if (req->in == nullptr || req->keepConnection == 0) return;
  // Unread request body (or filter data) would be parsed as the start of the next request on this connection.
  if (req->role == FCGI_FILTER && *input == InputStream::kStdin && !StartFilterData(req, input)) return;
  if (!FCGX_HasSeenEOF(req->in)) SkipToEnd(req->in);
}

void FinishRequest(FCGX_Request* req, Listener* listener, InputStream* input) {
  if (req->in == nullptr) return;
  bool keep = req->keepConnection != 0;
  DrainUnreadInput(req, input);
  if (FCGX_FClose(req->err) != 0) keep = false;
  if (FCGX_FClose(req->out) != 0) keep = false;
  if (FCGX_GetError(req->in) != 0) keep = false;
  if (keep) {
    FCGX_Free(req, 0);  // with ipcFd still set, fcgi2 keeps bytes of a pipelined next request (patch 0009)
#ifdef LIBFCGI_HAVE_GATE
    // Those bytes go back to the reactor: the gate reads the next request whole before anyone waits on it.
    size_t len = 0;
    uint8_t* bytes = FCGX_TakePreread(req, &len);
    int kept = req->ipcFd;
    req->ipcFd = -1;
    if (kept >= 0) {
      listener->ReturnIdle(kept, bytes, len == static_cast<size_t>(-1) ? 0 : len);
    } else {
      free(bytes);
    }
    return;
#endif
#ifdef LIBFCGI_HAVE_READ_AHEAD
    if (req->readAhead != nullptr) return;  // the next request is here already: AcceptRequest takes it from req
#endif
    int fd = req->ipcFd;
    req->ipcFd = -1;
    if (fd >= 0) listener->ReturnIdle(fd);
    return;
  }
  int fd = req->ipcFd;
  req->ipcFd = -1;
  FCGX_Free(req, 0);
  if (fd >= 0) listener->Linger(fd);
}

void ReleaseConnection(FCGX_Request* req) {
  int fd = req->ipcFd;
  req->ipcFd = -1;
  FCGX_Free(req, 0);  // ipcFd < 0: frees any read-ahead
  if (fd >= 0) close(fd);
}

void FreeRequestMemory(FCGX_Request* req) {
  ReleaseConnection(req);
#ifdef LIBFCGI_HAVE_SPARES
  FCGX_FreeSpares(req);
#endif
}

bool RequestFailed(FCGX_Request* req) {
  return (req->in != nullptr && FCGX_GetError(req->in) != 0) || (req->out != nullptr && FCGX_GetError(req->out) != 0);
}

std::string JoinParams(const FCGX_Request* req) {
  std::string out;
  if (req->envp == nullptr) return out;
#ifdef LIBFCGI_HAVE_PARAMS_BLOCK
  // The usual case (params within fcgi2's 4 KiB block, patch 0021): they are already "A=b\0C=d\0", one copy.
  const char* start = nullptr;
  size_t length = 0;
  if (FCGX_GetParamsBlock(req, &start, &length) && length > 0) {
    out.assign(start, length - 1);  // without the last NUL
    return out;
  }
#endif
  size_t total = 0;
  for (char** p = req->envp; *p; ++p) total += std::strlen(*p) + 1;
  out.reserve(total);
  for (char** p = req->envp; *p; ++p) {
    if (p != req->envp) out.push_back('\0');
    out.append(*p);
  }
  return out;
}

namespace {
// The indexed params by a hash of a name's length and first and last letters: a name is compared only with the
// indexed names of its bucket (at most two share one), and most other params nginx sends find none there.
struct IndexedByHash {
  static constexpr size_t kBuckets = 64;
  int8_t bucket[kBuckets];  // the first indexed param of that hash, -1 when none
  int8_t next[kIndexedParamCount];
  size_t length[kIndexedParamCount];
  static size_t Hash(const char* name, size_t len) {
    return (len * 5 + static_cast<unsigned char>(name[0]) + static_cast<unsigned char>(name[len - 1]) * 3) &
           (kBuckets - 1);
  }
  IndexedByHash() {
    for (auto& b : bucket) b = -1;
    for (int k = kIndexedParamCount - 1; k >= 0; k--) {
      length[k] = std::strlen(kIndexedParams[k]);
      size_t h = Hash(kIndexedParams[k], length[k]);
      next[k] = bucket[h];
      bucket[h] = static_cast<int8_t>(k);
    }
  }
  int Find(const char* name, size_t len) const {
    if (len == 0) return -1;  // (Hash reads the last letter)
    for (int k = bucket[Hash(name, len)]; k >= 0; k = next[k]) {
      if (length[k] == len && std::memcmp(kIndexedParams[k], name, len) == 0) return k;
    }
    return -1;
  }
};
const IndexedByHash kByHash;
}  // namespace

std::u16string IndexParams(const std::string& joined) {
  std::u16string index;
  const size_t n = joined.size();
  if (n >= kParamAbsent) return index;
  index.reserve(1 + 2 * kIndexedParamCount + 3 * 12);
  index.assign(1 + 2 * kIndexedParamCount, kParamAbsent);
  index[0] = static_cast<char16_t>(kIndexedParamCount);
  const char* data = joined.data();
  const char* const stop = data + n;
  for (const char* entry = data; entry < stop;) {
    const char* nul = static_cast<const char*>(std::memchr(entry, '\0', static_cast<size_t>(stop - entry)));
    const char* end = nul != nullptr ? nul : stop;
    // The name ends at the first '=' (fcgi2 refuses names holding one, or a NUL).
    const char* eq = static_cast<const char*>(std::memchr(entry, '=', static_cast<size_t>(end - entry)));
    if (eq != nullptr && eq != entry) {
      size_t nameLen = static_cast<size_t>(eq - entry);
      int k = kByHash.Find(entry, nameLen);
      if (k >= 0 && index[static_cast<size_t>(1 + k)] == kParamAbsent) {
        index[static_cast<size_t>(1 + k)] = static_cast<char16_t>(eq + 1 - data);
        index[static_cast<size_t>(1 + kIndexedParamCount + k)] = static_cast<char16_t>(end - data);
      }
      if (nameLen > 5 && std::memcmp(entry, "HTTP_", 5) == 0) {
        index.push_back(static_cast<char16_t>(entry - data));
        index.push_back(static_cast<char16_t>(eq - data));
        index.push_back(static_cast<char16_t>(end - data));
      }
    }
    entry = end + 1;
  }
  return index;
}

bool PutAll(FCGX_Stream* stream, const char* data, size_t len) {
  // FCGX_PutStr takes an int length: very large buffers go in pieces.
  while (len > 0) {
    int chunk = static_cast<int>(std::min<size_t>(len, 1 << 30));
    if (FCGX_PutStr(data, chunk, stream) != chunk) return false;
    data += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return true;
}

bool WriteJsValue(Napi::Env env, Napi::Value value, FCGX_Stream* stream) {
  if (stream == nullptr || stream->isClosed) return false;
  if (value.IsString()) {
    size_t len = 0;
    napi_get_value_string_utf8(env, value, nullptr, 0, &len);
    if (len == 0) return true;
    size_t room = static_cast<size_t>(stream->stop - stream->wrNext);
    if (len < room) {
      // Encode straight into libfcgi's output buffer (room for the NUL napi appends; we do not advance over it).
      size_t copied = 0;
      napi_get_value_string_utf8(env, value, reinterpret_cast<char*>(stream->wrNext), room, &copied);
      stream->wrNext += copied;
      return true;
    }
    std::string buf(len + 1, '\0');
    size_t copied = 0;
    napi_get_value_string_utf8(env, value, &buf[0], buf.size(), &copied);
    return FCGX_PutStr(buf.data(), static_cast<int>(copied), stream) == static_cast<int>(copied);
  }
  if (value.IsTypedArray()) {
    Napi::TypedArray ta = value.As<Napi::TypedArray>();
    return PutAll(stream, static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
  }
  return false;
}

}  // namespace libfcgi
