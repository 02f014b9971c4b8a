// The JS thread's poll (server_io.h, "the JS thread's poll"): with the request gate, the listener's epoll set
// is watched from the JS thread's event loop, and a request the gate read whole goes to its handler without a
// thread hand-off. Nothing here waits: NextReady does not block, the gate's reads are non-blocking, and fcgi2
// parses a whole request from the bytes the gate read (Listener::HandedWhole); anything else goes to a worker.
#include "server_io.h"

namespace libfcgi {

namespace {
// The ServerIo whose PollOnJsThread runs on this thread: its Post()s are delivered at the end of that call.
thread_local ServerIo* tlsDispatching = nullptr;
// Connections and events taken per uv_poll callback before libuv gets its turn, as far as new batches go
// (level-triggered: what is left in the epoll set comes next turn). A batch taken is handed out whole.
constexpr int kPollBatch = 64;
}  // namespace

// The uv_poll handle, apart from the ServerIo: environment teardown (napi_add_async_cleanup_hook) may close it
// after the ServerIo is gone, and its close callback frees it.
struct ServerIo::JsPoll {
  uv_poll_t handle;
  napi_async_cleanup_hook_handle hook = nullptr;
  ServerIo* owner = nullptr;  // null once the owner let go
  bool closing = false;

  static void OnClosed(uv_handle_t* h) {
    auto* p = static_cast<JsPoll*>(h->data);
    if (p->hook != nullptr) napi_remove_async_cleanup_hook(p->hook);
    delete p;
  }
  void Close() {
    owner = nullptr;
    if (closing) return;
    closing = true;
    uv_poll_stop(&handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), OnClosed);
  }
  // The environment is going away (a Worker ending, the process exiting): the handle must be closed before its
  // loop is, so the environment waits for OnClosed.
  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    auto* p = static_cast<JsPoll*>(arg);
    if (p->owner != nullptr) p->owner->jsPoll_ = nullptr;
    p->Close();
  }
};

void ServerIo::StartJsPoll(napi_env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return;
  auto* p = new JsPoll;
  p->owner = this;
  p->handle.data = p;
  if (uv_poll_init(loop, &p->handle, listener_->epollFd()) != 0) {
    delete p;
    return;
  }
  napi_add_async_cleanup_hook(env, JsPoll::OnTeardown, p, &p->hook);
  uv_poll_start(&p->handle, UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* jp = static_cast<JsPoll*>(h->data);
    if (jp->owner != nullptr) jp->owner->PollOnJsThread();
  });
  jsPoll_ = p;
}

void ServerIo::CloseJsPoll() {
  if (jsPoll_ == nullptr) return;
  jsPoll_->Close();
  jsPoll_ = nullptr;
}

void ServerIo::RefJsPoll(bool on) {
  if (jsPoll_ == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&jsPoll_->handle);
  if (on) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void ServerIo::PollOnJsThread() {
  bool closed = false;
  tlsDispatching = this;
  // New batches are taken for the first kPollBatch results; the batch in hand is always handed out whole: an
  // event taken out of the epoll set and left in it would wait for some unrelated event to make the set
  // readable again. (Taking new batches for a while matters: the listen socket is armed one-shot and each of
  // its events accepts one connection, so a single batch per callback accepted one connection per loop turn,
  // and a burst of connections overflowed the listen backlog.)
  for (int i = 0;; i++) {
    int fd = -1;
    uint64_t cookie = 0;
    WaitResult w = listener_->NextReady(&fd, &cookie, i < kPollBatch);
    if (w == WaitResult::kNothing) break;
    if (w == WaitResult::kClosed) {
      closed = true;
      break;
    }
    if (w == WaitResult::kConnection) {
      TakeSlot(fd);
    } else if (w == WaitResult::kPeerGone || w == WaitResult::kAbortRequested) {
      PeerGone(cookie, w == WaitResult::kAbortRequested);
    }
    if (!inline_.empty()) {
      // Each connection's request runs to its first wait before the next one is read, with its microtasks and
      // nextTicks (as Node's http runs a socket's read): a response the handler finishes leaves now, while the
      // web server can take it, not after the whole batch (a batch of 16 Express requests held the first
      // answer for the other 15 handlers, and nginx and the client sat idle meanwhile).
      tlsDispatching = nullptr;
      DeliverInline(env_);
      if (jsPoll_ == nullptr || stopping_.load() || envClosing_.load()) return;  // the handler closed the server
      tlsDispatching = this;
    }
  }
  tlsDispatching = nullptr;
  if (closed) {
    // No more connections from the listener: the workers finish what is in flight and leave.
    CloseJsPoll();
    { MutexLock lock(&mu_); }
    cv_.notify_all();
  }
  if (!inline_.empty()) DeliverInline(env_);
}

bool ServerIo::PostInline(ServerEvent* ev) {
  if (!OnJsThreadPoll()) return false;
  inline_.push_back(ev);
  return true;
}

bool ServerIo::OnJsThreadPoll() const { return tlsDispatching == this; }

void ServerIo::DeliverInline(napi_env env) {
  std::vector<ServerEvent*> events;
  events.swap(inline_);
  Napi::HandleScope handles(env);
  napi_callback_scope cs = nullptr;
  if (napi_open_callback_scope(env, asyncResource_.Value(), asyncContext_, &cs) != napi_ok) cs = nullptr;
  Napi::Function fn = onEvent_.Value();
  for (ServerEvent* ev : events) {
    if (cs == nullptr || envClosing_.load()) {
      delete ev;
      continue;
    }
    CallJs(Napi::Env(env), fn, this, ev);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      // As from a thread-safe function's callback: an uncaught exception.
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  if (cs != nullptr) napi_close_callback_scope(env, cs);  // microtasks and process.nextTick run here
  events.clear();
  if (inline_.empty()) inline_.swap(events);  // keeps its capacity for the next batch
}

}  // namespace libfcgi
