// Feature macros for what only our ext/patches add to fcgi2, so the addon also builds against a system libfcgi.
#pragma once

extern "C" {
#include "fcgiapp.h"
}

// Patch 0001: FCGX_Request.maxParamNameLen / maxParamValueLen / maxParamsTotal (defined with the fields).
#ifdef FCGX_DEFAULT_MAX_PARAM_NAME
#define LIBFCGI_HAVE_PARAM_LIMITS 1
#endif

// Patch 0009: FCGX_Request.readAhead. It defines no macro of its own; patch 0015 (FCGX_HAVE_BUF_SIZES) applies
// on top of it (its context is the readAhead field), so a header with 0015 has 0009.
#ifdef FCGX_HAVE_BUF_SIZES
#define LIBFCGI_HAVE_READ_AHEAD 1
#endif

// Patch 0019: FCGX_SetPreread / FCGX_TakePreread (FCGX_HAVE_PREREAD, defined with them). Without it fcgi2 cannot
// take a request the request gate (gate.h) gathered, so the gate must stay off and fcgi2 reads the socket itself.
#ifdef FCGX_HAVE_PREREAD
#define LIBFCGI_HAVE_GATE 1
#endif

// Patch 0020: FCGX_Request.keepSpares and FCGX_FreeSpares (FCGX_HAVE_SPARES, defined with FCGX_FreeSpares): a request's
// streams and params vector stay with its FCGX_Request from one request to the next. Without it fcgi2 allocates and
// frees them for every request, as upstream does, and there is nothing to free at the end.
#ifdef FCGX_HAVE_SPARES
#define LIBFCGI_HAVE_SPARES 1
#endif

// Patch 0021: a request's params strings in blocks the params own, FCGX_GetParamsBlock (FCGX_HAVE_PARAMS_BLOCK) gives
// them as one run of bytes when they fit in one. Without it JoinParams joins them string by string.
#ifdef FCGX_HAVE_PARAMS_BLOCK
#define LIBFCGI_HAVE_PARAMS_BLOCK 1
#endif
