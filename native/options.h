// Reads the plain options object that lib/listen.ts validated (native re-checks types cheaply, never aborts).
#pragma once

#include <napi.h>

#include "reactor.h"

namespace libfcgi {

// Fills opts/timeouts from { kind, path, mode, host, port, fd, backlog, maxConnections, maxBufferedBytes,
// readTimeout, writeTimeout, idleTimeout, maxParamNameLength, maxParamValueLength, maxParamsSize }. Throws a JS
// TypeError (and returns false) on a wrong type.
bool ReadListenOptions(const Napi::Object& obj, ListenOptions* opts, Timeouts* timeouts, ParamLimits* limits);

// { path?, address, port?, family } for the JS `address()` method.
Napi::Object DescribeListener(Napi::Env env, const Listener& listener);

}  // namespace libfcgi
