// The concurrent server's threads: accept, read params, hand the request to JS, then execute JS's commands.
#include "acceptor.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept_loop.h"
#include "errors.h"
#include "options.h"

namespace libfcgi {

namespace {

constexpr size_t kWorkerStackBytes = 512 * 1024;  // fcgi2 needs little stack; the body buffers are on the heap
constexpr int kMaxConcurrency = 4096;
constexpr int kCloseLingerMs = 2000;

void SignalEventFd(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

}  // namespace

// ---- Worker: one native thread, one FCGX_Request at a time ----

Worker::Worker(Acceptor* owner, int slot) : owner_(owner), slot_(slot) {
  InitRequest(&req_, owner->limits());
  cmdFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Worker::~Worker() {
  if (cmdFd_ >= 0) close(cmdFd_);
}

bool Worker::Start() {
  if (cmdFd_ < 0) return false;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  // The thread inherits a mask blocking every signal: signals are the JS thread's business, and a SIGCHLD
  // landing here would interrupt a poll or read of a legitimate connection.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(&thread_, &attr, ThreadMain, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  started_ = rc == 0;
  return started_;
}

void Worker::Join() {
  if (!started_) return;
  pthread_join(thread_, nullptr);
  started_ = false;
}

void* Worker::ThreadMain(void* self) {
  static_cast<Worker*>(self)->Run();
  return nullptr;
}

void Worker::Push(Command cmd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(cmd));
  }
  SignalEventFd(cmdFd_);
}

void Worker::Interrupt() {
  int fd = connFd_.load();
  if (fd >= 0) shutdown(fd, SHUT_RDWR);  // a blocked read/write on the connection fails at once
  Command end;
  end.kind = Command::Kind::kEnd;
  Push(std::move(end));
}

void Worker::Post(AcceptorEvent ev) {
  ev.slot = slot_;
  ev.generation = generation_;
  owner_->Post(new AcceptorEvent(std::move(ev)));
}

void Worker::Run() {
  while (!owner_->stopping()) {
    if (AcceptRequest(&req_, owner_->listener(), -1) != WaitResult::kConnection) break;
    ServeRequest();
  }
  ReleaseConnection(&req_);
  owner_->listener()->DrainLingering(kCloseLingerMs);  // on this thread, not the event loop
  AcceptorEvent ev;
  ev.kind = AcceptorEvent::Kind::kWorkerExit;
  Post(std::move(ev));
}

bool Worker::WaitCommand(Command* out, bool watchPeer) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!queue_.empty()) {
        *out = std::move(queue_.front());
        queue_.pop_front();
        return true;
      }
    }
    // Waiting for the handler; meanwhile notice a web server that hangs up (client went away).
    pollfd p[2] = {{cmdFd_, POLLIN, 0}, {watchPeer ? connFd_.load() : -1, POLLRDHUP, 0}};
    int n = poll(p, 2, -1);
    if (n < 0) continue;  // EINTR cannot happen with signals blocked; stay safe anyway
    if (p[0].revents) {
      uint64_t v;
      ssize_t r = read(cmdFd_, &v, sizeof v);
      (void)r;
    }
    if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return false;
    }
  }
}

