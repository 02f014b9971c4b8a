// Builds JS errors with the same shape as Node's (code, errno, syscall), so users handle them the same way.
#include "errors.h"

#include <uv.h>

namespace libfcgi {

Napi::Error MakeSystemError(Napi::Env env, const SysError& err) {
  const int uverr = -err.errnum;  // libuv error numbers are negated errno values on unix
  const char* code = uv_err_name(uverr);
  std::string message = std::string(err.syscall) + " " + code + ": " + uv_strerror(uverr);
  if (!err.address.empty()) message += " " + err.address;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("errno", Napi::Number::New(env, uverr));
  obj.Set("syscall", Napi::String::New(env, err.syscall));
  if (!err.address.empty()) obj.Set("address", Napi::String::New(env, err.address));
  return error;
}

Napi::Error MakeFcgiError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

Napi::TypeError MakeTypeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

}  // namespace libfcgi
