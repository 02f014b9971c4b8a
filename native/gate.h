// The request gate's scanner: reads one connection's FastCGI records from memory, without I/O or threads, until a
// request can be handed to fcgi2 without any read that could wait on the peer.
//
// The dispatcher reads a connection with non-blocking reads and feeds every byte here. The scanner keeps the
// request's own records (BEGIN_REQUEST, PARAMS, the first smallBody bytes of STDIN) re-framed without padding,
// answers management records itself (their content is parsed as it streams by, never buffered), and reports one
// event at a time. Memory per connection is bounded by maxParamsSize + smallBody + a few record headers, whatever
// the peer sends (records of one byte, padding, huge management records, records of other requests).
//
// Typical use (Feed returns how many bytes it consumed; bytes after an event are fed again):
//
//   GateResult r = gate.Feed(p, n);
//   switch (r.event) {
//     case GateEvent::kNeedMore: read more, feed it
//     case GateEvent::kReply:    write gate.reply(), ClearReply(), feed p + r.consumed again
//     case GateEvent::kAborted:  write gate.reply() (END_REQUEST) if any; close unless keepConn()
//     case GateEvent::kError:    write gate.reply() if any (unknown role), close; gate.error() says why
//     case GateEvent::kReady:    buf = gate.Handover(p + r.consumed, n - r.consumed, &len); FCGX_SetPreread(...)
//   }
//
// After Handover, when bodyComplete() was true and the role is not FILTER, everything fcgi2 will read of this
// request is in the handed-over bytes, so the dispatcher may keep reading the connection while the request runs:
// WatchInFlight(id) makes the scanner report an FCGI_ABORT_REQUEST for that id (kAborted, no reply: the request's
// own END_REQUEST answers it), answer management records, and gather a pipelined next request. When the body was
// cut at smallBody (or the role is FILTER, whose FCGI_DATA fcgi2 reads from the socket), fcgi2 owns the socket's
// reads until the request ends; the dispatcher must not feed the scanner then (Reset() it for the next request).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace libfcgi {

struct GateConfig {
  // Content bytes of all FCGI_PARAMS records of one request (name-value encoding included).
  size_t maxParamsSize = 1 << 20;
  // A request is handed over when its FCGI_STDIN ends or this many body bytes are buffered, whichever first.
  size_t smallBody = 64 * 1024;
  // The longest name and value of one PARAMS pair (fcgi2's maxParamNameLen/maxParamValueLen): a longer one, or
  // a pair cut short by the end of PARAMS, is refused at once, as fcgi2 refuses it. Both 0: pairs not followed.
  size_t maxNameLength = 0;
  size_t maxValueLength = 0;
  // The values answered to FCGI_GET_VALUES (decimal, at most 32 characters each).
  std::string maxConns = "1";
  std::string maxReqs = "1";
  std::string mpxsConns = "0";
};

enum class GateEvent {
  kNeedMore,  // every byte was consumed; feed more
  kReady,     // a request can be handed over (Handover)
  kReply,     // a management record was answered: write reply(), then go on feeding
  kAborted,   // FCGI_ABORT_REQUEST for the request gathered (reply() = its END_REQUEST) or watched (no reply)
  kError,     // protocol error (error() says which); close the connection after writing reply(), if any
};

struct GateResult {
  GateEvent event;
  size_t consumed;  // bytes of this Feed's input taken, up to and including the event's last byte
};

class Gate {
 public:
  explicit Gate(const GateConfig& config);
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  GateResult Feed(const uint8_t* data, size_t len);

  // The record to write after kReply / kAborted / kError (empty when none).
  const std::string& reply() const { return reply_; }
  void ClearReply() { reply_.clear(); }
  // Why the last kError happened (a static string); nullptr before any error.
  const char* error() const { return error_; }

  // The request being gathered or just made ready (0 when none).
  int requestId() const { return requestId_; }
  int role() const { return role_; }
  bool keepConn() const { return keepConn_; }
  // After kReady: FCGI_STDIN ended within the bytes handed over (false: cut at smallBody).
  bool bodyComplete() const { return bodyComplete_; }
  // The request's PARAMS have ended (its body is being gathered): on EOF it may be handed over as it is, and
  // fcgi2 reports the body cut short as it always did.
  bool paramsComplete() const { return phase_ == Phase::kStdin; }
  // Bytes this scanner has allocated now, for a global cap: at most about maxParamsSize + smallBody + a few
  // record headers (bufferLimit()).
  size_t buffered() const { return cap_; }
  size_t bufferLimit() const;
  // True when no byte of an unfinished record or request is held: the connection is idle between requests.
  bool idle() const;

