// The reactor: one epoll set holding the listening socket and every connection between requests, which
// any number of threads wait on for the next ready connection (accept, kept-alive idle, lingering close).
#include "reactor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace libfcgi {

namespace {

using Clock = std::chrono::steady_clock;

// maxConnections by default: the soft RLIMIT_NOFILE less a reserve for everything else the process opens
// (Node itself, in-flight requests, files the app reads): a tenth of the limit, at least 64; then at least 16
// and at most 32768.
constexpr rlim_t kMinReserveFds = 64;
constexpr int kMinDefaultConnections = 16;
constexpr int kMaxDefaultConnections = 32768;
// A new connection that has sent nothing is closed after this (or readTimeout, when shorter): web servers write
// their request right after connecting. Under pressure (more than half of maxConnections held, or accept() out
// of descriptors in the last second) new connections get the short one.
constexpr int kFirstByteMs = 10000;
constexpr int kFirstBytePressureMs = 1000;
constexpr int kPressureMs = 1000;
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
// What the reactor reads of a connection while its request runs (WatchInFlight): management records, a
// pipelined next request, the ABORT. Past it, nothing more is read until the request ends (hang-ups only).
constexpr size_t kInFlightReadMax = 64 * 1024;

// A deadline `ms` from now; 0 ms means no deadline (a disabled timeout).
Clock::time_point DeadlineAfter(int ms) {
  return ms > 0 ? Clock::now() + std::chrono::milliseconds(ms) : Clock::time_point::max();
}

bool EpollSet(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
  epoll_event ev;
  std::memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(epfd, op, fd, &ev) == 0;
}

int DefaultMaxConnections() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMaxDefaultConnections;
  rlim_t reserve = std::max(kMinReserveFds, rl.rlim_cur / 10);
  rlim_t n = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
  return static_cast<int>(std::max<rlim_t>(kMinDefaultConnections, std::min<rlim_t>(n, kMaxDefaultConnections)));
}

// What the gate read of each connection handed out, by fd (see TakeHandedBytes).
struct Handed {
  uint8_t* bytes = nullptr;
  size_t len = 0;
  int abortableId = 0;  // the request's id when its body is all in bytes and its role is not FILTER, else 0
  std::string after;    // the bytes handed over after the request's own (fcgi2 leaves them): scanned first
  std::string held;     // what the reactor read while the request ran (WatchInFlight), for ReturnIdle
};
std::mutex handedMu;
std::unordered_map<int, Handed> handed;

void SetHanded(int fd, uint8_t* bytes, size_t len, int abortableId, const uint8_t* after = nullptr,
               size_t afterLen = 0) {
  std::lock_guard<std::mutex> lock(handedMu);
  Handed& h = handed[fd];
  free(h.bytes);
  h.bytes = bytes;
  h.len = len;
  h.abortableId = abortableId;
  if (abortableId != 0 && afterLen > 0) {
    h.after.assign(reinterpret_cast<const char*>(after), afterLen);
  } else {
    h.after.clear();
  }
  h.held.clear();
}

// The request id WatchInFlight looks for an ABORT of (0: hang-ups only) and the bytes handed after it.
int AbortableId(int fd, std::string* after) {
  if (!kGateOn) return 0;
  std::lock_guard<std::mutex> lock(handedMu);
  auto it = handed.find(fd);
  if (it == handed.end()) return 0;
  *after = it->second.after;
  return it->second.abortableId;
}

// An in-flight watch ended: what it read waits here for ReturnIdle.
void StashHeld(int fd, std::string* held) {
  if (held->empty()) return;
  std::lock_guard<std::mutex> lock(handedMu);
  handed[fd].held.append(*held);
  held->clear();
}

std::string TakeHeld(int fd) {
  std::string out;
  if (!kGateOn) return out;
  std::lock_guard<std::mutex> lock(handedMu);
  auto it = handed.find(fd);
  if (it != handed.end()) out.swap(it->second.held);
  return out;
}

// A connection handed out without the gate (or a new one under an fd number used before): no stale bytes.
void ForgetHanded(int fd) {
  if (!kGateOn) return;
  std::lock_guard<std::mutex> lock(handedMu);
  auto it = handed.find(fd);
  if (it == handed.end()) return;
  free(it->second.bytes);
  handed.erase(it);
}

