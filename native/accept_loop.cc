// The synchronous accept loop: blocking by design (it is the accept-loop API), never blocking forever.
#include "accept_loop.h"

#include <signal.h>

#include "addon.h"
#include "errors.h"
#include "options.h"

namespace libfcgi {

namespace {
constexpr size_t kReadChunk = 65536;
}  // namespace

Napi::Function AcceptLoop::Constructor(Napi::Env env) { return env.GetInstanceData<AddonData>()->acceptLoop.Value(); }

Napi::Function AcceptLoop::Define(Napi::Env env) {
  return DefineClass(env, "AcceptLoop",
                     {
                         InstanceMethod<&AcceptLoop::Accept>("accept"),
                         InstanceMethod<&AcceptLoop::Params>("params"),
                         InstanceMethod<&AcceptLoop::Role>("role"),
                         InstanceMethod<&AcceptLoop::Write>("write"),
                         InstanceMethod<&AcceptLoop::WriteError>("writeError"),
                         InstanceMethod<&AcceptLoop::Read>("read"),
                         InstanceMethod<&AcceptLoop::ReadData>("readData"),
                         InstanceMethod<&AcceptLoop::Flush>("flush"),
                         InstanceMethod<&AcceptLoop::Finish>("finish"),
                         InstanceMethod<&AcceptLoop::SetExitStatus>("setExitStatus"),
                         InstanceMethod<&AcceptLoop::Close>("close"),
                         InstanceMethod<&AcceptLoop::Address>("address"),
                         InstanceMethod<&AcceptLoop::RequestShutdown>("requestShutdown"),
                         InstanceMethod<&AcceptLoop::Aborted>("aborted"),
                         InstanceMethod<&AcceptLoop::Fd>("fd"),
                         InstanceMethod<&AcceptLoop::Stats>("stats"),
                     });
}

AcceptLoop::AcceptLoop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AcceptLoop>(info) {
  Napi::Env env = info.Env();
  EnsureLibraryInit();
  FCGX_InitRequest(&req_, -1, 0);
  if (info.Length() < 1 || !info[0].IsObject()) {
    MakeTypeError(env, "ERR_INVALID_ARG_TYPE", "options must be an object").ThrowAsJavaScriptException();
    return;
  }
  ListenOptions opts;
  Timeouts timeouts;
  if (!ReadListenOptions(info[0].As<Napi::Object>(), &opts, &timeouts, &limits_)) return;
  InitRequest(&req_, limits_);
  SysError err;
  listener_ = Listener::Create(opts, timeouts, &err);
  if (!listener_) {
    MakeSystemError(env, err).ThrowAsJavaScriptException();
    return;
  }
  listener_->ConfigureGate(limits_, opts.maxBufferedBytes);
}

AcceptLoop::~AcceptLoop() { CloseAll(); }

void AcceptLoop::OnSigterm(uv_signal_t* handle, int) { static_cast<AcceptLoop*>(handle->data)->shutdown_ = true; }

void AcceptLoop::StartSignalWatch() {
  if (sigActive_) return;
  if (!sigLoopInit_) {
    if (uv_loop_init(&sigLoop_) != 0) return;
    uv_signal_init(&sigLoop_, &sigterm_);
    sigterm_.data = this;
    sigLoopInit_ = true;
  }
  sigActive_ = uv_signal_start(&sigterm_, OnSigterm, SIGTERM) == 0;
  // One turn registers the signal pipe with the loop's epoll fd; from then on that fd joins the listener's epoll set
  // and the loop runs only when it is readable (no extra syscall per request).
  if (sigActive_) uv_run(&sigLoop_, UV_RUN_NOWAIT);
}

void AcceptLoop::StopSignalWatch() {
  if (!sigLoopInit_) return;
  uv_signal_stop(&sigterm_);  // the last SIGTERM watcher gone: libuv restores the default action
  sigActive_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_run(&sigLoop_, UV_RUN_NOWAIT);
  uv_loop_close(&sigLoop_);
  sigLoopInit_ = false;
}

void AcceptLoop::CloseAll() {
  if (inRequest_ && listener_) {
    FinishRequest(&req_, listener_.get(), &input_);
    inRequest_ = false;
  }
  FreeRequestMemory(&req_);
  StopSignalWatch();
  if (listener_) {
    listener_->Close();
    listener_->DrainLingering(kCloseLingerMs);  // the last responses reach the web server whole
  }
}

Napi::Value AcceptLoop::Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!listener_) return Napi::Boolean::New(env, false);
  if (inRequest_) {
    FinishRequest(&req_, listener_.get(), &input_);
    inRequest_ = false;
  }
  StartSignalWatch();
  // A SIGTERM that came during the last request is not looked for here (that was one poll() per request): the
  // signal loop's fd is in the listener's epoll set, so the wait below returns it, at the latest after the
  // connections that were ready before it, which the shutdown would serve anyway (it keeps the backlog and
  // kept connections whose request has arrived).
  for (;;) {
    // Shutdown (SIGTERM): the listener stops taking connections but keeps those already queued in the
    // backlog; accept() returns true for each of them, then false. Closing at once would reset them.
    if (shutdown_ && !listener_->closed()) listener_->Close(/*drainBacklog=*/true);
    bool closing = listener_->closed();
    WaitResult w = AcceptRequest(&req_, listener_.get(), sigActive_ && !closing ? uv_backend_fd(&sigLoop_) : -1);
    if (w == WaitResult::kConnection) {
      inRequest_ = true;
      input_ = InputStream::kStdin;
      return Napi::Boolean::New(env, true);
    }
    if (w == WaitResult::kClosed) break;
    // kExtraReadable: a SIGTERM is waiting in the signal loop.
    uv_run(&sigLoop_, UV_RUN_NOWAIT);
  }
  CloseAll();
  return Napi::Boolean::New(env, false);
}

