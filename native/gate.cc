// The request gate's scanner (gate.h): FastCGI records from memory, one connection, bounded buffering.
#include "gate.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace libfcgi {

namespace {

// Protocol constants (fastcgi.h), repeated so that the scanner builds without fcgi2's headers (fuzzer, tests).
constexpr int kVersion1 = 1;
constexpr int kBeginRequest = 1;
constexpr int kAbortRequest = 2;
constexpr int kEndRequest = 3;
constexpr int kParams = 4;
constexpr int kStdin = 5;
constexpr int kGetValues = 9;
constexpr int kGetValuesResult = 10;
constexpr int kUnknownType = 11;
constexpr int kResponder = 1;
constexpr int kAuthorizer = 2;
constexpr int kFilter = 3;
constexpr int kKeepConn = 1;
constexpr int kRequestComplete = 0;
constexpr int kCantMpxConn = 1;
constexpr int kUnknownRole = 3;
constexpr size_t kHeaderLen = 8;
constexpr size_t kMaxContent = 65535;
constexpr size_t kMaxValueLen = 32;

// The names FCGI_GET_VALUES may ask for that we answer (FastCGI 4.1), in the order answered.
constexpr const char* kKnownNames[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
constexpr size_t kLongestName = 15;

void PutHeader(uint8_t* h, int type, int id, size_t contentLen, int padding) {
  h[0] = kVersion1;
  h[1] = static_cast<uint8_t>(type);
  h[2] = static_cast<uint8_t>(id >> 8);
  h[3] = static_cast<uint8_t>(id);
  h[4] = static_cast<uint8_t>(contentLen >> 8);
  h[5] = static_cast<uint8_t>(contentLen);
  h[6] = static_cast<uint8_t>(padding);
  h[7] = 0;
}

std::string Record(int type, int id, const uint8_t* content, size_t len) {
  size_t padded = (len + 7) & ~static_cast<size_t>(7);
  std::string out(kHeaderLen + padded, '\0');
  auto* h = reinterpret_cast<uint8_t*>(&out[0]);
  PutHeader(h, type, id, len, static_cast<int>(padded - len));
  if (len > 0) memcpy(h + kHeaderLen, content, len);
  return out;
}

std::string EndRequestRecord(int id, int protocolStatus) {
  const uint8_t body[8] = {0, 0, 0, 0, static_cast<uint8_t>(protocolStatus), 0, 0, 0};
  return Record(kEndRequest, id, body, sizeof body);
}

}  // namespace

Gate::Gate(const GateConfig& config) : config_(config) {}

Gate::~Gate() { free(buf_); }

void Gate::Reset() {
  free(buf_);
  buf_ = nullptr;
  len_ = cap_ = 0;
  storedHeader_ = SIZE_MAX;
  storedLen_ = 0;
  state_ = State::kHeader;
  headerLen_ = 0;
  contentLeft_ = paddingLeft_ = 0;
  phase_ = Phase::kIdle;
  requestId_ = role_ = 0;
  keepConn_ = bodyComplete_ = ready_ = false;
  beginLen_ = paramsBytes_ = bodyBytes_ = 0;
  inFlightId_ = 0;
  pairPart_ = 0;
  pairLenHave_ = pairNameLen_ = pairSkip_ = 0;
  pairBad_ = false;
  reply_.clear();
  error_ = nullptr;
}

bool Gate::idle() const { return state_ == State::kHeader && headerLen_ == 0 && phase_ == Phase::kIdle && !ready_; }

GateResult Gate::Fail(const char* why, size_t consumed) {
  error_ = why;
  return {GateEvent::kError, consumed};
}

GateResult Gate::Feed(const uint8_t* data, size_t len) {
  if (error_ != nullptr) return {GateEvent::kError, 0};
  if (ready_) return {GateEvent::kReady, 0};  // Handover first
  size_t i = 0;
  for (;;) {
    switch (state_) {
      case State::kHeader: {
        if (i == len) return {GateEvent::kNeedMore, i};
        size_t k = std::min(kHeaderLen - headerLen_, len - i);
        memcpy(header_ + headerLen_, data + i, k);
        headerLen_ += k;
        i += k;
        if (headerLen_ < kHeaderLen) return {GateEvent::kNeedMore, i};
        headerLen_ = 0;
        if (header_[0] != kVersion1) return Fail("unsupported FastCGI version (not 1)", i);
        type_ = header_[1];
        recordId_ = (header_[2] << 8) | header_[3];
        recordLen_ = contentLeft_ = (static_cast<size_t>(header_[4]) << 8) | header_[5];
        padding_ = header_[6];
        paddingLeft_ = static_cast<size_t>(padding_);
        if (!StartRecord()) return {GateEvent::kError, i};
        state_ = State::kContent;
        break;
      }
      case State::kContent: {
        if (contentLeft_ > 0) {
          bool body = action_ == Action::kStore && type_ == kStdin;
          if (body && bodyBytes_ >= config_.smallBody) {
            // The small body is full inside a record: fcgi2 reads the rest of it (and its padding) from what
            // follows, so the stored header announces the whole record.
            FixCurrentHeader(storedLen_ + contentLeft_, padding_);
            bodyComplete_ = false;
            ready_ = true;
            return {GateEvent::kReady, i};
          }
          if (i == len) return {GateEvent::kNeedMore, i};
          size_t k = std::min(contentLeft_, len - i);
          if (body) k = std::min(k, config_.smallBody - bodyBytes_);
          ConsumeContent(data + i, k);
          i += k;
          contentLeft_ -= k;
          if (contentLeft_ > 0) break;
        }
        state_ = State::kPadding;
        break;
      }
      case State::kPadding: {
        if (paddingLeft_ > 0) {
          if (i == len) return {GateEvent::kNeedMore, i};
          size_t k = std::min(paddingLeft_, len - i);
          i += k;
          paddingLeft_ -= k;
          if (paddingLeft_ > 0) break;
        }
        state_ = State::kHeader;
        GateEvent event = EndRecord();
        if (event != GateEvent::kNeedMore) return {event, i};
        break;
      }
    }
  }
}

bool Gate::StartRecord() {
  if (recordId_ == 0 && type_ == kBeginRequest) {
    error_ = "FCGI_BEGIN_REQUEST for request id 0";  // fcgi2 closes on it too
    return false;
  }
  if (recordId_ == 0) {  // a management record (FastCGI 3.3)
    if (type_ == kGetValues) {
      action_ = Action::kGetValues;
      pairState_ = PairState::kNameLen;
      lenHave_ = 0;
      asked_ = 0;
    } else {
      action_ = Action::kUnknownType;
    }
    return true;
  }
  if (phase_ == Phase::kIdle) {
    if (type_ == kBeginRequest) {
      if (recordLen_ != 8) {
        error_ = "FCGI_BEGIN_REQUEST whose content is not 8 bytes";
        return false;
      }
      action_ = Action::kBeginBody;
      beginLen_ = 0;
      return true;
    }
    // Records of a request that has ended (an FCGI_ABORT_REQUEST that crossed its END_REQUEST) are skipped, as
    // fcgi2 skips them; the one of a request in flight is reported.
    action_ = (type_ == kAbortRequest && recordId_ == inFlightId_) ? Action::kAbortInFlight : Action::kSkip;
    return true;
  }
  if (recordId_ != requestId_) {
    if (type_ == kBeginRequest) {  // fcgi2 answers it FCGI_CANT_MPX_CONN and goes on with the first
      action_ = Action::kCantMpx;
      return true;
    }
    // Records of other requests are skipped, as fcgi2 skips them (an ABORT of the one in flight is reported).
    action_ = type_ == kAbortRequest && recordId_ == inFlightId_ ? Action::kAbortInFlight : Action::kSkip;
    return true;
  }
  if (type_ == kAbortRequest) {
    action_ = Action::kAbort;
    return true;
  }
  if (type_ == kBeginRequest) {
    error_ = "FCGI_BEGIN_REQUEST for a request already begun";
    return false;
  }
  if (phase_ == Phase::kParams && type_ == kParams) {
    if (recordLen_ > config_.maxParamsSize - paramsBytes_) {
      error_ = "FCGI_PARAMS larger than maxParamsSize";
      return false;
    }
  } else if (!(phase_ == Phase::kStdin && type_ == kStdin)) {
    error_ = phase_ == Phase::kParams ? "a record other than FCGI_PARAMS before the end of FCGI_PARAMS"
                                      : "a record other than FCGI_STDIN before the end of FCGI_STDIN";
    return false;
  }
  action_ = Action::kStore;
  size_t keep = type_ == kParams ? recordLen_ : std::min(recordLen_, config_.smallBody - bodyBytes_);
  if (!StoreHeader(type_, recordLen_, keep)) {
    error_ = "out of memory";
    return false;
  }
  return true;
}

void Gate::ConsumeContent(const uint8_t* p, size_t n) {
  switch (action_) {
    case Action::kStore:
      StoreContent(p, n);
      (type_ == kParams ? paramsBytes_ : bodyBytes_) += n;
      if (type_ == kParams && !pairBad_ && (config_.maxNameLength != 0 || config_.maxValueLength != 0)) {
        pairBad_ = !CheckPairs(p, n);
      }
      break;
    case Action::kBeginBody:
      memcpy(beginBody_ + beginLen_, p, n);  // recordLen_ == 8 was checked
      beginLen_ += n;
      break;
    case Action::kGetValues: ConsumeGetValues(p, n); break;
    default: break;  // skipped unread
  }
}

GateEvent Gate::EndRecord() {
  switch (action_) {
    case Action::kStore:
      if (type_ == kParams) {
        if (pairBad_) {
          error_ = "a PARAMS name or value longer than maxParamNameLength/maxParamValueLength";
          return GateEvent::kError;
        }
        if (recordLen_ == 0) {
          if ((config_.maxNameLength != 0 || config_.maxValueLength != 0) && (pairPart_ != 0 || pairLenHave_ != 0)) {
            error_ = "a PARAMS name-value pair cut short by the end of PARAMS";
            return GateEvent::kError;
          }
          phase_ = Phase::kStdin;
          // An authorizer has no request body (FastCGI 6.3): Apache's mod_authnz_fcgi sends no FCGI_STDIN at
          // all, so the request is whole at the end of its params. Whatever STDIN a web server does send is
          // read by fcgi2 as before the gate.
          if (role_ == kAuthorizer) {
            ready_ = true;
            return GateEvent::kReady;
          }
        }
        return GateEvent::kNeedMore;
      }
      if (recordLen_ == 0 || bodyBytes_ >= config_.smallBody) {
        bodyComplete_ = recordLen_ == 0;
        ready_ = true;
        return GateEvent::kReady;
      }
      return GateEvent::kNeedMore;
    case Action::kBeginBody: {
      int role = (beginBody_[0] << 8) | beginBody_[1];
      if (role < kResponder || role > kFilter) {
        reply_ = EndRequestRecord(recordId_, kUnknownRole);
        error_ = "FCGI_BEGIN_REQUEST of an unknown role";
        return GateEvent::kError;
      }
      requestId_ = recordId_;
      role_ = role;
      keepConn_ = (beginBody_[2] & kKeepConn) != 0;
      bodyComplete_ = false;
      paramsBytes_ = bodyBytes_ = 0;
      phase_ = Phase::kParams;
      if (!StoreHeader(kBeginRequest, 8, 8)) {
        error_ = "out of memory";
        return GateEvent::kError;
      }
      StoreContent(beginBody_, 8);
      storedHeader_ = SIZE_MAX;
      return GateEvent::kNeedMore;
    }
    case Action::kGetValues:
      if (pairState_ != PairState::kNameLen || lenHave_ != 0) {
        error_ = "FCGI_GET_VALUES whose last name-value pair is cut short";
        return GateEvent::kError;
      }
      AnswerGetValues();
      return GateEvent::kReply;
    case Action::kUnknownType: {
      const uint8_t body[8] = {static_cast<uint8_t>(type_), 0, 0, 0, 0, 0, 0, 0};
      reply_ = Record(kUnknownType, 0, body, sizeof body);
      return GateEvent::kReply;
    }
    case Action::kAbort: {
      // Dropped before anyone saw it; answered as fcgi2 answers it (FCGI_REQUEST_COMPLETE, status 0).
      int id = requestId_;
      bool keep = keepConn_;
      Reset();
      requestId_ = id;
      keepConn_ = keep;
      reply_ = EndRequestRecord(id, kRequestComplete);
      return GateEvent::kAborted;
    }
    case Action::kAbortInFlight: return GateEvent::kAborted;
    case Action::kCantMpx: reply_ = EndRequestRecord(recordId_, kCantMpxConn); return GateEvent::kReply;
    case Action::kSkip: break;
  }
  return GateEvent::kNeedMore;
}

namespace {
// A PARAMS length at p: one byte, or four when the first has its high bit set. Returns how many it took.
size_t PairLength(const uint8_t* p, size_t* value) {
  if ((p[0] & 0x80) == 0) {
    *value = p[0];
    return 1;
  }
  *value = (static_cast<size_t>(p[0] & 0x7f) << 24) | (static_cast<size_t>(p[1]) << 16) |
           (static_cast<size_t>(p[2]) << 8) | p[3];
  return 4;
}
}  // namespace

bool Gate::CheckPairs(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (pairPart_ == 0 && pairLenHave_ == 0 && n - i >= 8) {
      // Both lengths of the next pair in this chunk (the usual case): read at once, without the per-byte state
      // below, which is for lengths cut by a record or a read.
      size_t nameLen = 0;
      size_t valueLen = 0;
      i += PairLength(p + i, &nameLen);
      i += PairLength(p + i, &valueLen);
      if (config_.maxNameLength != 0 && nameLen > config_.maxNameLength) return false;
      if (config_.maxValueLength != 0 && valueLen > config_.maxValueLength) return false;
      size_t skip = nameLen + valueLen;
      size_t k = std::min(skip, n - i);
      i += k;
      if (skip > k) {
        pairSkip_ = skip - k;
        pairPart_ = 2;
      }
      continue;
    }
    if (pairPart_ == 2) {
      size_t k = std::min(pairSkip_, n - i);
      i += k;
      pairSkip_ -= k;
      if (pairSkip_ == 0) pairPart_ = 0;
      continue;
    }
    pairLen_[pairLenHave_++] = p[i++];
    size_t need = (pairLen_[0] & 0x80) ? 4 : 1;
    if (pairLenHave_ < need) continue;
    size_t value = 0;
    PairLength(pairLen_, &value);
    pairLenHave_ = 0;
    if (pairPart_ == 0) {
      if (config_.maxNameLength != 0 && value > config_.maxNameLength) return false;
      pairNameLen_ = value;
      pairPart_ = 1;
    } else {
      if (config_.maxValueLength != 0 && value > config_.maxValueLength) return false;
      pairSkip_ = pairNameLen_ + value;
      pairPart_ = pairSkip_ == 0 ? 0 : 2;
    }
  }
  return true;
}

