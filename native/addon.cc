// Addon entry: registers the native classes and the per-environment state.
#include <napi.h>
#include <sys/socket.h>

#include "accept_loop.h"
#include "addon.h"
#include "build_info.h"
#include "errors.h"
#include "request.h"
#include "server_io.h"

namespace libfcgi {

namespace {
// True when fd is a socket that listens (SO_ACCEPTCONN): how a FastCGI app tells it was started by a FastCGI
// server (spawn-fcgi, mod_fcgid: fd 0) rather than as a CGI script, as fcgi2's FCGX_IsCGI does.
Napi::Value IsListeningSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    MakeTypeError(env, "ERR_INVALID_ARG_TYPE", "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int listening = 0;
  socklen_t len = sizeof listening;
  bool yes = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0;
  return Napi::Boolean::New(env, yes);
}

// What TS reads instead of copying (lib/native.ts): the slot limit (also the slot field of a request id) and
// the numbers of ServerIo's event kinds.
Napi::Object Constants(Napi::Env env) {
  Napi::Object events = Napi::Object::New(env);
  events.Set("Request", static_cast<int>(ServerEvent::Kind::kRequest));
  events.Set("Data", static_cast<int>(ServerEvent::Kind::kData));
  events.Set("Written", static_cast<int>(ServerEvent::Kind::kWritten));
  events.Set("Aborted", static_cast<int>(ServerEvent::Kind::kAborted));
  events.Set("WorkerExit", static_cast<int>(ServerEvent::Kind::kWorkerExit));
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("maxSlots", kMaxSlots);
  constants.Set("events", events);
  Napi::Array indexed = Napi::Array::New(env, kIndexedParamCount);
  for (int k = 0; k < kIndexedParamCount; k++) indexed.Set(static_cast<uint32_t>(k), kIndexedParams[k]);
  constants.Set("indexedParams", indexed);
  return constants;
}
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnsureLibraryInit();
  auto* data = new AddonData();
  Napi::Function acceptLoop = AcceptLoop::Define(env);
  data->acceptLoop = Napi::Persistent(acceptLoop);
  env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api at environment teardown
  exports.Set("AcceptLoop", acceptLoop);
  exports.Set("ServerIo", ServerIo::Define(env));
  exports.Set("constants", Constants(env));
  exports.Set("isListeningSocket", Napi::Function::New(env, IsListeningSocket, "isListeningSocket"));
  Napi::Object buildInfo = BuildInfo(env);
  exports.Set("fcgi2Version", buildInfo.Get("fcgi2Version"));
  exports.Set("buildInfo", buildInfo);
  return exports;
}

}  // namespace libfcgi

// NODE_API_MODULE pastes the init function's name into an identifier: it must be unqualified.
static Napi::Object InitLibfcgi(Napi::Env env, Napi::Object exports) { return libfcgi::Init(env, exports); }
NODE_API_MODULE(libfcgi, InitLibfcgi)
