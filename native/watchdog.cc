// The shutdown watchdog: ends a shutdown that overruns closeTimeout even while the JS thread is stuck.
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "server_io.h"

namespace libfcgi {

void* ServerIo::WatchdogMain(void* self) {
  pthread_setname_np(pthread_self(), "libfcgi-watchdog");
  auto* a = static_cast<ServerIo*>(self);
  uv_run(&a->wdLoop_, UV_RUN_DEFAULT);  // until StopWatchdog closes the handles
  return nullptr;
}

void ServerIo::StartWatchdog(int ms) {
  if (wdRunning_ || ms < 0 || uv_loop_init(&wdLoop_) != 0) return;
  wdMs_ = ms;
  wdLoop_.data = this;
  uv_signal_init(&wdLoop_, &wdSignal_);
  uv_timer_init(&wdLoop_, &wdTimer_);
  uv_async_init(&wdLoop_, &wdStop_, [](uv_async_t* h) {
    uv_loop_t* loop = h->loop;
    uv_signal_stop(&static_cast<ServerIo*>(loop->data)->wdSignal_);  // the last watcher gone: libuv restores SIG_DFL
    uv_walk(
        loop,
        [](uv_handle_t* handle, void*) {
          if (!uv_is_closing(handle)) uv_close(handle, nullptr);
        },
        nullptr);
  });
  // Only the first SIGTERM arms it: a second one changes nothing (the JS side ignores it too).
  uv_signal_start(
      &wdSignal_,
      [](uv_signal_t* h, int) {
        auto* a = static_cast<ServerIo*>(h->loop->data);
        if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&a->wdTimer_))) {
          uv_timer_start(
              &a->wdTimer_, [](uv_timer_t* t) { static_cast<ServerIo*>(t->loop->data)->WatchdogExpired(); },
              static_cast<uint64_t>(a->wdMs_), 0);
        }
      },
      SIGTERM);
  if (pthread_create(&wdThread_, nullptr, WatchdogMain, this) != 0) {
    uv_signal_stop(&wdSignal_);
    uv_walk(
        &wdLoop_, [](uv_handle_t* handle, void*) { uv_close(handle, nullptr); }, nullptr);
    uv_run(&wdLoop_, UV_RUN_DEFAULT);
    uv_loop_close(&wdLoop_);
    return;
  }
  wdRunning_ = true;
}

void ServerIo::StopWatchdog() {
  if (!wdRunning_) return;
  wdRunning_ = false;
  uv_async_send(&wdStop_);
  pthread_join(wdThread_, nullptr);
  uv_loop_close(&wdLoop_);
}

void ServerIo::WatchdogExpired() {
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

}  // namespace libfcgi
