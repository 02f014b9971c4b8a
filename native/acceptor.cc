// The concurrent server's threads: accept, read params, hand the request to JS, then execute JS's commands.
#include "acceptor.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" {
#include "fcgios.h"
}

#include "accept_loop.h"
#include "errors.h"
#include "options.h"

namespace libfcgi {

namespace {

constexpr size_t kWorkerStackBytes = 512 * 1024;  // fcgi2 needs little stack; the body buffers are on the heap
constexpr int kMaxConcurrency = 4096;
constexpr int kCloseLingerMs = 2000;
constexpr unsigned long kPrefetchMaxBytes = 64 * 1024;  // bodies up to this size are read with the request

// The Acceptor whose thread this is (null on the JS thread and elsewhere).
thread_local Acceptor* tlsAcceptor = nullptr;

#ifdef OS_HAVE_WILL_BLOCK_HOOK
extern "C" void LibfcgiWillBlock(void) {
  if (tlsAcceptor != nullptr) tlsAcceptor->OnWillBlock();
}
#endif

const char* PieceData(const Piece& p) { return p.ref != nullptr ? p.ptr : p.own.data(); }
size_t PieceSize(const Piece& p) { return p.ref != nullptr ? p.len : p.own.size(); }

size_t DataSize(const Command& cmd) {
  if (cmd.pieces.empty()) return cmd.data.size();
  size_t n = 0;
  for (const Piece& p : cmd.pieces) n += PieceSize(p);
  return n;
}

void SignalEventFd(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

}  // namespace

// ---- the threads: wait on the listener's epoll set for connections and for jobs ----

void* Acceptor::ThreadMain(void* self) {
  static_cast<Acceptor*>(self)->RunThread();
  return nullptr;
}

void Acceptor::SignalJobs() {
  // One write per batch of commands: the eventfd wakes one thread in the listener's epoll_wait, which then
  // runs every slot in the run queue.
  if (!jobSignaled_.exchange(true)) SignalEventFd(jobFd_);
  cv_.notify_one();  // threads left waiting after close() (cheap when none waits)
}

void Acceptor::Push(Slot* s, uint32_t generation, Command cmd) {
  bool signal = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!s->inFlight || s->generation != generation) {
      // For a request that already ended (JS's end() after close() cut it, say): the slot may serve another.
      Retire(&cmd);
      return;
    }
    s->queue.push_back(std::move(cmd));
    if (!s->scheduled) {
      s->scheduled = true;
      runQueue_.push_back(s);
      signal = true;
    }
  }
  if (signal) SignalJobs();
}

void Acceptor::PostAborted(int slot, uint32_t generation) {
  AcceptorEvent ev;
  ev.kind = AcceptorEvent::Kind::kAborted;
  ev.slot = slot;
  ev.generation = generation;
  Post(new AcceptorEvent(std::move(ev)));
}

void Acceptor::PostTo(Slot* s, AcceptorEvent ev) {
  ev.slot = s->index;
  ev.generation = s->generation;
  Post(new AcceptorEvent(std::move(ev)));
}

bool Acceptor::BecomePoller() {
  std::unique_lock<std::mutex> lock(lfMu_);
  if (hasPoller_ && !stopping_.load() && !listener_->closed()) {
    parked_++;
    lfCv_.wait(lock);
    parked_--;
    return false;  // look at the queues again first
  }
  hasPoller_ = true;
  return true;
}

void Acceptor::ResignPoller() {
  std::lock_guard<std::mutex> lock(lfMu_);
  hasPoller_ = false;
}

void Acceptor::OnWillBlock() {
  std::lock_guard<std::mutex> lock(lfMu_);
  if (!hasPoller_ && parked_ > 0) lfCv_.notify_one();  // someone must watch the listener while we wait
}

void Acceptor::WakeParked() {
  { std::lock_guard<std::mutex> lock(lfMu_); }
  lfCv_.notify_all();
}