// FCGI_GET_VALUES content is name-value pairs (FastCGI 3.4) with empty values. Names longer than the longest we
// know are skipped as they stream by; nothing of the record is kept but the pair being parsed.
void Gate::ConsumeGetValues(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (;;) {
    switch (pairState_) {
      case PairState::kNameLen:
      case PairState::kValueLen: {
        if (i == n) return;
        lenBytes_[lenHave_++] = p[i++];
        size_t need = (lenBytes_[0] & 0x80) ? 4 : 1;
        if (lenHave_ < need) break;
        size_t value = 0;
        PairLength(lenBytes_, &value);
        lenHave_ = 0;
        if (pairState_ == PairState::kNameLen) {
          nameLen_ = value;
          pairState_ = PairState::kValueLen;
        } else {
          valueLen_ = value;
          nameHave_ = 0;
          pairState_ = PairState::kName;
        }
        break;
      }
      case PairState::kName: {
        if (nameHave_ < nameLen_) {
          if (i == n) return;
          size_t k = std::min(nameLen_ - nameHave_, n - i);
          if (nameLen_ <= kLongestName) memcpy(name_ + nameHave_, p + i, k);
          nameHave_ += k;
          i += k;
          if (nameHave_ < nameLen_) break;
        }
        if (nameLen_ <= kLongestName) {
          for (size_t b = 0; b < sizeof kKnownNames / sizeof kKnownNames[0]; b++) {
            if (strlen(kKnownNames[b]) == nameLen_ && memcmp(kKnownNames[b], name_, nameLen_) == 0) {
              asked_ |= 1u << b;
            }
          }
        }
        pairState_ = PairState::kValue;
        break;
      }
      case PairState::kValue: {
        if (valueLen_ > 0) {
          if (i == n) return;
          size_t k = std::min(valueLen_, n - i);
          valueLen_ -= k;
          i += k;
          if (valueLen_ > 0) break;
        }
        pairState_ = PairState::kNameLen;
        break;
      }
    }
  }
}

