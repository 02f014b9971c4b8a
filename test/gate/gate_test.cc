// Unit tests of the request gate's scanner (native/gate.cc), with no I/O: bytes in, events and hand-overs out.
// Built and run by test/unit/gate-scanner.test.ts (g++ with ASan + UBSan); prints "ok N" and exits 1 on failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/gate.h"

using libfcgi::Gate;
using libfcgi::GateConfig;
using libfcgi::GateEvent;
using libfcgi::GateResult;
using Bytes = std::string;

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    checks++;                                                                         \
    if (!(cond)) {                                                                    \
      failures++;                                                                     \
      fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, current, #cond); \
    }                                                                                 \
  } while (0)

static const char* current = "";

enum {
  kBegin = 1,
  kAbort = 2,
  kEnd = 3,
  kParams = 4,
  kStdin = 5,
  kData = 8,
  kGetValues = 9,
  kGetValuesResult = 10,
  kUnknownType = 11
};

static Bytes Rec(int type, int id, const Bytes& content, int padding = 0, int version = 1) {
  Bytes h(8, '\0');
  h[0] = static_cast<char>(version);
  h[1] = static_cast<char>(type);
  h[2] = static_cast<char>(id >> 8);
  h[3] = static_cast<char>(id);
  h[4] = static_cast<char>(content.size() >> 8);
  h[5] = static_cast<char>(content.size());
  h[6] = static_cast<char>(padding);
  return h + content + Bytes(static_cast<size_t>(padding), '\0');
}

// A header that announces len bytes, without them.
static Bytes Header(int type, int id, size_t len, int padding = 0) {
  Bytes h = Rec(type, id, "");
  h[4] = static_cast<char>(len >> 8);
  h[5] = static_cast<char>(len);
  h[6] = static_cast<char>(padding);
  return h;
}

static Bytes Begin(int id, int role = 1, bool keep = true) {
  Bytes body(8, '\0');
  body[1] = static_cast<char>(role);
  body[2] = keep ? 1 : 0;
  return Rec(kBegin, id, body);
}

static Bytes Len(size_t n) {
  if (n < 128) return Bytes(1, static_cast<char>(n));
  Bytes b(4, '\0');
  b[0] = static_cast<char>(0x80 | (n >> 24));
  b[1] = static_cast<char>(n >> 16);
  b[2] = static_cast<char>(n >> 8);
  b[3] = static_cast<char>(n);
  return b;
}

static Bytes Pair(const Bytes& name, const Bytes& value) { return Len(name.size()) + Len(value.size()) + name + value; }

static Bytes Filler(size_t n, int seed) {
  Bytes b(n, '\0');
  for (size_t i = 0; i < n; i++) b[i] = static_cast<char>('a' + (i * 7 + static_cast<size_t>(seed)) % 26);
  return b;
}

// A reference reader of records: the params and stdin content of request `id`, whether each stream ended, and
// whether the bytes are well-formed records (a last record may be cut).
struct Parsed {
  Bytes params, body;
  bool paramsEnded = false, bodyEnded = false, beginSeen = false;
  size_t records = 0;
};

static Parsed Parse(const Bytes& b) {
  Parsed p;
  size_t i = 0;
  while (i + 8 <= b.size()) {
    auto u = [&](size_t k) { return static_cast<unsigned char>(b[i + k]); };
    int type = u(1);
    size_t len = (static_cast<size_t>(u(4)) << 8) | u(5);
    size_t pad = u(6);
    size_t avail = std::min(len, b.size() - i - 8);
    Bytes content = b.substr(i + 8, avail);
    p.records++;
    if (type == kBegin) p.beginSeen = true;
    if (type == kParams) {
      if (len == 0) p.paramsEnded = true;
      p.params += content;
    }
    if (type == kStdin) {
      if (len == 0) p.bodyEnded = true;
      p.body += content;
    }
    i += 8 + len + pad;
  }
  return p;
}

// Everything a run of the scanner produced.
struct Run {
  std::vector<GateEvent> events;
  Bytes replies;
  Bytes handover;  // the last hand-over (records + the rest of the input)
  int readyCount = 0;
  bool bodyComplete = false;
  int id = 0, role = 0;
  bool keep = false;
  const char* error = nullptr;
  size_t maxBuffered = 0;
  bool idleAtEnd = false;
  bool operator==(const Run& o) const {
    return events == o.events && replies == o.replies && handover == o.handover && readyCount == o.readyCount &&
           bodyComplete == o.bodyComplete && id == o.id && role == o.role && keep == o.keep &&
           (error == nullptr) == (o.error == nullptr) && idleAtEnd == o.idleAtEnd;
  }
};

