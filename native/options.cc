// Conversion of the validated JS listen options to ListenOptions/Timeouts, and back for address().
#include "options.h"

#include <sys/socket.h>

#include "errors.h"

namespace libfcgi {

namespace {

bool ReadInt(const Napi::Object& obj, const char* name, int* out) {
  Napi::Value v = obj.Get(name);
  if (v.IsUndefined()) return true;
  if (!v.IsNumber()) {
    MakeTypeError(obj.Env(), "ERR_INVALID_ARG_TYPE", std::string("options.") + name + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Number>().Int32Value();
  return true;
}

bool ReadString(const Napi::Object& obj, const char* name, std::string* out) {
  Napi::Value v = obj.Get(name);
  if (v.IsUndefined()) return true;
  if (!v.IsString()) {
    MakeTypeError(obj.Env(), "ERR_INVALID_ARG_TYPE", std::string("options.") + name + " must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool ReadSize(const Napi::Object& obj, const char* name, size_t* out) {
  Napi::Value v = obj.Get(name);
  if (v.IsUndefined()) return true;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) {
    MakeTypeError(obj.Env(), "ERR_INVALID_ARG_TYPE", std::string("options.") + name + " must be a non-negative number")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<size_t>(v.As<Napi::Number>().DoubleValue());
  return true;
}

}  // namespace

bool ReadListenOptions(const Napi::Object& obj, ListenOptions* opts, Timeouts* timeouts, ParamLimits* limits) {
  std::string kind;
  if (!ReadString(obj, "kind", &kind)) return false;
  if (kind == "unix") {
    opts->kind = ListenOptions::Kind::kUnix;
  } else if (kind == "tcp") {
    opts->kind = ListenOptions::Kind::kTcp;
  } else if (kind == "fd") {
    opts->kind = ListenOptions::Kind::kFd;
  } else {
    MakeTypeError(obj.Env(), "ERR_INVALID_ARG_VALUE", "options.kind must be 'unix', 'tcp' or 'fd'")
        .ThrowAsJavaScriptException();
    return false;
  }
  return ReadString(obj, "path", &opts->path) && ReadInt(obj, "mode", &opts->mode) &&
         ReadString(obj, "host", &opts->host) && ReadInt(obj, "port", &opts->port) && ReadInt(obj, "fd", &opts->fd) &&
         ReadInt(obj, "backlog", &opts->backlog) && ReadInt(obj, "maxConnections", &opts->maxConnections) &&
         ReadInt(obj, "readTimeout", &timeouts->readMs) && ReadInt(obj, "writeTimeout", &timeouts->writeMs) &&
         ReadInt(obj, "idleTimeout", &timeouts->idleMs) &&
         ReadSize(obj, "maxParamNameLength", &limits->maxNameLength) &&
         ReadSize(obj, "maxParamValueLength", &limits->maxValueLength) &&
         ReadSize(obj, "maxParamsSize", &limits->maxTotal) &&
         ReadSize(obj, "maxBufferedBytes", &opts->maxBufferedBytes);
}

Napi::Object DescribeListener(Napi::Env env, const Listener& listener) {
  Napi::Object out = Napi::Object::New(env);
  switch (listener.family()) {
    case AF_UNIX:
      out.Set("family", "unix");
      out.Set("path", listener.address());
      break;
    case AF_INET6:
      out.Set("family", "IPv6");
      out.Set("address", listener.address());
      out.Set("port", listener.port());
      break;
    default:
      out.Set("family", "IPv4");
      out.Set("address", listener.address());
      out.Set("port", listener.port());
      break;
  }
  return out;
}

}  // namespace libfcgi
