/*
 * C-level checks of ext/patches (exact replies from the patched fcgi2), then the leak check: 10,000 requests
 * through the same code, heap in use flat and LeakSanitizer clean at exit.  Built with ASan + UBSan by
 * scripts/test-asan.sh.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fastcgi.h"
#include "fcgiapp.h"
#include "serve.h"

/* From the sanitizer runtime (sanitizer/allocator_interface.h, which not every compiler installs). */
size_t __sanitizer_get_current_allocated_bytes(void);

enum { kMax = 1 << 20 };

typedef struct Buf {
    unsigned char *bytes;
    size_t len;
} Buf;

static unsigned char inputBytes[kMax];
static unsigned char replyBytes[kMax];
static int failures = 0;

static void Add(Buf *b, const void *p, size_t n)
{
    if (b->len + n > kMax) abort();
    memcpy(b->bytes + b->len, p, n);
    b->len += n;
}

static void Record(Buf *b, int type, int id, const void *content, size_t len, int padding)
{
    unsigned char h[8] = {FCGI_VERSION_1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                          (unsigned char)(len >> 8), (unsigned char)len, (unsigned char)padding, 0};
    static const unsigned char zeros[255];
    Add(b, h, sizeof h);
    Add(b, content, len);
    Add(b, zeros, (size_t)padding);
}

static size_t Pair(unsigned char *out, const char *name, size_t nameLen, const char *value, size_t valueLen)
{
    size_t n = 0;
    out[n++] = (unsigned char)nameLen; /* all names and values here are < 128 bytes */
    out[n++] = (unsigned char)valueLen;
    memcpy(out + n, name, nameLen);
    n += nameLen;
    memcpy(out + n, value, valueLen);
    return n + valueLen;
}

static void Begin(Buf *b, int id, int role, int keep, int padding)
{
    unsigned char body[8] = {(unsigned char)(role >> 8), (unsigned char)role, (unsigned char)(keep ? 1 : 0)};
    Record(b, FCGI_BEGIN_REQUEST, id, body, sizeof body, padding);
}

/* A whole request: BEGIN, one PARAMS record with REQUEST_METHOD=POST and X=<tag>, STDIN body. */
static void Request(Buf *b, int keep, const char *tag, const char *body, int padding)
{
    unsigned char params[256];
    size_t n = Pair(params, "REQUEST_METHOD", 14, "POST", 4);
    n += Pair(params + n, "X", 1, tag, strlen(tag));
    Begin(b, 1, FCGI_RESPONDER, keep, padding);
    Record(b, FCGI_PARAMS, 1, params, n, padding);
    Record(b, FCGI_PARAMS, 1, "", 0, padding);
    if (body[0] != '\0') Record(b, FCGI_STDIN, 1, body, strlen(body), padding);
    Record(b, FCGI_STDIN, 1, "", 0, padding);
}

/* The reply, decoded: STDOUT joined, END_REQUEST bodies, other records counted by type. */
typedef struct Reply {
    char stdoutText[65536];
    size_t stdoutLen;
    size_t stdoutTotal; /* all STDOUT content bytes, also those beyond stdoutText */
    int ends;
    int endStatus[16];
    int endProtocolStatus[16];
    int types[256];
    unsigned char values[256]; /* content of the last GET_VALUES_RESULT */
    size_t valuesLen;
    int valuesPadding;
    int valuesPaddingZero;
    int valid;
} Reply;

static void Decode(const unsigned char *p, size_t len, Reply *r)
{
    size_t off = 0;
    memset(r, 0, sizeof *r);
    r->valid = 1;
    while (off + 8 <= len) {
        int type = p[off + 1];
        size_t clen = ((size_t)p[off + 4] << 8) | p[off + 5];
        size_t plen = p[off + 6];
        const unsigned char *c = p + off + 8;
        size_t i;
        if (p[off] != FCGI_VERSION_1 || off + 8 + clen + plen > len) {
            r->valid = 0;
            return;
        }
        r->types[type]++;
        if (type == FCGI_STDOUT) r->stdoutTotal += clen;
        if (type == FCGI_STDOUT && r->stdoutLen + clen < sizeof r->stdoutText) {
            memcpy(r->stdoutText + r->stdoutLen, c, clen);
            r->stdoutLen += clen;
        } else if (type == FCGI_END_REQUEST && clen == 8 && r->ends < 16) {
            r->endStatus[r->ends] = (c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3];
            r->endProtocolStatus[r->ends] = c[4];
            r->ends++;
        } else if (type == FCGI_GET_VALUES_RESULT && clen <= sizeof r->values) {
            memcpy(r->values, c, clen);
            r->valuesLen = clen;
            r->valuesPadding = (int)plen;
            r->valuesPaddingZero = 1;
            for (i = 0; i < plen; i++) {
                if (c[clen + i] != 0) r->valuesPaddingZero = 0;
            }
        }
        off += 8 + clen + plen;
    }
    if (off != len) r->valid = 0;
    r->stdoutText[r->stdoutLen] = '\0';
}

