// The worker pool: threads that run the slots in the run queue (commands, requests not read whole, the rest of
// an end), woken through cv_ while the JS thread polls the listener (js_poll.cc). Without the gate they also wait
// on the listener's epoll set (one at a time, the poller) for connections, jobs (signalled through an eventfd)
// and hang-ups.
#include <signal.h>
#include <unistd.h>

extern "C" {
#include "fcgios.h"
}

#include "server_io.h"

namespace libfcgi {

namespace {
// The ServerIo whose thread this is (null on the JS thread and elsewhere).
thread_local ServerIo* tlsServerIo = nullptr;
}  // namespace

#ifdef OS_HAVE_WILL_BLOCK_HOOK
extern "C" void LibfcgiWillBlock(void) {
  if (tlsServerIo != nullptr) tlsServerIo->OnWillBlock();
}
#endif

void* ServerIo::ThreadMain(void* self) {
  static_cast<ServerIo*>(self)->RunThread();
  return nullptr;
}

void ServerIo::SignalJobs() {
  // One write per batch of commands: the eventfd wakes one thread in the listener's epoll_wait, which then
  // runs every slot in the run queue.
  if (!pollOnJs_ && !jobSignaled_.exchange(true)) SignalEventFd(jobFd_);
  cv_.notify_one();  // threads left waiting after close() (cheap when none waits)
}

void ServerIo::OnWillBlock() {
  MutexLock lock(&lfMu_);
  if (!hasPoller_ && parked_ > 0) lfCv_.notify_one();  // someone must watch the listener while we wait
}

void ServerIo::WakeParked() {
  { MutexLock lock(&lfMu_); }
  lfCv_.notify_all();
}

void ServerIo::RunThread() {
  tlsServerIo = this;
  pthread_setname_np(pthread_self(), "libfcgi-server");  // for top -H, perf, gdb
  MutexLock lock(&mu_);
  for (;;) {
    if (!runQueue_.empty()) {
      Slot* s = runQueue_.front();
      runQueue_.pop_front();
      lock.Unlock();
      RunSlot(s);
      lock.Lock();
      continue;
    }
    if (!pendingConns_.empty() && !freeSlots_.empty() && !stopping_.load()) {
      TakePendingConnection();
      continue;
    }
    if (stopping_.load() || listener_->closed()) {
      // No more accepting: serve what is in flight and what was queued (a free slot takes it above), then
      // leave.
      if (busyCount_ == 0 && (pendingConns_.empty() || stopping_.load())) break;
      lock.Wait(&cv_);
      continue;
    }
    if (pollOnJs_) {
      lock.Wait(&cv_);  // the JS thread polls the listener; commands and connections come through cv_
      continue;
    }
    lock.Unlock();
    Poll();
    lock.Lock();
  }
  // Connections that never got a slot.
  while (!pendingConns_.empty()) {
    close(pendingConns_.front());
    pendingConns_.pop_front();
  }
  cv_.notify_all();  // the others leave too
  lock.Unlock();
  WakeParked();
  listener_->DrainLingering(kCloseLingerMs);  // on this thread, not the event loop
  ServerEvent ev;
  ev.kind = ServerEvent::Kind::kWorkerExit;
  Post(new ServerEvent(std::move(ev)));
}

void ServerIo::TakePendingConnection() {
  int fd = pendingConns_.front();
  pendingConns_.pop_front();
  mu_.Unlock();
  // Accepting is stopped while every slot is busy; let one connection from the backlog queue up behind
  // this one, so busy kept connections cannot starve new ones.
  int waiting = listener_->AcceptWaiting();
  if (waiting >= 0) {
    MutexLock queueLock(&mu_);
    pendingConns_.push_back(waiting);
  }
  TakeSlot(fd);
  mu_.Lock();
}

void ServerIo::Poll() {
  {
    // Leader/followers (server_io.h): at most one thread polls; the others park until it is about to block.
    MutexLock lock(&lfMu_);
    if (hasPoller_ && !stopping_.load() && !listener_->closed()) {
      parked_++;
      lock.Wait(&lfCv_);
      parked_--;
      return;  // look at the queues again first
    }
    hasPoller_ = true;
  }
  int fd = -1;
  uint64_t cookie = 0;
  WaitResult w = listener_->NextConnection(-1, &fd, &cookie);
  {
    MutexLock lock(&lfMu_);
    hasPoller_ = false;  // a thread parked in Poll polls next, woken by OnWillBlock
  }
#ifndef OS_HAVE_WILL_BLOCK_HOOK
  OnWillBlock();  // a system libfcgi without the hook: hand the waiting over at once
#endif
  if (w == WaitResult::kClosed) WakeParked();  // they leave through the close path
  if (w == WaitResult::kConnection) {
    TakeSlot(fd);
  } else if (w == WaitResult::kJobs) {
    // The eventfd is edge-triggered in the epoll set (never read: its counter cannot fill up in practice).
    // Reset the flag, then drain: a command queued from now on signals again, one queued before is in
    // the run queue this thread drains next.
    jobSignaled_.store(false);
  } else if (w == WaitResult::kPeerGone || w == WaitResult::kAbortRequested) {
    PeerGone(cookie, w == WaitResult::kAbortRequested);
  }
}

void ServerIo::TakeSlot(int fd) {
  Slot* s = nullptr;
  bool holdingMemory = false;
  {
    MutexLock lock(&mu_);
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
    holdingMemory = Locked(s).state == SlotState::kFreeHoldingMemory;
    Locked(s).state = SlotState::kReadingOrEnding;
    busyCount_++;
    // Every slot taken: new connections wait in the listen backlog (under mu_, so a pause and the resume of
    // a slot freed meanwhile cannot swap places).
    if (freeSlots_.empty()) listener_->SetAccepting(false);
  }
  if (holdingMemory) {
    // The last request's memory (EndOnJsThread left it): freed before the slot reads the next one.
    s->req.ipcFd = -1;
    FCGX_Free(&s->req, 0);
  }
  s->req.ipcFd = fd;
  if (OnJsThreadPoll() && !Listener::HandedWhole(fd)) {
    HandToWorker(s, SlotState::kReadingNext);  // fcgi2 would read the socket: a worker reads the request
    return;
  }
  ReadRequest(s);
}

}  // namespace libfcgi
