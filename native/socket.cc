// Listening sockets and the wait for the next ready connection (accept, kept-alive idle, lingering close).
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

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxIdleConnections = 4096;  // new + kept-alive connections waiting at once
// epoll data of the fixed fds; connections get ids from 16 up.
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kListenTag = 2;
constexpr uint64_t kTimerTag = 3;
constexpr uint64_t kExtraTag = 4;
constexpr uint64_t kJobTag = 5;
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

void SignalEventFd(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

bool EpollSet(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
  epoll_event ev;
  std::memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(epfd, op, fd, &ev) == 0;
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
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (wake < 0 || ep < 0 || timer < 0 || !EpollSet(ep, EPOLL_CTL_ADD, wake, EPOLLIN, kWakeTag) ||
      !EpollSet(ep, EPOLL_CTL_ADD, timer, EPOLLIN, kTimerTag) ||
      !EpollSet(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLONESHOT, kListenTag)) {
    err->Set(errno, wake < 0 ? "eventfd" : timer < 0 ? "timerfd_create" : ep < 0 ? "epoll_create1" : "epoll_ctl");
    for (int f : {wake, ep, timer})
      if (f >= 0) close(f);
    if (opts.kind != ListenOptions::Kind::kFd) close(fd);
    return nullptr;
  }
  std::unique_ptr<Listener> l(new Listener());
  l->fd_ = fd;
  l->wakeFd_ = wake;
  l->epfd_ = ep;
  l->timerFd_ = timer;
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
  for (const auto& entry : waiting_)
    if (entry.second.kind != Kind::kInFlight) close(entry.second.fd);  // lingering ones nobody drained
  for (int c : drained_) close(c);  // kept from the backlog, never served
  for (int f : {epfd_, wakeFd_, timerFd_})
    if (f >= 0) close(f);
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

void Listener::ArmTimerLocked(TimePoint at) {
  itimerspec its;
  std::memset(&its, 0, sizeof its);
  if (at != TimePoint::max()) {
    // steady_clock is CLOCK_MONOTONIC: an absolute timer at the deadline itself.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (ns <= 0) ns = 1;
    its.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    its.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  }
  timerfd_settime(timerFd_, TFD_TIMER_ABSTIME, &its, nullptr);
  timerAt_ = at;
}

void Listener::Watch(const Waiting& w) {
  std::lock_guard<std::mutex> lock(mu_);
  // After Close() only lingering closes are still watched (DrainLingering finishes them).
  bool refuse = w.kind == Kind::kLinger ? false : closed_.load() || waiting_.size() >= kMaxIdleConnections;
  uint64_t id = nextId_++;
  // One-shot: the event goes to one waiting thread and the connection stays quiet until it is re-armed here.
  // Registered on its first wait, re-armed (MOD) on the later ones: one syscall per kept request.
  if (refuse || (!EpollSet(epfd_, EPOLL_CTL_MOD, w.fd, EPOLLIN | EPOLLONESHOT, id) &&
                 (errno != ENOENT || !EpollSet(epfd_, EPOLL_CTL_ADD, w.fd, EPOLLIN | EPOLLONESHOT, id)))) {
    close(w.fd);
    return;
  }
  waiting_.emplace(id, w);
  TimePoint due = std::min(w.deadline, w.hardDeadline);
  if (due < timerAt_) ArmTimerLocked(due);
}

size_t Listener::IdleCount() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& entry : waiting_)
    if (entry.second.kind == Kind::kNew || entry.second.kind == Kind::kIdle) n++;
  return n;
}

void Listener::ReturnIdle(int fd) {
  TimePoint due = DeadlineAfter(timeouts_.idleMs);
  Watch({fd, Kind::kIdle, due, due});
}

void Listener::Linger(int fd) {
  if (shutdown(fd, SHUT_WR) != 0) {
    close(fd);
    return;
  }
  TimePoint now = Clock::now();
  Watch({fd, Kind::kLinger, now + std::chrono::milliseconds(kLingerSilenceMs),
         now + std::chrono::milliseconds(kLingerMaxMs)});
}

