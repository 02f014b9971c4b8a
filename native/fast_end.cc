// The fast end: end() finished on the JS thread. A response whose earlier commands have all run, whose input
// is all in memory and whose output fits the end records goes out with one non-blocking sendmsg, with no
// thread switch; what the socket does not take, and a request read ahead, go to a thread. Nothing here waits.
#include <errno.h>
#include <sys/socket.h>

#include "server_io.h"

namespace libfcgi {

#ifdef FCGX_HAVE_CLOSE_WRITE
bool ServerIo::EndOnJsThread(Slot* s, uint32_t generation, Command& cmd) {
  if (cmd.cut) return false;
  FCGX_Request* req = &s->req;
  size_t lead = 0;
  iovec last = cmd.output.Last(&lead);
  uint64_t watchId = 0;
  {
    MutexLock lock(&mu_);
    Slot::Shared& sh = Locked(s);
    // Not while a thread runs (or will run) earlier commands of the request, nor for one that failed. With
    // none queued, no thread touches the request until this (the only) thread queues one: its streams are ours.
    if (sh.state != SlotState::kInFlight || s->generation != generation || sh.aborted || sh.peerGone ||
        stopping_.load()) {
      return false;
    }
    bool here = req->in != nullptr && req->out != nullptr && req->err != nullptr && !req->out->isClosed &&
                !req->err->isClosed && FCGX_GetError(req->out) == 0 &&
                lead <= static_cast<size_t>(req->out->stop - req->out->wrNext) &&
                last.iov_len <= FCGX_CLOSE_WRITE_MAX &&
                // The unread rest of the body must be in the input buffer already (a kept connection reads on
                // from there): a GET's empty FCGI_STDIN is, as a rule. No read, no lock wait: memory only.
                // A FILTER request's FCGI_DATA may follow: a thread reads it to the end.
                (req->keepConnection == 0 || (req->role != FCGI_FILTER && FCGX_SkipReadInput(req->in) == 1));
    if (!here) return false;                 // a thread ends it as usual
    sh.state = SlotState::kReadingOrEnding;  // claimed: nothing is queued for a request that is not in flight
    watchId = sh.watchId;
    sh.watchId = 0;
  }
  if (watchId != 0) listener_->UnwatchInFlight(watchId);
  FCGX_SetExitStatus(cmd.exitStatus, req->out);
  if (lead > 0) cmd.output.PutLeadTo(req->out);  // fits the buffer: no write
  // stderr's close records (if it carried anything), then the output, FCGI_STDOUT's end and END_REQUEST.
  FCGX_CloseWrite errW, outW;
  errW.iovcnt = 0;
  outW.iovcnt = 0;
  FCGX_PutStrCloseV("", 0, req->err, &errW);
  FCGX_PutStrCloseV(static_cast<const char*>(last.iov_base), static_cast<int>(last.iov_len), req->out, &outW);
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
  // Another error: the web server went away (as in EndOnThread, the connection is not kept).
  bool failed = sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  FinishOnJsThread(s, iov, cnt, sent > 0 ? static_cast<size_t>(sent) : 0, failed);
  if (cmd.output.HasRefs()) Retire(&cmd.output);  // big buffers' references; copies go with cmd
  return true;
}

void ServerIo::FinishOnJsThread(Slot* s, const iovec* iov, int cnt, size_t sent, bool failed) {
  FCGX_Request* req = &s->req;
  Output rest;
  for (int i = 0; i < cnt && !failed; i++) {
    if (sent >= iov[i].iov_len) {
      sent -= iov[i].iov_len;
      continue;
    }
    rest.AppendCopy(static_cast<const char*>(iov[i].iov_base) + sent, iov[i].iov_len - sent);
    sent = 0;
  }
  if (rest.count() > 0) {
    // A worker sends the rest (a copy: the JS buffers are released now) and finishes the request.
    s->rest = std::move(rest);
    HandToWorker(s, SlotState::kSendingRest);
    return;
  }
  if (failed) req->keepConnection = 0;
  bool keep = req->keepConnection != 0 && FCGX_GetError(req->in) == 0;
  if (keep && FCGX_HasReadAhead(req->in)) {
    FinishRequest(req, listener_.get(),
                  &s->input);  // keeps the bytes read ahead; no I/O (input at its end, writers closed)
#ifdef LIBFCGI_HAVE_GATE
    // The gate took them back with the connection (ReturnIdle): the slot is free.
    if (FreeSlot(s, /*holdingMemory=*/false)) SignalJobs();
    return;
#endif
    HandToWorker(s, SlotState::kReadingNext);  // a worker reads the rest of that request
    return;
  }
  // The connection goes back to the listener (or lingers closed). fcgi2's memory of the request (the params
  // strings; with patch 0020 the streams, buffers and params vector stay with the slot) is freed by the thread
  // that takes the slot next: a worker allocated it, and freeing it on this thread would fill the workers'
  // malloc free lists from here (consolidated on their next large allocation; bench/README.md, "Measurements
  // behind code choices").
  int fd = req->ipcFd;
  req->ipcFd = -1;
  if (keep) {
    listener_->ReturnIdle(fd);
  } else {
    listener_->Linger(fd);
  }
  if (FreeSlot(s, /*holdingMemory=*/true)) SignalJobs();  // a connection waited for this slot
}
#else
bool ServerIo::EndOnJsThread(Slot*, uint32_t, Command&) { return false; }
#endif

}  // namespace libfcgi
