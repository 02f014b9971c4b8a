/* One connection's bytes through the vendored fcgi2, accepted, read, answered and finished as native/request.cc does. */
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fastcgi.h"
#include "fcgiapp.h"

/* The web server's end: sends the input, then reads whatever comes back until the application closes. */
typedef struct Peer {
    int fd;
    const unsigned char *input;
    size_t len;
    unsigned char *reply;
    size_t replyMax;
    size_t received;
    int done;
} Peer;

/*
 * One peer thread serves every ServeBytes call in turn: a thread per input would make the sanitizers'
 * per-thread bookkeeping grow the fuzzer's memory by a few hundred MB over a long run.
 */
static pthread_mutex_t peerMutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t peerCond = PTHREAD_COND_INITIALIZER;
static Peer *peerJob;

static void RunPeer(Peer *p)
{
    size_t sent = 0;
    int writing = p->len > 0;
    char buf[65536];

    if (!writing) shutdown(p->fd, SHUT_WR);
    for (;;) {
        struct pollfd pfd;
        pfd.fd = p->fd;
        pfd.events = POLLIN | (writing ? POLLOUT : 0);
        pfd.revents = 0;
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (writing && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(p->fd, p->input + sent, p->len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == p->len) {
                writing = 0;
                shutdown(p->fd, SHUT_WR); /* the application reads EOF after the input */
            }
        }
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                size_t room = p->received < p->replyMax ? p->replyMax - p->received : 0;
                size_t keep = (size_t)n < room ? (size_t)n : room;
                if (keep > 0) memcpy(p->reply + p->received, buf, keep);
                p->received += (size_t)n;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                break; /* the application closed the connection */
            }
        }
    }
    close(p->fd);
}

static void *PeerThread(void *arg)
{
    (void)arg;
    for (;;) {
        Peer *p;
        pthread_mutex_lock(&peerMutex);
        while (peerJob == NULL || peerJob->done) pthread_cond_wait(&peerCond, &peerMutex);
        p = peerJob;
        pthread_mutex_unlock(&peerMutex);
        RunPeer(p);
        pthread_mutex_lock(&peerMutex);
        p->done = 1;
        pthread_cond_broadcast(&peerCond);
        pthread_mutex_unlock(&peerMutex);
    }
    return NULL;
}

void ServeInit(void)
{
    static int done = 0;
    pthread_t peerThread;
    if (done) return;
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "FCGX_Init failed\n");
        abort();
    }
    if (pthread_create(&peerThread, NULL, PeerThread, NULL) != 0) abort();
    pthread_detach(peerThread);
    done = 1;
}

/* How a request ends: as FinishRequest does, or as the concurrent server's EndOnJsThread (native/fast_end.cc, patch 0018). */
enum { kEndUsual, kEndHere, kEndHereUnread };

/*
 * The "application": reads every param and the whole body, answers with some of both, sometimes on stderr too.
 * Returns how to end it: a param X starting "here" (or every fifth params count) ends as EndOnJsThread does, "here-unread"
 * (or every seventh) without reading the body first.
 */