void Gate::AnswerGetValues() {
  const std::string* values[] = {&config_.maxConns, &config_.maxReqs, &config_.mpxsConns};
  uint8_t content[3 * (2 + kLongestName + kMaxValueLen)];
  size_t len = 0;
  for (size_t b = 0; b < 3; b++) {
    if ((asked_ & (1u << b)) == 0) continue;
    size_t nameLen = strlen(kKnownNames[b]);
    size_t valueLen = std::min(values[b]->size(), kMaxValueLen);
    content[len++] = static_cast<uint8_t>(nameLen);
    content[len++] = static_cast<uint8_t>(valueLen);
    memcpy(content + len, kKnownNames[b], nameLen);
    len += nameLen;
    memcpy(content + len, values[b]->data(), valueLen);
    len += valueLen;
  }
  reply_ = Record(kGetValuesResult, 0, content, len);
}

// Two stored records in a row hold more than kMaxContent bytes (StoreHeader), so there is a header per 32 KiB at
// most, plus BEGIN_REQUEST's record and the two empty records that end the streams.
size_t Gate::bufferLimit() const {
  size_t content = config_.maxParamsSize + config_.smallBody;
  return content + (content / (kMaxContent / 2) + 4) * kHeaderLen + 8;
}

bool Gate::Reserve(size_t extra) {
  if (cap_ - len_ >= extra) return true;
  // Geometric growth from 2 KiB (nginx's params for a browser's request fit), with room for a few record
  // headers past a big record (the empty one that ends the body after it would otherwise double the buffer and
  // copy the whole body once more), but never past what the request may need.
  constexpr size_t kFirst = 2048;
  constexpr size_t kSlack = 4 * kHeaderLen;
  size_t want = std::max(len_ + extra, std::min(std::max({cap_ * 2, kFirst, len_ + extra + kSlack}), bufferLimit()));
  auto* grown = static_cast<uint8_t*>(realloc(buf_, want));
  if (grown == nullptr) return false;
  buf_ = grown;
  cap_ = want;
  return true;
}

