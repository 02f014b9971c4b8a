// The request gate's hand-over into the patched fcgi2 (patch 0019): what the scanner gathered is given to
// FCGX_SetPreread and fcgi2 parses the same request from memory. The connection is a socketpair whose peer holds
// only what the gate did not read (nothing at all for a request the gate took whole), then shuts its side: a
// read that should not happen sees EOF and fails the request. Built and run by test/unit/gate-scanner.test.ts.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../native/gate.h"

extern "C" {
#include "fastcgi.h"
#include "fcgiapp.h"
}

using libfcgi::Gate;
using libfcgi::GateConfig;
using libfcgi::GateEvent;
using libfcgi::GateResult;
using Bytes = std::string;

static int failures = 0;
static int checks = 0;
static const char* current = "";

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    checks++;                                                                          \
    if (!(cond)) {                                                                     \
      failures++;                                                                      \
      fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, current, #cond); \
    }                                                                                  \
  } while (0)

static Bytes Rec(int type, int id, const Bytes& content, int padding = 0) {
  Bytes h(8, '\0');
  h[0] = 1;
  h[1] = static_cast<char>(type);
  h[2] = static_cast<char>(id >> 8);
  h[3] = static_cast<char>(id);
  h[4] = static_cast<char>(content.size() >> 8);
  h[5] = static_cast<char>(content.size());
  h[6] = static_cast<char>(padding);
  return h + content + Bytes(static_cast<size_t>(padding), '\0');
}

static Bytes Pair(const Bytes& name, const Bytes& value) {
  return Bytes(1, static_cast<char>(name.size())) + Bytes(1, static_cast<char>(value.size())) + name + value;
}

static Bytes Begin(int id, int role = FCGI_RESPONDER) {
  Bytes body(8, '\0');
  body[1] = static_cast<char>(role);
  body[2] = 1;  // keep the connection
  return Rec(FCGI_BEGIN_REQUEST, id, body);
}

static Bytes Filler(size_t n) {
  Bytes b(n, '\0');
  for (size_t i = 0; i < n; i++) b[i] = static_cast<char>('a' + i % 23);
  return b;
}

struct Seen {
  bool accepted = false;
  Bytes method, tag, body;
  bool bodyError = false;
  Bytes replies;  // what the gate answered itself
};

// Feeds the first `gateReads` bytes of `in` to a gate (all of them by default), hands the ready request over with
// what it did not consume, and serves the rest of `in` through the socket; fcgi2 then reads params and body.
static Seen Serve(const Bytes& in, size_t gateReads = SIZE_MAX) {
  Seen seen;
  GateConfig config;
  Gate gate(config);
  size_t fed = std::min(gateReads, in.size());
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  size_t left = fed;
  uint8_t* handed = nullptr;
  size_t handedLen = 0;
  for (;;) {
    GateResult r = gate.Feed(p, left);
    p += r.consumed;
    left -= r.consumed;
    if (r.event == GateEvent::kNeedMore || r.event == GateEvent::kError) return seen;
    seen.replies += gate.reply();
    gate.ClearReply();
    if (r.event == GateEvent::kReady) {
      handed = gate.Handover(p, left, &handedLen);
      break;
    }
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
  Bytes rest = in.substr(fed);
  // The peer's bytes fit the socket buffer in these tests (under 200 KiB).
  int size = 1 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (!rest.empty() && write(sv[1], rest.data(), rest.size()) != static_cast<ssize_t>(rest.size())) abort();
  shutdown(sv[1], SHUT_WR);

  FCGX_Request req;
  FCGX_InitRequest(&req, -1, 0);
  if (FCGX_SetPreread(&req, handed, handedLen) != 0) abort();
  req.ipcFd = sv[0];
  req.listen_sock = -1;
  req.keepConnection = 1;
  req.detached = 1;
  if (FCGX_Accept_r(&req) == 0) {
    seen.accepted = true;
    const char* m = FCGX_GetParam("REQUEST_METHOD", req.envp);
    const char* t = FCGX_GetParam("X", req.envp);
    seen.method = m ? m : "";
    seen.tag = t ? t : "";
    char buf[4096];
    int n;
    while ((n = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) seen.body.append(buf, static_cast<size_t>(n));
    seen.bodyError = FCGX_GetError(req.in) != 0;
    FCGX_Finish_r(&req);
  }
  FCGX_Free(&req, 1);
  close(sv[1]);
  return seen;
}

static Bytes Request(const Bytes& tag, const Bytes& body, size_t recordSize, int padding) {
  Bytes params = Pair("REQUEST_METHOD", "POST") + Pair("X", tag);
  Bytes in = Begin(1);
  for (size_t i = 0; i < params.size(); i += 5) in += Rec(FCGI_PARAMS, 1, params.substr(i, 5), padding);
  in += Rec(FCGI_PARAMS, 1, "", padding);
  for (size_t i = 0; i < body.size(); i += recordSize) in += Rec(FCGI_STDIN, 1, body.substr(i, recordSize), padding);
  return in + Rec(FCGI_STDIN, 1, "", padding);
}

int main() {
  FCGX_Init();

  current = "a request gathered whole (params in 5-byte records, padding, a GET_VALUES between) parses from memory";
  Bytes body = Filler(3000);
  Bytes in = Request("whole", body, 700, 5);
  in.insert(16, Rec(FCGI_GET_VALUES, 0, Pair("FCGI_MAX_CONNS", "")));
  Seen s = Serve(in);
  CHECK(s.accepted && s.method == "POST" && s.tag == "whole" && s.body == body && !s.bodyError);
  CHECK(s.replies.size() == 8 + 24 && s.replies[1] == FCGI_GET_VALUES_RESULT);

  current = "a body of exactly the small body in 4 KiB records parses from memory";
  body = Filler(65536);
  s = Serve(Request("small", body, 4096, 0));
  CHECK(s.accepted && s.tag == "small" && s.body == body && !s.bodyError);

  current = "a body over the small body: cut inside a record, the rest read from the socket";
  body = Filler(150000);
  s = Serve(Request("large", body, 65535, 3));
  CHECK(s.accepted && s.tag == "large" && s.body == body && !s.bodyError);

  current = "the gate read only part of what the peer sent: what it did not read comes through the socket";
  in = Request("partial", Filler(90000), 30000, 1);
  s = Serve(in, 70000);
  CHECK(s.accepted && s.tag == "partial" && s.body == Filler(90000) && !s.bodyError);

  current = "a request whose STDIN end the gate never saw is not handed over (nothing for fcgi2 to wait on)";
  in = Request("cut", "12345", 100, 0);
  s = Serve(in, in.size() - 8);
  CHECK(!s.accepted);

  if (failures > 0) {
    fprintf(stderr, "%d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("ok %d checks\n", checks);
  return 0;
}