void Worker::ServeRequest() {
  generation_++;
  connFd_.store(req_.ipcFd);
  double written = 0;
  bool aborted = false;
  bool watchPeer = true;

  AcceptorEvent request;
  request.kind = AcceptorEvent::Kind::kRequest;
  request.data = JoinParams(&req_);
  request.role = req_.role;
  Post(std::move(request));

  auto abort = [&] {
    if (aborted) return;
    aborted = true;
    AcceptorEvent ev;
    ev.kind = AcceptorEvent::Kind::kAborted;
    Post(std::move(ev));
  };

  for (;;) {
    Command cmd;
    if (!WaitCommand(&cmd, watchPeer && !aborted)) {
      watchPeer = false;
      abort();
      continue;
    }
    switch (cmd.kind) {
      case Command::Kind::kWrite:
      case Command::Kind::kWriteError: {
        FCGX_Stream* s = cmd.kind == Command::Kind::kWrite ? req_.out : req_.err;
        int len = static_cast<int>(cmd.data.size());
        if (!aborted && len > 0 && FCGX_PutStr(cmd.data.data(), len, s) != len) abort();
        if (cmd.kind == Command::Kind::kWrite) written += len;  // JS counts stdout bytes only
        if (cmd.notify) {
          AcceptorEvent ev;
          ev.kind = AcceptorEvent::Kind::kWritten;
          ev.written = written;
          Post(std::move(ev));
        }
        break;
      }
      case Command::Kind::kFlush:
        if (!aborted && FCGX_FFlush(req_.out) != 0) abort();
        break;
      case Command::Kind::kRead: {
        AcceptorEvent ev;
        ev.kind = AcceptorEvent::Kind::kData;
        int n = 0;
        if (!aborted) {
          ev.data.resize(static_cast<size_t>(cmd.readMax));
          n = FCGX_GetStr(&ev.data[0], cmd.readMax, req_.in);  // fewer than asked only at the end
          if (n < 0) n = 0;
          ev.data.resize(static_cast<size_t>(n));
          if (FCGX_GetError(req_.in) != 0) abort();  // timeout, peer gone, FCGI_ABORT_REQUEST
        }
        ev.eof = aborted || n < cmd.readMax;
        Post(std::move(ev));
        break;
      }
      case Command::Kind::kEnd: {
        if (cmd.cut && !aborted) {
          shutdown(req_.ipcFd, SHUT_RDWR);  // the web server sees a broken response, not a complete one
          aborted = true;
        }
        if (!aborted && !cmd.data.empty()) {
          int len = static_cast<int>(cmd.data.size());
          if (FCGX_PutStr(cmd.data.data(), len, req_.out) != len) aborted = true;
        }
        if (aborted) req_.keepConnection = 0;  // never reuse a connection in an unknown state
        if (req_.out != nullptr) FCGX_SetExitStatus(cmd.exitStatus, req_.out);
        FinishRequest(&req_, owner_->listener());
        connFd_.store(-1);
        return;
      }
    }
  }
}

// ---- Acceptor: the JS object owning the workers ----

Napi::Function Acceptor::Define(Napi::Env env) {
  return DefineClass(env, "Acceptor",
                     {
                         InstanceMethod<&Acceptor::Start>("start"),
                         InstanceMethod<&Acceptor::Write>("write"),
                         InstanceMethod<&Acceptor::WriteError>("writeError"),
                         InstanceMethod<&Acceptor::Flush>("flush"),
                         InstanceMethod<&Acceptor::Read>("read"),
                         InstanceMethod<&Acceptor::End>("end"),
                         InstanceMethod<&Acceptor::StopAccepting>("stopAccepting"),
                         InstanceMethod<&Acceptor::Interrupt>("interrupt"),
                         InstanceMethod<&Acceptor::Join>("join"),
                         InstanceMethod<&Acceptor::Ref>("ref"),
                         InstanceMethod<&Acceptor::Unref>("unref"),
                         InstanceMethod<&Acceptor::Address>("address"),
                     });
}

