// A slot's request on the worker threads, in call order: ReadRequest (BEGIN_REQUEST, PARAMS and a small body
// through fcgi2, posted to JS) -> RunSlot (JS's commands, in order) -> EndOnThread -> ContinueConnection
// (the next request read ahead on the connection, or FreeSlot).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

extern "C" {
#include "fcgios.h"
}

#include "server_io.h"

namespace libfcgi {

namespace {
constexpr unsigned long kPrefetchMaxBytes = 64 * 1024;  // bodies up to this size are read with the request
}  // namespace

void ServerIo::ReadRequest(Slot* s) {
  FCGX_Request* req = &s->req;
  s->connFd.store(req->ipcFd);
  if (stopping_.load()) {
    ReleaseConnection(req);
    FreeSlot(s);
    return;
  }
  if (!ReadRequestOn(req, req->ipcFd)) {
    FreeSlot(s);
    return;
  }
  s->written = 0;
  s->input = InputStream::kStdin;
  auto* ev = new ServerEvent;
  ev->kind = ServerEvent::Kind::kRequest;
  ev->slot = s->index;
  ev->data = JoinParams(req);
  ev->index = IndexParams(ev->data);
  ev->role = req->role;
  // A small declared body comes with the request (the web server sends it right after the params): read
  // here, so the handler gets it without a round trip to this thread and back per chunk.
  bool failed = false;
  const char* cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
  char* end = nullptr;
  unsigned long declared = cl != nullptr && *cl >= '0' && *cl <= '9' ? std::strtoul(cl, &end, 10) : 0;
  if (declared > 0 && *end == '\0' && declared <= kPrefetchMaxBytes) {
    int want = static_cast<int>(declared) + 1;  // one more: EOF right after the declared length
    ev->bodyBytes.reset(static_cast<char*>(std::malloc(static_cast<size_t>(want))));
    int got = ev->bodyBytes ? FCGX_GetStr(ev->bodyBytes.get(), want, req->in) : 0;
    ev->bodyLength = static_cast<size_t>(got < 0 ? 0 : got);
    ev->prefetched = true;
    failed = FCGX_GetError(req->in) != 0;  // timeout, peer gone, FCGI_ABORT_REQUEST
    ev->eof = got < want && !failed;
  }
  {
    MutexLock lock(&mu_);
    ev->generation = ++s->generation;
    Slot::Shared& sh = Locked(s);
    sh.state = SlotState::kInFlight;
    sh.aborted = failed;
    sh.peerGone = false;
    sh.byAbortRecord = false;
    sh.watchId = 0;
  }
  uint32_t generation = ev->generation;
  Post(ev);
  if (failed) PostAbort(s->index, generation);
}

void ServerIo::Queue(Slot* s, uint32_t generation, Command cmd) {
  bool signal = false;
  {
    MutexLock lock(&mu_);
    Slot::Shared& sh = Locked(s);
    if (!InFlight(sh.state) || s->generation != generation) {
      // For a request that already ended (JS's end() after close() cut it, say): the slot may serve another.
      Retire(&cmd.output);
      return;
    }
    sh.queue.push_back(std::move(cmd));
    if (sh.state == SlotState::kInFlight) {
      Locked(s).state = SlotState::kRunning;
      runQueue_.push_back(s);
      signal = true;
    }
  }
  if (signal) SignalJobs();
}

void ServerIo::HandToWorker(Slot* s, SlotState to) {
  {
    MutexLock lock(&mu_);
    Locked(s).state = to;
    runQueue_.push_back(s);
  }
  SignalJobs();
}

bool ServerIo::FreeSlot(Slot* s, bool holdingMemory) {
  s->connFd.store(-1);
  MutexLock lock(&mu_);
  SlotState st = Locked(s).state;
  // Never twice: busyCount_ is what lets the threads leave after close().
  if (st == SlotState::kFree || st == SlotState::kFreeHoldingMemory) return false;
  Locked(s).state = holdingMemory ? SlotState::kFreeHoldingMemory : SlotState::kFree;
  if (freeSlots_.empty()) listener_->SetAccepting(true);
  freeSlots_.push_back(s);
  busyCount_--;
  // close(): threads waiting for the last request may leave, or take a connection kept from the backlog.
  // Only then: before close() the threads waiting on cv_ wait for commands and connections (SignalJobs).
  if ((listener_->closed() || stopping_.load()) && (busyCount_ == 0 || !pendingConns_.empty())) cv_.notify_all();
  return !pendingConns_.empty();
}

void ServerIo::PeerGone(uint64_t cookie, bool byAbortRecord) {
  int index = static_cast<int>(cookie >> 32);
  uint32_t generation = static_cast<uint32_t>(cookie);
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) return;
  Slot* s = slots_[static_cast<size_t>(index)].get();
  {
    MutexLock lock(&mu_);
    Slot::Shared& sh = Locked(s);
    if (!InFlight(sh.state) || s->generation != generation || sh.aborted) return;
    sh.watchId = 0;
    sh.byAbortRecord = byAbortRecord;
    if (sh.state == SlotState::kRunning) {
      sh.peerGone = true;  // commands are running or queued (a response may be going out): decide after them
      return;
    }
    sh.aborted = true;
  }
  PostAbort(index, generation);
}

