/* The physical limit: the plain fcgi2 loop (FCGX_Accept_r / FCGX_PutStr / FCGX_Finish_r) on the vendored
 * library, one thread, one request at a time. Built by bench/run.js into its temp dir:
 *   cc -O2 -Iext/fcgi2/include -Iext/config bench/apps/c-libfcgi.c ext/fcgi2/libfcgi/fcgiapp.c \
 *      ext/fcgi2/libfcgi/os_unix.c -o c-libfcgi
 * Usage: c-libfcgi SOCKET_PATH. Variants by the last segment of REQUEST_URI: hello, big (64 KiB), echo
 * (reads the body, answers its length). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgiapp.h"

#define BIG_SIZE 65536

static char big[BIG_SIZE];

static const char *last_segment(const char *uri) {
  const char *slash = strrchr(uri, '/');
  return slash ? slash + 1 : uri;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
    return 2;
  }
  /* Patch 0002 removed fcgi2's own SIGPIPE handler: a web server that hangs up must not kill us. */
  signal(SIGPIPE, SIG_IGN);
  memset(big, 'x', sizeof big);
  if (FCGX_Init() != 0) return 1;
  int sock = FCGX_OpenSocket(argv[1], 511);
  if (sock < 0) {
    perror("FCGX_OpenSocket");
    return 1;
  }
  FCGX_Request req;
  FCGX_InitRequest(&req, sock, 0);
  static const char head[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  char body[8192];
  while (FCGX_Accept_r(&req) >= 0) {
    const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
    const char *variant = last_segment(uri ? uri : "");
    FCGX_PutStr(head, sizeof head - 1, req.out);
    if (strcmp(variant, "big") == 0) {
      FCGX_PutStr(big, BIG_SIZE, req.out);
    } else if (strcmp(variant, "echo") == 0) {
      long total = 0;
      int n;
      while ((n = FCGX_GetStr(body, sizeof body, req.in)) > 0) total += n;
      char len[32];
      int m = snprintf(len, sizeof len, "%ld", total);
      FCGX_PutStr(len, m, req.out);
    } else {
      FCGX_PutStr("Hello, world!", 13, req.out);
    }
    FCGX_Finish_r(&req);
  }
  return 0;
}
