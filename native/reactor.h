// The reactor (Listener): the listening socket and every connection between requests in one epoll set.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/epoll.h>
#include <sys/types.h>

#include "errors.h"
#include "fcgi2_features.h"
#include "gate.h"
#include "socket.h"
#include "thread_annotations.h"

namespace libfcgi {

// The request gate (issue 15) is on when fcgi2 can take bytes read before it (patch 0019): the reactor then reads
// every request with non-blocking reads until it is whole (params, and the body up to 64 KiB) and hands the
// connection out with those bytes, which ReadRequestOn gives to fcgi2. Against Debian's libfcgi it is off.
#ifdef LIBFCGI_HAVE_GATE
constexpr bool kGateOn = true;
#else
constexpr bool kGateOn = false;
#endif

// maxBufferedBytes by default: what the gates of all connections may hold at once (Listener::ChargeOrEvict).
constexpr size_t kDefaultMaxBufferedBytes = size_t{64} << 20;

// The bytes the gate read of a connection handed out (malloc'd, the caller owns them; nullptr when none) and
// whether it may be watched for FCGI_ABORT_REQUEST while its request runs (whole body in those bytes, role not
// FILTER). Any thread; the connection's fd is the key (valid until the next hand-over of that fd number).
uint8_t* TakeHandedBytes(int fd, size_t* len);

// Where a connection stands when it leaves the dispatcher.
// kJobs: the jobs fd (SetJobFd) is readable. kPeerGone: a connection watched with WatchInFlight hung up.
// kAbortRequested: its web server sent FCGI_ABORT_REQUEST for the request in flight (the connection itself is
// in a known state: kept when the request asked for it).
// kNothing: NextReady found nothing ready.
enum class WaitResult { kConnection, kExtraReadable, kClosed, kJobs, kPeerGone, kAbortRequested, kNothing };

// Owns the listening socket plus every connection between requests: new ones without bytes yet, kept-alive
// idle ones, and ones closing (lingering). They all sit in one epoll set that any number of threads wait on
// (fcgi2's threaded model without parking a thread on each idle connection): every connection is armed
// one-shot, so exactly one waiting thread gets it when it has bytes, and returning it after a request is
// one epoll_ctl, with no other thread to wake.
class Listener {
 public:
  static std::unique_ptr<Listener> Create(const ListenOptions& opts, const Timeouts& timeouts, SysError* err);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Blocks until a connection is ready for the next request (its fd in *fd), until Close(), or until
  // extraFd (may be -1; one thread at a time may pass one) is readable. With a jobs fd set, also returns
  // kJobs when it is readable (it is not read here), and kPeerGone (the cookie in *cookie) when a
  // connection watched with WatchInFlight hangs up.
  WaitResult NextConnection(int extraFd, int* fd, uint64_t* cookie = nullptr);
  // NextConnection without waiting, for the one thread that polls epollFd() from its own event loop (the
  // concurrent server's JS thread): what is ready is taken in batches of up to kReadyBatch events and handed out
  // one call at a time; kNothing when none is left, or when the batch in hand is used up and !mayTake (no new
  // batch is taken then: what is still in the set keeps epollFd() readable). One thread only.
  WaitResult NextReady(int* fd, uint64_t* cookie, bool mayTake);
  // The epoll set (readable when NextReady has something).
  int epollFd() const { return epfd_; }
  // The request of a connection just handed out is all in the bytes the gate read (params and whole body, role
  // not FILTER): fcgi2 can parse it without reading the socket.
  static bool HandedWhole(int fd);
  // An eventfd any waiting thread should react to (the concurrent server's job queue); -1 removes it.
  void SetJobFd(int fd);
  // While a request is in flight: report a hang-up of its connection (client gone) as kPeerGone with
  // `cookie`, and an FCGI_ABORT_REQUEST for it as kAbortRequested. Returns a watch id for UnwatchInFlight.
  // Non-blocking; any thread. When the request's body was read whole by the gate (role not FILTER), fcgi2 reads
  // nothing more of the socket until the request ends, so the reactor reads what the peer sends meanwhile (up to
  // 64 KiB), scans it for the ABORT, and gives it to the gate with the connection (ReturnIdle):
  // management records are answered then, a pipelined next request is served then. Otherwise: hang-ups only.
  uint64_t WatchInFlight(int fd, uint64_t cookie);
  // Stops (false) or resumes accepting new connections; the concurrent server stops while every request slot
  // is taken, so connections wait in the listen backlog instead of piling up accepted.
  void SetAccepting(bool on);
  // Takes one connection waiting in the backlog, if any (non-blocking). Returns its fd when its request is
  // there already (one without bytes yet is watched as usual), else -1. The concurrent server lets one in
  // each time it serves a queued connection while its slots are full, so kept connections cannot starve
  // new ones that wait in the backlog.
  int AcceptWaiting();
  void UnwatchInFlight(uint64_t watchId);
  // After a request: watch a kept-alive connection for the next request. bytes (malloc'd, taken over; may be
  // nullptr): what fcgi2 read of it and did not consume (FCGX_TakePreread), fed to the gate first, then what
  // the reactor read of it while the request ran (WatchInFlight).
  void ReturnIdle(int fd, uint8_t* bytes = nullptr, size_t len = 0);
  // The gate's bound on one request's PARAMS (from maxParamsSize) and, over all connections, on what it buffers
  // (maxBufferedBytes; 0 keeps the default, kDefaultMaxBufferedBytes).
  void ConfigureGate(const ParamLimits& limits, size_t maxBufferedBytes);
  // Connections the gate closed for a protocol error (stats(): refusedByGate).
  uint64_t refusedByGate() const { return refusedByGate_.load(); }
  // What the gates of connections whose request is being gathered hold now (stats(): gateBufferedBytes): their
  // buffers (Gate::buffered()) plus bytes read and held back for them. 0 once none is gathering.
  size_t GateBufferedBytes() const { return buffered_.load(std::memory_order_relaxed); }
  // After a request: half-close and drain until the peer closes (avoids a RST that could destroy our
  // response), without blocking the caller.
  void Linger(int fd);
  // Stops listening, closes idle connections, removes the unix socket file; wakes all waiters. Connections
  // still lingering are left for DrainLingering (closing them now could RST away a response in flight).
  // With drainBacklog (a graceful shutdown), connections already queued in the listen backlog, accepted ones
  // whose request has not arrived yet, and kept-alive ones whose next request has arrived are kept (closing a listen
  // socket resets what is queued on it): a unix socket is first unlinked and shut down for reading, so new connects are
  // refused while the queue is emptied; TCP has no such state (shutdown would reset the queue), so its queue is emptied
  // just before close. NextConnection hands them out before it reports kClosed; TakeDrained takes them all at once.
  void Close(bool drainBacklog = false);
  std::vector<int> TakeDrained();
  // After Close(): waits (at most maxMs) for lingering connections to be closed by their peers, then closes
  // what is left. Blocking: the sync loop and exiting worker threads call it.
  void DrainLingering(int maxMs);
  bool closed() const { return closed_.load(); }
  // Connections watched between requests (new ones with no bytes yet, kept-alive idle ones, ones whose request
  // the gate is reading; not lingering
  // closes nor in-flight watches), for stats(): counted under the lock on demand, nothing on the hot path.
  size_t IdleCount() EXCLUDES(mu_);
  // Connections closed or refused by maxConnections or by running out of descriptors (stats().refusedByLimits).
  uint64_t RefusedByLimits() const { return refusedByLimits_.load(std::memory_order_relaxed); }
  int maxConnections() const { return maxConnections_; }

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  int family() const { return family_; }