void Acceptor::RunThread() {
  tlsAcceptor = this;
  pthread_setname_np(pthread_self(), "libfcgi-server");  // for top -H, perf, gdb
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!runQueue_.empty()) {
      Slot* s = runQueue_.front();
      runQueue_.pop_front();
      lock.unlock();
      RunSlot(s);
      lock.lock();
      continue;
    }
    if (!pendingConns_.empty() && !freeSlots_.empty() && !stopping_.load()) {
      int fd = pendingConns_.front();
      pendingConns_.pop_front();
      lock.unlock();
      // Accepting is stopped while every slot is busy; let one connection from the backlog queue up behind
      // this one, so busy kept connections cannot starve new ones.
      int waiting = listener_->AcceptWaiting();
      if (waiting >= 0) {
        std::lock_guard<std::mutex> queueLock(mu_);
        pendingConns_.push_back(waiting);
      }
      Serve(fd);
      lock.lock();
      continue;
    }
    if (stopping_.load() || listener_->closed()) {
      // No more accepting: serve what is in flight and what was queued (a free slot takes it above), then
      // leave.
      if (busyCount_ == 0 && (pendingConns_.empty() || stopping_.load())) break;
      cv_.wait(lock);
      continue;
    }
    lock.unlock();
    if (!BecomePoller()) {
      lock.lock();
      continue;
    }
    int fd = -1;
    uint64_t cookie = 0;
    WaitResult w = listener_->NextConnection(-1, &fd, &cookie);
    ResignPoller();
#ifndef OS_HAVE_WILL_BLOCK_HOOK
    OnWillBlock();  // a system libfcgi without the hook (patch 0014): hand the waiting over at once
#endif
    if (w == WaitResult::kClosed) WakeParked();  // they leave through the close path
    if (w == WaitResult::kConnection) {
      Serve(fd);
    } else if (w == WaitResult::kJobs) {
      // The eventfd is edge-triggered in the epoll set (never read: its counter cannot fill up in practice).
      // Reset the flag, then drain: a command queued from now on signals again, one queued before is in
      // the run queue this thread drains next.
      jobSignaled_.store(false);
    } else if (w == WaitResult::kPeerGone) {
      PeerGone(cookie);
    }
    lock.lock();
  }
  // Connections that never got a slot.
  while (!pendingConns_.empty()) {
    close(pendingConns_.front());
    pendingConns_.pop_front();
  }
  cv_.notify_all();  // the others leave too
  lock.unlock();
  WakeParked();
  listener_->DrainLingering(kCloseLingerMs);  // on this thread, not the event loop
  AcceptorEvent ev;
  ev.kind = AcceptorEvent::Kind::kWorkerExit;
  Post(new AcceptorEvent(std::move(ev)));
}

void Acceptor::Serve(int fd) {
  Slot* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) {
      close(fd);
      return;
    }
    if (freeSlots_.empty()) {
      pendingConns_.push_back(fd);  // served when a request ends
      return;
    }
    s = freeSlots_.back();
    freeSlots_.pop_back();
    s->busy = true;
    busyCount_++;
    // Every slot taken: new connections wait in the listen backlog (under mu_, so a pause and the resume of
    // a slot freed meanwhile cannot swap places).
    if (freeSlots_.empty()) listener_->SetAccepting(false);
  }
  if (s->stale) {
    // The last request's memory (EndHere left it): freed before the slot reads the next one.
    s->req.ipcFd = -1;
    FCGX_Free(&s->req, 0);
    s->stale = false;
  }
  s->req.ipcFd = fd;
  AcceptOn(s);
}

void Acceptor::AcceptOn(Slot* s) {
  s->connFd.store(s->req.ipcFd);
  if (stopping_.load()) {
    ReleaseConnection(&s->req);
    FreeSlot(s);
    return;
  }
  // fcgi2 reads BEGIN_REQUEST and PARAMS from the open ipcFd (AcceptRequest explains the fields).
  s->req.listen_sock = -1;
  s->req.keepConnection = 1;
  s->req.detached = 1;
  int rc = FCGX_Accept_r(&s->req);
  s->req.detached = 0;
  if (rc != 0) {
    s->req.ipcFd = -1;  // fcgi2 closed it
    FreeSlot(s);
    return;
  }
  Dispatch(s);
}

void Acceptor::Dispatch(Slot* s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    s->generation++;
    s->inFlight = true;
    s->aborted = false;
    s->peerGone = false;
    s->watchId = 0;
  }
  s->written = 0;
  s->input = InputStream::kStdin;
  AcceptorEvent request;
  request.kind = AcceptorEvent::Kind::kRequest;
  request.data = JoinParams(&s->req);
  request.role = s->req.role;
  // A small declared body comes with the request (the web server sends it right after the params): read it
  // here, so the handler gets it without a round trip to this thread and back per chunk.
  bool failed = false;
  const char* cl = FCGX_GetParam("CONTENT_LENGTH", s->req.envp);
  if (cl != nullptr && *cl >= '0' && *cl <= '9') {
    char* end = nullptr;
    unsigned long declared = std::strtoul(cl, &end, 10);
    if (*end == '\0' && declared > 0 && declared <= kPrefetchMaxBytes) {
      int want = static_cast<int>(declared) + 1;  // one more: EOF right after the declared length
      request.bodyBytes.reset(static_cast<char*>(std::malloc(static_cast<size_t>(want))));
      int got = request.bodyBytes ? FCGX_GetStr(request.bodyBytes.get(), want, s->req.in) : 0;
      if (got < 0) got = 0;
      request.bodyLength = static_cast<size_t>(got);
      request.prefetched = true;
      request.eof = got < want;
      failed = FCGX_GetError(s->req.in) != 0;  // timeout, peer gone, FCGI_ABORT_REQUEST
      if (failed) request.eof = false;
    }
  }
  uint32_t generation = s->generation;
  if (failed) {
    std::lock_guard<std::mutex> lock(mu_);
    s->aborted = true;
  }
  PostTo(s, std::move(request));
  if (failed) PostAborted(s->index, generation);
}

