// What this binary was built from (fcgi2 version, patches, flags), so a prebuild can be compared with a source build.
#pragma once

#include <napi.h>

namespace libfcgi {

// { fcgi2Version, systemLibfcgi, patches[], features[], flags, napiVersion, compiler }
Napi::Object BuildInfo(Napi::Env env);

}  // namespace libfcgi