 private:
  Listener() = default;
  using TimePoint = std::chrono::steady_clock::time_point;
  // The bytes one waiting connection adds to buffered_: moves with its entry and is given back when the entry is
  // destroyed, whichever way it goes (handed over, closed, timed out, evicted), so the total cannot drift.
  class Charge {
   public:
    Charge() = default;
    Charge(Charge&& o) noexcept : total_(o.total_), bytes_(o.bytes_) { o.bytes_ = 0; }
    Charge& operator=(Charge&& o) noexcept {
      if (this != &o) {
        Release();
        total_ = o.total_;
        bytes_ = o.bytes_;
        o.bytes_ = 0;
      }
      return *this;
    }
    ~Charge() { Release(); }
    void Set(std::atomic<size_t>* total, size_t bytes) {
      total_ = total;
      if (bytes > bytes_) {
        total->fetch_add(bytes - bytes_, std::memory_order_relaxed);
      } else if (bytes < bytes_) {
        total->fetch_sub(bytes_ - bytes, std::memory_order_relaxed);
      }
      bytes_ = bytes;
    }
    size_t bytes() const { return bytes_; }

   private:
    void Release() {
      if (bytes_ != 0) total_->fetch_sub(bytes_, std::memory_order_relaxed);
      bytes_ = 0;
    }
    std::atomic<size_t>* total_ = nullptr;
    size_t bytes_ = 0;
  };
  // kGathering: the gate holds part of a request (deadline: its first byte + readTimeout, never extended).
  enum class Kind : uint8_t { kNew, kIdle, kLinger, kInFlight, kGathering };
  struct Waiting {
    Waiting(int f, Kind k, TimePoint due, TimePoint hardDue, uint64_t c = 0)
        : fd(f), kind(k), deadline(due), hardDeadline(hardDue), cookie(c) {}
    int fd;
    Kind kind;
    TimePoint deadline;          // new: bytes due; idle: next request due; lingering: silence allowed
    TimePoint hardDeadline;      // lingering: however much the peer still sends
    uint64_t cookie = 0;         // in flight: what kPeerGone reports
    int requestId = 0;           // in flight: the request an FCGI_ABORT_REQUEST is looked for (0: hang-ups only)
    bool abortSeen = false;      // in flight: the ABORT was in the bytes handed over with the request
    std::string held;            // in flight: bytes read while the request runs (for the gate, after it)
    std::unique_ptr<Gate> gate;  // from the first byte to the hand-over; in flight: the scanner of `held`
    TimePoint firstByte{};       // gathering: when its first byte came (the oldest are dropped first)
    std::string carry;           // bytes read already, fed to the gate before the socket is read
    std::string pendingOut;      // the gate's reply not yet written (the peer was not reading): nothing more is
                                 // read until it is (EPOLLOUT), so this holds one reply at most
    Charge charge;               // gathering: gate->buffered() + carry, counted in buffered_
  };
  // Reads (non-blocking) and feeds the gate; returns the fd when its request is whole (bytes stored for
  // TakeHandedBytes), else -1 (watched again, or closed). Never blocks.
  int Gather(Waiting w) EXCLUDES(mu_);
  // An event on a connection watched in flight: true when its request was aborted (*byRecord: by an
  // FCGI_ABORT_REQUEST) or the peer hung up.
  bool InFlightEvent(uint64_t tag, uint32_t events, bool* byRecord) EXCLUDES(mu_);
  // Feeds bytes of a connection in flight to its scanner; true when they hold the ABORT of its request.
  bool ScanInFlight(Waiting* w, const uint8_t* p, size_t n);
  // Reads what a lingering peer sends; true when the connection is done (EOF, error, deadline).
  static bool DrainStep(Waiting* w, bool readable, TimePoint now);
  void ConfigureAccepted(int fd) const;
  // The unix socket file at path_ is still the one we bound.
  bool PathIsOurs() const;
  // Registers (or re-arms) a connection in the epoll set; closes it when that fails or we are closed.
  void Watch(Waiting w) EXCLUDES(mu_);
  void ArmTimerLocked(TimePoint at) REQUIRES(mu_);
  // Re-arms the listen fd's one-shot registration unless accepting is paused (listenMu_ shared + mu_ held).
  void RearmListenLocked() REQUIRES_SHARED(listenMu_) REQUIRES(mu_);
  // Closes what timed out, re-arms accepting after a back-off, sets the timer for the next deadline.
  void SweepLocked(TimePoint now) REQUIRES(mu_);
  // NextConnection's steps: register extraFd; the timer (deadlines, accept back-off); an event on a waiting
  // connection (true with *result when it ends the wait).
  void ArmExtra(int extraFd) EXCLUDES(mu_);
  // An event of the epoll set: true with *result when it ends the wait.
  bool OnEvent(const epoll_event& ev, int extraFd, int* outFd, uint64_t* cookie, WaitResult* result) EXCLUDES(mu_);
  // After Close(): a connection kept from the backlog, else kClosed.
  WaitResult DrainedOrClosed(int* outFd) EXCLUDES(mu_);
  void OnTimer() EXCLUDES(mu_, listenMu_);
  bool OnConnectionEvent(uint64_t tag, uint32_t events, int* outFd, uint64_t* cookie, WaitResult* result) EXCLUDES(mu_);
  // A listen socket event: accepts one connection. Returns its fd when it has bytes already, else -1.
  int AcceptOne();
  // After a feed: charges what w's gate holds (plus its carry) to buffered_; over maxBuffered_, closes the
  // incomplete requests (kGathering entries) whose first byte came earliest until the total fits, w included when
  // it is the oldest. Each counted in refusedByLimits_. False when w itself is to be dropped (the caller closes it).
  bool ChargeOrEvict(Waiting* w) EXCLUDES(mu_);
  // A connection just accepted: its fd when it has bytes already, else -1 (watched until it has).
  int TakeAccepted(int c);
  // Closes the connection that has waited longest without a request in progress (kept-alive idle, or new with
  // no bytes yet); false when there is none. Counted in refusedByLimits_.
  bool EvictOldestIdleLocked() REQUIRES(mu_);
  // accept() failed for want of descriptors: says so on stderr, once per listener.
  void LogOutOfDescriptorsOnce(int err);

