// Acceptor: the concurrent server's native side. Worker threads (fcgi2's threaded model, one FCGX_Request
// each) accept and do all socket I/O; JS runs handlers and talks to them through a command queue.
#pragma once

#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <vector>

#include <pthread.h>

#include "request.h"
#include "socket.h"

namespace libfcgi {

class Acceptor;

// What a worker tells JS (through the thread-safe function).
struct AcceptorEvent {
  enum class Kind { kRequest, kData, kWritten, kAborted, kWorkerExit } kind;
  int slot = 0;
  uint32_t generation = 0;  // which request of this slot (stale events are ignored by JS)
  std::string data;         // kRequest: joined params; kData: body bytes
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

// Output that lives in a JS buffer, kept alive by a reference until a thread wrote it (not copied).
struct Piece {
  std::string own;  // or a copy, for strings and small buffers
  const char* ptr = nullptr;
  size_t len = 0;
  napi_ref ref = nullptr;
};

// What JS asks a worker to do; executed in order.
struct Command {
  // kRest and kNext are queued by the addon itself after an end finished on the JS thread (EndHere): the bytes
  // the socket did not take at once, or the next request already read ahead on the connection.
  enum class Kind { kWrite, kWriteError, kFlush, kRead, kEnd, kRest, kNext } kind;
  std::string data;           // the output, when it is one string or a small buffer (kRest: bytes to send)
  std::vector<Piece> pieces;  // the output otherwise (used instead of data when not empty)
  bool notify = false;  // kWrite: report kWritten once done
  int readMax = 0;      // kRead
  bool filterData = false;  // kRead: from FCGI_DATA (FILTER) instead of the body
  int exitStatus = 0;   // kEnd
  bool cut = false;     // kEnd: close the connection instead of an orderly END_REQUEST
};

// One request in flight (an FCGX_Request from fcgi2's threaded model). Slots are not tied to threads: a
// thread reads a request into a free slot and hands it to JS, and whichever thread is free executes the
// commands JS queues for it, one thread per slot at a time, in order.
struct Slot {
  explicit Slot(int index) : index(index) {}
  int index;
  FCGX_Request req;
  uint32_t generation = 0;
  std::atomic<int> connFd{-1};  // while reading or serving a request (Interrupt shuts it down)
  // Guarded by Acceptor::mu_:
  std::deque<Command> queue;
  bool scheduled = false;  // in the run queue, or being run by a thread
  bool busy = false;       // reading a request or in flight (not in the free list)
  bool inFlight = false;   // handed to JS and not ended
  bool aborted = false;    // peer gone, FCGI_ABORT_REQUEST or I/O error: output is dropped
  bool peerGone = false;   // hang-up seen while commands were pending: abort once they ran
  uint64_t watchId = 0;    // Listener::WatchInFlight while the handler waits
  // Owned by the thread running the slot:
  double written = 0;
  InputStream input = InputStream::kStdin;  // FILTER: reading FCGI_DATA yet?
  bool stale = false;  // ended by EndHere: req still holds that request's memory (freed when the slot is taken)
};

class Acceptor : public Napi::ObjectWrap<Acceptor> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Acceptor(const Napi::CallbackInfo& info);
  ~Acceptor() override;

  // Called by the threads: false when JS is gone (environment teardown).
  bool Post(AcceptorEvent* ev);

