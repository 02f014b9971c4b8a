/* Drives connections through the vendored fcgi2 the way native/request.cc does (shared by the fuzzer and the leak check). */
#ifndef LIBFCGI_TEST_SERVE_H
#define LIBFCGI_TEST_SERVE_H

#include <stddef.h>

/* What ServeBytes saw, for checks and for the leak check's statistics. */
typedef struct ServeStats {
    long requests;      /* requests that reached the "application" */
    long paramsBytes;   /* bytes of all name=value strings seen */
    long bodyBytes;     /* FCGI_STDIN (+ FCGI_DATA) bytes read */
    long outputBytes;   /* bytes the peer received back */
} ServeStats;

/* Once: FCGX_Init, SIGPIPE ignored (as Node does), the peer thread started. ServeBytes calls it too. */
void ServeInit(void);

/*
 * Writes input to one end of a socketpair (from the peer thread, which also
 * reads everything the application writes back, then sees EOF) and serves the
 * other end like the addon: FCGX_Accept_r on an already open connection
 * with listen_sock -1, params and body read, output written, the request
 * finished with keep-alive or closed.  Adds to *stats (may be NULL).
 * If reply is not NULL, the bytes written back are stored there (up to
 * replyMax) and their count in *replyLen.  One call at a time.
 */
void ServeBytes(const unsigned char *input, size_t len, ServeStats *stats,
        unsigned char *reply, size_t replyMax, size_t *replyLen);

/*
 * ServeBytes, but the first prereadLen bytes of input are given to the request
 * with FCGX_SetPreread (patch 0019: bytes a dispatcher read before fcgi2) and
 * only the rest goes through the socket.
 */
void ServeBytesPreread(const unsigned char *input, size_t len, size_t prereadLen, ServeStats *stats,
        unsigned char *reply, size_t replyMax, size_t *replyLen);

#endif