// new Acceptor(listenOptions | AcceptLoop, concurrency, onEvent)
Acceptor::Acceptor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Acceptor>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  EnsureLibraryInit();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsNumber() || !info[2].IsFunction()) {
    MakeTypeError(env, "ERR_INVALID_ARG_TYPE", "Acceptor(options, concurrency, onEvent)").ThrowAsJavaScriptException();
    return;
  }
  int concurrency = info[1].As<Napi::Number>().Int32Value();
  if (concurrency < 1 || concurrency > kMaxConcurrency) {
    Napi::RangeError::New(env, "concurrency must be from 1 to " + std::to_string(kMaxConcurrency))
        .ThrowAsJavaScriptException();
    return;
  }
  Napi::Object source = info[0].As<Napi::Object>();
  if (source.InstanceOf(AcceptLoop::Constructor(env))) {
    // for await over a FastCGI accept loop: share its listening socket.
    AcceptLoop* loop = AcceptLoop::Unwrap(source);
    listener_ = loop->SharedListener();
    limits_ = loop->Limits();
    if (!listener_ || listener_->closed()) {
      MakeFcgiError(env, "FCGI_CLOSED", "the accept loop is closed").ThrowAsJavaScriptException();
      return;
    }
  } else {
    ListenOptions opts;
    Timeouts timeouts;
    if (!ReadListenOptions(source, &opts, &timeouts, &limits_)) return;
    SysError err;
    listener_ = Listener::Create(opts, timeouts, &err);
    if (!listener_) {
      MakeSystemError(env, err).ThrowAsJavaScriptException();
      return;
    }
  }
  for (int i = 0; i < concurrency; i++) workers_.emplace_back(new Worker(this, i));
  tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "libfcgi.acceptor", 0, 1, this);
  tsfnLive_ = true;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

