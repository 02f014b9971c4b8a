// Listening sockets and the wait for the next ready connection (accept, kept-alive idle, lingering close).
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace libfcgi {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxIdleConnections = 4096;
// Lingering close: like fcgi2's OS_Close, drain until the peer closes or stays silent for 2 s. nginx may still
// be sending a request body the app did not read; cutting it off makes nginx answer 502. Unlike OS_Close,
// the drain never blocks a request and has a hard bound against a peer that trickles bytes forever.
constexpr int kLingerSilenceMs = 2000;
constexpr int kLingerMaxMs = 30000;
constexpr int kAcceptBackoffMs = 100;

// A deadline `ms` from now; 0 ms means no deadline (a disabled timeout).
Clock::time_point DeadlineAfter(int ms) {
  return ms > 0 ? Clock::now() + std::chrono::milliseconds(ms) : Clock::time_point::max();
}

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

std::unique_ptr<Listener> Listener::Create(const ListenOptions& opts, const Timeouts& timeouts, SysError* err) {
  int fd = -1;
  switch (opts.kind) {
    case ListenOptions::Kind::kUnix: fd = ListenUnix(opts, err); break;
    case ListenOptions::Kind::kTcp: fd = ListenTcp(opts, err); break;
    case ListenOptions::Kind::kFd: fd = AdoptFd(opts, err); break;
  }
  if (fd < 0) return nullptr;
  // Non-blocking so that poll-then-accept never blocks when another process (spawn-fcgi -F N, several
  // workers on one inherited socket) took the connection first.
  if (!SetNonBlockCloexec(fd)) {
    err->Set(errno, "fcntl");
    if (opts.kind != ListenOptions::Kind::kFd) close(fd);
    return nullptr;
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    err->Set(errno, "eventfd");
    if (opts.kind != ListenOptions::Kind::kFd) close(fd);
    return nullptr;
  }
  std::unique_ptr<Listener> l(new Listener());
  l->fd_ = fd;
  l->wakeFd_ = wake;
  l->timeouts_ = timeouts;
  sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  std::memset(&ss, 0, sizeof ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sslen) == 0) {
    l->family_ = ss.ss_family;
    l->address_ = FormatAddress(ss, &l->port_);
  }
  if (opts.kind == ListenOptions::Kind::kUnix) {
    l->path_ = opts.path;
    struct stat st;
    if (stat(opts.path.c_str(), &st) == 0) {
      l->pathDev_ = st.st_dev;
      l->pathIno_ = st.st_ino;
    }
  }
  return l;
}

Listener::~Listener() {
  Close();
  for (const Waiting& w : lingering_) close(w.fd);
  if (wakeFd_ >= 0) close(wakeFd_);
}