  // After kReady: the gathered records followed by rest[0, restLen), in one malloc'd block the caller owns (the
  // scanner's own buffer, handed over rather than copied; release with free(); fcgi2's FCGX_SetPreread takes
  // it). The scanner is then reset for the next request.
  // Returns nullptr only when memory runs out (the scanner is reset all the same).
  uint8_t* Handover(const uint8_t* rest, size_t restLen, size_t* outLen);

  // See the file comment. EndInFlight when the watched request has ended.
  void WatchInFlight(int requestId) { inFlightId_ = requestId; }
  void EndInFlight() { inFlightId_ = 0; }
  int inFlightId() const { return inFlightId_; }

  // Forgets everything (buffered bytes, state, reply, error, in-flight id).
  void Reset();

 private:
  enum class State { kHeader, kContent, kPadding };
  // What happens to the content of the record being read.
  enum class Action { kStore, kBeginBody, kGetValues, kSkip, kUnknownType, kAbort, kAbortInFlight, kCantMpx };
  enum class Phase { kIdle, kParams, kStdin };
  // The name-value pair parser of FCGI_GET_VALUES content.
  enum class PairState { kNameLen, kValueLen, kName, kValue };

  GateResult Fail(const char* why, size_t consumed);
  // Decides what the record whose header just completed is; false on a protocol error (error_ set).
  bool StartRecord();
  // The record (content and padding) is complete; returns the event it makes (kNeedMore: none).
  GateEvent EndRecord();
  void ConsumeContent(const uint8_t* p, size_t n);
  void ConsumeGetValues(const uint8_t* p, size_t n);
  // Follows the PARAMS pairs' lengths as they stream by; false when one is over the bounds.
  bool CheckPairs(const uint8_t* p, size_t n);
  void AnswerGetValues();
  void AppendName(const char* name, const std::string& value);
  bool Reserve(size_t extra);
  bool StoreHeader(int type, size_t contentLen, size_t reserveLen);
  void StoreContent(const uint8_t* p, size_t n);
  void FixCurrentHeader(size_t finalLen, int padding);

  const GateConfig& config_;
  State state_ = State::kHeader;
  uint8_t header_[8] = {};
  size_t headerLen_ = 0;
  int type_ = 0;
  int recordId_ = 0;
  size_t recordLen_ = 0;
  size_t contentLeft_ = 0;
  int padding_ = 0;
  size_t paddingLeft_ = 0;
  Action action_ = Action::kSkip;

  Phase phase_ = Phase::kIdle;
  int requestId_ = 0;
  int role_ = 0;
  bool keepConn_ = false;
  bool bodyComplete_ = false;
  bool ready_ = false;
  uint8_t beginBody_[8] = {};
  size_t beginLen_ = 0;
  size_t paramsBytes_ = 0;
  size_t bodyBytes_ = 0;
  int inFlightId_ = 0;
  // PARAMS pairs: 0 name length, 1 value length, 2 name and value bytes (pairSkip_ left).
  int pairPart_ = 0;
  uint8_t pairLen_[4] = {};
  size_t pairLenHave_ = 0;
  size_t pairNameLen_ = 0;
  size_t pairSkip_ = 0;
  bool pairBad_ = false;

  // FCGI_GET_VALUES: the pair being parsed, and which known names were asked (one bit each).
  PairState pairState_ = PairState::kNameLen;
  uint8_t lenBytes_[4] = {};
  size_t lenHave_ = 0;
  size_t nameLen_ = 0;
  size_t valueLen_ = 0;
  char name_[16] = {};
  size_t nameHave_ = 0;
  unsigned asked_ = 0;

  // The request's records, re-framed: a header starts a stored record of one type, coalescing consecutive
  // source records while the sum fits one record; stored headers have no padding.
  uint8_t* buf_ = nullptr;
  size_t len_ = 0;
  size_t cap_ = 0;
  size_t storedHeader_ = SIZE_MAX;  // offset of the stored record content is appended to, SIZE_MAX: none
  size_t storedLen_ = 0;            // its content length so far

  std::string reply_;
  const char* error_ = nullptr;
};

}  // namespace libfcgi