bool Acceptor::FreeSlot(Slot* s) {
  s->connFd.store(-1);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s->busy) return false;  // never twice: busyCount_ is what lets the threads leave after close()
  s->busy = false;
  s->inFlight = false;
  if (freeSlots_.empty()) listener_->SetAccepting(true);
  freeSlots_.push_back(s);
  busyCount_--;
  // close(): threads waiting for the last request may leave, or take a connection kept from the backlog.
  if (busyCount_ == 0 || (!pendingConns_.empty() && listener_->closed())) cv_.notify_all();
  return !pendingConns_.empty();
}

void Acceptor::PeerGone(uint64_t cookie) {
  int index = static_cast<int>(cookie >> 32);
  uint32_t generation = static_cast<uint32_t>(cookie);
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) return;
  Slot* s = slots_[static_cast<size_t>(index)].get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!s->inFlight || s->generation != generation || s->aborted) return;
    s->watchId = 0;
    if (s->scheduled) {
      s->peerGone = true;  // commands are running or queued (a response may be going out): decide after them
      return;
    }
    s->aborted = true;
  }
  PostAborted(index, generation);
}

void Acceptor::RunSlot(Slot* s) {
  for (;;) {
    Command cmd;
    bool aborted = false;
    bool idle = false;
    bool postAbort = false;
    uint32_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation = s->generation;
      if (s->queue.empty()) {
        idle = true;
        s->scheduled = false;
        if (s->inFlight && s->peerGone && !s->aborted) {
          // The hang-up seen while these commands ran: the handler is still waiting, so it is an abort now.
          s->peerGone = false;
          s->aborted = postAbort = true;
        }
      } else {
        cmd = std::move(s->queue.front());
        s->queue.pop_front();
        aborted = s->aborted;
      }
    }
    if (idle) {
      if (postAbort) PostAborted(s->index, generation);
      return;
    }
    auto abort = [&] {
      bool post = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!s->aborted) s->aborted = post = true;
      }
      aborted = true;
      if (post) PostAborted(s->index, generation);
    };
    FCGX_Request* req = &s->req;
    switch (cmd.kind) {
      case Command::Kind::kWrite:
      case Command::Kind::kWriteError: {
        FCGX_Stream* stream = cmd.kind == Command::Kind::kWrite ? req->out : req->err;
        size_t len = DataSize(cmd);
        if (!aborted && len > 0 && !PutData(cmd, stream)) abort();
        Retire(&cmd);
        if (cmd.kind == Command::Kind::kWrite) s->written += static_cast<double>(len);  // JS counts stdout bytes only
        if (cmd.notify) {
          AcceptorEvent ev;
          ev.kind = AcceptorEvent::Kind::kWritten;
          ev.written = s->written;
          PostTo(s, std::move(ev));
        }
        break;
      }
      case Command::Kind::kFlush:
        if (!aborted && FCGX_FFlush(req->out) != 0) abort();
        break;
      case Command::Kind::kRead: {
        AcceptorEvent ev;
        ev.kind = AcceptorEvent::Kind::kData;
        ev.filterData = cmd.filterData;
        int n = 0;
        // FILTER's FCGI_DATA comes after FCGI_STDIN (whose unread rest is skipped); a body read after that ends.
        bool atEnd = false;
        if (!aborted) {
          atEnd = cmd.filterData ? !StartFilterData(req, &s->input) : s->input == InputStream::kData;
          if (atEnd && FCGX_GetError(req->in) != 0) abort();  // skipping the body failed
        }
        if (!aborted && !atEnd) {
          ev.data.resize(static_cast<size_t>(cmd.readMax));
          n = FCGX_GetStr(&ev.data[0], cmd.readMax, req->in);  // fewer than asked only at the end
          if (n < 0) n = 0;
          ev.data.resize(static_cast<size_t>(n));
          if (FCGX_GetError(req->in) != 0) abort();  // timeout, peer gone, FCGI_ABORT_REQUEST
        }
        ev.eof = aborted || atEnd || n < cmd.readMax;
        PostTo(s, std::move(ev));
        break;
      }
      case Command::Kind::kEnd:
        EndRequest(s, cmd);
        return;
      case Command::Kind::kRest: {
        // The end of a response the JS thread began (EndHere): the stream is closed already.
        for (size_t done = 0; done < cmd.data.size();) {
          int n = OS_Write(req->ipcFd, &cmd.data[done], cmd.data.size() - done);  // at most ~256 KiB
          if (n <= 0) {
            req->keepConnection = 0;
            break;
          }
          done += static_cast<size_t>(n);
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          s->scheduled = false;
        }
        AfterEnd(s);
        return;
      }
      case Command::Kind::kNext:
        {
          std::lock_guard<std::mutex> lock(mu_);
          s->scheduled = false;
        }
        AcceptOn(s);
        return;
    }
  }
}

