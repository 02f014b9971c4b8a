// ServerIo: the concurrent server's native side (TS `Server`, lib/server.ts, drives it). The JS thread polls the
// listener and serves a request the gate read whole without waiting (js_poll.cc); worker threads (fcgi2's
// threaded model, one FCGX_Request per slot) do the socket I/O that could wait (without the gate: all of it,
// accepting included). JS runs the handlers and talks to the workers through commands queued per slot, and
// hears back through events.
//
// The files, in the order a request meets them:
//   js_poll.cc       the JS thread's uv_poll on the listener: whole requests read and delivered on the JS thread
//   worker_pool.cc   threads, the run queue (and the poller hand-off and its eventfd without the gate); TakeSlot
//   request_slot.cc  a slot's request: ReadRequest (read, post) -> RunSlot (commands) -> EndOnThread ->
//                    ContinueConnection (next request read ahead, or FreeSlot)
//   fast_end.cc      EndOnJsThread: end() finished on the JS thread with one non-blocking sendmsg
//   server_io.cc     the binding: the JS methods, their arguments, Post/CallJs (events to JS), teardown
//   watchdog.cc      the shutdown watchdog (closeTimeout while the JS thread is stuck)
//   output.{h,cc}    Output, what a write or an end carries
#pragma once

#include <napi.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>

#include "output.h"
#include "reactor.h"
#include "request.h"
#include "thread_annotations.h"

namespace libfcgi {

// Slots per server; a request id is slot + kMaxSlots × generation (lib/server.ts reads it from the addon's
// `constants.maxSlots`).
constexpr int kMaxSlots = 4096;

// What a worker tells JS (through the thread-safe function). The kinds' numbers are exported to TS as
// `constants.events` (addon.cc).
struct ServerEvent {
  enum class Kind { kRequest, kData, kWritten, kAborted, kWorkerExit } kind;
  int slot = 0;
  uint32_t generation = 0;  // which request of this slot (stale events are ignored by JS)
  std::string data;         // kRequest: joined params; kData: body bytes
  std::u16string index;     // kRequest: where the params JS reads sit in data (IndexParams)
  int role = 0;
  bool eof = false;         // kData: end of body; kRequest: the prefetched body is all of it
  bool prefetched = false;  // kRequest: bodyBytes hold the start of the body (read with the params)
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, FreeDeleter> bodyBytes;
  size_t bodyLength = 0;
  double written = 0;       // kWritten: bytes written so far for this request
  bool filterData = false;  // kData: the bytes are FCGI_DATA (FILTER), not the body
};

// What JS asks a worker to do for a request; executed in order.
struct Command {
  enum class Kind { kWrite, kWriteError, kFlush, kRead, kEnd } kind;
  Output output;            // kWrite, kWriteError, kEnd
  bool notify = false;      // kWrite: report kWritten once done
  int readMax = 0;          // kRead
  bool filterData = false;  // kRead: from FCGI_DATA (FILTER) instead of the body
  int exitStatus = 0;       // kEnd
  bool cut = false;         // kEnd: close the connection instead of an orderly END_REQUEST
};

// Where a slot stands (Slot::Shared::state: changed only under ServerIo::mu_, through ServerIo::Locked):
//
//   kFree / kFreeHoldingMemory --TakeSlot--> kReadingOrEnding --ReadRequest--> kInFlight <--> kRunning
//   kInFlight/kRunning --end (EndOnThread, EndOnJsThread)--> kReadingOrEnding
//   kReadingOrEnding --(JS thread's end left work)--> kSendingRest / kReadingNext --a worker--> kReadingOrEnding
//   kReadingOrEnding --FreeSlot--> kFree (kFreeHoldingMemory after an end on the JS thread)
enum class SlotState {
  kFree,               // in the free list
  kFreeHoldingMemory,  // in the free list; req still holds the last request's memory (ended on the JS thread:
                       // freed by the worker that takes the slot, which allocated it)
  kReadingOrEnding,    // one thread reads a request into it or ends one; JS has no request here
  kInFlight,           // posted to JS, no command queued: only the JS thread touches req (EndOnJsThread)
  kRunning,            // posted to JS, commands queued or being run (in the run queue, or one worker runs it)
  kSendingRest,        // ended on the JS thread, in the run queue: a worker sends Slot::rest and continues
  kReadingNext,        // ended on the JS thread, in the run queue: a worker reads the request read ahead
};

// One request in flight (an FCGX_Request from fcgi2's threaded model). Slots are not tied to threads: a
// thread reads a request into a free slot and posts it to JS, and whichever thread is free executes the
// commands JS queues for it, one thread per slot at a time, in order.
struct Slot {
  explicit Slot(int index) : index(index) {}
  const int index;
  FCGX_Request req;
  uint32_t generation = 0;      // written under ServerIo::mu_ by the thread that reads the request
  std::atomic<int> connFd{-1};  // while reading or serving a request (Interrupt shuts it down)
  // What the JS thread and the threads share about the slot: reached only through ServerIo::Locked, which
  // requires ServerIo::mu_.
  struct Shared {
    std::deque<Command> queue;
    SlotState state = SlotState::kFree;
    bool aborted = false;   // peer gone, FCGI_ABORT_REQUEST or I/O error: output is dropped
    bool peerGone = false;  // hang-up seen while commands were pending: abort once they ran
    // The abort (or the pending one) is the web server's FCGI_ABORT_REQUEST, read by the reactor while the request
    // ran: the connection is in a known state, so it is kept when the request asked (END_REQUEST answers the
    // abort, and a request pipelined behind it is served).
    bool byAbortRecord = false;
    uint64_t watchId = 0;  // Listener::WatchInFlight while the handler waits
  };
  // Owned by the thread running the slot:
  double written = 0;
  InputStream input = InputStream::kStdin;  // FILTER: reading FCGI_DATA yet?
  Output rest;                              // kSendingRest: what the socket did not take of an end on the JS thread

