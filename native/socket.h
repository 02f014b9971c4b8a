// Listening sockets created by the addon: a unix socket file, a TCP address or an inherited fd.
#pragma once

#include <string>

#include <sys/types.h>

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
  int maxConnections = 0;  // connections the reactor holds at once; 0 = sized to RLIMIT_NOFILE (DefaultMaxConnections)
  size_t maxBufferedBytes = 0;  // what the request gate holds of all connections at once; 0 = the default (64 MiB)
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

// A listening socket opened by OpenListenSocket, non-blocking and close-on-exec.
struct ListenSocket {
  int fd = -1;
  bool owned = true;  // ours to close (false: an inherited fd)
  int family = 0;
  std::string address;  // TCP: the address bound
  int port = 0;         // TCP: the port bound (the real one when 0 was asked for)
  std::string path;     // unix: the socket file we created
  dev_t pathDev = 0;    // unix: which file that is (removed on close only while it still is ours)
  ino_t pathIno = 0;
};

// Binds and listens (unix, TCP) or checks an inherited fd is a listening socket; false with *err set.
bool OpenListenSocket(const ListenOptions& opts, ListenSocket* out, SysError* err);

// Wakes whoever waits on an eventfd (adds 1 to its counter).
void SignalEventFd(int fd);

// How long closing waits at most for the peers of lingering connections (Listener::DrainLingering).
constexpr int kCloseLingerMs = 2000;

}  // namespace libfcgi