// Starts a stored record for a source record of contentLen bytes, or goes on with the current one while both fit
// one record, so that records of a few bytes each cost no header of their own. An empty record (the end of a
// stream) is stored as it is and never extended.
// reserveLen: how much of the content will be stored (a STDIN record may pass the small body).
bool Gate::StoreHeader(int type, size_t contentLen, size_t reserveLen) {
  if (contentLen > 0 && storedHeader_ != SIZE_MAX && buf_[storedHeader_ + 1] == type &&
      storedLen_ + contentLen <= kMaxContent) {
    return Reserve(reserveLen);
  }
  if (!Reserve(kHeaderLen + reserveLen)) return false;
  PutHeader(buf_ + len_, type, recordId_, 0, 0);
  storedHeader_ = contentLen > 0 ? len_ : SIZE_MAX;
  storedLen_ = 0;
  len_ += kHeaderLen;
  return true;
}

void Gate::StoreContent(const uint8_t* p, size_t n) {
  memcpy(buf_ + len_, p, n);  // StoreHeader reserved the record's whole content
  len_ += n;
  storedLen_ += n;
  FixCurrentHeader(storedLen_, 0);
}

void Gate::FixCurrentHeader(size_t finalLen, int padding) {
  if (storedHeader_ == SIZE_MAX) return;
  buf_[storedHeader_ + 4] = static_cast<uint8_t>(finalLen >> 8);
  buf_[storedHeader_ + 5] = static_cast<uint8_t>(finalLen);
  buf_[storedHeader_ + 6] = static_cast<uint8_t>(padding);
}

uint8_t* Gate::Handover(const uint8_t* rest, size_t restLen, size_t* outLen) {
  // The buffer itself goes to the caller (it is malloc'd memory): the request is not copied a second time. A
  // rest read past the request's end is appended to it (realloc when it does not fit).
  size_t total = len_ + restLen;
  uint8_t* out = buf_;
  if (total > cap_ || out == nullptr) {
    out = static_cast<uint8_t*>(realloc(buf_, total > 0 ? total : 1));
    if (out == nullptr) {
      *outLen = 0;
      Reset();  // frees buf_
      return nullptr;
    }
  }
  if (restLen > 0) memcpy(out + len_, rest, restLen);
  buf_ = nullptr;  // the caller owns it now (Reset frees nothing)
  *outLen = total;
  Reset();
  return out;
}

}  // namespace libfcgi