// Feeds `in` in pieces cut at `cuts` (ascending offsets), handing a ready request over with the rest of the piece
// (and every later piece appended, as fcgi2 would read them from the socket).
static Run Drive(const GateConfig& config, const Bytes& in, const std::vector<size_t>& cuts = {}) {
  Gate gate(config);
  Run run;
  std::vector<size_t> bounds = cuts;
  bounds.push_back(in.size());
  size_t start = 0;
  bool handed = false;
  for (size_t end : bounds) {
    if (end < start) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(in.data()) + start;
    size_t n = end - start;
    start = end;
    if (handed) {
      run.handover.append(reinterpret_cast<const char*>(p), n);
      continue;
    }
    while (true) {
      GateResult r = gate.Feed(p, n);
      run.maxBuffered = std::max(run.maxBuffered, gate.buffered());
      p += r.consumed;
      n -= r.consumed;
      if (r.event != GateEvent::kNeedMore) run.events.push_back(r.event);
      if (r.event == GateEvent::kNeedMore) break;
      run.replies += gate.reply();
      gate.ClearReply();
      if (r.event == GateEvent::kError) {
        run.error = gate.error();
        run.idleAtEnd = gate.idle();
        return run;
      }
      if (r.event == GateEvent::kReady) {
        run.readyCount++;
        run.bodyComplete = gate.bodyComplete();
        run.id = gate.requestId();
        run.role = gate.role();
        run.keep = gate.keepConn();
        size_t len = 0;
        uint8_t* out = gate.Handover(p, n, &len);
        run.handover.assign(reinterpret_cast<const char*>(out), len);
        free(out);
        handed = true;
        break;
      }
    }
  }
  run.idleAtEnd = gate.idle();
  return run;
}

static Bytes GetRequest(int id, int padding = 0) {
  return Begin(id) + Rec(kParams, id, Pair("REQUEST_METHOD", "GET") + Pair("SCRIPT_NAME", "/x"), padding) +
         Rec(kParams, id, "", padding) + Rec(kStdin, id, "", padding);
}

static void TestWholeGetRequest() {
  current = "a GET request is ready at the end of STDIN, handed over as the same records";
  GateConfig config;
  Bytes in = GetRequest(1);
  Run run = Drive(config, in);
  CHECK(run.readyCount == 1);
  CHECK(run.bodyComplete);
  CHECK(run.id == 1 && run.role == 1 && run.keep);
  CHECK(run.handover == in);  // one record per stream, no padding: canonical already
  CHECK(run.replies.empty());
  CHECK(run.idleAtEnd);
}

static Bytes MixedInput() {
  // Padding, params in many small records, a management record between them, body in three records, a stale
  // ABORT of an ended request first.
  Bytes in = Rec(kAbort, 7, "", 3);
  in += Begin(2, 1, true);
  Bytes params = Pair("REQUEST_METHOD", "POST") + Pair("CONTENT_LENGTH", "30") + Pair(Filler(200, 1), Filler(300, 2));
  for (size_t i = 0; i < params.size(); i += 37) in += Rec(kParams, 2, params.substr(i, 37), static_cast<int>(i % 9));
  in += Rec(kGetValues, 0, Pair("FCGI_MAX_CONNS", "") + Pair("FCGI_MPXS_CONNS", ""), 5);
  in += Rec(kParams, 2, "", 255);
  in += Rec(kStdin, 2, "0123456789", 6) + Rec(kStdin, 2, "abcdefghij", 0) + Rec(kStdin, 2, "ABCDEFGHIJ", 1);
  in += Rec(kStdin, 2, "", 7);
  in += GetRequest(3);  // pipelined next request: part of the rest handed over
  return in;
}