void Acceptor::EndRequest(Slot* s, Command& cmd) {
  FCGX_Request* req = &s->req;
  bool aborted;
  uint64_t watchId;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s->inFlight = false;
    s->scheduled = false;  // JS sends nothing after end(); anything later is for a stale generation
    for (Command& stale : s->queue) Retire(&stale);
    s->queue.clear();
    aborted = s->aborted;
    watchId = s->watchId;
    s->watchId = 0;
  }
  listener_->UnwatchInFlight(watchId);
  if (cmd.cut && !aborted) {
    shutdown(req->ipcFd, SHUT_RDWR);  // the web server sees a broken response, not a complete one
    aborted = true;
  }
  if (req->out != nullptr) FCGX_SetExitStatus(cmd.exitStatus, req->out);
  if (!aborted && req->out != nullptr) {
#ifdef FCGX_HAVE_PUT_STR_CLOSE
    // The output, FCGI_STDOUT's end and END_REQUEST in as few writes as possible (one for up to 64 KiB):
    // the rest of the body is read first and stderr closed, as FinishRequest would do before them.
    DrainUnreadInput(req, &s->input);
    FCGX_FClose(req->err);
    if (!PutDataClose(cmd, req->out)) aborted = true;
#else
    if (!PutData(cmd, req->out)) aborted = true;
#endif
  }
  Retire(&cmd);
  if (aborted) req->keepConnection = 0;  // never reuse a connection in an unknown state
  AfterEnd(s);
}

void Acceptor::AfterEnd(Slot* s) {
  FinishRequest(&s->req, listener_.get(), &s->input);
  if (s->req.ipcFd >= 0) {
    // The next request on this connection was read ahead with this one (pipelined): serve it now.
    AcceptOn(s);
    return;
  }
  FreeSlot(s);
}

void Acceptor::Hand(Slot* s, Command cmd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    s->scheduled = true;
    s->queue.push_back(std::move(cmd));
    runQueue_.push_back(s);
  }
  SignalJobs();
}

