// Listening sockets: a unix socket file, a TCP address or an inherited fd, opened ready for the reactor.
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace libfcgi {

void SignalEventFd(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

namespace {

bool SetNonBlockCloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
  int fdfl = fcntl(fd, F_GETFD);
  return fdfl >= 0 && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) >= 0;
}

std::string FormatAddress(const sockaddr_storage& ss, int* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    *port = ntohs(in6->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    return std::string(un->sun_path);
  }
  return std::string(buf);
}

int ListenUnix(const ListenOptions& o, SysError* err) {
  sockaddr_un sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (o.path.empty() || o.path.size() >= sizeof(sa.sun_path)) {
    err->Set(ENAMETOOLONG, "bind", o.path);
    return -1;
  }
  std::memcpy(sa.sun_path, o.path.c_str(), o.path.size());

  struct stat st;
  if (lstat(o.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      err->Set(EEXIST, "bind", o.path);  // never delete a file that is not a socket
      return -1;
    }
    // A socket file: live if something accepts on it, stale (left by a crashed process) otherwise.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) {
      err->Set(errno, "socket", o.path);
      return -1;
    }
    int rc = connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int connectErr = errno;
    close(probe);
    if (rc == 0 || connectErr == EAGAIN || connectErr == EINPROGRESS) {
      err->Set(EADDRINUSE, "listen", o.path);
      return -1;
    }
    if (connectErr != ECONNREFUSED) {
      err->Set(connectErr, "connect", o.path);
      return -1;
    }
    if (unlink(o.path.c_str()) != 0 && errno != ENOENT) {
      err->Set(errno, "unlink", o.path);
      return -1;
    }
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err->Set(errno, "socket", o.path);
    return -1;
  }
  auto fail = [&](const char* call) {
    err->Set(errno, call, o.path);
    close(fd);
    unlink(o.path.c_str());
    return -1;
  };
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    err->Set(errno, "bind", o.path);
    close(fd);
    return -1;
  }
  // chmod before listen(): no peer can connect while the mode is still the umask's.
  if (o.mode >= 0 && chmod(o.path.c_str(), static_cast<mode_t>(o.mode)) != 0) return fail("chmod");
  if (listen(fd, o.backlog) != 0) return fail("listen");
  return fd;
}

int ListenTcp(const ListenOptions& o, SysError* err) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(o.port);
  std::string where = o.host + ":" + service;
  if (getaddrinfo(o.host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    err->Set(EADDRNOTAVAIL, "getaddrinfo", where);
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err->Set(errno, "socket", where);
    freeaddrinfo(res);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    err->Set(errno, "bind", where);
    close(fd);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  if (listen(fd, o.backlog) != 0) {
    err->Set(errno, "listen", where);
    close(fd);
    return -1;
  }
  return fd;
}

int AdoptFd(const ListenOptions& o, SysError* err) {
  std::string where = "fd " + std::to_string(o.fd);
  struct stat st;
  if (fstat(o.fd, &st) != 0) {
    err->Set(errno, "fstat", where);
    return -1;
  }
  if (!S_ISSOCK(st.st_mode)) {
    err->Set(ENOTSOCK, "listen", where);
    return -1;
  }
  int accepting = 0;
  socklen_t len = sizeof accepting;
  if (getsockopt(o.fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0) {
    err->Set(errno, "getsockopt", where);
    return -1;
  }
  if (!accepting) {
    err->Set(EINVAL, "listen", where + " (a socket, but not a listening one)");
    return -1;
  }
  return o.fd;
}

}  // namespace

bool OpenListenSocket(const ListenOptions& opts, ListenSocket* out, SysError* err) {
  int fd = -1;
  switch (opts.kind) {
    case ListenOptions::Kind::kUnix: fd = ListenUnix(opts, err); break;
    case ListenOptions::Kind::kTcp: fd = ListenTcp(opts, err); break;
    case ListenOptions::Kind::kFd: fd = AdoptFd(opts, err); break;
  }
  if (fd < 0) return false;
  // Non-blocking so that poll-then-accept never blocks when another process (spawn-fcgi -F N, several
  // workers on one inherited socket) took the connection first.
  if (!SetNonBlockCloexec(fd)) {
    err->Set(errno, "fcntl");
    if (opts.kind != ListenOptions::Kind::kFd) close(fd);
    return false;
  }
  out->fd = fd;
  out->owned = opts.kind != ListenOptions::Kind::kFd;
  sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  std::memset(&ss, 0, sizeof ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sslen) == 0) {
    out->family = ss.ss_family;
    out->address = FormatAddress(ss, &out->port);
  }
  if (opts.kind == ListenOptions::Kind::kUnix) {
    out->path = opts.path;
    struct stat st;
    if (stat(opts.path.c_str(), &st) == 0) {
      out->pathDev = st.st_dev;
      out->pathIno = st.st_ino;
    }
  }
  return true;
}

}  // namespace libfcgi