void Listener::ConfigureAccepted(int fd) const {
  // Timeouts on the socket itself: fcgi2's blocking reads/writes then fail instead of hanging forever.
  timeval rcv{timeouts_.readMs / 1000, (timeouts_.readMs % 1000) * 1000};
  timeval snd{timeouts_.writeMs / 1000, (timeouts_.writeMs % 1000) * 1000};
  if (timeouts_.readMs > 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
  if (timeouts_.writeMs > 0) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
  if (family_ == AF_INET || family_ == AF_INET6) {
    int one = 1;  // records are written whole; Nagle would only add latency
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

void Listener::Wake() {
  if (!polling_.load()) return;
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);
  (void)n;
}

void Listener::ReturnIdle(int fd) {
  if (closed_.load()) {
    close(fd);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() >= kMaxIdleConnections) {
      // Only the poller removes entries (it indexes idle_ by position), so refuse the newcomer instead.
      close(fd);
      return;
    }
    Clock::time_point due = DeadlineAfter(timeouts_.idleMs);
    idle_.push_back({fd, due, due});
  }
  Wake();
}

void Listener::Linger(int fd) {
  if (shutdown(fd, SHUT_WR) != 0) {
    close(fd);
    return;
  }
  {
    Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    lingering_.push_back(
        {fd, now + std::chrono::milliseconds(kLingerSilenceMs), now + std::chrono::milliseconds(kLingerMaxMs)});
  }
  Wake();
}

bool Listener::DrainStep(Waiting* w, bool readable, Clock::time_point now) {
  if (readable) {
    char trash[16384];
    for (;;) {
      ssize_t r = recv(w->fd, trash, sizeof trash, MSG_DONTWAIT);
      if (r > 0) {
        w->deadline = now + std::chrono::milliseconds(kLingerSilenceMs);
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) return true;
      break;
    }
  }
  return now >= w->deadline || now >= w->hardDeadline;
}

void Listener::DrainLingering(int maxMs) {
  std::lock_guard<std::mutex> pollLock(pollMu_);
  Clock::time_point end = Clock::now() + std::chrono::milliseconds(maxMs);
  std::vector<pollfd> pfds;
  for (;;) {
    std::lock_guard<std::mutex> lock(mu_);
    Clock::time_point now = Clock::now();
    if (lingering_.empty()) return;
    if (now >= end) break;
    pfds.clear();
    for (const Waiting& w : lingering_) pfds.push_back({w.fd, POLLIN, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count();
    int n = poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long long>(left, 100) + 1));
    if (n < 0 && errno != EINTR) break;
    now = Clock::now();
    for (size_t i = 0; i < pfds.size(); i++) {
      Waiting& w = lingering_[i];
      if (DrainStep(&w, pfds[i].revents != 0, now)) {
        close(w.fd);
        w.fd = -1;
      }
    }
    lingering_.erase(std::remove_if(lingering_.begin(), lingering_.end(), [](const Waiting& w) { return w.fd < 0; }),
                     lingering_.end());
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const Waiting& w : lingering_) close(w.fd);
  lingering_.clear();
}

WaitResult Listener::NextConnection(int extraFd, int* outFd) {
  std::lock_guard<std::mutex> pollLock(pollMu_);
  std::vector<pollfd> pfds;
  Clock::time_point acceptPausedUntil{};
  for (;;) {
    if (closed_.load()) return WaitResult::kClosed;
    // Announce the poll before taking the snapshot of idle_/lingering_: a connection returned after the
    // snapshot then always writes the wake fd (no lost wakeup).
    polling_.store(true);
    Clock::time_point now = Clock::now();
    pfds.clear();
    pfds.push_back({wakeFd_, POLLIN, 0});
    pfds.push_back({now >= acceptPausedUntil ? fd_ : -1, POLLIN, 0});
    pfds.push_back({extraFd, POLLIN, 0});
    const size_t firstConn = pfds.size();
    size_t idleCount;
    Clock::time_point nearest = Clock::time_point::max();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Waiting& w : idle_) {
        pfds.push_back({w.fd, POLLIN, 0});
        nearest = std::min(nearest, w.deadline);
      }
      idleCount = idle_.size();
      for (const Waiting& w : lingering_) {
        pfds.push_back({w.fd, POLLIN, 0});
        nearest = std::min(nearest, std::min(w.deadline, w.hardDeadline));
      }
    }
    if (now < acceptPausedUntil) nearest = std::min(nearest, acceptPausedUntil);
    int timeoutMs = -1;
    if (nearest != Clock::time_point::max()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(nearest - now).count();
      timeoutMs = static_cast<int>(std::max<long long>(0, ms) + 1);
    }

    int n = poll(pfds.data(), pfds.size(), timeoutMs);
    polling_.store(false);
    if (n < 0) {
      if (errno == EINTR) continue;
      return WaitResult::kClosed;
    }
    if (pfds[0].revents) {
      uint64_t v;
      ssize_t r = read(wakeFd_, &v, sizeof v);
      (void)r;
      if (closed_.load()) return WaitResult::kClosed;
    }
    if (extraFd >= 0 && pfds[2].revents) return WaitResult::kExtraReadable;

    now = Clock::now();
    int ready = -1;
    Waiting readyWaiting{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      // pfds[firstConn..] mirror idle_ then lingering_ as they were; entries only ever get appended by
      // other threads meanwhile, so indexes into the first idleCount/lingering entries are still valid.
      std::vector<int> closeFds;
      size_t lingerBase = firstConn + idleCount;
      for (size_t i = lingerBase; i < pfds.size(); i++) {
        Waiting& w = lingering_[i - lingerBase];
        if (DrainStep(&w, pfds[i].revents != 0, now)) {
          closeFds.push_back(w.fd);
          w.fd = -1;
        }
      }
      lingering_.erase(std::remove_if(lingering_.begin(), lingering_.end(), [](const Waiting& w) { return w.fd < 0; }),
                       lingering_.end());
      for (size_t i = firstConn; i < lingerBase; i++) {
        Waiting& w = idle_[i - firstConn];
        if (ready < 0 && (pfds[i].revents & POLLIN)) {
          ready = w.fd;  // next request (or EOF, which fcgi2 reads and reports) on a kept connection
          readyWaiting = w;
          w.fd = -1;
        } else if ((pfds[i].revents & (POLLHUP | POLLERR)) || now >= w.deadline) {
          closeFds.push_back(w.fd);
          w.fd = -1;
        }
      }
      idle_.erase(std::remove_if(idle_.begin(), idle_.end(), [](const Waiting& w) { return w.fd < 0; }), idle_.end());
      for (int fd : closeFds) close(fd);
      // Kept connections with requests must not starve new ones (nginx opening more connections than there
      // are workers): when both are ready, take turns.
      if (ready >= 0 && (pfds[1].revents & POLLIN)) {
        preferAccept_ = !preferAccept_;
        if (preferAccept_) {
          idle_.push_back(readyWaiting);
          ready = -1;
        }
      }
    }
    if (ready >= 0) {
      *outFd = ready;
      return WaitResult::kConnection;
    }
    if (pfds[1].revents & POLLIN) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ConfigureAccepted(c);
        // Hand it to fcgi2 only once it has bytes to read: a peer that connects and says nothing must not
        // hold a worker (or the whole sync loop) for readTimeout. Usually the request is already there.
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) {
          *outFd = c;
          return WaitResult::kConnection;
        }
        Clock::time_point due = DeadlineAfter(timeouts_.readMs);
        std::lock_guard<std::mutex> lock(mu_);
        idle_.push_back({c, due, due});
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the listen socket stays readable, so back off instead of spinning.
        acceptPausedUntil = Clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
      }
      // EAGAIN (another process took it), ECONNABORTED, EINTR: just wait again.
    }
  }
}

void Listener::CloseAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Waiting& w : idle_) close(w.fd);
  idle_.clear();
}

void Listener::Close() {
  if (closed_.exchange(true)) return;
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);  // stays readable: every later poller returns at once
  (void)n;
  std::lock_guard<std::mutex> pollLock(pollMu_);  // the poller has left poll(); fds can be closed safely
  CloseAll();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (!path_.empty()) {
    struct stat st;
    // Remove the file only if it is still the socket we bound (not one another process put there).
    if (stat(path_.c_str(), &st) == 0 && st.st_dev == pathDev_ && st.st_ino == pathIno_) unlink(path_.c_str());
  }
}

}  // namespace libfcgi