Acceptor::~Acceptor() {
  Shutdown();
  if (cleanupHookAdded_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
}

void Acceptor::CleanupHook(void* self) {
  auto* a = static_cast<Acceptor*>(self);
  a->envClosing_.store(true);
  a->Shutdown();
  a->cleanupHookAdded_ = false;
}

// Stops everything: no more accepts, in-flight requests are cut, threads joined. Used on environment
// teardown (worker thread exit, process exit) and when the object is collected.
void Acceptor::Shutdown() {
  stopping_.store(true);
  if (listener_) listener_->Close();
  for (auto& w : workers_) w->Interrupt();
  for (auto& w : workers_) w->Join();
  joined_ = true;
  if (tsfnLive_) {
    tsfn_.Release();
    tsfnLive_ = false;
  }
}

bool Acceptor::Post(AcceptorEvent* ev) {
  if (envClosing_.load() || tsfn_.NonBlockingCall(ev) != napi_ok) {
    delete ev;
    return false;
  }
  return true;
}

void Acceptor::CallJs(Napi::Env env, Napi::Function callback, Acceptor*, AcceptorEvent* ev) {
  std::unique_ptr<AcceptorEvent> owned(ev);
  if (env == nullptr || callback.IsEmpty()) return;  // tearing down: nothing to deliver to
  // Raw napi calls whose failures are ignored: while a worker thread's environment is being torn down
  // (process.exit in a Worker, terminate()) they fail, and node-addon-api's wrappers would make that fatal.
  napi_env e = env;
  napi_value args[5];
  napi_value undefined;
  if (napi_get_undefined(e, &undefined) != napi_ok) return;
  for (napi_value& a : args) a = undefined;
  bool ok = napi_create_int32(e, static_cast<int>(ev->kind), &args[0]) == napi_ok &&
            napi_create_int32(e, ev->slot, &args[1]) == napi_ok &&
            napi_create_uint32(e, ev->generation, &args[2]) == napi_ok;
  switch (ev->kind) {
    case AcceptorEvent::Kind::kRequest: {
      const char* role = RoleName(ev->role);
      ok = ok && napi_create_string_latin1(e, ev->data.data(), ev->data.size(), &args[3]) == napi_ok &&
           napi_create_string_latin1(e, role, NAPI_AUTO_LENGTH, &args[4]) == napi_ok;
      break;
    }
    case AcceptorEvent::Kind::kData: {
      void* copy = nullptr;
      ok = ok && napi_create_buffer_copy(e, ev->data.size(), ev->data.data(), &copy, &args[3]) == napi_ok &&
           napi_get_boolean(e, ev->eof, &args[4]) == napi_ok;
      break;
    }
    case AcceptorEvent::Kind::kWritten:
      ok = ok && napi_create_double(e, ev->written, &args[3]) == napi_ok;
      break;
    default:
      break;
  }
  if (!ok) return;
  napi_value result;
  napi_call_function(e, undefined, callback, 5, args, &result);  // a pending exception surfaces as usual
}

Napi::Value Acceptor::Start(const Napi::CallbackInfo& info) {
  for (auto& w : workers_) {
    if (!w->Start()) {
      SysError err;
      err.Set(errno ? errno : EAGAIN, "pthread_create");
      stopping_.store(true);
      listener_->Close();
      MakeSystemError(info.Env(), err).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }
  return info.Env().Undefined();
}

Worker* Acceptor::SlotArg(const Napi::CallbackInfo& info) {
  int slot = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (slot < 0 || static_cast<size_t>(slot) >= workers_.size()) {
    Napi::RangeError::New(info.Env(), "slot out of range").ThrowAsJavaScriptException();
    return nullptr;
  }
  return workers_[static_cast<size_t>(slot)].get();
}

bool Acceptor::DataArg(const Napi::CallbackInfo& info, size_t index, std::string* out) {
  Napi::Value v = info[index];
  if (v.IsString()) {
    napi_env env = info.Env();
    size_t len = 0;
    napi_get_value_string_utf8(env, v, nullptr, 0, &len);
    out->resize(len + 1);
    size_t copied = 0;
    napi_get_value_string_utf8(env, v, &(*out)[0], out->size(), &copied);
    out->resize(copied);
    return true;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    out->assign(static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
    return true;
  }
  if (v.IsUndefined()) return true;
  MakeTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "data must be a string or Uint8Array").ThrowAsJavaScriptException();
  return false;
}

Napi::Value Acceptor::Write(const Napi::CallbackInfo& info) {
  Worker* w = SlotArg(info);
  Command cmd;
  cmd.kind = Command::Kind::kWrite;
  if (w == nullptr || !DataArg(info, 1, &cmd.data)) return info.Env().Undefined();
  cmd.notify = info[2].ToBoolean();
  w->Push(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::WriteError(const Napi::CallbackInfo& info) {
  Worker* w = SlotArg(info);
  Command cmd;
  cmd.kind = Command::Kind::kWriteError;
  if (w == nullptr || !DataArg(info, 1, &cmd.data)) return info.Env().Undefined();
  w->Push(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::Flush(const Napi::CallbackInfo& info) {
  Worker* w = SlotArg(info);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kFlush;
  w->Push(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::Read(const Napi::CallbackInfo& info) {
  Worker* w = SlotArg(info);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kRead;
  cmd.readMax = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 65536;
  if (cmd.readMax < 1) cmd.readMax = 65536;
  w->Push(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::End(const Napi::CallbackInfo& info) {
  Worker* w = SlotArg(info);
  Command cmd;
  cmd.kind = Command::Kind::kEnd;
  if (w == nullptr || !DataArg(info, 1, &cmd.data)) return info.Env().Undefined();
  cmd.exitStatus = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  cmd.cut = info[3].ToBoolean();
  w->Push(std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::StopAccepting(const Napi::CallbackInfo& info) {
  stopping_.store(true);
  if (listener_) listener_->Close();  // wakes idle workers; busy ones exit after their request
  return info.Env().Undefined();
}

Napi::Value Acceptor::Interrupt(const Napi::CallbackInfo& info) {
  for (auto& w : workers_) w->Interrupt();
  return info.Env().Undefined();
}

Napi::Value Acceptor::Join(const Napi::CallbackInfo& info) {
  // Called once every worker reported kWorkerExit: the threads have returned or are about to.
  if (!joined_) {
    for (auto& w : workers_) w->Join();
    joined_ = true;
    if (tsfnLive_) {
      tsfn_.Release();
      tsfnLive_ = false;
    }
  }
  return info.Env().Undefined();
}

Napi::Value Acceptor::Ref(const Napi::CallbackInfo& info) {
  if (tsfnLive_) tsfn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Acceptor::Unref(const Napi::CallbackInfo& info) {
  if (tsfnLive_) tsfn_.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Acceptor::Address(const Napi::CallbackInfo& info) {
  if (!listener_ || listener_->closed()) return info.Env().Null();
  return DescribeListener(info.Env(), *listener_);
}

}  // namespace libfcgi