static void TestSplitAtEveryByte() {
  current = "the same events and hand-over whatever the input's split (every boundary, and byte by byte)";
  GateConfig config;
  Bytes in = MixedInput();
  Run whole = Drive(config, in);
  CHECK(whole.readyCount == 1 && whole.bodyComplete && whole.id == 2);
  CHECK(whole.events.size() == 2 && whole.events[0] == GateEvent::kReply && whole.events[1] == GateEvent::kReady);
  Parsed p = Parse(whole.handover);
  CHECK(p.paramsEnded && p.bodyEnded && p.body.substr(0, 30) == "0123456789abcdefghijABCDEFGHIJ");
  for (size_t cut = 1; cut < in.size(); cut++) {
    Run split = Drive(config, in, {cut});
    if (!(split == whole)) {
      fprintf(stderr, "split at %zu differs\n", cut);
      CHECK(split == whole);
      break;
    }
  }
  std::vector<size_t> every;
  for (size_t cut = 1; cut < in.size(); cut++) every.push_back(cut);
  CHECK(Drive(config, in, every) == whole);
}

static void TestParamsAnnouncedNotSent() {
  current = "PARAMS announcing 65535 bytes and sending 100 needs more, holds at most what came";
  GateConfig config;
  Bytes in = Begin(1) + Header(kParams, 1, 65535) + Filler(100, 3);
  Gate gate(config);
  GateResult r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  CHECK(r.event == GateEvent::kNeedMore && r.consumed == in.size());
  CHECK(!gate.idle());
}

static void TestHeaderCutShort() {
  current = "a header cut at 5 of its 8 bytes needs more and the connection is not idle";
  GateConfig config;
  Gate gate(config);
  CHECK(gate.idle());
  Bytes in = Begin(1).substr(0, 5);
  GateResult r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  CHECK(r.event == GateEvent::kNeedMore && r.consumed == 5);
  CHECK(!gate.idle());
  CHECK(gate.buffered() == 0);
}

static void TestHugeGetValues() {
  current = "GET_VALUES of 65535 bytes with huge unknown names: known names answered, nothing buffered";
  GateConfig config;
  config.maxConns = "4096";
  config.maxReqs = "4096";
  config.mpxsConns = "0";
  Bytes content = Pair("FCGI_MAX_REQS", "") + Pair(Filler(40000, 4), "") + Pair("FCGI_MAX_CONNS", "") +
                  Pair("X", Filler(300, 5)) + Pair("FCGI_MPXS_CONNSX", "") + Pair("FCGI_MAX_REQS", "");
  content += Pair(Filler(65535 - content.size() - 5, 6), "");
  CHECK(content.size() == 65535);
  Bytes in = Rec(kGetValues, 0, content, 1) + GetRequest(1);
  Run run = Drive(config, in);
  Bytes expected = Pair("FCGI_MAX_CONNS", "4096") + Pair("FCGI_MAX_REQS", "4096");
  size_t pad = (8 - expected.size() % 8) % 8;
  CHECK(run.replies == Rec(kGetValuesResult, 0, expected, static_cast<int>(pad)));
  CHECK(run.events.size() == 2 && run.events[0] == GateEvent::kReply);
  CHECK(run.readyCount == 1);  // the connection goes on being read
  Gate gate(config);
  GateResult r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()), 8 + content.size());
  CHECK(r.event == GateEvent::kNeedMore && gate.buffered() == 0);  // the padding byte is still to come

  current = "GET_VALUES asking for every known name, and a zero-length GET_VALUES";
  Bytes all = Pair("FCGI_MPXS_CONNS", "") + Pair("FCGI_MAX_CONNS", "") + Pair("FCGI_MAX_REQS", "");
  run = Drive(config, Rec(kGetValues, 0, all) + Rec(kGetValues, 0, ""));
  expected = Pair("FCGI_MAX_CONNS", "4096") + Pair("FCGI_MAX_REQS", "4096") + Pair("FCGI_MPXS_CONNS", "0");
  pad = (8 - expected.size() % 8) % 8;
  CHECK(run.replies == Rec(kGetValuesResult, 0, expected, static_cast<int>(pad)) + Rec(kGetValuesResult, 0, ""));
  CHECK(run.idleAtEnd);

  current = "GET_VALUES whose last pair is cut short is a protocol error";
  run = Drive(config, Rec(kGetValues, 0, Len(20) + Len(0) + "FCGI"));
  CHECK(run.error != nullptr && strstr(run.error, "GET_VALUES") != nullptr);
}

