// The binding: the JS object (new ServerIo(source, concurrency, onEvent)) and its methods, which decode their
// arguments and queue commands; events to JS (Post, CallJs); teardown.
#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

extern "C" {
#include "fcgios.h"
}

#include "accept_loop.h"
#include "errors.h"
#include "options.h"
#include "server_io.h"

namespace libfcgi {

namespace {
constexpr size_t kWorkerStackBytes = 512 * 1024;  // fcgi2 needs little stack; the body buffers are on the heap
}  // namespace

#ifdef OS_HAVE_WILL_BLOCK_HOOK
extern "C" void LibfcgiWillBlock(void);  // worker_pool.cc
#endif

Napi::Function ServerIo::Define(Napi::Env env) {
  return DefineClass(env, "ServerIo",
                     {
                         InstanceMethod<&ServerIo::Start>("start"),
                         InstanceMethod<&ServerIo::Write>("write"),
                         InstanceMethod<&ServerIo::WriteError>("writeError"),
                         InstanceMethod<&ServerIo::Flush>("flush"),
                         InstanceMethod<&ServerIo::Read>("read"),
                         InstanceMethod<&ServerIo::End>("end"),
                         InstanceMethod<&ServerIo::StopAccepting>("stopAccepting"),
                         InstanceMethod<&ServerIo::Interrupt>("interrupt"),
                         InstanceMethod<&ServerIo::Join>("join"),
                         InstanceMethod<&ServerIo::Ref>("ref"),
                         InstanceMethod<&ServerIo::Unref>("unref"),
                         InstanceMethod<&ServerIo::Address>("address"),
                         InstanceMethod<&ServerIo::Stats>("stats"),
                         InstanceMethod<&ServerIo::WatchPeer>("watchPeer"),
                     });
}

// new ServerIo(listenOptions | AcceptLoop, concurrency, onEvent)
ServerIo::ServerIo(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerIo>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  EnsureLibraryInit();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsNumber() || !info[2].IsFunction()) {
    MakeTypeError(env, "ERR_INVALID_ARG_TYPE", "ServerIo(options, concurrency, onEvent)").ThrowAsJavaScriptException();
    return;
  }
  int concurrency = info[1].As<Napi::Number>().Int32Value();
  if (concurrency < 1 || concurrency > kMaxSlots) {
    Napi::RangeError::New(env, "concurrency must be from 1 to " + std::to_string(kMaxSlots))
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
    listener_->ConfigureGate(limits_, opts.maxBufferedBytes);
  }
#ifdef OS_HAVE_WILL_BLOCK_HOOK
  OS_WillBlockHook = LibfcgiWillBlock;  // process-wide; does nothing on threads that are not ours
#endif
  jobFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (jobFd_ < 0) {
    SysError err;
    err.Set(errno, "eventfd");
    MakeSystemError(env, err).ThrowAsJavaScriptException();
    return;
  }
  pollOnJs_ = kGateOn;  // the JS thread polls only when the gate reads requests whole (server_io.h)
  if (pollOnJs_) {
    onEvent_ = Napi::Persistent(info[2].As<Napi::Function>());
    Napi::Object resource = Napi::Object::New(env);
    asyncResource_ = Napi::Persistent(resource);
    napi_value name;
    if (napi_create_string_utf8(env, "libfcgi.server-io", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, resource, name, &asyncContext_) != napi_ok) {
      pollOnJs_ = false;
    }
  }
  if (!pollOnJs_) listener_->SetJobFd(jobFd_);  // the workers poll: commands wake one through the epoll set
  for (int i = 0; i < concurrency; i++) {
    slots_.emplace_back(new Slot(i));
    InitRequest(&slots_.back()->req, limits_);
  }
  for (int i = concurrency - 1; i >= 0; i--) freeSlots_.push_back(slots_[static_cast<size_t>(i)].get());
  threadCount_ = static_cast<size_t>(concurrency);
  tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "libfcgi.server-io", 0, 1, this);
  tsfnLive_ = true;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

