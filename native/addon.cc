// Addon entry: registers the native classes; per-environment state lives in the class constructors.
#include <napi.h>

#include "accept_loop.h"
#include "request.h"

namespace libfcgi {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnsureLibraryInit();
  exports.Set("AcceptLoop", AcceptLoop::Define(env));
  exports.Set("fcgi2Version", Napi::String::New(env, "2.4.5"));
  return exports;
}

}  // namespace libfcgi

// NODE_API_MODULE pastes the init function's name into an identifier: it must be unqualified.
static Napi::Object InitLibfcgi(Napi::Env env, Napi::Object exports) { return libfcgi::Init(env, exports); }
NODE_API_MODULE(libfcgi, InitLibfcgi)