static int Application(FCGX_Request *req, ServeStats *stats)
{
    char **p;
    char line[64];
    char buf[4096];
    char name[64];
    int n, count = 0, mode;
    const char *eq;

    for (p = req->envp; *p != NULL; p++) {
        size_t len = strlen(*p);
        count++;
        if (stats) stats->paramsBytes += (long)len;
        if (count <= 8) {
            FCGX_PutStr(*p, len > 256 ? 256 : (int)len, req->out);
            FCGX_PutChar('\n', req->out);
        }
    }
    /* Look one name up again (first match wins for duplicates). */
    if (req->envp[0] != NULL && (eq = strchr(req->envp[0], '=')) != NULL
            && (size_t)(eq - req->envp[0]) < sizeof name) {
        memcpy(name, req->envp[0], (size_t)(eq - req->envp[0]));
        name[eq - req->envp[0]] = '\0';
        if (FCGX_GetParam(name, req->envp) == NULL) abort(); /* it is right there */
    }
    FCGX_GetParam("REQUEST_METHOD", req->envp);
    FCGX_FPrintF(req->out, "role=%d params=%d\n", req->role, count);
    FCGX_FFlush(req->out);
    {
        const char *x = FCGX_GetParam("X", req->envp);
        if ((x != NULL && strncmp(x, "here-unread", 11) == 0) || count % 7 == 6) {
            if (stats) stats->requests++;
            return kEndHereUnread;
        }
        mode = (x != NULL && strncmp(x, "here", 4) == 0) || count % 5 == 4 ? kEndHere : kEndUsual;
    }

    if (FCGX_GetLine(line, sizeof line, req->in) != NULL) {
        if (stats) stats->bodyBytes += (long)strlen(line);
        FCGX_PutS(line, req->out);
    }
    while ((n = FCGX_GetStr(buf, sizeof buf, req->in)) > 0) {
        if (stats) stats->bodyBytes += n;
        FCGX_PutStr(buf, n > 64 ? 64 : n, req->out);
    }
    if (req->role == FCGI_FILTER && FCGX_StartFilterData(req->in) == 0) {
        while ((n = FCGX_GetStr(buf, sizeof buf, req->in)) > 0) {
            if (stats) stats->bodyBytes += n;
        }
    }
    if (count % 2 == 1) FCGX_FPrintF(req->err, "params %d\n", count);
    FCGX_SetExitStatus(count, req->out);
    if (stats) stats->requests++;
    return mode;
}

/* Ends the request like native/request.cc FinishRequest; returns the connection to go on with, or -1. */
static int Finish(FCGX_Request *req)
{
    int keep = req->keepConnection != 0;
    int fd;
    char trash[4096];

    if (keep && !FCGX_HasSeenEOF(req->in)) {
        /* Unread body would be parsed as the start of the next request. */
        while (FCGX_GetStr(trash, sizeof trash, req->in) > 0) {
        }
    }
    if (FCGX_FClose(req->err) != 0) keep = 0;
    if (FCGX_FClose(req->out) != 0) keep = 0;
    if (FCGX_GetError(req->in) != 0) keep = 0;
    if (keep) {
        /* The connection, and any bytes of the next request already read, stay with req. */
        FCGX_Free(req, 0);
        return req->ipcFd;
    }
    fd = req->ipcFd;
    req->ipcFd = -1;
    FCGX_Free(req, 0);
    shutdown(fd, SHUT_WR);
    close(fd);
    return -1;
}

/*
 * Ends the request as native/fast_end.cc EndOnJsThread does (patch 0018): when the rest of the input is in fcgi2's buffer
 * already (FCGX_SkipReadInput, no read), the end records are built by FCGX_PutStrCloseV and written here; otherwise
 * the tail goes out with FCGX_PutStr and Finish drains the input.  The tail is "end\n", or 70,000 bytes (two
 * records) when the request's exit status is even.
 */
