// Errors shaped like Node's own: system errors carry code/errno/syscall, library errors an FCGI_* code.
#pragma once

#include <napi.h>

#include <string>

namespace libfcgi {

// A failed system call, captured where it happened and thrown later on the JS thread.
struct SysError {
  int errnum = 0;            // positive errno
  const char* syscall = "";  // "bind", "listen", ...
  std::string address;       // path or host, when it helps the reader

  bool failed() const { return errnum != 0; }
  void Set(int e, const char* call, std::string addr = std::string()) {
    errnum = e;
    syscall = call;
    address = std::move(addr);
  }
};

// Error with Node-style code ("EADDRINUSE"), negative errno, syscall and address.
Napi::Error MakeSystemError(Napi::Env env, const SysError& err);
// Error whose code starts with FCGI_ (protocol/library state), e.g. FCGI_NO_REQUEST.
Napi::Error MakeFcgiError(Napi::Env env, const char* code, const std::string& message);
Napi::TypeError MakeTypeError(Napi::Env env, const char* code, const std::string& message);

}  // namespace libfcgi