static void TestUnknownType() {
  current = "an unknown management type is answered with FCGI_UNKNOWN_TYPE, then the connection is read on";
  GateConfig config;
  Run run = Drive(config, Rec(42, 0, Filler(1000, 7), 3) + Rec(43, 0, "") + GetRequest(1));
  Bytes body1(8, '\0'), body2(8, '\0');
  body1[0] = 42;
  body2[0] = 43;
  CHECK(run.replies == Rec(kUnknownType, 0, body1) + Rec(kUnknownType, 0, body2));
  CHECK(run.readyCount == 1 && run.handover == GetRequest(1));
}

static void TestAbortBeforeReady() {
  current = "ABORT before the request is ready drops it and answers END_REQUEST";
  GateConfig config;
  Bytes in = Begin(5, 1, false) + Rec(kParams, 5, Pair("A", "B")) + Rec(kAbort, 5, "");
  Gate gate(config);
  GateResult r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  CHECK(r.event == GateEvent::kAborted && r.consumed == in.size());
  Bytes end(8, '\0');
  CHECK(gate.reply() == Rec(kEnd, 5, end));
  CHECK(!gate.keepConn());
  CHECK(gate.idle() && gate.buffered() == 0);
}

static void TestParamsOverLimit() {
  current = "PARAMS over maxParamsSize is refused at the header that passes it";
  GateConfig config;
  config.maxParamsSize = 1000;
  Bytes first = Begin(1) + Rec(kParams, 1, Filler(600, 8));
  Bytes in = first + Header(kParams, 1, 401) + Filler(401, 9);
  Run run = Drive(config, in);
  CHECK(run.error != nullptr && strstr(run.error, "maxParamsSize") != nullptr);
  Gate gate(config);
  GateResult r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  CHECK(r.event == GateEvent::kError && r.consumed == first.size() + 8);
  current = "PARAMS of exactly maxParamsSize pass";
  run = Drive(config, first + Rec(kParams, 1, Filler(400, 9)) + Rec(kParams, 1, "") + Rec(kStdin, 1, ""));
  CHECK(run.readyCount == 1 && run.error == nullptr);
}

static Bytes PostRequest(int id, const Bytes& body, size_t recordSize, int padding = 0) {
  Bytes in = Begin(id) + Rec(kParams, id, Pair("CONTENT_LENGTH", std::to_string(body.size()))) + Rec(kParams, id, "");
  for (size_t i = 0; i < body.size(); i += recordSize) in += Rec(kStdin, id, body.substr(i, recordSize), padding);
  return in + Rec(kStdin, id, "", padding);
}

static void TestBodies() {
  current = "a body of up to 64 KiB is gathered whole";
  GateConfig config;
  Bytes body = Filler(60000, 10);
  Run run = Drive(config, PostRequest(1, body, 65535, 7));
  CHECK(run.readyCount == 1 && run.bodyComplete);
  Parsed p = Parse(run.handover);
  CHECK(p.body == body && p.bodyEnded);
  CHECK(run.maxBuffered <= Gate(config).bufferLimit());

  current = "a 16 KiB body in one record: the empty record after it does not double the buffer (one more copy)";
  body = Filler(16384, 12);
  run = Drive(config, PostRequest(1, body, 65535));
  CHECK(run.readyCount == 1 && run.bodyComplete);
  CHECK(Parse(run.handover).body == body);
  CHECK(run.maxBuffered < body.size() + 2048);

  current = "a body over 64 KiB is cut at 64 KiB inside a record; the hand-over plus the rest is the whole body";
  body = Filler(100000, 11);
  Bytes in = PostRequest(1, body, 65535, 3);
  run = Drive(config, in);
  CHECK(run.readyCount == 1 && !run.bodyComplete);
  p = Parse(run.handover);
  CHECK(p.body == body && p.bodyEnded);
  CHECK(run.maxBuffered <= Gate(config).bufferLimit());
  // What the scanner held when it was ready: no more than the small body of STDIN.
  Gate gate(config);
  size_t consumedTotal = 0;
  GateResult r{GateEvent::kNeedMore, 0};
  while (consumedTotal < in.size()) {
    size_t n = std::min<size_t>(1000, in.size() - consumedTotal);
    r = gate.Feed(reinterpret_cast<const uint8_t*>(in.data()) + consumedTotal, n);
    consumedTotal += r.consumed;
    if (r.event == GateEvent::kReady) break;
  }
  CHECK(r.event == GateEvent::kReady);
  size_t len = 0;
  uint8_t* out = gate.Handover(nullptr, 0, &len);
  Parsed held = Parse(Bytes(reinterpret_cast<char*>(out), len));
  free(out);
  CHECK(held.body.size() == config.smallBody);

  current = "a body of 1-byte records is held coalesced, within the bound";
  body = Filler(70000, 12);
  run = Drive(config, PostRequest(1, body, 1));
  p = Parse(run.handover);
  CHECK(run.readyCount == 1 && !run.bodyComplete && p.body == body);
  CHECK(run.maxBuffered <= Gate(config).bufferLimit());
}