ServerIo::Step ServerIo::NextStep(Slot* s, Command* cmd, bool* aborted, uint32_t* generation) {
  bool postAbort = false;
  {
    MutexLock lock(&mu_);
    Slot::Shared& sh = Locked(s);
    *generation = s->generation;
    if (sh.state == SlotState::kSendingRest || sh.state == SlotState::kReadingNext) {
      Step step = sh.state == SlotState::kSendingRest ? Step::kSendRest : Step::kReadNext;
      Locked(s).state = SlotState::kReadingOrEnding;
      return step;
    }
    if (!sh.queue.empty()) {
      *cmd = std::move(sh.queue.front());
      sh.queue.pop_front();
      *aborted = sh.aborted;
      return Step::kCommand;
    }
    Locked(s).state = SlotState::kInFlight;
    if (sh.peerGone && !sh.aborted) {
      // The hang-up seen while these commands ran: the handler is still waiting, so it is an abort now.
      sh.peerGone = false;
      sh.aborted = postAbort = true;
    }
  }
  if (postAbort) PostAbort(s->index, *generation);
  return Step::kIdle;
}

bool ServerIo::Abort(Slot* s, uint32_t generation) {
  bool post = false;
  {
    MutexLock lock(&mu_);
    if (!Locked(s).aborted) Locked(s).aborted = post = true;
    Locked(s).byAbortRecord = false;  // an I/O error (maybe after a pending ABORT): the connection is not kept
  }
  if (post) PostAbort(s->index, generation);
  return post;
}

void ServerIo::RunSlot(Slot* s) {
  Command cmd;
  bool aborted = false;
  uint32_t generation = 0;
  for (;;) {
    switch (NextStep(s, &cmd, &aborted, &generation)) {
      case Step::kIdle: return;
      case Step::kSendRest: SendRest(s); return;
      case Step::kReadNext: ReadRequest(s); return;
      case Step::kCommand: break;
    }
    switch (cmd.kind) {
      case Command::Kind::kWrite:
      case Command::Kind::kWriteError: RunWrite(s, cmd, aborted, generation); break;
      case Command::Kind::kFlush:
        if (!aborted && FCGX_FFlush(s->req.out) != 0) Abort(s, generation);
        break;
      case Command::Kind::kRead: RunRead(s, cmd, aborted, generation); break;
      case Command::Kind::kEnd: EndOnThread(s, cmd); return;
    }
  }
}

void ServerIo::RunWrite(Slot* s, Command& cmd, bool aborted, uint32_t generation) {
  bool toStdout = cmd.kind == Command::Kind::kWrite;
  size_t len = cmd.output.Size();
  if (!aborted && len > 0 && !cmd.output.PutTo(toStdout ? s->req.out : s->req.err)) Abort(s, generation);
  Retire(&cmd.output);
  if (toStdout) s->written += static_cast<double>(len);  // JS counts stdout bytes only
  if (cmd.notify) {
    auto* ev = new ServerEvent;
    ev->kind = ServerEvent::Kind::kWritten;
    ev->slot = s->index;
    ev->generation = generation;
    ev->written = s->written;
    Post(ev);
  }
}

