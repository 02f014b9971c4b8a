// Addon entry: registers the native classes and the per-environment state.
#include <napi.h>

#include "accept_loop.h"
#include "acceptor.h"
#include "addon.h"
#include "build_info.h"
#include "request.h"

namespace libfcgi {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnsureLibraryInit();
  auto* data = new AddonData();
  Napi::Function acceptLoop = AcceptLoop::Define(env);
  data->acceptLoop = Napi::Persistent(acceptLoop);
  env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api at environment teardown
  exports.Set("AcceptLoop", acceptLoop);
  exports.Set("Acceptor", Acceptor::Define(env));
  Napi::Object buildInfo = BuildInfo(env);
  exports.Set("fcgi2Version", buildInfo.Get("fcgi2Version"));
  exports.Set("buildInfo", buildInfo);
  return exports;
}

}  // namespace libfcgi

// NODE_API_MODULE pastes the init function's name into an identifier: it must be unqualified.
static Napi::Object InitLibfcgi(Napi::Env env, Napi::Object exports) { return libfcgi::Init(env, exports); }
NODE_API_MODULE(libfcgi, InitLibfcgi)