static void TestPaddingAndZeroLength() {
  current = "padding is dropped from held records; empty records end the streams";
  GateConfig config;
  Bytes in = GetRequest(1, 255);
  Run run = Drive(config, in);
  CHECK(run.readyCount == 1 && run.handover == GetRequest(1, 0));
  current = "zero-length records of other types: skipped (ended request) or answered (management)";
  run = Drive(config, Rec(kAbort, 9, "") + Rec(kStdin, 9, "") + Rec(77, 0, "", 8) + GetRequest(1));
  Bytes body(8, '\0');
  body[0] = 77;
  CHECK(run.replies == Rec(kUnknownType, 0, body) && run.readyCount == 1);
  current = "many 1-byte PARAMS records stay within the bound";
  config.maxParamsSize = 20000;
  in = Begin(1);
  for (int i = 0; i < 20000; i++) in += Rec(kParams, 1, "x", 255);
  run = Drive(config, in + Rec(kParams, 1, "") + Rec(kStdin, 1, ""));
  CHECK(run.readyCount == 1 && Parse(run.handover).params.size() == 20000);
  CHECK(run.maxBuffered <= Gate(config).bufferLimit());
}

static void TestProtocolErrors() {
  GateConfig config;
  current = "a bad version is a protocol error";
  Run run = Drive(config, Rec(kBegin, 1, Bytes(8, '\0'), 0, 2));
  CHECK(run.error != nullptr && strstr(run.error, "version") != nullptr);
  current =
      "records of another request while one is read are skipped, as fcgi2 skips them; its BEGIN is answered "
      "CANT_MPX_CONN";
  run = Drive(config, Begin(1) + Rec(kParams, 2, "ab") + Begin(2) + Rec(kParams, 1, "") + Rec(kStdin, 1, ""));
  CHECK(run.error == nullptr && run.readyCount == 1);
  current = "pair lengths over maxNameLength/maxValueLength, or a pair cut short by the end of PARAMS, are refused";
  GateConfig pairs;
  pairs.maxNameLength = 100;
  pairs.maxValueLength = 100;
  run = Drive(pairs, Begin(1) + Rec(kParams, 1, Pair(std::string(101, 'N'), "v")));
  CHECK(run.error != nullptr && strstr(run.error, "maxParamNameLength") != nullptr);
  run = Drive(pairs, Begin(1) + Rec(kParams, 1, Pair("N", std::string(101, 'v'))));
  CHECK(run.error != nullptr);
  run = Drive(pairs, Begin(1) + Rec(kParams, 1, Pair(std::string(100, 'N'), std::string(100, 'v'))) +
                         Rec(kParams, 1, "") + Rec(kStdin, 1, ""));
  CHECK(run.error == nullptr && run.readyCount == 1);
  run = Drive(pairs, Begin(1) + Rec(kParams, 1, Bytes("\x05\x05A", 3)) + Rec(kParams, 1, ""));
  CHECK(run.error != nullptr && strstr(run.error, "cut short") != nullptr);
  current = "STDIN before the end of PARAMS is a protocol error";
  run = Drive(config, Begin(1) + Rec(kStdin, 1, "ab"));
  CHECK(run.error != nullptr && strstr(run.error, "FCGI_PARAMS") != nullptr);
  current = "FCGI_DATA before the end of STDIN is a protocol error";
  run = Drive(config, Begin(1, 3) + Rec(kParams, 1, "") + Rec(kData, 1, "ab"));
  CHECK(run.error != nullptr);
  current = "an unknown role is refused with END_REQUEST FCGI_UNKNOWN_ROLE";
  run = Drive(config, Begin(1, 9));
  Bytes end(8, '\0');
  end[4] = 3;
  CHECK(run.error != nullptr && run.replies == Rec(kEnd, 1, end));
  current = "BEGIN_REQUEST of another size is a protocol error";
  run = Drive(config, Rec(kBegin, 1, "1234"));
  CHECK(run.error != nullptr);
}