bool Listener::DrainStep(Waiting* w, bool readable, TimePoint now) {
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
  std::lock_guard<std::mutex> drainLock(drainMu_);
  std::vector<Waiting> lingering;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.kind == Kind::kLinger) {
        lingering.push_back(it->second);
        it = waiting_.erase(it);  // a late epoll event for it finds no entry and is ignored
      } else {
        ++it;
      }
    }
  }
  TimePoint end = Clock::now() + std::chrono::milliseconds(maxMs);
  std::vector<pollfd> pfds;
  while (!lingering.empty()) {
    TimePoint now = Clock::now();
    if (now >= end) break;
    pfds.clear();
    for (const Waiting& w : lingering) pfds.push_back({w.fd, POLLIN, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count();
    int n = poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long long>(left, 100) + 1));
    if (n < 0 && errno != EINTR) break;
    now = Clock::now();
    for (size_t i = 0; i < pfds.size(); i++) {
      Waiting& w = lingering[i];
      if (DrainStep(&w, pfds[i].revents != 0, now)) {
        close(w.fd);
        w.fd = -1;
      }
    }
    lingering.erase(std::remove_if(lingering.begin(), lingering.end(), [](const Waiting& w) { return w.fd < 0; }),
                    lingering.end());
  }
  for (const Waiting& w : lingering) close(w.fd);
}

void Listener::SweepLocked(TimePoint now) {
  TimePoint nearest = TimePoint::max();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Waiting& w = it->second;
    bool expired = w.kind != Kind::kInFlight && (now >= w.deadline || now >= w.hardDeadline);
    if (expired && w.kind == Kind::kLinger) expired = DrainStep(&w, true, now);
    if (expired) {
      close(w.fd);  // also leaves the epoll set; a late event for its id finds no entry
      it = waiting_.erase(it);
      continue;
    }
    nearest = std::min(nearest, std::min(w.deadline, w.hardDeadline));
    ++it;
  }
  if (acceptPaused_) nearest = std::min(nearest, acceptPausedUntil_);
  ArmTimerLocked(nearest);
}

void Listener::SetAccepting(bool on) {
  std::shared_lock<std::shared_mutex> listenLock(listenMu_);
  std::lock_guard<std::mutex> lock(mu_);
  ownerPaused_ = !on;
  RearmListenLocked();
}

void Listener::RearmListenLocked() {
  if (!listenArmed_ && !ownerPaused_ && !acceptPaused_ && fd_ >= 0) {
    listenArmed_ = EpollSet(epfd_, EPOLL_CTL_MOD, fd_, EPOLLIN | EPOLLONESHOT, kListenTag);
  }
}

int Listener::AcceptWaiting() {
  int c;
  {
    std::shared_lock<std::shared_mutex> listenLock(listenMu_);
    if (fd_ < 0) return -1;
    c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);  // the listen fd is non-blocking: EAGAIN when none waits
  }
  return c < 0 ? -1 : TakeAccepted(c);
}

int Listener::TakeAccepted(int c) {
  ConfigureAccepted(c);
  // Hand it to fcgi2 only once it has bytes to read: a peer that connects and says nothing must not hold a
  // worker (or the whole sync loop) for readTimeout. Usually the request is already there.
  pollfd p{c, POLLIN, 0};
  if (poll(&p, 1, 0) == 1) return c;
  TimePoint due = DeadlineAfter(timeouts_.readMs);
  Watch({c, Kind::kNew, due, due});
  return -1;
}