#ifdef FCGX_HAVE_CLOSE_WRITE
bool Acceptor::EndHere(Slot* s, uint32_t generation, Command& cmd) {
  if (cmd.cut) return false;
  FCGX_Request* req = &s->req;
  // Everything but the last piece goes into the output buffer (no write), the last one into the end records.
  const char* last = cmd.data.data();
  size_t lastLen = cmd.data.size();
  size_t lead = 0;
  if (!cmd.pieces.empty()) {
    for (size_t i = 0; i + 1 < cmd.pieces.size(); i++) lead += PieceSize(cmd.pieces[i]);
    last = PieceData(cmd.pieces.back());
    lastLen = PieceSize(cmd.pieces.back());
  }
  uint64_t watchId;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Not while a thread runs (or will run) earlier commands of the request, nor for one that failed. With none
    // queued, no thread touches the request until this (the only) thread queues one: its streams are ours.
    if (!s->inFlight || s->generation != generation || s->scheduled || s->aborted || s->peerGone ||
        stopping_.load()) {
      return false;
    }
    bool here = req->in != nullptr && req->out != nullptr && req->err != nullptr && !req->out->isClosed &&
                !req->err->isClosed && FCGX_GetError(req->out) == 0 &&
                lead <= static_cast<size_t>(req->out->stop - req->out->wrNext) && lastLen <= FCGX_CLOSE_WRITE_MAX &&
                // The unread rest of the body must be in the input buffer already (a kept connection reads on
                // from there): a GET's empty FCGI_STDIN is, as a rule. No read, no lock wait: memory only.
                // A FILTER request's FCGI_DATA may follow: a thread reads it to the end.
                (req->keepConnection == 0 || (req->role != FCGI_FILTER && FCGX_SkipReadInput(req->in) == 1));
    if (!here) return false;  // a thread ends it as usual
    s->inFlight = false;      // nothing is queued for a request that is not in flight
    watchId = s->watchId;
    s->watchId = 0;
  }
  listener_->UnwatchInFlight(watchId);
  FCGX_SetExitStatus(cmd.exitStatus, req->out);
  for (size_t i = 0; i + 1 < cmd.pieces.size(); i++) {
    PutAll(req->out, PieceData(cmd.pieces[i]), PieceSize(cmd.pieces[i]));  // fits the buffer: no write
  }
  // stderr's close records (if it carried anything), then the output, FCGI_STDOUT's end and END_REQUEST.
  FCGX_CloseWrite errW, outW;
  errW.iovcnt = 0;
  outW.iovcnt = 0;
  FCGX_PutStrCloseV("", 0, req->err, &errW);
  FCGX_PutStrCloseV(last, static_cast<int>(lastLen), req->out, &outW);
  struct iovec iov[sizeof errW.iov / sizeof errW.iov[0] * 2];
  int cnt = 0;
  for (int i = 0; i < errW.iovcnt; i++) iov[cnt++] = errW.iov[i];
  for (int i = 0; i < outW.iovcnt; i++) iov[cnt++] = outW.iov[i];
  // One try: after a partial send the socket is full, and a second try would only find it so.
  ssize_t sent;
  do {
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(cnt);
    sent = sendmsg(req->ipcFd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  // Another error: the web server went away (as in EndRequest, the connection is not kept).
  bool failed = sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  size_t skip = sent > 0 ? static_cast<size_t>(sent) : 0;
  Command rest;
  for (int i = 0; i < cnt && !failed; i++) {
    size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    rest.data.append(static_cast<const char*>(iov[i].iov_base) + skip, len - skip);
    skip = 0;
  }
  if (!rest.data.empty()) {
    // A thread sends the rest (a copy: the JS buffers are released now) and finishes the request.
    rest.kind = Command::Kind::kRest;
    Retire(&cmd);
    Hand(s, std::move(rest));
    return true;
  }
  Retire(&cmd);
  if (failed) req->keepConnection = 0;
  bool keep = req->keepConnection != 0 && FCGX_GetError(req->in) == 0;
  if (keep && FCGX_HasReadAhead(req->in)) {
    FinishRequest(req, listener_.get(), &s->input);  // keeps the bytes read ahead; no I/O (input at its end, writers closed)
    Command next;
    next.kind = Command::Kind::kNext;  // a thread reads the rest of that request
    Hand(s, std::move(next));
    return true;
  }
  // The connection goes back to the listener (or lingers closed). fcgi2's memory of the request (streams,
  // buffers, params) is freed by the thread that takes the slot next: a worker allocated it, and freeing it
  // here filled the workers' malloc free lists from this thread (malloc_consolidate on their next large
  // allocation: 2-3% of the server's CPU).
  int fd = req->ipcFd;
  req->ipcFd = -1;
  s->stale = true;
  if (keep) {
    listener_->ReturnIdle(fd);
  } else {
    listener_->Linger(fd);
  }
  if (FreeSlot(s)) SignalJobs();  // a connection waited for this slot
  return true;
}
#else
bool Acceptor::EndHere(Slot*, uint32_t, Command&) { return false; }
#endif

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
                         InstanceMethod<&Acceptor::Stats>("stats"),
                         InstanceMethod<&Acceptor::WatchPeer>("watchPeer"),
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
  listener_->SetJobFd(jobFd_);
  for (int i = 0; i < concurrency; i++) {
    slots_.emplace_back(new Slot(i));
    InitRequest(&slots_.back()->req, limits_);
  }
  for (int i = concurrency - 1; i >= 0; i--) freeSlots_.push_back(slots_[static_cast<size_t>(i)].get());
  threadCount_ = static_cast<size_t>(concurrency);
  tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "libfcgi.acceptor", 0, 1, this);
  tsfnLive_ = true;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