ServerIo::~ServerIo() {
  Shutdown();
  if (cleanupHookAdded_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  if (asyncContext_ != nullptr && !envClosing_.load()) napi_async_destroy(env_, asyncContext_);
  if (listener_) listener_->SetJobFd(-1);  // a shared listener (for await) outlives us
  MutexLock lock(&mu_);                    // the threads are joined: uncontended
  for (auto& s : slots_) {
    FreeRequestMemory(&s->req);
    for (Command& c : Locked(s.get()).queue) Retire(&c.output);
  }
  ReleaseRetired(env_);
  if (jobFd_ >= 0) close(jobFd_);
}

void ServerIo::CleanupHook(void* self) {
  auto* a = static_cast<ServerIo*>(self);
  a->envClosing_.store(true);
  a->Shutdown();
  a->cleanupHookAdded_ = false;
}

// Stops everything: no more accepts, in-flight requests are cut, threads joined. Used on environment
// teardown (worker thread exit, process exit) and when the object is collected.
void ServerIo::Shutdown() {
  StopWatchdog();
  stopping_.store(true);
  CloseJsPoll();
  if (listener_) listener_->Close();
  WakeParked();
  { MutexLock lock(&mu_); }
  cv_.notify_all();
  InterruptAll();
  for (pthread_t& t : threads_) pthread_join(t, nullptr);
  threads_.clear();
  joined_ = true;
  if (tsfnLive_) {
    tsfn_.Release();
    tsfnLive_ = false;
  }
}

bool ServerIo::Post(ServerEvent* ev) {
  if (PostInline(ev)) return true;
  if (envClosing_.load() || tsfn_.NonBlockingCall(ev) != napi_ok) {
    delete ev;
    return false;
  }
  return true;
}

void ServerIo::PostAbort(int slot, uint32_t generation) {
  ServerEvent ev;
  ev.kind = ServerEvent::Kind::kAborted;
  ev.slot = slot;
  ev.generation = generation;
  Post(new ServerEvent(std::move(ev)));
}

void ServerIo::CallJs(Napi::Env env, Napi::Function callback, ServerIo* self, ServerEvent* ev) {
  std::unique_ptr<ServerEvent> owned(ev);
  if (env == nullptr || callback.IsEmpty()) return;  // tearing down: nothing to deliver to
  if (self != nullptr && self->haveRetired_.load(std::memory_order_relaxed)) self->ReleaseRetired(env);
  // Raw napi calls whose failures are ignored: while a worker thread's environment is being torn down
  // (process.exit in a Worker, terminate()) they fail, and node-addon-api's wrappers would make that fatal.
  napi_env e = env;
  napi_value args[8];
  napi_value undefined;
  if (napi_get_undefined(e, &undefined) != napi_ok) return;
  for (napi_value& a : args) a = undefined;
  bool ok = napi_create_int32(e, static_cast<int>(ev->kind), &args[0]) == napi_ok &&
            napi_create_int32(e, ev->slot, &args[1]) == napi_ok &&
            napi_create_uint32(e, ev->generation, &args[2]) == napi_ok;
  switch (ev->kind) {
    case ServerEvent::Kind::kRequest: {
      const char* role = ev->role >= 0 && ev->role < kRoleNameCount ? kRoleNames[ev->role] : kRoleNames[0];
      ok = ok && napi_create_string_latin1(e, ev->data.data(), ev->data.size(), &args[3]) == napi_ok &&
           napi_create_string_latin1(e, role, NAPI_AUTO_LENGTH, &args[4]) == napi_ok &&
           (ev->index.empty() || napi_create_string_utf16(e, ev->index.data(), ev->index.size(), &args[7]) == napi_ok);
      if (ev->prefetched) {
        // The bytes become the Buffer's memory (no copy); V8 frees them with the Buffer.
        char* bytes = ev->bodyBytes.get();
        if (bytes != nullptr && ev->bodyLength > 0 &&
            napi_create_external_buffer(
                e, ev->bodyLength, bytes, [](napi_env, void* data, void*) { std::free(data); }, nullptr, &args[5]) ==
                napi_ok) {
          ev->bodyBytes.release();
        } else {
          void* copy = nullptr;
          ok = ok && napi_create_buffer_copy(e, ev->bodyLength, bytes, &copy, &args[5]) == napi_ok;
        }
        ok = ok && napi_get_boolean(e, ev->eof, &args[6]) == napi_ok;
      }
      break;
    }
    case ServerEvent::Kind::kData: {
      void* copy = nullptr;
      ok = ok && napi_create_buffer_copy(e, ev->data.size(), ev->data.data(), &copy, &args[3]) == napi_ok &&
           napi_get_boolean(e, ev->eof, &args[4]) == napi_ok &&
           (!ev->filterData || napi_get_boolean(e, true, &args[6]) == napi_ok);
      break;
    }
    case ServerEvent::Kind::kWritten: ok = ok && napi_create_double(e, ev->written, &args[3]) == napi_ok; break;
    default: break;
  }
  if (!ok) return;
  napi_value result;
  napi_call_function(e, undefined, callback, 8, args, &result);  // a pending exception surfaces as usual
}

Napi::Value ServerIo::Start(const Napi::CallbackInfo& info) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  // The threads inherit a mask blocking every signal: signals are the JS thread's business, and a SIGCHLD
  // landing here would interrupt a wait or a read of a legitimate connection.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = 0;
  while (threads_.size() < threadCount_) {
    pthread_t t;
    rc = pthread_create(&t, &attr, ThreadMain, this);
    if (rc != 0) break;
    threads_.push_back(t);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc == 0 && info.Length() > 0 && info[0].IsNumber()) StartWatchdog(info[0].As<Napi::Number>().Int32Value());
  if (rc == 0 && pollOnJs_) StartJsPoll(info.Env());
  if (rc != 0) {
    SysError err;
    err.Set(rc, "pthread_create");
    Shutdown();
    MakeSystemError(info.Env(), err).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// The request a method is for: slot + kMaxSlots × generation (lib/server.ts), as (slot, generation); for
// write/writeError/end also the data: a string, a Uint8Array, an array of those, or undefined.
Slot* ServerIo::RequestArgs(const Napi::CallbackInfo& info, uint32_t* generation, Output* output) {
  double id = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  uint64_t n = id >= 0 && id <= 9007199254740991.0 ? static_cast<uint64_t>(id) : 0;
  if (!(id >= 0) || id != static_cast<double>(n) || n % kMaxSlots >= slots_.size()) {
    Napi::RangeError::New(info.Env(), "request id out of range").ThrowAsJavaScriptException();
    return nullptr;
  }
  *generation = static_cast<uint32_t>(n / kMaxSlots);
  Slot* s = slots_[static_cast<size_t>(n % kMaxSlots)].get();
  if (output == nullptr) return s;
  // References of output written since the last event or command.
  if (haveRetired_.load(std::memory_order_relaxed)) ReleaseRetired(info.Env());
  if (info[1].IsUndefined() || output->AppendJs(info.Env(), info[1])) return s;
  Retire(output);
  MakeTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "data must be a string, a Uint8Array or an array of them")
      .ThrowAsJavaScriptException();
  return nullptr;
}

void ServerIo::Retire(Output* out) {
  if (out->HasRefs()) {
    MutexLock lock(&retiredMu_);
    out->TakeRefs(&retired_);
    haveRetired_.store(true);
  } else {
    out->TakeRefs(nullptr);
  }
}

void ServerIo::ReleaseRetired(napi_env env) {
  std::vector<napi_ref> refs;
  {
    MutexLock lock(&retiredMu_);
    refs.swap(retired_);
    haveRetired_.store(false);
  }
  for (napi_ref r : refs) napi_delete_reference(env, r);
}

Napi::Value ServerIo::Write(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kWrite;
  uint32_t generation = 0;
  Slot* s = RequestArgs(info, &generation, &cmd.output);
  if (s == nullptr) return info.Env().Undefined();
  cmd.notify = info[2].ToBoolean();
  Queue(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value ServerIo::WriteError(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kWriteError;
  uint32_t generation = 0;
  Slot* s = RequestArgs(info, &generation, &cmd.output);
  if (s != nullptr) Queue(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value ServerIo::Flush(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* w = RequestArgs(info, &generation);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kFlush;
  Queue(w, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value ServerIo::Read(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* w = RequestArgs(info, &generation);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kRead;
  cmd.readMax = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 65536;
  if (cmd.readMax < 1) cmd.readMax = 65536;
  cmd.filterData = info.Length() > 2 && info[2].ToBoolean();
  Queue(w, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value ServerIo::End(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kEnd;
  uint32_t generation = 0;
  Slot* s = RequestArgs(info, &generation, &cmd.output);
  if (s == nullptr) return info.Env().Undefined();
  cmd.exitStatus = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  cmd.cut = info[3].ToBoolean();
  if (!EndOnJsThread(s, generation, cmd)) Queue(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value ServerIo::StopAccepting(const Napi::CallbackInfo& info) {
  // Graceful: the connections already queued in the listen backlog (and kept ones whose next request is
  // here) are served like any other; the threads leave once they and the requests in flight are done.
  if (listener_) listener_->Close(/*drainBacklog=*/true);
  {
    MutexLock lock(&mu_);
    if (listener_) {
      for (int fd : listener_->TakeDrained()) pendingConns_.push_back(fd);
    }
  }
  WakeParked();
  cv_.notify_all();
  return info.Env().Undefined();
}

Napi::Value ServerIo::Interrupt(const Napi::CallbackInfo& info) {
  // closeTimeout passed: connections still waiting for a slot are closed, requests in flight cut.
  stopping_.store(true);
  if (listener_) listener_->Close();
  InterruptAll();
  { MutexLock lock(&mu_); }
  cv_.notify_all();
  return info.Env().Undefined();
}

// Cuts every request being read or in flight: blocked reads/writes on their connections fail at once, and an
// end command (a cut) finishes the ones JS still holds.
void ServerIo::InterruptAll() {
  for (auto& s : slots_) {
    int fd = s->connFd.load();
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    uint32_t generation;
    {
      MutexLock lock(&mu_);
      generation = s->generation;
    }
    Command end;
    end.kind = Command::Kind::kEnd;
    end.cut = true;
    Queue(s.get(), generation, std::move(end));  // dropped unless that request is in flight
  }
}

// JS: the handler went asynchronous; report a hang-up of the web server (client gone) while it waits.
Napi::Value ServerIo::WatchPeer(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* s = RequestArgs(info, &generation);
  if (s == nullptr) return info.Env().Undefined();
  MutexLock lock(&mu_);
  if (InFlight(Locked(s).state) && s->generation == generation && !Locked(s).aborted && Locked(s).watchId == 0 &&
      s->connFd.load() >= 0) {
    uint64_t cookie = (static_cast<uint64_t>(s->index) << 32) | s->generation;
    Locked(s).watchId = listener_->WatchInFlight(s->connFd.load(), cookie);
  }
  return info.Env().Undefined();
}

Napi::Value ServerIo::Join(const Napi::CallbackInfo& info) {
  // Called once every thread reported kWorkerExit: the threads have returned or are about to.
  StopWatchdog();  // shutdown finished in time
  if (!joined_) {
    for (pthread_t& t : threads_) pthread_join(t, nullptr);
    threads_.clear();
    joined_ = true;
    if (tsfnLive_) {
      tsfn_.Release();
      tsfnLive_ = false;
    }
  }
  return info.Env().Undefined();
}

Napi::Value ServerIo::Ref(const Napi::CallbackInfo& info) {
  if (tsfnLive_) tsfn_.Ref(info.Env());
  RefJsPoll(true);
  return info.Env().Undefined();
}

Napi::Value ServerIo::Unref(const Napi::CallbackInfo& info) {
  if (tsfnLive_) tsfn_.Unref(info.Env());
  RefJsPoll(false);
  return info.Env().Undefined();
}

Napi::Value ServerIo::Address(const Napi::CallbackInfo& info) {
  if (!listener_ || listener_->closed()) return info.Env().Null();
  return DescribeListener(info.Env(), *listener_);
}

// stats(): { idle, queued } — connections waiting between requests, and readable ones waiting for a free slot.
Napi::Value ServerIo::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  size_t queued;
  {
    MutexLock lock(&mu_);
    queued = pendingConns_.size();
  }
  o.Set("idle",
        Napi::Number::New(env, listener_ && !listener_->closed() ? static_cast<double>(listener_->IdleCount()) : 0));
  o.Set("refusedByLimits", Napi::Number::New(env, listener_ ? static_cast<double>(listener_->RefusedByLimits()) : 0));
  o.Set("queued", Napi::Number::New(env, static_cast<double>(queued)));
  o.Set("refusedByGate", Napi::Number::New(env, listener_ ? static_cast<double>(listener_->refusedByGate()) : 0));
  o.Set("gateBufferedBytes",
        Napi::Number::New(env, listener_ ? static_cast<double>(listener_->GateBufferedBytes()) : 0));
  return o;
}

}  // namespace libfcgi