int Listener::AcceptOne() {
  int c;
  {
    std::shared_lock<std::shared_mutex> listenLock(listenMu_);
    if (fd_ < 0) return -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      listenArmed_ = false;  // the one-shot event was taken
      if (ownerPaused_) return -1;  // left disarmed: SetAccepting(true) re-arms
    }
    c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    int acceptErr = errno;
    if (c < 0 && (acceptErr == EMFILE || acceptErr == ENFILE || acceptErr == ENOBUFS || acceptErr == ENOMEM)) {
      // Out of descriptors: the listen socket stays readable, so leave it disarmed for a while instead of
      // spinning (the timer re-arms it).
      std::lock_guard<std::mutex> lock(mu_);
      acceptPaused_ = true;
      acceptPausedUntil_ = Clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
      if (acceptPausedUntil_ < timerAt_) ArmTimerLocked(acceptPausedUntil_);
      return -1;
    }
    // Re-armed at once: another thread may accept the next connection while this one starts its request.
    // (EAGAIN: another process took it; ECONNABORTED, EINTR: nothing to do.)
    std::lock_guard<std::mutex> lock(mu_);
    RearmListenLocked();
  }
  return c < 0 ? -1 : TakeAccepted(c);
}

void Listener::SetJobFd(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (jobFd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, jobFd_, nullptr);
  jobFd_ = fd;
  // Edge-triggered: each write wakes one waiting thread. (Level-triggered, every waiter would be woken in turn
  // until one read the eventfd.)
  if (fd >= 0) EpollSet(epfd_, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET, kJobTag);
}

uint64_t Listener::WatchInFlight(int fd, uint64_t cookie) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = nextId_++;
  if (!EpollSet(epfd_, EPOLL_CTL_MOD, fd, EPOLLRDHUP | EPOLLONESHOT, id) &&
      (errno != ENOENT || !EpollSet(epfd_, EPOLL_CTL_ADD, fd, EPOLLRDHUP | EPOLLONESHOT, id))) {
    return 0;
  }
  Waiting w{fd, Kind::kInFlight, TimePoint::max(), TimePoint::max(), cookie};
  waiting_.emplace(id, w);
  return id;
}

void Listener::UnwatchInFlight(uint64_t watchId) {
  if (watchId == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.erase(watchId);  // a late event for it finds no entry; the next Watch re-arms the fd
}

WaitResult Listener::NextConnection(int extraFd, int* outFd, uint64_t* cookie) {
  if (extraFd >= 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (extraFd != extraFd_) {
      if (extraFd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, extraFd_, nullptr);
      extraFd_ = extraFd;
      extraArmed_ = EpollSet(epfd_, EPOLL_CTL_ADD, extraFd, EPOLLIN | EPOLLONESHOT, kExtraTag);
    } else if (!extraArmed_) {
      extraArmed_ = EpollSet(epfd_, EPOLL_CTL_MOD, extraFd, EPOLLIN | EPOLLONESHOT, kExtraTag);
    }
  }
  for (;;) {
    if (closed_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (drained_.empty()) return WaitResult::kClosed;
      *outFd = drained_.front();
      drained_.erase(drained_.begin());
      return WaitResult::kConnection;
    }
    epoll_event ev;
    int n = epoll_wait(epfd_, &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return WaitResult::kClosed;
    }
    if (n == 0) continue;
    switch (ev.data.u64) {
      case kWakeTag:
        // Close(): the eventfd stays readable; a fresh write also wakes the next thread asleep in epoll_wait.
        SignalEventFd(wakeFd_);
        continue;  // closed_ is set: connections kept from the backlog first, then kClosed
      case kExtraTag: {
        {
          std::lock_guard<std::mutex> lock(mu_);
          extraArmed_ = false;
        }
        if (extraFd >= 0 && extraFd == extraFd_) return WaitResult::kExtraReadable;
        continue;  // another thread's extra fd (it re-arms it on its next wait)
      }
      case kTimerTag: {
        {
          std::shared_lock<std::shared_mutex> listenLock(listenMu_);
          std::lock_guard<std::mutex> lock(mu_);
          uint64_t expirations;
          if (read(timerFd_, &expirations, sizeof expirations) != sizeof expirations) continue;  // swept already
          TimePoint now = Clock::now();
          if (acceptPaused_ && now >= acceptPausedUntil_) {
            acceptPaused_ = false;
            RearmListenLocked();
          }
          SweepLocked(now);
        }
        continue;
      }
      case kJobTag:
        return WaitResult::kJobs;
      case kListenTag: {
        int c = AcceptOne();
        if (c >= 0) {
          *outFd = c;
          return WaitResult::kConnection;
        }
        continue;
      }
      default: {
        Waiting w;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = waiting_.find(ev.data.u64);
          if (it == waiting_.end()) continue;  // timed out and closed meanwhile
          w = it->second;
          waiting_.erase(it);
        }
        if (w.kind == Kind::kInFlight) {
          if (cookie != nullptr) *cookie = w.cookie;
          return WaitResult::kPeerGone;
        }
        if (w.kind == Kind::kLinger) {
          if (DrainStep(&w, true, Clock::now())) {
            close(w.fd);
          } else {
            Watch(w);
          }
          continue;
        }
        if (ev.events & EPOLLIN) {
          *outFd = w.fd;  // the next request (or EOF, which fcgi2 reads and reports)
          return WaitResult::kConnection;
        }
        close(w.fd);  // hang-up or error while idle
        continue;
      }
    }
  }
}

