// libFuzzer target for the request gate's scanner (native/gate.cc): every input is one connection's bytes.
//
// Besides ASan/UBSan findings it checks the scanner's promises and aborts when one breaks:
// - the same events, replies and hand-overs whatever the split of the input (cut points from its first byte);
// - what the scanner holds never passes bufferLimit();
// - every reply is whole records (8-byte aligned, version 1, a length that matches);
// - a hand-over starts with a BEGIN_REQUEST record of the request made ready, and its FCGI_PARAMS content is at
//   most maxParamsSize.
// Limits are small (maxParamsSize 2048, small body 512) so that short inputs reach them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../native/gate.h"

using libfcgi::Gate;
using libfcgi::GateConfig;
using libfcgi::GateEvent;
using libfcgi::GateResult;

namespace {

void Require(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "fuzz_gate: broken promise: %s\n", what);
    abort();
  }
}

void CheckReply(const std::string& r) {
  size_t i = 0;
  while (i < r.size()) {
    Require(r.size() - i >= 8, "a reply ends inside a record header");
    auto u = [&](size_t k) { return static_cast<unsigned char>(r[i + k]); };
    Require(u(0) == 1, "a reply record of another version");
    size_t len = (static_cast<size_t>(u(4)) << 8) | u(5);
    size_t padded = 8 + len + u(6);
    Require(padded % 8 == 0, "a reply record not 8-byte aligned");
    Require(r.size() - i >= padded, "a reply record cut short");
    i += padded;
  }
}

void CheckHandover(const uint8_t* p, size_t n, const Gate& gateBefore, size_t maxParams) {
  (void)gateBefore;
  Require(n >= 16 && p[0] == 1 && p[1] == 1 && p[5] == 8, "a hand-over that does not start with BEGIN_REQUEST");
  size_t i = 16, params = 0;
  while (i + 8 <= n && p[i + 1] == 4) {
    size_t len = (static_cast<size_t>(p[i + 4]) << 8) | p[i + 5];
    params += len;
    i += 8 + len + p[i + 6];
  }
  Require(params <= maxParams, "a hand-over with more FCGI_PARAMS content than maxParamsSize");
}

// One run over the input fed in pieces of `chunk` bytes (0: all at once). Returns a transcript of what happened.
std::string Drive(const uint8_t* data, size_t size, size_t chunk) {
  GateConfig config;
  config.maxParamsSize = 2048;
  config.smallBody = 512;
  config.maxConns = "10";
  Gate gate(config);
  const size_t limit = gate.bufferLimit();
  std::string log;
  std::string pending;  // bytes of the current piece not consumed yet
  size_t at = 0;
  bool done = false;
  while (!done && at < size) {
    size_t n = chunk == 0 ? size - at : std::min(chunk, size - at);
    pending.append(reinterpret_cast<const char*>(data + at), n);
    at += n;
    const auto* p = reinterpret_cast<const uint8_t*>(pending.data());
    size_t left = pending.size();
    for (;;) {
      GateResult r = gate.Feed(p, left);
      Require(r.consumed <= left, "consumed more than fed");
      Require(gate.buffered() <= limit, "buffered past bufferLimit()");
      p += r.consumed;
      left -= r.consumed;
      if (r.event == GateEvent::kNeedMore) {
        Require(left == 0, "needs more with bytes left");
        break;
      }
      log += static_cast<char>('0' + static_cast<int>(r.event));
      CheckReply(gate.reply());
      log += gate.reply();
      gate.ClearReply();
      if (r.event == GateEvent::kError) {
        Require(gate.error() != nullptr, "an error without a reason");
        log += gate.error();
        done = true;
        break;
      }
      if (r.event == GateEvent::kReady) {
        log += gate.bodyComplete() ? 'c' : 'p';
        int id = gate.requestId();
        // Hand over what the gate holds, without the rest: the transcript must not depend on piece size. The
        // rest is fed again as the start of the connection's next request, as after an fcgi2 read-ahead.
        size_t len = 0;
        uint8_t* out = gate.Handover(nullptr, 0, &len);
        Require(out != nullptr, "hand-over failed");
        CheckHandover(out, len, gate, config.maxParamsSize);
        Require(((out[2] << 8) | out[3]) == id, "a hand-over of another request id");
        log.append(reinterpret_cast<const char*>(out), len);
        free(out);
        Require(gate.idle() && gate.buffered() == 0, "not idle after a hand-over");
        // A request cut at the small body leaves the rest of its STDIN to fcgi2: the scanner cannot go on.
        if (log.back() == 'p') {
          done = true;
          break;
        }
      }
    }
    pending.erase(0, pending.size() - left);
  }
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 64;
  data++;
  size--;
  std::string whole = Drive(data, size, 0);
  std::string split = Drive(data, size, chunk);
  Require(whole == split, "the transcript depends on how the input is split");
  return 0;
}