static void TestPairLimitsAnySplit() {
  current =
      "pair limits hold the same whether a pair's lengths arrive whole in one read or cut at any byte (one- and "
      "four-byte lengths)";
  GateConfig pairs;
  pairs.maxNameLength = 130;
  pairs.maxValueLength = 300;
  Bytes fits = Pair("A", "1") + Pair(std::string(130, 'N'), "n") + Pair("LONG", std::string(300, 'v')) + Pair("E", "");
  Bytes nameOver = Pair("A", "1") + Pair(std::string(131, 'N'), "n");
  Bytes valueOver = Pair("A", "1") + Pair("LONG", std::string(301, 'v')) + Pair("E", "");
  for (const Bytes* params : {&fits, &nameOver, &valueOver}) {
    Bytes in = Begin(1) + Rec(kParams, 1, *params) + Rec(kParams, 1, "") + Rec(kStdin, 1, "");
    Run whole = Drive(pairs, in);
    CHECK((whole.error == nullptr) == (params == &fits));
    CHECK(params == &fits ? whole.readyCount == 1 : whole.error != nullptr && strstr(whole.error, "maxParam") != nullptr);
    for (size_t cut = 1; cut < in.size(); cut++) {
      if (!(Drive(pairs, in, {cut}) == whole)) {
        fprintf(stderr, "split at %zu differs\n", cut);
        CHECK(false);
        break;
      }
    }
  }
}

static void TestFilterRole() {
  current = "FILTER: ready at the end of STDIN like a responder; FCGI_DATA follows in the rest";
  GateConfig config;
  Bytes in = Begin(1, 3) + Rec(kParams, 1, "") + Rec(kStdin, 1, "in") + Rec(kStdin, 1, "") + Rec(kData, 1, "dd");
  Run run = Drive(config, in);
  CHECK(run.readyCount == 1 && run.role == 3 && run.handover == in);
}

static void TestAuthorizerRole() {
  current = "AUTHORIZER: ready at the end of PARAMS (Apache's mod_authnz_fcgi sends no FCGI_STDIN), body not complete";
  GateConfig config;
  Bytes in = Begin(1, 2) + Rec(kParams, 1, Pair("REMOTE_USER", "u")) + Rec(kParams, 1, "");
  Run run = Drive(config, in);
  CHECK(run.readyCount == 1 && run.role == 2 && run.handover == in && !run.bodyComplete);
}

static void TestWatchInFlight() {
  current = "watching an in-flight request: its ABORT is reported, management answered, a next request gathered";
  GateConfig config;
  Gate gate(config);
  gate.WatchInFlight(1);
  Bytes in = Rec(kGetValues, 0, Pair("FCGI_MAX_REQS", "")) + Rec(kAbort, 2, "") + Rec(kAbort, 1, "");
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  GateResult r = gate.Feed(p, in.size());
  CHECK(r.event == GateEvent::kReply);
  gate.ClearReply();
  r = gate.Feed(p + r.consumed, in.size() - r.consumed);
  CHECK(r.event == GateEvent::kAborted && gate.reply().empty());
  CHECK(gate.idle());
  current = "an ABORT of the in-flight request while its pipelined successor (another id) is gathered";
  Gate g2(config);
  g2.WatchInFlight(1);
  in = Begin(2) + Rec(kAbort, 1, "");
  r = g2.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  CHECK(r.event == GateEvent::kAborted && g2.requestId() == 2 && !g2.idle());
}

int main() {
  TestWholeGetRequest();
  TestSplitAtEveryByte();
  TestParamsAnnouncedNotSent();
  TestHeaderCutShort();
  TestHugeGetValues();
  TestUnknownType();
  TestAbortBeforeReady();
  TestParamsOverLimit();
  TestBodies();
  TestPaddingAndZeroLength();
  TestProtocolErrors();
  TestPairLimitsAnySplit();
  TestFilterRole();
  TestAuthorizerRole();
  TestWatchInFlight();
  if (failures > 0) {
    fprintf(stderr, "%d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("ok %d checks\n", checks);
  return 0;
}