bool Listener::PathIsOurs() const {
  struct stat st;
  return !path_.empty() && stat(path_.c_str(), &st) == 0 && st.st_dev == pathDev_ && st.st_ino == pathIno_;
}

std::vector<int> Listener::TakeDrained() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> out;
  out.swap(drained_);
  return out;
}

void Listener::Close(bool drainBacklog) {
  if (closed_.exchange(true)) return;
  // Remove the file only if it is still the socket we bound (not one another process put there, e.g. the
  // next instance in a rolling restart). First, when draining: no new connect can find us by path then.
  bool pathRemoved = false;
  if (drainBacklog && PathIsOurs()) {
    unlink(path_.c_str());
    pathRemoved = true;
  }
  std::vector<int> kept;
  {
    std::unique_lock<std::shared_mutex> listenLock(listenMu_);
    if (fd_ >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, fd_, nullptr);
      if (drainBacklog) {
        // A unix listener shut down for reading refuses new connects (ECONNREFUSED) and keeps its queue; a
        // TCP one would reset its queue, so it is emptied right before close() instead. Only a socket we
        // created is shut down: an inherited one is shared (spawn-fcgi -F siblings, systemd keeping it for the
        // next start), and shutdown() would refuse connects for every holder; closing our fd leaves it to them.
        if (family_ == AF_UNIX && pathRemoved) shutdown(fd_, SHUT_RD);
        for (;;) {
          int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);  // non-blocking: EAGAIN once the queue is empty
          if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            break;
          }
          ConfigureAccepted(c);
          kept.push_back(c);
        }
      }
      close(fd_);
      fd_ = -1;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.kind == Kind::kLinger || it->second.kind == Kind::kInFlight) {
        ++it;  // lingering: DrainLingering; in flight: the request owns the connection
        continue;
      }
      int fd = it->second.fd;
      pollfd p{fd, POLLIN, 0};
      // A new connection (accepted, its request not here yet: the web server writes right after connecting)
      // reached us like the queued ones: serve it (its read is bounded by readTimeout, the server's by
      // closeTimeout). A kept-alive one only when its next request is here already; idle ones are closed.
      if (drainBacklog && (it->second.kind == Kind::kNew || (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0))) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        kept.push_back(fd);
      } else {
        close(fd);
      }
      it = waiting_.erase(it);
    }
    drained_.insert(drained_.end(), kept.begin(), kept.end());
  }
  SignalEventFd(wakeFd_);  // stays readable: every thread in (or entering) NextConnection returns
  if (!pathRemoved && PathIsOurs()) unlink(path_.c_str());
}

}  // namespace libfcgi
