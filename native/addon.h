// Per-environment addon state (main thread and each worker thread have their own).
#pragma once

#include <napi.h>

namespace libfcgi {

struct AddonData {
  Napi::FunctionReference acceptLoop;
};

}  // namespace libfcgi