// Writes what it can of *out without waiting (what is written leaves *out); false on an error (the peer is gone).
bool FlushSome(int fd, std::string* out) {
  size_t done = 0;
  bool ok = true;
  while (done < out->size()) {
    ssize_t n = send(fd, out->data() + done, out->size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      ok = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      break;
    }
  }
  out->erase(0, done);
  return ok;
}

// A last reply before closing (an error, an abort without keep-alive): what fits is written, the rest dropped.
void SendLast(int fd, const std::string& reply) {
  std::string copy = reply;
  FlushSome(fd, &copy);
}

}  // namespace

uint8_t* TakeHandedBytes(int fd, size_t* len) {
  *len = 0;
  if (!kGateOn) return nullptr;
  std::lock_guard<std::mutex> lock(handedMu);
  auto it = handed.find(fd);
  if (it == handed.end()) return nullptr;
  uint8_t* bytes = it->second.bytes;
  *len = it->second.len;
  it->second.bytes = nullptr;  // the entry stays: WatchInFlight reads abortableId
  it->second.len = 0;
  return bytes;
}

void Listener::ConfigureGate(const ParamLimits& limits, size_t maxBufferedBytes) {
  // fcgi2 counts name=value\0 per pair (length + 2); the gate counts the encoded PARAMS content (1 or 4 length
  // bytes per name and value, 4 only for lengths >= 128): at most 3 % more, so 17/16 plus a record's worth
  // never refuses what fcgi2 accepts.
  size_t total = limits.maxTotal != 0 ? limits.maxTotal : size_t{4} << 20;
  gateConfig_.maxParamsSize = total + total / 16 + 65536;
  gateConfig_.maxNameLength = limits.maxNameLength != 0 ? limits.maxNameLength : 65536;  // fcgi2's defaults
  gateConfig_.maxValueLength = limits.maxValueLength != 0 ? limits.maxValueLength : 1048576;
  maxBuffered_ = maxBufferedBytes != 0 ? maxBufferedBytes : kDefaultMaxBufferedBytes;
}

std::unique_ptr<Listener> Listener::Create(const ListenOptions& opts, const Timeouts& timeouts, SysError* err) {
  ListenSocket sock;
  if (!OpenListenSocket(opts, &sock, err)) return nullptr;
  int fd = sock.fd;
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (wake < 0 || ep < 0 || timer < 0 || !EpollSet(ep, EPOLL_CTL_ADD, wake, EPOLLIN, kWakeTag) ||
      !EpollSet(ep, EPOLL_CTL_ADD, timer, EPOLLIN, kTimerTag) ||
      !EpollSet(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLONESHOT, kListenTag)) {
    err->Set(errno, wake < 0 ? "eventfd" : timer < 0 ? "timerfd_create" : ep < 0 ? "epoll_create1" : "epoll_ctl");
    for (int f : {wake, ep, timer})
      if (f >= 0) close(f);
    if (sock.owned) close(fd);
    return nullptr;
  }
  std::unique_ptr<Listener> l(new Listener());
  l->fd_ = fd;
  l->wakeFd_ = wake;
  l->epfd_ = ep;
  l->timerFd_ = timer;
  l->timeouts_ = timeouts;
  l->maxConnections_ = opts.maxConnections > 0 ? opts.maxConnections : DefaultMaxConnections();
  l->family_ = sock.family;
  l->address_ = sock.address;
  l->port_ = sock.port;
  l->path_ = sock.path;
  l->pathDev_ = sock.pathDev;
  l->pathIno_ = sock.pathIno;
  return l;
}