static int FinishHere(FCGX_Request *req)
{
    static char big[70000];
    const char *tail = "end\n";
    int n = 4, cnt = 0, i, readAhead, skipped;
    FCGX_CloseWrite errW, outW;
    struct iovec iov[2 * (2 * FCGX_CLOSE_RECORDS_MAX + 3)];

    if (req->appStatus % 2 == 0) {
        memset(big, 'e', sizeof big);
        tail = big;
        n = (int)sizeof big;
    }
    skipped = req->keepConnection ? FCGX_SkipReadInput(req->in) : 1;
    if (skipped != 1) {
        /* Not all read yet (or an error): as the server hands it to a worker. A 0 leaves the stream usable. */
        if (skipped == 0 && FCGX_GetError(req->in) != 0) abort();
        FCGX_PutStr(tail, n, req->out);
        return Finish(req);
    }
    if (FCGX_PutStrCloseV("", 0, req->err, &errW) != 0) errW.iovcnt = 0; /* stderr failed earlier */
    if (FCGX_PutStrCloseV(tail, n, req->out, &outW) != 0) return Finish(req); /* stdout failed earlier */
    for (i = 0; i < errW.iovcnt; i++) iov[cnt++] = errW.iov[i];
    for (i = 0; i < outW.iovcnt; i++) iov[cnt++] = outW.iov[i];
    i = 0;
    while (i < cnt) {
        ssize_t w = writev(req->ipcFd, iov + i, cnt - i);
        if (w < 0) {
            if (errno == EINTR) continue;
            req->keepConnection = 0;
            break;
        }
        while (i < cnt && (size_t)w >= iov[i].iov_len) {
            w -= (ssize_t)iov[i].iov_len;
            i++;
        }
        if (i < cnt) {
            iov[i].iov_base = (char *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    /* Both writers are closed and the input is at its end: Finish does no I/O now, and keeps what was read ahead. */
    readAhead = FCGX_HasReadAhead(req->in);
    i = Finish(req);
    if (i >= 0 && readAhead != (req->readAhead != NULL)) abort();
    return i;
}

void ServeBytes(const unsigned char *input, size_t len, ServeStats *stats,
        unsigned char *reply, size_t replyMax, size_t *replyLen)
{
    ServeBytesPreread(input, len, 0, stats, reply, replyMax, replyLen);
}

void ServeBytesPreread(const unsigned char *input, size_t len, size_t prereadLen, ServeStats *stats,
        unsigned char *reply, size_t replyMax, size_t *replyLen)
{
    int sv[2];
    Peer peer;
    FCGX_Request req;
    struct timeval tv = {5, 0}; /* as the addon's readTimeout/writeTimeout: never hang */
    int fd;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    memset(&peer, 0, sizeof peer);
    peer.fd = sv[1];
    if (prereadLen > len) prereadLen = len;
    peer.input = input + prereadLen;
    peer.len = len - prereadLen;
    peer.reply = reply;
    peer.replyMax = reply ? replyMax : 0;
    ServeInit();
    pthread_mutex_lock(&peerMutex);
    peerJob = &peer;
    pthread_cond_broadcast(&peerCond);
    pthread_mutex_unlock(&peerMutex);

    FCGX_InitRequest(&req, -1, 0);
    /* Small limits, so that short inputs reach them. */
    req.maxParamNameLen = 1024;
    req.maxParamValueLen = 4096;
    req.maxParamsTotal = 16384;
    req.keepSpares = 1; /* patch 0020: streams and params vector kept from request to request, as the addon does */
    if (prereadLen > 0) {
        /* Patch 0019: these bytes were read already (as the request gate hands them over). */
        unsigned char *copy = malloc(prereadLen);
        if (copy == NULL) abort();
        memcpy(copy, input, prereadLen);
        if (FCGX_SetPreread(&req, copy, prereadLen) != 0) abort();
    }
    fd = sv[0];
    while (fd >= 0) {
        req.ipcFd = fd;
        req.listen_sock = -1;   /* fcgi2's own accept() fails instead of blocking */
        req.keepConnection = 1; /* the Finish_r at the top of FCGX_Accept_r keeps fd */
        req.detached = 1;       /* a failed connection is closed without the 2 s drain */
        if (FCGX_Accept_r(&req) != 0) {
            req.detached = 0;
            req.ipcFd = -1; /* fcgi2 closed it */
            break;
        }
        req.detached = 0;
        fd = Application(&req, stats) == kEndUsual ? Finish(&req) : FinishHere(&req);
    }
    FCGX_Free(&req, 1);
    FCGX_FreeSpares(&req);
    pthread_mutex_lock(&peerMutex);
    while (!peer.done) pthread_cond_wait(&peerCond, &peerMutex);
    peerJob = NULL;
    pthread_mutex_unlock(&peerMutex);
    if (stats) stats->outputBytes += (long)peer.received;
    if (replyLen) *replyLen = peer.received;
}