  static constexpr int kReadyBatch = 64;
  epoll_event ready_[kReadyBatch];  // NextReady's batch (its one thread only)
  int readyPos_ = 0;
  int readyCount_ = 0;
  int fd_ = -1;
  int epfd_ = -1;
  int wakeFd_ = -1;   // eventfd, written once by Close(): stays readable, every waiter returns
  int timerFd_ = -1;  // timerfd at the nearest deadline of waiting_
  int family_ = 0;
  std::string path_;  // unix socket file we created (removed on Close)
  dev_t pathDev_ = 0;
  ino_t pathIno_ = 0;
  std::string address_;
  int port_ = 0;
  Timeouts timeouts_;
  int maxConnections_ = 0;  // set by Create, constant after
  std::atomic<uint64_t> refusedByLimits_{0};
  std::atomic<bool> loggedNoFds_{false};
  TimePoint pressureUntil_ GUARDED_BY(mu_){};  // accept() lacked descriptors recently: short first-byte timeout

  SharedMutex listenMu_;  // accept4/re-arm on fd_ (shared) against Close() closing it (exclusive)
  Mutex mu_;
  // Declared before waiting_, whose entries' charges give their bytes back to it when they are destroyed.
  size_t maxBuffered_ = kDefaultMaxBufferedBytes;  // set before any connection (ConfigureGate)
  std::atomic<size_t> buffered_{0};                // the charges of all entries (Charge)
  // epoll data.u64 -> connection. Ordered: ids grow with each (re-)arming, so the first idle entry is the one
  // idle longest (the one evicted over maxConnections).
  std::map<uint64_t, Waiting> waiting_ GUARDED_BY(mu_);
  uint64_t nextId_ GUARDED_BY(mu_) = 16;  // ids below 16 tag the fixed fds
  TimePoint timerAt_ GUARDED_BY(mu_) = TimePoint::max();
  TimePoint acceptPausedUntil_ GUARDED_BY(mu_){};
  bool acceptPaused_ GUARDED_BY(mu_) = false;  // out of descriptors: re-armed by the timer
  bool ownerPaused_ GUARDED_BY(mu_) = false;   // SetAccepting(false)
  bool listenArmed_ GUARDED_BY(mu_) = true;    // the listen fd's one-shot registration is armed
  int jobFd_ GUARDED_BY(mu_) = -1;
  int extraFd_ GUARDED_BY(mu_) = -1;  // the fd registered for NextConnection's extraFd
  bool extraArmed_ GUARDED_BY(mu_) = false;
  std::vector<int> drained_ GUARDED_BY(mu_);  // connections kept by Close(true), not yet handed out
  Mutex drainMu_;  // one DrainLingering at a time (the others wait for it, then find nothing)
  std::atomic<bool> closed_{false};
  GateConfig gateConfig_;  // set before any connection (ConfigureGate); gates keep a reference
  std::atomic<uint64_t> refusedByGate_{0};
};

}  // namespace libfcgi
