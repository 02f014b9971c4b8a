// The build-info record: binding.gyp / CMakeLists.txt pass the patch list and flags in as defines.
#include "build_info.h"

#include <sstream>
#include <string>

extern "C" {
#include "fcgiapp.h"
}

#include "fcgi2_features.h"

#ifndef LIBFCGI_FCGI2_VERSION
#error "the build file must define LIBFCGI_FCGI2_VERSION"
#endif
#ifndef LIBFCGI_FCGI2_PATCHES
#error "the build file must define LIBFCGI_FCGI2_PATCHES"
#endif
#ifndef LIBFCGI_BUILD_FLAGS
#error "the build file must define LIBFCGI_BUILD_FLAGS"
#endif

namespace libfcgi {

namespace {
// "a,b,c" → ["a", "b", "c"]; "" → [].
Napi::Array SplitList(Napi::Env env, const std::string& list) {
  Napi::Array out = Napi::Array::New(env);
  std::istringstream in(list);
  std::string item;
  uint32_t i = 0;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.Set(i++, item);
  }
  return out;
}
}  // namespace

Napi::Object BuildInfo(Napi::Env env) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("fcgi2Version", LIBFCGI_FCGI2_VERSION);
#ifdef LIBFCGI_SYSTEM_LIBFCGI
  info.Set("systemLibfcgi", true);
#else
  info.Set("systemLibfcgi", false);
#endif
  info.Set("patches", SplitList(env, LIBFCGI_FCGI2_PATCHES));
  // What the fcgi2 headers compiled against offer (each macro comes with one of our patches).
  std::string features;
#ifdef LIBFCGI_HAVE_PARAM_LIMITS
  features += "param-limits,";
#endif
#ifdef LIBFCGI_HAVE_READ_AHEAD
  features += "read-ahead,";
#endif
#ifdef FCGX_HAVE_BUF_SIZES
  features += "buf-sizes,";
#endif
#ifdef FCGX_HAVE_PUT_STR_CLOSE
  features += "put-str-close,";
#endif
#ifdef FCGX_HAVE_CLOSE_WRITE
  features += "close-write,";
#endif
#ifdef FCGX_HAVE_PREREAD
  features += "preread,";
#endif
#ifdef LIBFCGI_HAVE_SPARES
  features += "spares,";
#endif
#ifdef LIBFCGI_HAVE_PARAMS_BLOCK
  features += "params-block,";
#endif
  info.Set("features", SplitList(env, features));
  info.Set("flags", LIBFCGI_BUILD_FLAGS);
  info.Set("napiVersion", NAPI_VERSION);
#ifdef __VERSION__
  info.Set("compiler", __VERSION__);
#endif
  return info;
}

}  // namespace libfcgi