Acceptor::~Acceptor() {
  Shutdown();
  if (cleanupHookAdded_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  if (listener_) listener_->SetJobFd(-1);  // a shared listener (for await) outlives us
  for (auto& s : slots_) {
    ReleaseConnection(&s->req);
    for (Command& c : s->queue) Retire(&c);
  }
  ReleaseRetired(env_);
  if (jobFd_ >= 0) close(jobFd_);
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
  StopWatchdog();
  stopping_.store(true);
  if (listener_) listener_->Close();
  WakeParked();
  InterruptAll();
  for (pthread_t& t : threads_) pthread_join(t, nullptr);
  threads_.clear();
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

void Acceptor::CallJs(Napi::Env env, Napi::Function callback, Acceptor* self, AcceptorEvent* ev) {
  std::unique_ptr<AcceptorEvent> owned(ev);
  if (env == nullptr || callback.IsEmpty()) return;  // tearing down: nothing to deliver to
  if (self != nullptr) self->ReleaseRetired(env);
  // Raw napi calls whose failures are ignored: while a worker thread's environment is being torn down
  // (process.exit in a Worker, terminate()) they fail, and node-addon-api's wrappers would make that fatal.
  napi_env e = env;
  napi_value args[7];
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
    case AcceptorEvent::Kind::kData: {
      void* copy = nullptr;
      ok = ok && napi_create_buffer_copy(e, ev->data.size(), ev->data.data(), &copy, &args[3]) == napi_ok &&
           napi_get_boolean(e, ev->eof, &args[4]) == napi_ok &&
           (!ev->filterData || napi_get_boolean(e, true, &args[6]) == napi_ok);
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
  napi_call_function(e, undefined, callback, 7, args, &result);  // a pending exception surfaces as usual
}

void* Acceptor::WatchdogMain(void* self) {
  pthread_setname_np(pthread_self(), "libfcgi-watchdog");
  auto* a = static_cast<Acceptor*>(self);
  uv_run(&a->wdLoop_, UV_RUN_DEFAULT);  // until StopWatchdog closes the handles
  return nullptr;
}

void Acceptor::StartWatchdog(int ms) {
  if (wdRunning_ || ms < 0 || uv_loop_init(&wdLoop_) != 0) return;
  wdMs_ = ms;
  wdLoop_.data = this;
  uv_signal_init(&wdLoop_, &wdSignal_);
  uv_timer_init(&wdLoop_, &wdTimer_);
  uv_async_init(&wdLoop_, &wdStop_, [](uv_async_t* h) {
    uv_loop_t* loop = h->loop;
    uv_signal_stop(&static_cast<Acceptor*>(loop->data)->wdSignal_);  // the last watcher gone: libuv restores SIG_DFL
    uv_walk(loop, [](uv_handle_t* handle, void*) { if (!uv_is_closing(handle)) uv_close(handle, nullptr); }, nullptr);
  });
  // Only the first SIGTERM arms it: a second one changes nothing (the JS side ignores it too).
  uv_signal_start(&wdSignal_, [](uv_signal_t* h, int) {
    auto* a = static_cast<Acceptor*>(h->loop->data);
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&a->wdTimer_))) {
      uv_timer_start(&a->wdTimer_, [](uv_timer_t* t) {
        static_cast<Acceptor*>(t->loop->data)->WatchdogExpired();
      }, static_cast<uint64_t>(a->wdMs_), 0);
    }
  }, SIGTERM);
  if (pthread_create(&wdThread_, nullptr, WatchdogMain, this) != 0) {
    uv_signal_stop(&wdSignal_);
    uv_walk(&wdLoop_, [](uv_handle_t* handle, void*) { uv_close(handle, nullptr); }, nullptr);
    uv_run(&wdLoop_, UV_RUN_DEFAULT);
    uv_loop_close(&wdLoop_);
    return;
  }
  wdRunning_ = true;
}

void Acceptor::StopWatchdog() {
  if (!wdRunning_) return;
  wdRunning_ = false;
  uv_async_send(&wdStop_);
  pthread_join(wdThread_, nullptr);
  uv_loop_close(&wdLoop_);
}

void Acceptor::WatchdogExpired() {
  // The socket file first (only if it is still ours): the next instance must not find a dead one, and a
  // new one another process put there stays.
  if (listener_) listener_->Close();
  // As SIGTERM's default action: the process ends with the signal (exit status 143 in a shell).
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGTERM, &dfl, nullptr);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
  raise(SIGTERM);
  _exit(128 + SIGTERM);  // not reached
}

