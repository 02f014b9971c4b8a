// Listening sockets created by the addon (unix, TCP, inherited fd) and the connections waiting on them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"

namespace libfcgi {

struct ListenOptions {
  enum class Kind { kUnix, kTcp, kFd } kind = Kind::kFd;
  std::string path;  // kUnix
  int mode = -1;     // kUnix: chmod after bind, -1 = leave as umask made it
  std::string host;  // kTcp
  int port = 0;      // kTcp
  int fd = 0;        // kFd
  int backlog = 511;
};

// Bounds on a request's params (patch 0001 reads them from FCGX_Request); 0 = fcgi2's default.
struct ParamLimits {
  size_t maxNameLength = 0;
  size_t maxValueLength = 0;
  size_t maxTotal = 0;
};

struct Timeouts {
  int readMs = 60000;   // a peer silent this long in the middle of a request is dropped
  int writeMs = 60000;  // a peer not reading our output this long is dropped
  int idleMs = 60000;   // a kept-alive connection with no new request this long is closed
};

// Where a connection stands when it leaves the dispatcher.
enum class WaitResult { kConnection, kWoken, kExtraReadable, kClosed };

// Owns the listening socket plus every connection between requests: new ones, kept-alive idle ones, and
// ones closing (lingering). Several threads may wait in NextConnection; one polls, the others queue on a
// mutex (fcgi2's threaded model, without parking a thread on each idle connection).
class Listener {
 public:
  static std::unique_ptr<Listener> Create(const ListenOptions& opts, const Timeouts& timeouts, SysError* err);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Blocks until a connection is ready for the next request (its fd in *fd), until Wake()/Close(), or
  // until extraFd (may be -1) is readable.
  WaitResult NextConnection(int extraFd, int* fd);
  // After a request: watch a kept-alive connection for the next request.
  void ReturnIdle(int fd);
  // After a request: half-close and drain until the peer closes (avoids a RST that could destroy our
  // response), without blocking the caller.
  void Linger(int fd);
  // Wakes a thread blocked in NextConnection (it returns kWoken).
  void Wake();
  // Stops listening, closes idle connections, removes the unix socket file; wakes all waiters. Connections
  // still lingering are left for DrainLingering (closing them now could RST away a response in flight).
  void Close();
  // After Close(): waits (at most maxMs) for lingering connections to be closed by their peers, then closes
  // what is left. Blocking: the sync loop and exiting worker threads call it.
  void DrainLingering(int maxMs);
  bool closed() const { return closed_.load(); }

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  int family() const { return family_; }

 private:
  Listener() = default;
  struct Waiting {
    int fd;
    std::chrono::steady_clock::time_point deadline;  // idle: next request due; lingering: silence allowed
    std::chrono::steady_clock::time_point hardDeadline;  // lingering: however much the peer still sends
  };
  // Reads what a lingering peer sends; true when the connection is done (EOF, error, deadline).
  static bool DrainStep(Waiting* w, bool readable, std::chrono::steady_clock::time_point now);
  void ConfigureAccepted(int fd) const;
  void CloseAll();

  int fd_ = -1;
  int wakeFd_ = -1;  // eventfd: wakes the polling thread
  int family_ = 0;
  std::string path_;  // unix socket file we created (removed on Close)
  dev_t pathDev_ = 0;
  ino_t pathIno_ = 0;
  std::string address_;
  int port_ = 0;
  Timeouts timeouts_;

  std::mutex pollMu_;  // one poller at a time
  std::mutex mu_;      // guards idle_, lingering_
  std::vector<Waiting> idle_;
  std::vector<Waiting> lingering_;
  std::atomic<bool> polling_{false};
  bool preferAccept_ = false;  // poller only: alternate when kept and new connections are both ready
  std::atomic<bool> closed_{false};
};

}  // namespace libfcgi