void ServerIo::RunRead(Slot* s, const Command& cmd, bool aborted, uint32_t generation) {
  FCGX_Request* req = &s->req;
  ServerEvent ev;
  ev.kind = ServerEvent::Kind::kData;
  ev.filterData = cmd.filterData;
  int n = 0;
  // FILTER's FCGI_DATA comes after FCGI_STDIN (whose unread rest is skipped); a body read after that ends.
  bool atEnd = false;
  if (!aborted) {
    atEnd = cmd.filterData ? !StartFilterData(req, &s->input) : s->input == InputStream::kData;
    if (atEnd && FCGX_GetError(req->in) != 0) {  // skipping the body failed
      Abort(s, generation);
      aborted = true;
    }
  }
  if (!aborted && !atEnd) {
    ev.data.resize(static_cast<size_t>(cmd.readMax));
    n = FCGX_GetStr(&ev.data[0], cmd.readMax, req->in);  // fewer than asked only at the end
    if (n < 0) n = 0;
    ev.data.resize(static_cast<size_t>(n));
    if (FCGX_GetError(req->in) != 0) {  // timeout, peer gone, FCGI_ABORT_REQUEST
      Abort(s, generation);
      aborted = true;
    }
  }
  ev.eof = aborted || atEnd || n < cmd.readMax;
  ev.slot = s->index;
  ev.generation = generation;
  Post(new ServerEvent(std::move(ev)));
}

void ServerIo::SendRest(Slot* s) {
  // The end of a response the JS thread began (EndOnJsThread): the stream is closed already.
  FCGX_Request* req = &s->req;
  bool failed = false;
  for (size_t i = 0; i < s->rest.count() && !failed; i++) {
    iovec v = s->rest.piece(i);
    char* bytes = static_cast<char*>(v.iov_base);
    for (size_t done = 0; done < v.iov_len;) {
      int n = OS_Write(req->ipcFd, bytes + done, v.iov_len - done);  // at most ~256 KiB
      if (n <= 0) {
        req->keepConnection = 0;
        failed = true;
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  s->rest.TakeRefs(nullptr);  // copies only
  ContinueConnection(s);
}

void ServerIo::EndOnThread(Slot* s, Command& cmd) {
  FCGX_Request* req = &s->req;
  bool aborted;
  bool byAbortRecord;
  uint64_t watchId;
  {
    MutexLock lock(&mu_);
    Slot::Shared& sh = Locked(s);
    Locked(s).state = SlotState::kReadingOrEnding;  // JS sends nothing after end(); anything later is dropped
    for (Command& stale : sh.queue) Retire(&stale.output);
    sh.queue.clear();
    aborted = sh.aborted;
    byAbortRecord = sh.aborted && sh.byAbortRecord;
    watchId = sh.watchId;
    sh.watchId = 0;
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
    if (!cmd.output.PutToAndClose(req->out)) aborted = true;
#else
    if (!cmd.output.PutTo(req->out)) aborted = true;
#endif
  }
  Retire(&cmd.output);
  // Never reuse a connection in an unknown state. After the web server's FCGI_ABORT_REQUEST (JS's end() then
  // asks for a cut, which is moot: the output is dropped) the state is known: fcgi2 closes the streams, its
  // END_REQUEST answers the abort, and a kept connection serves what the web server sends next.
  if (aborted && !byAbortRecord) req->keepConnection = 0;
  ContinueConnection(s);
}

void ServerIo::ContinueConnection(Slot* s) {
  FinishRequest(&s->req, listener_.get(), &s->input);
  if (s->req.ipcFd >= 0) {
    // The next request on this connection was read ahead with this one (pipelined): serve it now.
    ReadRequest(s);
    return;
  }
  FreeSlot(s);
}

}  // namespace libfcgi