Napi::Value Acceptor::Start(const Napi::CallbackInfo& info) {
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
  if (rc != 0) {
    SysError err;
    err.Set(rc, "pthread_create");
    Shutdown();
    MakeSystemError(info.Env(), err).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// The request a command is for: slot + kMaxConcurrency × generation (lib/server.ts), as (slot, generation).
Slot* Acceptor::SlotArg(const Napi::CallbackInfo& info, uint32_t* generation) {
  double id = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(id >= 0) || id > 9007199254740991.0 || id != static_cast<double>(static_cast<uint64_t>(id))) {
    Napi::RangeError::New(info.Env(), "request id out of range").ThrowAsJavaScriptException();
    return nullptr;
  }
  uint64_t n = static_cast<uint64_t>(id);
  size_t slot = static_cast<size_t>(n % kMaxConcurrency);
  if (slot >= slots_.size()) {
    Napi::RangeError::New(info.Env(), "request id out of range").ThrowAsJavaScriptException();
    return nullptr;
  }
  *generation = static_cast<uint32_t>(n / kMaxConcurrency);
  return slots_[slot].get();
}

namespace {
// Buffers at least this big are written from JS memory (kept by a reference), smaller ones copied.
constexpr size_t kReferenceMinBytes = 16 * 1024;

bool AppendValue(napi_env env, Napi::Value v, Command* cmd, bool* ok) {
  if (v.IsString()) {
    size_t len = 0;
    napi_get_value_string_utf8(env, v, nullptr, 0, &len);
    Piece p;
    p.own.resize(len + 1);
    size_t copied = 0;
    napi_get_value_string_utf8(env, v, &p.own[0], p.own.size(), &copied);
    p.own.resize(copied);
    cmd->pieces.push_back(std::move(p));
    return true;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    const char* data = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    Piece p;
    if (ta.ByteLength() >= kReferenceMinBytes && napi_create_reference(env, v, 1, &p.ref) == napi_ok) {
      p.ptr = data;
      p.len = ta.ByteLength();
    } else {
      p.own.assign(data, ta.ByteLength());
    }
    cmd->pieces.push_back(std::move(p));
    return true;
  }
  *ok = false;
  return false;
}
}  // namespace

// data: a string, a Uint8Array, an array of those, or undefined.
bool Acceptor::DataArg(const Napi::CallbackInfo& info, size_t index, Command* cmd) {
  Napi::Value v = info[index];
  napi_env env = info.Env();
  if (v.IsString()) {
    size_t len = 0;
    napi_get_value_string_utf8(env, v, nullptr, 0, &len);
    cmd->data.resize(len + 1);
    size_t copied = 0;
    napi_get_value_string_utf8(env, v, &cmd->data[0], cmd->data.size(), &copied);
    cmd->data.resize(copied);
    return true;
  }
  bool ok = true;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.ByteLength() < kReferenceMinBytes) {
      cmd->data.assign(static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
      return true;
    }
    AppendValue(env, v, cmd, &ok);
    return true;
  }
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    uint32_t n = a.Length();
    cmd->pieces.reserve(n);
    for (uint32_t i = 0; i < n && ok; i++) AppendValue(env, a.Get(i), cmd, &ok);
    if (ok) return true;
    Retire(cmd);
  }
  if (v.IsUndefined()) return true;
  MakeTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "data must be a string, a Uint8Array or an array of them")
      .ThrowAsJavaScriptException();
  return false;
}

bool Acceptor::PutData(const Command& cmd, FCGX_Stream* stream) {
  if (cmd.pieces.empty()) return PutAll(stream, cmd.data.data(), cmd.data.size());
  for (const Piece& p : cmd.pieces) {
    if (!PutAll(stream, PieceData(p), PieceSize(p))) return false;
  }
  return true;
}

#ifdef FCGX_HAVE_PUT_STR_CLOSE
bool Acceptor::PutDataClose(const Command& cmd, FCGX_Stream* stream) {
  const char* last = cmd.data.data();
  size_t lastLen = cmd.data.size();
  if (!cmd.pieces.empty()) {
    for (size_t i = 0; i + 1 < cmd.pieces.size(); i++) {
      if (!PutAll(stream, PieceData(cmd.pieces[i]), PieceSize(cmd.pieces[i]))) return false;
    }
    last = PieceData(cmd.pieces.back());
    lastLen = PieceSize(cmd.pieces.back());
  }
  size_t head = lastLen > (1u << 30) ? lastLen - (1u << 30) : 0;  // FCGX_PutStrClose takes an int too
  if (head > 0 && !PutAll(stream, last, head)) return false;
  return FCGX_PutStrClose(last + head, static_cast<int>(lastLen - head), stream) == 0;
}
#endif

void Acceptor::Retire(Command* cmd) {
  bool any = false;
  for (Piece& p : cmd->pieces) {
    if (p.ref == nullptr) continue;
    if (!any) retiredMu_.lock();
    any = true;
    retired_.push_back(p.ref);
    p.ref = nullptr;
  }
  cmd->pieces.clear();
  if (any) {
    haveRetired_.store(true);
    retiredMu_.unlock();
  }
}

void Acceptor::ReleaseRetired(napi_env env) {
  if (!haveRetired_.load(std::memory_order_relaxed)) return;
  std::vector<napi_ref> refs;
  {
    std::lock_guard<std::mutex> lock(retiredMu_);
    refs.swap(retired_);
    haveRetired_.store(false);
  }
  for (napi_ref r : refs) napi_delete_reference(env, r);
}

