// Acceptor: the concurrent server's native side. Worker threads (fcgi2's threaded model, one FCGX_Request
// each) accept and do all socket I/O; JS runs handlers and talks to them through a command queue.
#pragma once

#include <napi.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
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
  bool eof = false;         // kData: end of body
  double written = 0;       // kWritten: bytes written so far for this request
};

// What JS asks a worker to do; executed in order.
struct Command {
  enum class Kind { kWrite, kWriteError, kFlush, kRead, kEnd } kind;
  std::string data;
  bool notify = false;  // kWrite: report kWritten once done
  int readMax = 0;      // kRead
  int exitStatus = 0;   // kEnd
  bool cut = false;     // kEnd: close the connection instead of an orderly END_REQUEST
};

class Worker {
 public:
  Worker(Acceptor* owner, int slot);
  ~Worker();
  bool Start();
  void Join();
  void Push(Command cmd);
  // Unblocks a worker stuck in a read or write on its connection (shutdown/teardown).
  void Interrupt();

 private:
  static void* ThreadMain(void* self);
  void Run();
  // Serves one accepted request until JS ends it. Returns false when the worker should exit.
  void ServeRequest();
  bool WaitCommand(Command* out, bool watchPeer);
  void Post(AcceptorEvent ev);

  Acceptor* owner_;
  int slot_;
  pthread_t thread_{};
  bool started_ = false;
  FCGX_Request req_;
  uint32_t generation_ = 0;
  int cmdFd_ = -1;  // eventfd: commands queued
  std::mutex mu_;
  std::deque<Command> queue_;
  std::atomic<int> connFd_{-1};
};

class Acceptor : public Napi::ObjectWrap<Acceptor> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Acceptor(const Napi::CallbackInfo& info);
  ~Acceptor() override;

  Listener* listener() { return listener_.get(); }
  const ParamLimits& limits() const { return limits_; }
  bool stopping() const { return stopping_.load(); }
  // Called by workers: false when JS is gone (environment teardown).
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

  Worker* SlotArg(const Napi::CallbackInfo& info);
  bool DataArg(const Napi::CallbackInfo& info, size_t index, std::string* out);
  void Shutdown();

  std::shared_ptr<Listener> listener_;
  ParamLimits limits_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Tsfn tsfn_;
  bool tsfnLive_ = false;
  bool joined_ = false;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> envClosing_{false};
};

}  // namespace libfcgi