  static void CallJs(Napi::Env env, Napi::Function callback, Acceptor* self, AcceptorEvent* ev);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<Acceptor, AcceptorEvent, &Acceptor::CallJs>;
  static void CleanupHook(void* self);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteError(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value StopAccepting(const Napi::CallbackInfo& info);
  Napi::Value Interrupt(const Napi::CallbackInfo& info);
  Napi::Value Join(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  Napi::Value WatchPeer(const Napi::CallbackInfo& info);

  Slot* SlotArg(const Napi::CallbackInfo& info, uint32_t* generation);
  Slot* OutputArgs(const Napi::CallbackInfo& info, uint32_t* generation, Command* cmd);
  bool DataArg(const Napi::CallbackInfo& info, size_t index, Command* cmd);
  // Writes a command's output to a stream; false when the stream failed.
  static bool PutData(const Command& cmd, FCGX_Stream* stream);
  // PutData, then closes the stream (FCGX_PutStrClose, patch 0017): the end of the output and the close
  // records in one write.
  static bool PutDataClose(const Command& cmd, FCGX_Stream* stream);
  // Hands a command's buffer references to the JS thread for release (any thread).
  void Retire(Command* cmd);
  // Deletes retired references (JS thread).
  void ReleaseRetired(napi_env env);
  // Queues a command for the request `generation` of slot s; dropped when that request is not in flight.
  void Push(Slot* s, uint32_t generation, Command cmd);
  void Shutdown();
  void InterruptAll();

  // ---- the shutdown watchdog (start(watchdogMs)) ----
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

  // ---- the threads ----
  static void* ThreadMain(void* self);
  void RunThread();
  // A readable connection: into a free slot (FCGX_Accept_r) and to JS, or queued until a slot frees up.
  void Serve(int fd);
  // Reads the next request on the slot's connection (slot->req.ipcFd) and hands it to JS; frees the slot when
  // the connection fails or the listener is closed.
  void AcceptOn(Slot* s);
  void Dispatch(Slot* s);
  // Executes the commands queued for a slot until none are left.
  void RunSlot(Slot* s);
  // Ends the slot's request (on a thread of ours).
  void EndRequest(Slot* s, Command& cmd);
  // After the end records went out: the connection back to the listener (or closed), then the next request
  // read ahead on it, or the slot freed.
  void AfterEnd(Slot* s);
  // end() on the JS thread: when the request's commands have all run, its input is all read already and its
  // output fits FCGX_PutStrCloseV, the end is prepared here and sent with one non-blocking sendmsg; what the
  // socket does not take, and a request read ahead, go to a thread. Nothing here can wait. False: not
  // applicable, queue the command as usual.
  bool EndHere(Slot* s, uint32_t generation, Command& cmd);
  // Queues an addon command for a slot this thread owns (scheduled) and wakes a thread for it.
  void Hand(Slot* s, Command cmd);
  // Returns true when connections wait for a slot (a thread that will not look for them itself signals).
  bool FreeSlot(Slot* s);
  void PeerGone(uint64_t cookie);
  void PostTo(Slot* s, AcceptorEvent ev);
  void PostAborted(int slot, uint32_t generation);
  void SignalJobs();

  std::shared_ptr<Listener> listener_;
  ParamLimits limits_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<pthread_t> threads_;
  size_t threadCount_ = 0;
  std::mutex mu_;  // slots' queues and flags, runQueue_, freeSlots_, pendingConns_, busyCount_
  std::condition_variable cv_;  // after close: threads wait here for jobs, not in the listener
  std::deque<Slot*> runQueue_;
  std::vector<Slot*> freeSlots_;
  std::deque<int> pendingConns_;  // readable connections waiting for a free slot
  int busyCount_ = 0;
  int jobFd_ = -1;
  std::atomic<bool> jobSignaled_{false};
  std::mutex retiredMu_;
  std::vector<napi_ref> retired_;
  std::atomic<bool> haveRetired_{false};

  // Leader/followers: at most one thread waits in the listener's epoll set (the poller); the others park
  // here. A thread taking an event stops polling, and another thread is woken to poll only when that one is
  // about to block in a read or write (fcgi2's OS_WillBlockHook, patch 0014). Under load one running thread
  // then takes request after request without any thread switch, instead of waking a sleeping one for each.
  bool BecomePoller();
  void ResignPoller();
 public:
  void OnWillBlock();  // from the hook, on one of our threads
 private:
  void WakeParked();
  std::mutex lfMu_;
  std::condition_variable lfCv_;
  bool hasPoller_ = false;
  int parked_ = 0;
  Tsfn tsfn_;
  bool tsfnLive_ = false;
  bool joined_ = false;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> envClosing_{false};
};

}  // namespace libfcgi