static void Serve(const Buf *in, Reply *r)
{
    size_t replyLen = 0;
    ServeBytes(in->bytes, in->len, NULL, replyBytes, sizeof replyBytes, &replyLen);
    Decode(replyBytes, replyLen < sizeof replyBytes ? replyLen : sizeof replyBytes, r);
}

static void Check(int ok, const char *what, ...)
{
    va_list ap;
    va_start(ap, what);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(what, ap);
    printf("\n");
    va_end(ap);
    if (!ok) failures++;
}

static int Count(const char *haystack, const char *needle)
{
    int n = 0;
    const char *p = haystack;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void CheckPatches(void)
{
    Buf b = {inputBytes, 0};
    Reply r;
    unsigned char content[4096];
    size_t n;
    int i;

    /* A plain request, the baseline. */
    b.len = 0;
    Request(&b, 0, "plain", "hello", 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && r.endProtocolStatus[0] == FCGI_REQUEST_COMPLETE
                  && strstr(r.stdoutText, "X=plain") && strstr(r.stdoutText, "hello"),
          "plain request answered (0001-0003 baseline)");

    /* 0004: repeated GET_VALUES names: one answer each, zero padding. */
    b.len = 0;
    n = 0;
    for (i = 0; i < 200; i++) n += Pair(content + n, "FCGI_MPXS_CONNS", 15, "", 0);
    n += Pair(content + n, "FCGI_MAX_CONNS", 14, "", 0);
    Record(&b, FCGI_GET_VALUES, 0, content, n, 0);
    Serve(&b, &r);
    Check(r.valid && r.types[FCGI_GET_VALUES_RESULT] == 1 && r.valuesLen == 18 + 17
                  && r.valuesPaddingZero && (r.valuesLen + r.valuesPadding) % 8 == 0,
          "0004 GET_VALUES with 200 repeats: %zu content bytes, padding %d zero %d", r.valuesLen, r.valuesPadding,
          r.valuesPaddingZero);

    /* 0005: an unknown management record inside PARAMS: its body is not params; answered UNKNOWN_TYPE. */
    b.len = 0;
    Begin(&b, 1, FCGI_RESPONDER, 0, 0);
    n = Pair(content, "A", 1, "1", 1);
    Record(&b, FCGI_PARAMS, 1, content, n, 0);
    n = Pair(content, "EVIL", 4, "1", 1);
    Record(&b, 42, 0, content, n, 0);
    Record(&b, FCGI_STDIN, 7, "", 0, 0); /* an empty record of another request: skipped, skips nothing else */
    n = Pair(content, "B", 1, "2", 1);
    Record(&b, FCGI_PARAMS, 1, content, n, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Record(&b, FCGI_STDIN, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && r.types[FCGI_UNKNOWN_TYPE] == 1 && strstr(r.stdoutText, "A=1") && strstr(r.stdoutText, "B=2")
                  && !strstr(r.stdoutText, "EVIL") && strstr(r.stdoutText, "params=3"),
          "0005 unknown management record and empty foreign record skipped: %s", r.stdoutText);

    /* 0007: PARAMS ended by an error never reach the application. */
    {
        static const struct {
            const char *what;
            int type, version;
        } enders[] = {{"ABORT_REQUEST", FCGI_ABORT_REQUEST, 1}, {"bad version", FCGI_PARAMS, 2},
                      {"STDIN instead of PARAMS", FCGI_STDIN, 1}, {"EOF", -1, 1}};
        for (i = 0; i < 4; i++) {
            b.len = 0;
            Begin(&b, 1, FCGI_RESPONDER, 0, 0);
            n = Pair(content, "A", 1, "1", 1);
            Record(&b, FCGI_PARAMS, 1, content, n, 0);
            if (enders[i].type >= 0) {
                Record(&b, enders[i].type, 1, "", 0, 0);
                b.bytes[b.len - 8] = (unsigned char)enders[i].version;
            }
            Serve(&b, &r);
            Check(r.valid && r.types[FCGI_STDOUT] == 0
                          && r.ends == (enders[i].type == FCGI_ABORT_REQUEST ? 1 : 0),
                  "0007/0010 PARAMS ended by %s: not run (%d END_REQUEST)", enders[i].what, r.ends);
        }
    }

    /* 0006 + 0008: padding everywhere (BEGIN, PARAMS, terminators). */
    b.len = 0;
    Request(&b, 0, "padded", "body!", 7);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && strstr(r.stdoutText, "X=padded") && strstr(r.stdoutText, "body!"),
          "0008 padded records: params and body intact");

    /* 0009: two keep-conn requests in one write, then a third closing one. */
    b.len = 0;
    Request(&b, 1, "one", "first", 0);
    Request(&b, 1, "two", "second", 3);
    Request(&b, 0, "three", "third", 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 3 && strstr(r.stdoutText, "X=one") && strstr(r.stdoutText, "X=two")
                  && strstr(r.stdoutText, "X=three") && strstr(r.stdoutText, "second"),
          "0009 three pipelined requests: %d END_REQUEST", r.ends);

    /* 0010: unknown role; an abort after the end is ignored; a second BEGIN with the same id. */
    b.len = 0;
    Begin(&b, 1, 9, 0, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && r.endProtocolStatus[0] == FCGI_UNKNOWN_ROLE && r.types[FCGI_STDOUT] == 0,
          "0010 unknown role: END_REQUEST{FCGI_UNKNOWN_ROLE}");
    b.len = 0;
    Request(&b, 1, "first", "", 0);
    Record(&b, FCGI_ABORT_REQUEST, 1, "", 0, 0);
    Request(&b, 0, "after-abort", "", 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 2 && strstr(r.stdoutText, "X=after-abort"),
          "0010 ABORT_REQUEST after the request ended: ignored, next request served");
    b.len = 0;
    Begin(&b, 1, FCGI_RESPONDER, 0, 0);
    Begin(&b, 1, FCGI_RESPONDER, 0, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Record(&b, FCGI_STDIN, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 0 && r.types[FCGI_STDOUT] == 0, "0010 second BEGIN_REQUEST, same id: no END_REQUEST");
    b.len = 0;
    Begin(&b, 1, FCGI_RESPONDER, 0, 0);
    n = Pair(content, "A", 1, "1", 1);
    Record(&b, FCGI_PARAMS, 1, content, n, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Record(&b, FCGI_STDIN, 1, "part", 4, 0);
    Record(&b, FCGI_ABORT_REQUEST, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && r.endProtocolStatus[0] == FCGI_REQUEST_COMPLETE,
          "0010 ABORT_REQUEST during STDIN: one END_REQUEST{FCGI_REQUEST_COMPLETE}");

    /* 0011: names empty or with '=' or NUL, values with NUL: refused; duplicates kept, first found. */
    {
        static const struct {
            const char *name;
            size_t nameLen;
            const char *value;
            size_t valueLen;
        } bad[] = {{"", 0, "v", 1}, {"A=B", 3, "v", 1}, {"A\0B", 3, "v", 1}, {"V", 1, "a\0b", 3}};
        for (i = 0; i < 4; i++) {
            b.len = 0;
            Begin(&b, 1, FCGI_RESPONDER, 0, 0);
            n = Pair(content, bad[i].name, bad[i].nameLen, bad[i].value, bad[i].valueLen);
            Record(&b, FCGI_PARAMS, 1, content, n, 0);
            Record(&b, FCGI_PARAMS, 1, "", 0, 0);
            Record(&b, FCGI_STDIN, 1, "", 0, 0);
            Serve(&b, &r);
            Check(r.valid && r.types[FCGI_STDOUT] == 0 && r.ends == 0, "0011 bad pair %d refused", i);
        }
    }
    b.len = 0;
    Begin(&b, 1, FCGI_RESPONDER, 0, 0);
    n = Pair(content, "A", 1, "first", 5);
    n += Pair(content + n, "A", 1, "second", 6);
    Record(&b, FCGI_PARAMS, 1, content, n, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Record(&b, FCGI_STDIN, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && Count(r.stdoutText, "A=") == 2 && strstr(r.stdoutText, "A=first\nA=second"),
          "0011 duplicate names: both kept in order");

    /* 0018: ends built by FCGX_PutStrCloseV and written by the caller (serve.c FinishHere, as EndOnJsThread does). */
    b.len = 0;
    Request(&b, 1, "here", "abc", 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && r.endStatus[0] == 3 && strstr(r.stdoutText, "X=here") && strstr(r.stdoutText, "abc")
                  && strstr(r.stdoutText, "end\n") && r.types[FCGI_STDERR] == 2 && r.types[FCGI_STDOUT] >= 2,
          "0018 end records built without writing: stdout, stderr and its end, END_REQUEST{3}");
    b.len = 0;
    Request(&b, 1, "here-unread", "unread body", 0);
    Request(&b, 1, "here", "second", 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 2 && r.endStatus[0] == 0 && r.endStatus[1] == 3 && !strstr(r.stdoutText, "unread body")
                  && strstr(r.stdoutText, "second") && r.stdoutTotal > 70000,
          "0018 unread body skipped in the buffer (no read), 70,000-byte end in two records, pipelined next request "
          "kept (FCGX_HasReadAhead): %d END_REQUEST, %zu stdout bytes", r.ends, r.stdoutTotal);
    b.len = 0;
    Begin(&b, 1, FCGI_RESPONDER, 1, 0);
    n = Pair(content, "X", 1, "here-unread", 11);
    Record(&b, FCGI_PARAMS, 1, content, n, 0);
    Record(&b, FCGI_PARAMS, 1, "", 0, 0);
    Record(&b, FCGI_STDIN, 1, "body", 4, 3);
    n = Pair(content, "FCGI_MPXS_CONNS", 15, "", 0);
    Record(&b, FCGI_GET_VALUES, 0, content, n, 0);
    Record(&b, FCGI_STDIN, 1, "", 0, 0);
    Serve(&b, &r);
    Check(r.valid && r.ends == 1 && r.types[FCGI_GET_VALUES_RESULT] == 1 && !strstr(r.stdoutText, "body"),
          "0018 a management record before the end of FCGI_STDIN: FCGX_SkipReadInput stops, the usual reads answer "
          "it, then the request ends");
}

static unsigned char plainReply[kMax];

/*
 * 0019: the same connection served with its first k bytes given from memory (FCGX_SetPreread) and the rest
 * through the socket answers byte for byte as when every byte comes through the socket, for every k.
 */
static void CheckPreread(void)
{
    Buf b = {inputBytes, 0};
    unsigned char content[256];
    size_t n, k, plainLen = 0, len = 0;
    int same = 1;
    Reply r;

    Request(&b, 1, "first", "body one", 3);
    n = Pair(content, "FCGI_MAX_CONNS", 14, "", 0);
    Record(&b, FCGI_GET_VALUES, 0, content, n, 5);
    Record(&b, 77, 0, "xyz", 3, 0);
    Request(&b, 1, "here-second", "", 0);
    Request(&b, 0, "third", "body three", 7);
    ServeBytesPreread(b.bytes, b.len, 0, NULL, plainReply, sizeof plainReply, &plainLen);
    Decode(plainReply, plainLen, &r);
    Check(r.valid && r.ends == 3 && r.types[FCGI_GET_VALUES_RESULT] == 1 && r.types[FCGI_UNKNOWN_TYPE] == 1,
          "0019 baseline: three requests and two management records through the socket");
    for (k = 1; k <= b.len; k++) {
        ServeBytesPreread(b.bytes, b.len, k, NULL, replyBytes, sizeof replyBytes, &len);
        if (len != plainLen || memcmp(replyBytes, plainReply, len) != 0) {
            same = 0;
            break;
        }
    }
    Check(same, "0019 the first k bytes from memory, the rest through the socket: the same reply for every k "
          "(stopped at k = %zu of %zu)", k > b.len ? b.len : k, b.len);

    /* Everything from memory, the socket shut at once: any read would see EOF and fail the request. */
    b.len = 0;
    Request(&b, 1, "memory-one", "from memory", 1);
    Request(&b, 0, "memory-two", "", 0);
    ServeBytesPreread(b.bytes, b.len, b.len, NULL, replyBytes, sizeof replyBytes, &len);
    Decode(replyBytes, len, &r);
    Check(r.valid && r.ends == 2 && r.endProtocolStatus[1] == FCGI_REQUEST_COMPLETE
              && strstr(r.stdoutText, "X=memory-one") && strstr(r.stdoutText, "from memory")
              && strstr(r.stdoutText, "X=memory-two"),
          "0019 two pipelined requests given whole from memory, nothing in the socket: both answered");

    /*
     * FCGX_SkipReadInput (an unread body skipped in the buffer) over bytes from memory: a management record
     * whose header straddles two refills of the stream buffer is put back whole for the usual reads.
     */
    same = 1;
    for (k = 0; k < 16 && same; k++) {
        static char filler[9000];
        memset(filler, 'f', sizeof filler);
        b.len = 0;
        Begin(&b, 1, FCGI_RESPONDER, 1, 0);
        n = Pair(content, "X", 1, "here-unread", 11);
        Record(&b, FCGI_PARAMS, 1, content, n, 0);
        Record(&b, FCGI_PARAMS, 1, "", 0, 0);
        Record(&b, FCGI_STDIN, 1, filler, 8120 + k, 0); /* the header at 8175 + k: across 8192 */
        n = Pair(content, "FCGI_MPXS_CONNS", 15, "", 0);
        Record(&b, FCGI_GET_VALUES, 0, content, n, 0);
        Record(&b, FCGI_STDIN, 1, "", 0, 0);
        ServeBytesPreread(b.bytes, b.len, 0, NULL, plainReply, sizeof plainReply, &plainLen);
        ServeBytesPreread(b.bytes, b.len, b.len, NULL, replyBytes, sizeof replyBytes, &len);
        Decode(replyBytes, len, &r);
        same = len == plainLen && memcmp(replyBytes, plainReply, len) == 0 && r.valid && r.ends == 1
               && r.types[FCGI_GET_VALUES_RESULT] == 1;
    }
    Check(same, "0019 an unread body skipped from memory, a GET_VALUES header across the stream buffer's refills: "
          "answered as through the socket (bodies of 8120 to %zu bytes)", 8120 + k - 1);

    /*
     * FCGX_TakePreread gives back what a kept connection holds after its request: the next request's bytes.
     * The first request fills the stream buffer (8192 bytes) exactly, so the next one is all in the preread:
     * FCGX_HasReadAhead must still say there is one (or the addon would wait on the socket for it).
     */
    {
        FCGX_Request req;
        int sv[2], ahead = 0;
        unsigned char *mem, *back;
        size_t firstLen, backLen = 0;
        static char body[9000];

        memset(body, 'b', sizeof body);
        body[8192 - 79] = '\0'; /* 79 bytes of records around the body (Request) */
        b.len = 0;
        Request(&b, 1, "take-one", body, 0);
        firstLen = b.len;
        Request(&b, 0, "take-two", "def", 2);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
        shutdown(sv[1], SHUT_WR);
        FCGX_InitRequest(&req, -1, 0);
        req.keepSpares = 1; /* 0020: the reader FCGX_TakePreread drops is kept */
        mem = malloc(b.len);
        if (mem == NULL) abort();
        memcpy(mem, b.bytes, b.len);
        Check(FCGX_SetPreread(&req, mem, b.len) == 0 && FCGX_SetPreread(&req, mem, b.len) == -1,
              "0019 FCGX_SetPreread takes a buffer, and refuses a second while the first is unread");
        req.ipcFd = sv[0];
        req.listen_sock = -1;
        req.keepConnection = 1;
        req.detached = 1;
        n = 0;
        if (FCGX_Accept_r(&req) == 0) {
            n = (size_t)FCGX_GetStr(body, sizeof body, req.in);
            ahead = FCGX_HasReadAhead(req.in);
            FCGX_Finish_r(&req); /* keep-conn: the connection and its unread bytes stay */
        }
        back = FCGX_TakePreread(&req, &backLen);
        Check(firstLen == 8192 && n == 8192 - 79 && ahead == 1 && back != NULL && backLen == b.len - firstLen
                  && memcmp(back, b.bytes + firstLen, backLen) == 0 && req.readAhead == NULL && req.preread == NULL
                  && req.spareIn != NULL,
              "0019 a request that ends with the stream buffer: FCGX_HasReadAhead sees the next one in the preread, "
              "FCGX_TakePreread gives back exactly its %zu bytes (and with keepSpares keeps the reader: 0020)", backLen);
        free(back);
        FCGX_Free(&req, 1);
        FCGX_FreeSpares(&req);
        close(sv[1]);
    }
}

/*
 * 0020: the allocations of the thread that serves, counted by the sanitizer's malloc hook: all of them, and those
 * of 512 bytes or more (the stream buffers: input 16 KiB here as in the addon, output 8 KiB, stderr 512 bytes).
 */
int __sanitizer_install_malloc_and_free_hooks(void (*mallocHook)(const volatile void *, size_t),
                                              void (*freeHook)(const volatile void *));
static __thread int countAllocs;
static long allocs, bigAllocs;

static void OnMalloc(const volatile void *p, size_t size)
{
    (void)p;
    if (!countAllocs) return;
    allocs++;
    if (size >= 512) bigAllocs++;
}

static void OnFree(const volatile void *p)
{
    (void)p;
}

enum { kSpareRequests = 5 };

typedef struct SpareRun {
    long allocs[kSpareRequests];
    long bigAllocs[kSpareRequests];
    unsigned char reply[16384];
    size_t replyLen;
    int answered;
    size_t heapBefore, heapHeld, heapAfter; /* before InitRequest, after the connection closed, after FreeSpares */
} SpareRun;

/* What the peer has received so far (the answer is all there: fcgi2 wrote it before FCGX_Free returned). */
static void Receive(int fd, SpareRun *run)
{
    for (;;) {
        ssize_t n = recv(fd, run->reply + run->replyLen, sizeof run->reply - run->replyLen, MSG_DONTWAIT);
        if (n <= 0) return;
        run->replyLen += (size_t)n;
    }
}

/*
 * Five requests on one kept connection through one FCGX_Request, each read, answered on stdout and stderr, and
 * finished as native/request.cc FinishRequest does (FCGX_Free(req, 0), the connection kept).  Requests 0-2 are
 * sent one at a time, each after the answer to the last (a web server that does not pipeline); the input buffer
 * shrinks to 8192 bytes before request 2; requests 3 and 4 come in one write, so request 4 is read ahead.
 */
static void ServeSpares(int keepSpares, SpareRun *run)
{
    static const char *const tags[kSpareRequests] = {"first", "second", "smaller-in", "pipelined", "read-ahead"};
    Buf b = {inputBytes, 0};
    FCGX_Request req;
    char body[64];
    int sv[2], i;

    memset(run, 0, sizeof *run);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    run->heapBefore = __sanitizer_get_current_allocated_bytes();
    FCGX_InitRequest(&req, -1, 0);
    req.inBufSize = 16384; /* as native/request.cc InitRequest */
    req.outBufSize = 8192;
    req.keepSpares = keepSpares;
    for (i = 0; i < kSpareRequests; i++) {
        if (i != 4) {
            b.len = 0;
            Request(&b, 1, tags[i], i == 3 ? "" : "body", 0);
            if (i == 3) Request(&b, 1, tags[4], "last body", 0);
            if (write(sv[1], b.bytes, b.len) != (ssize_t)b.len) abort();
        }
        if (i == 2) req.inBufSize = 8192;
        req.ipcFd = sv[0];
        req.listen_sock = -1;
        req.keepConnection = 1;
        req.detached = 1;
        allocs = bigAllocs = 0;
        countAllocs = 1;
        if (FCGX_Accept_r(&req) != 0) {
            countAllocs = 0;
            break;
        }
        req.detached = 0;
        while (FCGX_GetStr(body, sizeof body, req.in) > 0) {
        }
        FCGX_PutStr("hello ", 6, req.out);
        FCGX_PutS(FCGX_GetParam("X", req.envp), req.out);
        FCGX_PutStr("err\n", 4, req.err);
        if (FCGX_FClose(req.err) != 0 || FCGX_FClose(req.out) != 0 || FCGX_GetError(req.in) != 0) {
            countAllocs = 0;
            break;
        }
        FCGX_Free(&req, 0);
        countAllocs = 0;
        run->allocs[i] = allocs;
        run->bigAllocs[i] = bigAllocs;
        run->answered++;
        Receive(sv[1], run);
    }
    FCGX_Free(&req, 1); /* closes the connection */
    run->heapHeld = __sanitizer_get_current_allocated_bytes();
    FCGX_FreeSpares(&req);
    run->heapAfter = __sanitizer_get_current_allocated_bytes();
    close(sv[1]);
}

static void CheckSpares(void)
{
    static SpareRun plain, kept;
    Reply r;

    if (__sanitizer_install_malloc_and_free_hooks(OnMalloc, OnFree) == 0) {
        Check(0, "0020 the sanitizer's malloc hook could not be installed");
        return;
    }
    ServeSpares(0, &plain);
    ServeSpares(1, &kept);
    Decode(kept.reply, kept.replyLen, &r);
    Check(plain.answered == kSpareRequests && kept.answered == kSpareRequests && r.valid && r.ends == kSpareRequests
              && strstr(r.stdoutText, "hello read-ahead") && plain.replyLen == kept.replyLen
              && memcmp(plain.reply, kept.reply, kept.replyLen) == 0,
          "0020 five requests on a kept connection with keepSpares: all answered, the same bytes as without");
    /* With 0021 the params strings (3 here) take one block, kept with the params. */
    Check(plain.allocs[1] == 12 && plain.bigAllocs[1] == 4,
          "0020 without keepSpares a request allocates its three streams, params vector and params block again: "
          "%ld allocations (%ld of >= 512 bytes)", plain.allocs[1], plain.bigAllocs[1]);
    Check(kept.allocs[1] == 0 && kept.bigAllocs[1] == 0,
          "0020 with keepSpares the next request takes them from the last: %ld allocations (0021: the params strings "
          "go to the kept block), %ld of >= 512 bytes", kept.allocs[1], kept.bigAllocs[1]);
    Check(kept.allocs[2] == 3 && kept.bigAllocs[2] == 1,
          "0020 inBufSize changed: only the input stream is allocated again (%ld allocations, %ld of >= 512 bytes)",
          kept.allocs[2], kept.bigAllocs[2]);
    Check(kept.allocs[3] == 0 && kept.bigAllocs[3] == 0 && kept.allocs[4] == 0 && kept.bigAllocs[4] == 0,
          "0020 two pipelined requests: the first from the spares, the second reads on from the first's input "
          "(%ld and %ld allocations)", kept.allocs[3], kept.allocs[4]);
    Check(plain.heapAfter == plain.heapBefore && plain.heapHeld == plain.heapBefore
              && kept.heapHeld >= kept.heapBefore + 8192 + 8192 + 512 && kept.heapAfter == kept.heapBefore,
          "0020 FCGX_Free(req, 1) keeps the spares (%zu bytes), FCGX_FreeSpares frees them all",
          kept.heapHeld - kept.heapBefore);
}

/*
 * 0021: the params of a request as one block (FCGX_GetParamsBlock): exactly envp's strings, each with its NUL, in
 * order; params larger than a block spill into another (no single block, envp still whole); the next request on
 * the same FCGX_Request, small again, is in one block again and allocates nothing (keepSpares).
 */
static void CheckParamsBlock(void)
{
    static unsigned char params[8192];
    static char big[5000];
    Buf b = {inputBytes, 0};
    FCGX_Request req;
    const char *start = NULL;
    size_t length = 0, n, expect;
    char **p;
    int sv[2], i, oneBlock[3] = {0, 0, 0}, sameBytes = 0, bigWhole = 0;
    long smallAllocs = -1;

    memset(big, 'v', sizeof big);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    FCGX_InitRequest(&req, -1, 0);
    req.keepSpares = 1;
    for (i = 0; i < 3; i++) {
        /* Request 1 carries a 5000-byte value (four-byte length), over a 4 KiB block. */
        b.len = 0;
        n = Pair(params, "REQUEST_METHOD", 14, "GET", 3);
        n += Pair(params + n, "REQUEST_URI", 11, "/a?b=c", 6);
        n += Pair(params + n, "EMPTY", 5, "", 0);
        if (i == 1) {
            unsigned char *q = params + n;
            q[0] = 3;
            q[1] = (unsigned char)(0x80 | (sizeof big >> 24));
            q[2] = (unsigned char)(sizeof big >> 16);
            q[3] = (unsigned char)(sizeof big >> 8);
            q[4] = (unsigned char)sizeof big;
            memcpy(q + 5, "BIG", 3);
            memcpy(q + 8, big, sizeof big);
            n += 8 + sizeof big;
        }
        n += Pair(params + n, "HTTP_HOST", 9, "example", 7);
        Begin(&b, 1, FCGI_RESPONDER, 1, 0);
        Record(&b, FCGI_PARAMS, 1, params, n > 4000 ? 4000 : n, 0);
        if (n > 4000) Record(&b, FCGI_PARAMS, 1, params + 4000, n - 4000, 0);
        Record(&b, FCGI_PARAMS, 1, "", 0, 0);
        Record(&b, FCGI_STDIN, 1, "", 0, 0);
        if (write(sv[1], b.bytes, b.len) != (ssize_t)b.len) abort();
        req.ipcFd = sv[0];
        req.listen_sock = -1;
        req.keepConnection = 1;
        req.detached = 1;
        allocs = 0;
        countAllocs = i == 2;
        if (FCGX_Accept_r(&req) != 0) {
            countAllocs = 0;
            break;
        }
        countAllocs = 0;
        if (i == 2) smallAllocs = allocs;
        req.detached = 0;
        oneBlock[i] = FCGX_GetParamsBlock(&req, &start, &length);
        if (i == 0 && oneBlock[0]) {
            /* The block is envp: each string and its NUL, one after the other. */
            expect = 0;
            sameBytes = 1;
            for (p = req.envp; *p != NULL; p++) {
                size_t len = strlen(*p) + 1;
                if (expect + len > length || memcmp(start + expect, *p, len) != 0) sameBytes = 0;
                expect += len;
            }
            sameBytes = sameBytes && expect == length && strcmp(req.envp[0], "FCGI_ROLE=RESPONDER") == 0;
        }
        if (i == 1) {
            const char *v = FCGX_GetParam("BIG", req.envp);
            const char *h = FCGX_GetParam("HTTP_HOST", req.envp);
            bigWhole = v != NULL && strlen(v) == sizeof big && memcmp(v, big, sizeof big) == 0 && h != NULL
                       && strcmp(h, "example") == 0;
        }
        FCGX_PutS("ok", req.out);
        if (FCGX_FClose(req.err) != 0 || FCGX_FClose(req.out) != 0) break;
        FCGX_Free(&req, 0);
        {
            unsigned char sink[4096];
            while (recv(sv[1], sink, sizeof sink, MSG_DONTWAIT) > 0) {
            }
        }
    }
    FCGX_Free(&req, 1);
    FCGX_FreeSpares(&req);
    close(sv[1]);
    Check(oneBlock[0] && sameBytes,
          "0021 a request's params in one block: envp's strings with their NULs in order, FCGI_ROLE first (%zu bytes)",
          length);
    Check(!oneBlock[1] && bigWhole,
          "0021 params over a 4 KiB block (a 5000-byte value): not one block, every param whole in envp");
    Check(oneBlock[2] && smallAllocs == 0,
          "0021 the next request, small again: one block again, nothing allocated (%ld allocations)", smallAllocs);
}

/* A pair with lengths of one or four bytes (the high bit of the first byte marks four). */
static size_t WidePair(unsigned char *out, const char *name, size_t nameLen, const char *value, size_t valueLen)
{
    size_t n = 0, i;
    size_t lens[2] = {nameLen, valueLen};
    for (i = 0; i < 2; i++) {
        if (lens[i] < 128) {
            out[n++] = (unsigned char)lens[i];
        } else {
            out[n++] = (unsigned char)(0x80 | (lens[i] >> 24));
            out[n++] = (unsigned char)(lens[i] >> 16);
            out[n++] = (unsigned char)(lens[i] >> 8);
            out[n++] = (unsigned char)lens[i];
        }
    }
    memcpy(out + n, name, nameLen);
    memcpy(out + n + nameLen, value, valueLen);
    return n + nameLen + valueLen;
}

/*
 * 0022: a pair read from the buffer (whole in its record) and the same pair read byte by byte (cut across two
 * PARAMS records at any byte) give the same envp: one- and four-byte name and value lengths, an empty value.
 */
static void CheckParamsFromBuffer(void)
{
    static unsigned char params[1024];
    static char longName[130], longValue[300]; /* four-byte lengths; 300 needs their third byte too */
    static const char *expected[6];
    static char expectedText[6][400];
    Buf b = {inputBytes, 0};
    size_t n = 0, cut, same = 0, tried = 0;
    int i;

    memset(longName, 'N', sizeof longName);
    memset(longValue, 'v', sizeof longValue);
    n += WidePair(params + n, "REQUEST_METHOD", 14, "GET", 3);
    n += WidePair(params + n, longName, sizeof longName, "n", 1);
    n += WidePair(params + n, "LONG", 4, longValue, sizeof longValue);
    n += WidePair(params + n, "EMPTY", 5, "", 0);
    n += WidePair(params + n, "X", 1, "y", 1);
    snprintf(expectedText[0], sizeof expectedText[0], "FCGI_ROLE=RESPONDER");
    snprintf(expectedText[1], sizeof expectedText[1], "REQUEST_METHOD=GET");
    snprintf(expectedText[2], sizeof expectedText[2], "%.*s=n", (int)sizeof longName, longName);
    snprintf(expectedText[3], sizeof expectedText[3], "LONG=%.*s", (int)sizeof longValue, longValue);
    snprintf(expectedText[4], sizeof expectedText[4], "EMPTY=");
    snprintf(expectedText[5], sizeof expectedText[5], "X=y");
    for (i = 0; i < 6; i++) expected[i] = expectedText[i];
    for (cut = 0; cut < n; cut++) {
        FCGX_Request req;
        int sv[2], ok = 0;
        char **p;
        b.len = 0;
        Begin(&b, 1, FCGI_RESPONDER, 0, 0);
        if (cut == 0) {
            Record(&b, FCGI_PARAMS, 1, params, n, 0); /* every pair whole in the buffer */
        } else {
            Record(&b, FCGI_PARAMS, 1, params, cut, 0);
            Record(&b, FCGI_PARAMS, 1, params + cut, n - cut, 3);
        }
        Record(&b, FCGI_PARAMS, 1, "", 0, 0);
        Record(&b, FCGI_STDIN, 1, "", 0, 0);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
        if (write(sv[1], b.bytes, b.len) != (ssize_t)b.len) abort();
        FCGX_InitRequest(&req, -1, 0);
        req.ipcFd = sv[0];
        req.listen_sock = -1;
        req.keepConnection = 1;
        req.detached = 1;
        tried++;
        if (FCGX_Accept_r(&req) == 0) {
            ok = 1;
            for (i = 0, p = req.envp; *p != NULL; p++, i++) {
                if (i >= 6 || strcmp(*p, expected[i]) != 0) ok = 0;
            }
            ok = ok && i == 6;
        }
        FCGX_Free(&req, 1); /* closes sv[0] */
        close(sv[1]);
        if (ok) same++;
    }
    Check(same == tried && tried == n,
          "0022 params whole in one record and cut across two at each of %zu bytes: the same envp every time (%zu of %zu)",
          n, same, tried);
}

/* 10,000 requests in a mix of shapes; returns how many reached the application. */
static long RunMany(long wanted)
{
    ServeStats stats;
    Buf b = {inputBytes, 0};
    unsigned char content[64];
    size_t n;
    long round = 0;
    int i;

    memset(&stats, 0, sizeof stats);
    while (stats.requests < wanted) {
        b.len = 0;
        switch (round++ % 4) {
            case 0: /* 50 pipelined keep-conn requests on one connection */
                for (i = 0; i < 49; i++) Request(&b, 1, "k", "body", i % 3);
                Request(&b, 0, "last", "", 0);
                break;
            case 1: /* management records and a request */
                n = Pair(content, "FCGI_MAX_CONNS", 14, "", 0);
                Record(&b, FCGI_GET_VALUES, 0, content, n, 0);
                Record(&b, 77, 0, "xyz", 3, 5);
                Request(&b, 0, "mgmt", "abc", 0);
                break;
            case 2: /* refused: unknown role, bad param, abort */
                Begin(&b, 1, 9, 0, 0);
                ServeBytes(b.bytes, b.len, &stats, NULL, 0, NULL);
                b.len = 0;
                Begin(&b, 1, FCGI_RESPONDER, 0, 0);
                n = Pair(content, "A=B", 3, "v", 1);
                Record(&b, FCGI_PARAMS, 1, content, n, 0);
                ServeBytes(b.bytes, b.len, &stats, NULL, 0, NULL);
                b.len = 0;
                Request(&b, 1, "aborted", "", 0);
                b.len -= 8; /* drop the STDIN terminator */
                Record(&b, FCGI_ABORT_REQUEST, 1, "", 0, 0);
                break;
            default: /* a truncated request */
                Request(&b, 0, "cut", "0123456789", 0);
                b.len -= 12;
                break;
        }
        ServeBytes(b.bytes, b.len, &stats, NULL, 0, NULL);
    }
    return stats.requests;
}

int main(void)
{
    size_t before, after;
    long done;

    ServeInit();
    CheckPatches();
    CheckPreread();
    CheckSpares();
    CheckParamsBlock();
    CheckParamsFromBuffer();

    RunMany(1000); /* warm up: allocator caches, thread stacks */
    before = __sanitizer_get_current_allocated_bytes();
    done = RunMany(10000);
    after = __sanitizer_get_current_allocated_bytes();
    Check(after <= before + 16384, "leak check: %ld requests, heap in use %zu -> %zu bytes", done, before, after);

    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed; LeakSanitizer runs at exit\n");
    return 0;
}