// write/writeError/end(slot, data, ...): the slot and the output of a command; null after a thrown error.
Slot* Acceptor::OutputArgs(const Napi::CallbackInfo& info, uint32_t* generation, Command* cmd) {
  ReleaseRetired(info.Env());  // references of output written since the last call
  Slot* s = SlotArg(info, generation);
  return s != nullptr && DataArg(info, 1, cmd) ? s : nullptr;
}

Napi::Value Acceptor::Write(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kWrite;
  uint32_t generation = 0;
  Slot* s = OutputArgs(info, &generation, &cmd);
  if (s == nullptr) return info.Env().Undefined();
  cmd.notify = info[2].ToBoolean();
  Push(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::WriteError(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kWriteError;
  uint32_t generation = 0;
  Slot* s = OutputArgs(info, &generation, &cmd);
  if (s != nullptr) Push(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::Flush(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* w = SlotArg(info, &generation);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kFlush;
  Push(w, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::Read(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* w = SlotArg(info, &generation);
  if (w == nullptr) return info.Env().Undefined();
  Command cmd;
  cmd.kind = Command::Kind::kRead;
  cmd.readMax = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 65536;
  if (cmd.readMax < 1) cmd.readMax = 65536;
  cmd.filterData = info.Length() > 2 && info[2].ToBoolean();
  Push(w, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::End(const Napi::CallbackInfo& info) {
  Command cmd;
  cmd.kind = Command::Kind::kEnd;
  uint32_t generation = 0;
  Slot* s = OutputArgs(info, &generation, &cmd);
  if (s == nullptr) return info.Env().Undefined();
  cmd.exitStatus = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  cmd.cut = info[3].ToBoolean();
  if (!EndHere(s, generation, cmd)) Push(s, generation, std::move(cmd));
  return info.Env().Undefined();
}

Napi::Value Acceptor::StopAccepting(const Napi::CallbackInfo& info) {
  // Graceful: the connections already queued in the listen backlog (and kept ones whose next request is
  // here) are served like any other; the threads leave once they and the requests in flight are done.
  if (listener_) listener_->Close(/*drainBacklog=*/true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_) {
      for (int fd : listener_->TakeDrained()) pendingConns_.push_back(fd);
    }
  }
  WakeParked();
  cv_.notify_all();
  return info.Env().Undefined();
}

Napi::Value Acceptor::Interrupt(const Napi::CallbackInfo& info) {
  // closeTimeout passed: connections still waiting for a slot are closed, requests in flight cut.
  stopping_.store(true);
  if (listener_) listener_->Close();
  InterruptAll();
  {
    std::lock_guard<std::mutex> lock(mu_);
  }
  cv_.notify_all();
  return info.Env().Undefined();
}

// Cuts every request being read or in flight: blocked reads/writes on their connections fail at once, and an
// end command (a cut) finishes the ones JS still holds.
void Acceptor::InterruptAll() {
  for (auto& s : slots_) {
    int fd = s->connFd.load();
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    uint32_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation = s->generation;
    }
    Command end;
    end.kind = Command::Kind::kEnd;
    end.cut = true;
    Push(s.get(), generation, std::move(end));  // dropped unless that request is in flight
  }
}

// JS: the handler went asynchronous; report a hang-up of the web server (client gone) while it waits.
Napi::Value Acceptor::WatchPeer(const Napi::CallbackInfo& info) {
  uint32_t generation = 0;
  Slot* s = SlotArg(info, &generation);
  if (s == nullptr) return info.Env().Undefined();
  std::lock_guard<std::mutex> lock(mu_);
  if (s->inFlight && s->generation == generation && !s->aborted && s->watchId == 0 && s->connFd.load() >= 0) {
    uint64_t cookie = (static_cast<uint64_t>(s->index) << 32) | s->generation;
    s->watchId = listener_->WatchInFlight(s->connFd.load(), cookie);
  }
  return info.Env().Undefined();
}

Napi::Value Acceptor::Join(const Napi::CallbackInfo& info) {
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

// stats(): { idle, queued } — connections waiting between requests, and readable ones waiting for a free slot.
Napi::Value Acceptor::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  size_t queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = pendingConns_.size();
  }
  o.Set("idle", Napi::Number::New(env, listener_ && !listener_->closed() ? static_cast<double>(listener_->IdleCount()) : 0));
  o.Set("queued", Napi::Number::New(env, static_cast<double>(queued)));
  return o;
}

}  // namespace libfcgi