 private:
  friend class ServerIo;
  Shared shared_;
};

class ServerIo : public Napi::ObjectWrap<ServerIo> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ServerIo(const Napi::CallbackInfo& info);
  ~ServerIo() override;

  static void CallJs(Napi::Env env, Napi::Function callback, ServerIo* self, ServerEvent* ev);
  void OnWillBlock() EXCLUDES(lfMu_);  // fcgi2's OS_WillBlockHook, on one of our threads

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ServerIo, ServerEvent, &ServerIo::CallJs>;

  // ---- the binding (server_io.cc) ----
  static void CleanupHook(void* self);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteError(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value WatchPeer(const Napi::CallbackInfo& info);
  Napi::Value StopAccepting(const Napi::CallbackInfo& info);
  Napi::Value Interrupt(const Napi::CallbackInfo& info);
  Napi::Value Join(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info) EXCLUDES(mu_);
  // The request a method is for (argument 0), as its slot and generation, and for write/writeError/end
  // (output non-null) the data (argument 1) appended to *output; null after a thrown RangeError/TypeError.
  Slot* RequestArgs(const Napi::CallbackInfo& info, uint32_t* generation, Output* output = nullptr);
  // Hands an output's buffer references to the JS thread for release (any thread).
  void Retire(Output* out) EXCLUDES(retiredMu_);
  // Deletes retired references (JS thread; callers check haveRetired_ first: most outputs have none).
  void ReleaseRetired(napi_env env) EXCLUDES(retiredMu_);
  // Events to JS (any thread): false when JS is gone (environment teardown).
  bool Post(ServerEvent* ev);
  void PostAbort(int slot, uint32_t generation);
  void Shutdown();
  void InterruptAll() EXCLUDES(mu_);

  // ---- the JS thread's poll (js_poll.cc) ----
  // With the request gate (kGateOn), the JS thread polls the listener's epoll set from its own event loop
  // (a uv_poll on Listener::epollFd()) instead of the worker threads: a request the gate read whole is parsed
  // and handed to the handler on the JS thread, with no thread hand-off (reads are non-blocking, fcgi2 parses
  // from memory). The workers take what could wait: a request not read whole (a big body, FILTER), commands
  // queued while a handler awaits, output the socket did not take at once. Without the gate the workers poll.
  struct JsPoll;
  void StartJsPoll(napi_env env);
  void CloseJsPoll();
  void RefJsPoll(bool on);
  // uv_poll's callback: takes what is ready (NextReady), reads whole requests into slots, and delivers each
  // connection's events in their own callback scope before taking the next (microtasks and nextTicks run at its
  // end: a response the handler finished by then leaves at once, not after every other handler of the batch).
  void PollOnJsThread();
  void DeliverInline(napi_env env);
  // Post() on the JS thread during PollOnJsThread: the event is delivered after the current ready event (true).
  bool PostInline(ServerEvent* ev);
  bool OnJsThreadPoll() const;
  JsPoll* jsPoll_ = nullptr;
  bool pollOnJs_ = false;  // set in the constructor
  Napi::FunctionReference onEvent_;
  napi_async_context asyncContext_ = nullptr;
  Napi::ObjectReference asyncResource_;
  std::vector<ServerEvent*> inline_;  // events posted on the JS thread while PollOnJsThread runs

  // ---- the worker pool (worker_pool.cc) ----
  static void* ThreadMain(void* self);
  void RunThread() EXCLUDES(mu_, lfMu_);
  // A connection that waited for a slot (pendingConns_, a free slot exists) into a slot, with mu_ released
  // meanwhile.
  void TakePendingConnection() REQUIRES(mu_);
  // Leader/followers: at most one thread waits in the listener's epoll set (the poller); the others park
  // here (lfCv_). A thread taking an event stops polling, and another thread is woken to poll only when that
  // one is about to block in a read or write (fcgi2's OS_WillBlockHook, OnWillBlock). Under load one running
  // thread then takes request after request without any thread switch, instead of waking a sleeping one for
  // each. Poll waits as the poller and handles what the listener returns (or parks and returns).
  void Poll() EXCLUDES(mu_, lfMu_);
  // Wakes a thread for the run queue (any thread).
  void SignalJobs();
  // A readable connection: into a free slot and on to ReadRequest, or queued until a slot frees up.
  void TakeSlot(int fd) EXCLUDES(mu_);
  void WakeParked() EXCLUDES(lfMu_);

  // ---- a slot's request (request_slot.cc) ----
  // Reads the next request on the slot's connection (slot->req.ipcFd), with a small body, and posts it to JS;
  // frees the slot when the connection fails or the server is stopping.
  void ReadRequest(Slot* s) EXCLUDES(mu_);
  // Queues a command from JS for the request `generation` of slot s; dropped when that request is not in
  // flight.
  void Queue(Slot* s, uint32_t generation, Command cmd) EXCLUDES(mu_);
  static bool InFlight(SlotState st) { return st == SlotState::kInFlight || st == SlotState::kRunning; }
  // A slot this thread ended (kReadingOrEnding) goes to a worker as kSendingRest or kReadingNext.
  void HandToWorker(Slot* s, SlotState to) EXCLUDES(mu_);
  // Executes the commands queued for a slot until none are left.
  void RunSlot(Slot* s) EXCLUDES(mu_);
  // What a worker taking a slot from the run queue does next.
  enum class Step { kCommand, kIdle, kSendRest, kReadNext };
  // The next command of a slot (kCommand), or kIdle (a pending hang-up became an abort), or the work left by
  // an end on the JS thread.
  Step NextStep(Slot* s, Command* cmd, bool* aborted, uint32_t* generation) EXCLUDES(mu_);
  void RunWrite(Slot* s, Command& cmd, bool aborted, uint32_t generation) EXCLUDES(mu_);
  void RunRead(Slot* s, const Command& cmd, bool aborted, uint32_t generation) EXCLUDES(mu_);
  void SendRest(Slot* s) EXCLUDES(mu_);
  // Marks the request aborted and tells JS, once; true when it was not aborted before.
  bool Abort(Slot* s, uint32_t generation) EXCLUDES(mu_);
  // Ends the slot's request on one of our threads.
  void EndOnThread(Slot* s, Command& cmd) EXCLUDES(mu_);
  // After the end records went out: the connection back to the listener (or closed), then the next request
  // read ahead on it, or the slot freed.
  void ContinueConnection(Slot* s) EXCLUDES(mu_);
  // Returns true when connections wait for a slot (a thread that will not look for them itself signals).
  // holdingMemory: req still holds the ended request's memory (see kFreeHoldingMemory).
  bool FreeSlot(Slot* s, bool holdingMemory = false) EXCLUDES(mu_);
  void PeerGone(uint64_t cookie, bool byAbortRecord) EXCLUDES(mu_);

  // ---- the fast end (fast_end.cc) ----
  // end() on the JS thread: when the request's commands have all run, its input is all read already and its
  // output fits FCGX_PutStrCloseV, the end is prepared here and sent with one non-blocking sendmsg; what the
  // socket does not take, and a request read ahead, go to a thread. Nothing here can wait. False: not
  // applicable, queue the command as usual.
  bool EndOnJsThread(Slot* s, uint32_t generation, Command& cmd) EXCLUDES(mu_);
  // After the one sendmsg of iov[0..cnt) (sent bytes went out; failed: the socket failed): what it did not
  // take goes to a thread, else the connection back to the listener (or on to a thread for a request read
  // ahead).
  void FinishOnJsThread(Slot* s, const iovec* iov, int cnt, size_t sent, bool failed) EXCLUDES(mu_);

  // ---- the shutdown watchdog (watchdog.cc) ----
  // closeTimeout must hold even when the JS thread is stuck in synchronous code (its timers and its SIGTERM
  // listener never run then). A thread of ours sees SIGTERM through its own libuv loop (as the accept loop
  // does: libuv owns the process handler) and, when the server has not finished closing watchdogMs later,
  // removes the socket file (if still ours) and ends the process as SIGTERM's default action would.
  void StartWatchdog(int ms);
  void StopWatchdog();
  static void* WatchdogMain(void* self);
  [[noreturn]] void WatchdogExpired();
  uv_loop_t wdLoop_;
  uv_signal_t wdSignal_;
  uv_timer_t wdTimer_;
  uv_async_t wdStop_;
  pthread_t wdThread_;
  bool wdRunning_ = false;
  int wdMs_ = 0;

  std::shared_ptr<Listener> listener_;
  ParamLimits limits_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<pthread_t> threads_;
  size_t threadCount_ = 0;
  Mutex mu_;
  std::condition_variable cv_;  // after close: threads wait here for jobs, not in the listener
  std::deque<Slot*> runQueue_ GUARDED_BY(mu_);
  std::vector<Slot*> freeSlots_ GUARDED_BY(mu_);
  std::deque<int> pendingConns_ GUARDED_BY(mu_);  // readable connections waiting for a free slot
  int busyCount_ GUARDED_BY(mu_) = 0;
  // A slot's shared part (Slot::Shared): only with mu_ held.
  Slot::Shared& Locked(Slot* s) REQUIRES(mu_) { return s->shared_; }
  int jobFd_ = -1;
  std::atomic<bool> jobSignaled_{false};
  Mutex retiredMu_;
  std::vector<napi_ref> retired_ GUARDED_BY(retiredMu_);
  std::atomic<bool> haveRetired_{false};
  Mutex lfMu_;
  std::condition_variable lfCv_;
  bool hasPoller_ GUARDED_BY(lfMu_) = false;
  int parked_ GUARDED_BY(lfMu_) = 0;
  Tsfn tsfn_;
  bool tsfnLive_ = false;
  bool joined_ = false;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> envClosing_{false};
};

}  // namespace libfcgi
