// AcceptLoop: the synchronous accept loop (FastCGI in lib/fastcgi.ts) on the JS thread, one request at a time.
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "reactor.h"
#include "request.h"

namespace libfcgi {

class AcceptLoop : public Napi::ObjectWrap<AcceptLoop> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit AcceptLoop(const Napi::CallbackInfo& info);
  ~AcceptLoop() override;

  // The AcceptLoop class of this environment (for instanceof checks by other native classes).
  static Napi::Function Constructor(Napi::Env env);
  std::shared_ptr<Listener> SharedListener() const { return listener_; }
  const ParamLimits& Limits() const { return limits_; }

 private:
  // accept(): true with a request, false when shutdown was requested (SIGTERM, close()).
  Napi::Value Accept(const Napi::CallbackInfo& info);
  Napi::Value Params(const Napi::CallbackInfo& info);
  Napi::Value Role(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteError(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  // FILTER: FCGI_DATA (the file to filter), after the rest of FCGI_STDIN; empty for other roles.
  Napi::Value ReadData(const Napi::CallbackInfo& info);
  Napi::Value ReadInput(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value SetExitStatus(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value RequestShutdown(const Napi::CallbackInfo& info);
  Napi::Value Aborted(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  bool RequireRequest(Napi::Env env);
  void StartSignalWatch();
  void StopSignalWatch();
  void CloseAll();
  static void OnSigterm(uv_signal_t* handle, int signum);

  std::shared_ptr<Listener> listener_;
  ParamLimits limits_;
  FCGX_Request req_;
  bool inRequest_ = false;
  InputStream input_ = InputStream::kStdin;
  bool shutdown_ = false;
  // SIGTERM is watched through a private libuv loop whose backend fd joins our poll(): libuv installs and
  // removes the process handler as for any Node signal listener, and we never call sigaction ourselves.
  uv_loop_t sigLoop_;
  uv_signal_t sigterm_;
  bool sigLoopInit_ = false;
  bool sigActive_ = false;
};

}  // namespace libfcgi