bool AcceptLoop::RequireRequest(Napi::Env env) {
  if (inRequest_) return true;
  MakeFcgiError(env, "FCGI_NO_REQUEST", "no current request: call accept() first (or the request was finished)")
      .ThrowAsJavaScriptException();
  return false;
}

Napi::Value AcceptLoop::Params(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  std::string joined = JoinParams(&req_);
  // latin1: params are bytes; this keeps every byte (as Node's http does for header values).
  napi_value out;
  napi_create_string_latin1(env, joined.data(), joined.size(), &out);
  return Napi::Value(env, out);
}

Napi::Value AcceptLoop::Role(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  return Napi::String::New(env, req_.role >= 0 && req_.role < kRoleNameCount ? kRoleNames[req_.role] : kRoleNames[0]);
}

Napi::Value AcceptLoop::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  return Napi::Boolean::New(env, WriteJsValue(env, info[0], req_.out));
}

Napi::Value AcceptLoop::WriteError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  return Napi::Boolean::New(env, WriteJsValue(env, info[0], req_.err));
}

Napi::Value AcceptLoop::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  // After the switch to FCGI_DATA the body is over (its rest was skipped).
  if (input_ == InputStream::kData) return Napi::Buffer<char>::New(env, 0);
  return ReadInput(info);
}

Napi::Value AcceptLoop::ReadData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  if (!StartFilterData(&req_, &input_)) return Napi::Buffer<char>::New(env, 0);  // not a FILTER: no data
  return ReadInput(info);
}

Napi::Value AcceptLoop::ReadInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double max = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  std::string buf;
  // Grows with what arrives (read(2 ** 30) on a 10-byte body allocates nothing large).
  size_t want = max >= 0 ? static_cast<size_t>(std::min(max, 1073741824.0)) : SIZE_MAX;
  char chunk[kReadChunk];
  while (buf.size() < want) {
    int n = FCGX_GetStr(chunk, static_cast<int>(std::min(want - buf.size(), kReadChunk)), req_.in);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  return Napi::Buffer<char>::Copy(env, buf.data(), buf.size());
}

Napi::Value AcceptLoop::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  return Napi::Boolean::New(env, FCGX_FFlush(req_.out) == 0);
}

Napi::Value AcceptLoop::Finish(const Napi::CallbackInfo& info) {
  if (inRequest_) {
    FinishRequest(&req_, listener_.get(), &input_);
    inRequest_ = false;
  }
  return info.Env().Undefined();
}

Napi::Value AcceptLoop::SetExitStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  FCGX_SetExitStatus(info[0].As<Napi::Number>().Int32Value(), req_.out);
  return env.Undefined();
}

Napi::Value AcceptLoop::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

Napi::Value AcceptLoop::Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!listener_) return env.Null();
  return DescribeListener(env, *listener_);
}

Napi::Value AcceptLoop::Aborted(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireRequest(env)) return env.Undefined();
  return Napi::Boolean::New(env, RequestFailed(&req_));
}

Napi::Value AcceptLoop::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), listener_ && !listener_->closed() ? listener_->fd() : -1);
}

// stats(): { idle, queued } — connections waiting between requests; queued is always 0 here (one request at a
// time: connections wait in the listen backlog or the dispatcher, not for a slot).
Napi::Value AcceptLoop::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("idle",
        Napi::Number::New(env, listener_ && !listener_->closed() ? static_cast<double>(listener_->IdleCount()) : 0));
  o.Set("refusedByLimits", Napi::Number::New(env, listener_ ? static_cast<double>(listener_->RefusedByLimits()) : 0));
  o.Set("queued", Napi::Number::New(env, 0));
  o.Set("refusedByGate", Napi::Number::New(env, listener_ ? static_cast<double>(listener_->refusedByGate()) : 0));
  o.Set("gateBufferedBytes",
        Napi::Number::New(env, listener_ ? static_cast<double>(listener_->GateBufferedBytes()) : 0));
  return o;
}

Napi::Value AcceptLoop::RequestShutdown(const Napi::CallbackInfo& info) {
  shutdown_ = true;
  return info.Env().Undefined();
}

}  // namespace libfcgi