Listener::~Listener() {
  Close();
  for (const auto& entry : waiting_)
    if (entry.second.kind != Kind::kInFlight) close(entry.second.fd);  // lingering ones nobody drained
  for (int c : drained_) close(c);                                     // kept from the backlog, never served
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

void Listener::Watch(Waiting w) {
  MutexLock lock(&mu_);
  // After Close() only lingering closes are still watched (DrainLingering finishes them).
  bool refuse = w.kind != Kind::kLinger && closed_.load();
  // Over maxConnections: the connection idle longest makes room (a web server re-opens a kept connection it
  // finds closed; a refused new one would be its 502). Only when every watched connection is a lingering close
  // is there nothing to evict; then the newcomer is closed instead (counted in refusedByLimits).
  if (!refuse && w.kind != Kind::kLinger && waiting_.size() >= static_cast<size_t>(maxConnections_) &&
      !EvictOldestIdleLocked()) {
    refuse = true;
    refusedByLimits_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t id = nextId_++;
  // One-shot: the event goes to one waiting thread and the connection stays quiet until it is re-armed here.
  // Registered on its first wait, re-armed (MOD) on the later ones: one syscall per kept request.
  // Bytes to feed the gate before reading: EPOLLOUT (almost always ready) gets a thread to it at once.
  // A reply the peer has not taken yet: only writability matters until it has.
  uint32_t events = !w.pendingOut.empty()
                        ? static_cast<uint32_t>(EPOLLOUT | EPOLLONESHOT)
                        : EPOLLIN | EPOLLONESHOT | (w.carry.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
  if (refuse || (!EpollSet(epfd_, EPOLL_CTL_MOD, w.fd, events, id) &&
                 (errno != ENOENT || !EpollSet(epfd_, EPOLL_CTL_ADD, w.fd, events, id)))) {
    close(w.fd);
    return;
  }
  TimePoint due = std::min(w.deadline, w.hardDeadline);
  waiting_.emplace(id, std::move(w));
  if (due < timerAt_) ArmTimerLocked(due);
}

bool Listener::EvictOldestIdleLocked() {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->second.kind != Kind::kIdle && it->second.kind != Kind::kNew) continue;
    close(it->second.fd);  // also leaves the epoll set; a late event for its id finds no entry
    waiting_.erase(it);
    refusedByLimits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

void Listener::LogOutOfDescriptorsOnce(int err) {
  if (loggedNoFds_.exchange(true)) return;
  rlimit rl;
  unsigned long long soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? static_cast<unsigned long long>(rl.rlim_cur) : 0;
  std::fprintf(stderr,
               "libfcgi: accept() failed with %s (out of file descriptors, RLIMIT_NOFILE %llu, maxConnections %d): "
               "closing the oldest idle connections and pausing accept while it lasts (logged once)\n",
               err == ENFILE   ? "ENFILE"
               : err == EMFILE ? "EMFILE"
                               : std::strerror(err),
               soft, maxConnections_);
}

size_t Listener::IdleCount() {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& entry : waiting_)
    if (entry.second.kind == Kind::kNew || entry.second.kind == Kind::kIdle || entry.second.kind == Kind::kGathering)
      n++;
  return n;
}

void Listener::ReturnIdle(int fd, uint8_t* bytes, size_t len) {
  TimePoint due = DeadlineAfter(timeouts_.idleMs);
  Waiting w{fd, Kind::kIdle, due, due};
  // fcgi2's leftover comes first on the wire, then what the reactor read while the request ran.
  std::string held = TakeHeld(fd);
  if ((bytes != nullptr && len > 0) || !held.empty()) {
    if (bytes != nullptr && len > 0) w.carry.assign(reinterpret_cast<const char*>(bytes), len);
    w.carry.append(held);
    w.firstByte = Clock::now();  // a request begun: readTimeout from now
    w.deadline = w.hardDeadline = DeadlineAfter(timeouts_.readMs);
  }
  free(bytes);
  Watch(std::move(w));
}

int Listener::Gather(Waiting w) {
  TimePoint now = Clock::now();
  if (!w.gate) {
    w.gate.reset(new Gate(gateConfig_));
    if (w.firstByte == TimePoint{}) w.firstByte = now;
    w.deadline = w.hardDeadline =
        timeouts_.readMs > 0 ? w.firstByte + std::chrono::milliseconds(timeouts_.readMs) : TimePoint::max();
  }
  Gate* gate = w.gate.get();
  if (!w.pendingOut.empty()) {
    if (!FlushSome(w.fd, &w.pendingOut)) {
      close(w.fd);
      return -1;
    }
    if (!w.pendingOut.empty()) {
      Watch(std::move(w));
      return -1;
    }
  }
  uint8_t buf[65536];  // a request with a body up to ~64 KiB in one recv (16 KiB took two for a 16 KiB POST)
  std::string carry;
  carry.swap(w.carry);
  // A few reads per wake-up, so one busy peer cannot keep this thread; the rest waits for the next event.
  for (int reads = 0; reads < 4; reads++) {
    const uint8_t* p;
    size_t n;
    if (!carry.empty()) {
      p = reinterpret_cast<const uint8_t*>(carry.data());
      n = carry.size();
      reads--;
    } else {
      ssize_t r = recv(w.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (r == 0 && gate->paramsComplete()) {
        // EOF in the body: fcgi2 gets what came and reports the body cut short, as it did reading the socket.
        size_t len = 0;
        uint8_t* bytes = gate->Handover(nullptr, 0, &len);
        if (bytes == nullptr) {
          close(w.fd);
          return -1;
        }
        SetHanded(w.fd, bytes, len, 0);
        return w.fd;
      }
      if (r <= 0) {  // EOF or error: nothing to answer
        close(w.fd);
        return -1;
      }
      p = buf;
      n = static_cast<size_t>(r);
    }
    while (n > 0) {
      GateResult res = gate->Feed(p, n);
      p += res.consumed;
      n -= res.consumed;
      // What the gate holds now counts against maxBufferedBytes before anything is answered (a request made
      // whole is handed over at once and never counted; one refused is closed).
      if (res.event != GateEvent::kReady && res.event != GateEvent::kError && !ChargeOrEvict(&w)) {
        close(w.fd);
        return -1;
      }
      switch (res.event) {
        case GateEvent::kNeedMore: break;
        case GateEvent::kAborted:
          // Dropped before the app saw it: answered here (END_REQUEST), kept only when the peer asked.
          if (!gate->keepConn()) {
            SendLast(w.fd, gate->reply());
            Linger(w.fd);
            return -1;
          }
          [[fallthrough]];
        case GateEvent::kReply:
          w.pendingOut = gate->reply();
          gate->ClearReply();
          if (!FlushSome(w.fd, &w.pendingOut)) {
            close(w.fd);
            return -1;
          }
          if (!w.pendingOut.empty()) {
            // The peer is not reading its replies: read nothing more from it until it does.
            w.carry.assign(reinterpret_cast<const char*>(p), n);
            w.kind = Kind::kGathering;
            if (!ChargeOrEvict(&w)) {
              close(w.fd);
              return -1;
            }
            Watch(std::move(w));
            return -1;
          }
          break;
        case GateEvent::kError:
          refusedByGate_.fetch_add(1);
          SendLast(w.fd, gate->reply());
          close(w.fd);
          return -1;
        case GateEvent::kReady: {
          // Read before Handover resets the scanner. FCGI_FILTER (3): fcgi2 reads its FCGI_DATA from the socket.
          int abortableId = gate->bodyComplete() && gate->role() != 3 ? gate->requestId() : 0;
          size_t len = 0;
          uint8_t* bytes = gate->Handover(p, n, &len);
          if (bytes == nullptr) {
            close(w.fd);
            return -1;
          }
          SetHanded(w.fd, bytes, len, abortableId, p, n);
          return w.fd;
        }
      }
    }
    carry.clear();
  }
  if (gate->idle()) {
    // Only management records so far: an idle connection again.
    w.gate.reset();
    w.firstByte = TimePoint{};
    w.kind = w.kind == Kind::kNew ? Kind::kNew : Kind::kIdle;
    if (w.kind == Kind::kIdle) w.deadline = w.hardDeadline = DeadlineAfter(timeouts_.idleMs);
  } else {
    w.kind = Kind::kGathering;
  }
  if (!ChargeOrEvict(&w)) {
    close(w.fd);
    return -1;
  }
  Watch(std::move(w));
  return -1;
}

bool Listener::ChargeOrEvict(Waiting* w) {
  w->charge.Set(&buffered_, (w->gate ? w->gate->buffered() : 0) + w->carry.size());
  if (buffered_.load(std::memory_order_relaxed) <= maxBuffered_) return true;
  // Over the cap: the requests begun longest ago go first. One scan per connection dropped, only while over it.
  MutexLock lock(&mu_);
  while (buffered_.load(std::memory_order_relaxed) > maxBuffered_) {
    auto oldest = waiting_.end();
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      const Waiting& o = it->second;
      if (o.kind != Kind::kGathering || o.charge.bytes() == 0) continue;
      if (oldest == waiting_.end() || o.firstByte < oldest->second.firstByte) oldest = it;
    }
    if (oldest == waiting_.end() || !(oldest->second.firstByte < w->firstByte)) {
      if (w->charge.bytes() == 0) return true;  // holds nothing (the rest is other threads' reads in progress)
      refusedByLimits_.fetch_add(1, std::memory_order_relaxed);
      return false;  // w is the oldest
    }
    refusedByLimits_.fetch_add(1, std::memory_order_relaxed);
    close(oldest->second.fd);  // also leaves the epoll set; a late event for its id finds no entry
    waiting_.erase(oldest);    // its charge is given back
  }
  return true;
}

void Listener::Linger(int fd) {
  ForgetHanded(fd);  // not kept: what was read of it while its request ran goes too
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
  MutexLock drainLock(&drainMu_);
  std::vector<Waiting> lingering;
  {
    MutexLock lock(&mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.kind == Kind::kLinger) {
        lingering.push_back(std::move(it->second));
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
  ReaderLock listenLock(&listenMu_);
  MutexLock lock(&mu_);
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
    ReaderLock listenLock(&listenMu_);
    if (fd_ < 0) return -1;
    c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);  // the listen fd is non-blocking: EAGAIN when none waits
  }
  return c < 0 ? -1 : TakeAccepted(c);
}

int Listener::TakeAccepted(int c) {
  ConfigureAccepted(c);
  ForgetHanded(c);
  // Hand it to fcgi2 only once it has bytes to read: a peer that connects and says nothing must not hold a
  // worker (or the whole sync loop) for readTimeout. Usually the request is already there.
  pollfd p{c, POLLIN, 0};
  if (poll(&p, 1, 0) == 1) {
    if (!kGateOn) return c;
    TimePoint readDue = DeadlineAfter(timeouts_.readMs);
    return Gather({c, Kind::kNew, readDue, readDue});
  }
  int ms = timeouts_.readMs > 0 ? std::min(timeouts_.readMs, kFirstByteMs) : kFirstByteMs;
  {
    MutexLock lock(&mu_);
    if (waiting_.size() * 2 > static_cast<size_t>(maxConnections_) || Clock::now() < pressureUntil_) {
      ms = std::min(ms, kFirstBytePressureMs);
    }
  }
  TimePoint due = DeadlineAfter(ms);
  Watch({c, Kind::kNew, due, due});
  return -1;
}

int Listener::AcceptOne() {
  int c;
  {
    ReaderLock listenLock(&listenMu_);
    if (fd_ < 0) return -1;
    {
      MutexLock lock(&mu_);
      listenArmed_ = false;         // the one-shot event was taken
      if (ownerPaused_) return -1;  // left disarmed: SetAccepting(true) re-arms
    }
    c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    int acceptErr = errno;
    if (c < 0 && (acceptErr == EMFILE || acceptErr == ENFILE)) {
      // Out of descriptors: close the connection idle longest and take the new one in its place.
      LogOutOfDescriptorsOnce(acceptErr);
      bool evicted;
      {
        MutexLock lock(&mu_);
        pressureUntil_ = Clock::now() + std::chrono::milliseconds(kPressureMs);
        evicted = EvictOldestIdleLocked();
      }
      if (evicted) {
        c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        acceptErr = errno;
      }
    }
    if (c < 0 && (acceptErr == EMFILE || acceptErr == ENFILE || acceptErr == ENOBUFS || acceptErr == ENOMEM)) {
      // Still out of descriptors (nothing idle to close): the listen socket stays readable, so leave it
      // disarmed for a while instead of spinning (the timer re-arms it); the connections open are served.
      MutexLock lock(&mu_);
      acceptPaused_ = true;
      acceptPausedUntil_ = Clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
      if (acceptPausedUntil_ < timerAt_) ArmTimerLocked(acceptPausedUntil_);
      return -1;
    }
    // Re-armed at once: another thread may accept the next connection while this one starts its request.
    // (EAGAIN: another process took it; ECONNABORTED, EINTR: nothing to do.)
    MutexLock lock(&mu_);
    RearmListenLocked();
  }
  return c < 0 ? -1 : TakeAccepted(c);
}

void Listener::SetJobFd(int fd) {
  MutexLock lock(&mu_);
  if (jobFd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, jobFd_, nullptr);
  jobFd_ = fd;
  // Edge-triggered: each write wakes one waiting thread. (Level-triggered, every waiter would be woken in turn
  // until one read the eventfd.)
  if (fd >= 0) EpollSet(epfd_, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET, kJobTag);
}

uint64_t Listener::WatchInFlight(int fd, uint64_t cookie) {
  // Its whole request in the bytes fcgi2 took (body ended, role not FILTER): fcgi2 reads nothing more of the
  // socket until the request ends, so what the peer sends now is read here and scanned for an
  // FCGI_ABORT_REQUEST. Otherwise fcgi2 still reads the socket: hang-ups only.
  std::string after;
  int requestId = AbortableId(fd, &after);
  Waiting w{fd, Kind::kInFlight, TimePoint::max(), TimePoint::max(), cookie};
  w.requestId = requestId;
  if (requestId != 0) {
    // The scanner starts where fcgi2's records end: with the bytes handed over after them (the ABORT may be
    // among them, read with the request).
    w.gate.reset(new Gate(gateConfig_));
    w.gate->WatchInFlight(requestId);
    w.abortSeen = ScanInFlight(&w, reinterpret_cast<const uint8_t*>(after.data()), after.size());
  }
  uint32_t events = EPOLLRDHUP | EPOLLONESHOT;
  if (w.abortSeen) {
    events |= EPOLLOUT;  // writable at once: a waiting thread reports it
  } else if (w.requestId != 0) {
    events |= EPOLLIN;
  }
  MutexLock lock(&mu_);
  uint64_t id = nextId_++;
  if (!EpollSet(epfd_, EPOLL_CTL_MOD, fd, events, id) &&
      (errno != ENOENT || !EpollSet(epfd_, EPOLL_CTL_ADD, fd, events, id))) {
    return 0;
  }
  waiting_.emplace(id, std::move(w));
  return id;
}

bool Listener::ScanInFlight(Waiting* w, const uint8_t* p, size_t n) {
  Gate* scan = w->gate.get();
  while (n > 0 && w->requestId != 0) {
    GateResult res = scan->Feed(p, n);
    p += res.consumed;
    n -= res.consumed;
    switch (res.event) {
      case GateEvent::kNeedMore: break;
      case GateEvent::kAborted:
        if (scan->reply().empty()) return true;  // the request in flight (a gathered one's is answered later)
        break;
      case GateEvent::kReply: break;  // answered by the gate after the request: writing now could cut its records
      case GateEvent::kReady: {
        // A pipelined next request: served after this one (the bytes are in `held`); scanning goes on past it
        // unless its body goes on past the small body (its records then cannot be followed from here).
        bool followable = scan->bodyComplete() || scan->role() == 2;  // FCGI_AUTHORIZER: whole at its params' end
        size_t len = 0;
        free(scan->Handover(nullptr, 0, &len));
        if (!followable) w->requestId = 0;
        break;
      }
      case GateEvent::kError: w->requestId = 0; break;  // refused by the gate after the request; not followed
    }
    scan->ClearReply();
    scan->WatchInFlight(w->requestId);  // Handover and an answered ABORT reset the scanner
  }
  return false;
}

bool Listener::InFlightEvent(uint64_t tag, uint32_t events, bool* byRecord) {
  // Under mu_ throughout: UnwatchInFlight (the request ending) waits for this read, so no byte read here can
  // miss its way to ReturnIdle. The reads never block.
  MutexLock lock(&mu_);
  auto it = waiting_.find(tag);
  if (it == waiting_.end()) return false;  // unwatched meanwhile: the request ended
  Waiting& w = it->second;
  bool gone = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  *byRecord = !gone && w.abortSeen;
  if (!gone && !*byRecord && w.requestId != 0 && (events & EPOLLIN) != 0) {
    uint8_t buf[16384];
    while (w.requestId != 0 && w.held.size() < kInFlightReadMax) {
      ssize_t r = recv(w.fd, buf, std::min(sizeof buf, kInFlightReadMax - w.held.size()), MSG_DONTWAIT);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (r <= 0) {  // EOF or a reset: the peer is gone
        gone = true;
        break;
      }
      w.held.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(r));
      if (ScanInFlight(&w, buf, static_cast<size_t>(r))) {
        *byRecord = true;
        break;
      }
    }
  }
  if (gone || *byRecord) {
    StashHeld(w.fd, &w.held);  // the ABORT's connection may be kept: the bytes after it are the next request's
    waiting_.erase(it);
    return true;
  }
  // Nothing for us yet: watched again. Past the bound (or past what the scanner can follow): hang-ups only,
  // the rest waits in the socket (a level-triggered EPOLLIN would fire again at once).
  uint32_t again = EPOLLRDHUP | EPOLLONESHOT;
  if (w.requestId != 0 && w.held.size() < kInFlightReadMax) again |= EPOLLIN;
  EpollSet(epfd_, EPOLL_CTL_MOD, w.fd, again, tag);
  return false;
}

void Listener::UnwatchInFlight(uint64_t watchId) {
  if (watchId == 0) return;
  MutexLock lock(&mu_);
  auto it = waiting_.find(watchId);
  if (it == waiting_.end()) return;
  StashHeld(it->second.fd, &it->second.held);  // for ReturnIdle, after fcgi2's leftover
  waiting_.erase(it);                          // a late event for it finds no entry; the next Watch re-arms the fd
}

void Listener::ArmExtra(int extraFd) {
  MutexLock lock(&mu_);
  if (extraFd != extraFd_) {
    if (extraFd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, extraFd_, nullptr);
    extraFd_ = extraFd;
    extraArmed_ = EpollSet(epfd_, EPOLL_CTL_ADD, extraFd, EPOLLIN | EPOLLONESHOT, kExtraTag);
  } else if (!extraArmed_) {
    extraArmed_ = EpollSet(epfd_, EPOLL_CTL_MOD, extraFd, EPOLLIN | EPOLLONESHOT, kExtraTag);
  }
}

void Listener::OnTimer() {
  ReaderLock listenLock(&listenMu_);
  MutexLock lock(&mu_);
  uint64_t expirations;
  if (read(timerFd_, &expirations, sizeof expirations) != sizeof expirations) return;  // swept already
  TimePoint now = Clock::now();
  if (acceptPaused_ && now >= acceptPausedUntil_) {
    acceptPaused_ = false;
    RearmListenLocked();
  }
  SweepLocked(now);
}

bool Listener::OnConnectionEvent(uint64_t tag, uint32_t events, int* outFd, uint64_t* cookie, WaitResult* result) {
  Waiting w{-1, Kind::kNew, TimePoint{}, TimePoint{}};
  {
    MutexLock lock(&mu_);
    auto it = waiting_.find(tag);
    if (it == waiting_.end()) return false;  // timed out and closed meanwhile
    if (it->second.kind == Kind::kInFlight) {
      w.cookie = it->second.cookie;
    } else {
      w = std::move(it->second);
      waiting_.erase(it);
    }
  }
  if (w.fd < 0) {  // in flight
    bool byRecord = false;
    if (!InFlightEvent(tag, events, &byRecord)) return false;
    if (cookie != nullptr) *cookie = w.cookie;
    *result = byRecord ? WaitResult::kAbortRequested : WaitResult::kPeerGone;
    return true;
  }
  if (w.kind == Kind::kLinger) {
    if (DrainStep(&w, true, Clock::now())) {
      close(w.fd);
    } else {
      Watch(std::move(w));
    }
    return false;
  }
  if (events & (EPOLLIN | EPOLLOUT)) {
    int fd = kGateOn ? Gather(std::move(w)) : w.fd;  // gate off: fcgi2 reads the request (or EOF) itself
    if (fd < 0) return false;
    *outFd = fd;
    *result = WaitResult::kConnection;
    return true;
  }
  close(w.fd);  // hang-up or error while idle
  return false;
}

WaitResult Listener::NextConnection(int extraFd, int* outFd, uint64_t* cookie) {
  if (extraFd >= 0) ArmExtra(extraFd);
  for (;;) {
    if (closed_.load()) return DrainedOrClosed(outFd);
    epoll_event ev;
    int n = epoll_wait(epfd_, &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return WaitResult::kClosed;
    }
    WaitResult result;
    if (n == 1 && OnEvent(ev, extraFd, outFd, cookie, &result)) return result;
  }
}

WaitResult Listener::NextReady(int* outFd, uint64_t* cookie, bool mayTake) {
  for (;;) {
    if (closed_.load()) {
      // Events taken and not handled yet are for entries Close() closed (their tags are gone) or the wake fd.
      readyPos_ = readyCount_ = 0;
      return DrainedOrClosed(outFd);
    }
    if (readyPos_ == readyCount_) {
      if (!mayTake) return WaitResult::kNothing;
      int n = epoll_wait(epfd_, ready_, kReadyBatch, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return WaitResult::kNothing;
      readyPos_ = 0;
      readyCount_ = n;
    }
    const epoll_event& ev = ready_[readyPos_++];
    WaitResult result;
    if (OnEvent(ev, -1, outFd, cookie, &result)) return result;
  }
}

WaitResult Listener::DrainedOrClosed(int* outFd) {
  MutexLock lock(&mu_);
  if (drained_.empty()) return WaitResult::kClosed;
  *outFd = drained_.front();
  drained_.erase(drained_.begin());
  ForgetHanded(*outFd);
  return WaitResult::kConnection;
}

bool Listener::OnEvent(const epoll_event& ev, int extraFd, int* outFd, uint64_t* cookie, WaitResult* result) {
  switch (ev.data.u64) {
    case kWakeTag:
      // Close(): the eventfd stays readable; a fresh write also wakes the next thread asleep in epoll_wait.
      SignalEventFd(wakeFd_);
      return false;  // closed_ is set: connections kept from the backlog first, then kClosed
    case kExtraTag: {
      bool mine;
      {
        MutexLock lock(&mu_);
        extraArmed_ = false;
        mine = extraFd >= 0 && extraFd == extraFd_;
      }
      *result = WaitResult::kExtraReadable;
      return mine;  // else another thread's extra fd (it re-arms it on its next wait)
    }
    case kTimerTag: OnTimer(); return false;
    case kJobTag: *result = WaitResult::kJobs; return true;
    case kListenTag: {
      int c = AcceptOne();
      if (c < 0) return false;
      *outFd = c;
      *result = WaitResult::kConnection;
      return true;
    }
    default: return OnConnectionEvent(ev.data.u64, ev.events, outFd, cookie, result);
  }
}

bool Listener::HandedWhole(int fd) {
  if (!kGateOn) return false;
  std::lock_guard<std::mutex> lock(handedMu);
  auto it = handed.find(fd);
  return it != handed.end() && it->second.bytes != nullptr && it->second.abortableId != 0;
}

bool Listener::PathIsOurs() const {
  struct stat st;
  return !path_.empty() && stat(path_.c_str(), &st) == 0 && st.st_dev == pathDev_ && st.st_ino == pathIno_;
}

std::vector<int> Listener::TakeDrained() {
  MutexLock lock(&mu_);
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
    WriterLock listenLock(&listenMu_);
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
          ForgetHanded(c);
          kept.push_back(c);
        }
      }
      close(fd_);
      fd_ = -1;
    }
  }
  {
    MutexLock lock(&mu_);
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
      // A request the gate holds half of is closed (its bytes cannot go to fcgi2 without the gate).
      bool gathered = it->second.gate != nullptr || !it->second.carry.empty();
      if (drainBacklog && !gathered &&
          (it->second.kind == Kind::kNew || (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0))) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        ForgetHanded(fd);
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
