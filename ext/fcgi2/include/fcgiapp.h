/*
 * fcgiapp.h --
 *
 *      Definitions for FastCGI application server programs
 *
 *
 * Copyright (c) 1996 Open Market, Inc.
 *
 * See the file "LICENSE" for information on usage and redistribution
 * of this file, and for a DISCLAIMER OF ALL WARRANTIES.
 *
 * $Id: fcgiapp.h,v 1.14 2003/06/22 00:16:44 robs Exp $
 */

#ifndef _FCGIAPP_H
#define _FCGIAPP_H

/* Hack to see if we are building Tcl - Tcl needs varargs not stdarg */
#ifndef TCL_LIBRARY
#include <stdarg.h>
#else
#include <varargs.h>
#endif
#include <stddef.h>       /* for size_t */

#ifndef DLLAPI
#if defined (_WIN32) && defined (_MSC_VER)
#define DLLAPI __declspec(dllimport)
#else
#define DLLAPI
#endif
#endif

#if defined (c_plusplus) || defined (__cplusplus)
extern "C" {
#endif

/*
 * Error codes.  Assigned to avoid conflict with EOF and errno(2).
 */
#define FCGX_UNSUPPORTED_VERSION -2
#define FCGX_PROTOCOL_ERROR -3
#define FCGX_PARAMS_ERROR -4
#define FCGX_CALL_SEQ_ERROR -5
#define FCGX_REQUEST_ABORTED -6   /* the web server sent FCGI_ABORT_REQUEST */

/*
 * Default limits on the params (FCGI_PARAMS name-value pairs) of one
 * request, used where the corresponding FCGX_Request field is 0.
 * Params beyond a limit fail the request with FCGX_PARAMS_ERROR
 * before anything of the claimed size is allocated.
 */
#define FCGX_DEFAULT_MAX_PARAM_NAME 65536
#define FCGX_DEFAULT_MAX_PARAM_VALUE 1048576
#define FCGX_DEFAULT_MAX_PARAMS_TOTAL 4194304

/*
 * This structure defines the state of a FastCGI stream.
 * Streams are modeled after the FILE type defined in stdio.h.
 * (We wouldn't need our own if platform vendors provided a
 * standard way to subclass theirs.)
 * The state of a stream is private and should only be accessed
 * by the procedures defined below.
 */
typedef struct FCGX_Stream {
    unsigned char *rdNext;    /* reader: first valid byte
                               * writer: equals stop */
    unsigned char *wrNext;    /* writer: first free byte
                               * reader: equals stop */
    unsigned char *stop;      /* reader: last valid byte + 1
                               * writer: last free byte + 1 */
    unsigned char *stopUnget; /* reader: first byte of current buffer
                               * fragment, for ungetc
                               * writer: undefined */
    int isReader;
    int isClosed;
    int wasFCloseCalled;
    int FCGI_errno;                /* error status */
    void (*fillBuffProc) (struct FCGX_Stream *stream);
    void (*emptyBuffProc) (struct FCGX_Stream *stream, int doClose);
    void *data;
} FCGX_Stream;

/*
 * An environment (as defined by environ(7)): A NULL-terminated array
 * of strings, each string having the form name=value.
 */
typedef char **FCGX_ParamArray;

/*
 * FCGX_Request Flags
 *
 * Setting FCGI_FAIL_ACCEPT_ON_INTR prevents FCGX_Accept() from
 * restarting upon being interrupted.
 */
#define FCGI_FAIL_ACCEPT_ON_INTR	1

/*
 * FCGX_Request -- State associated with a request.
 *
 * Its exposed for API simplicity, I expect parts of it to change!
 */
typedef struct FCGX_Request {
    int requestId;            /* valid if isBeginProcessed */
    int role;
    FCGX_Stream *in;
    FCGX_Stream *out;
    FCGX_Stream *err;
    char **envp;

    /* Don't use anything below here */

    struct Params *paramsPtr;
    int ipcFd;               /* < 0 means no connection */
    int isBeginProcessed;     /* FCGI_BEGIN_REQUEST seen */
    int keepConnection;       /* don't close ipcFd at end of request */
    int appStatus;
    int nWriters;             /* number of open writers (0..2) */
    int flags;
    int listen_sock;
    int detached;

    /*
     * Limits on the params of a request; 0 means the FCGX_DEFAULT_MAX_*
     * value.  Set them after FCGX_InitRequest, which zeroes them.
     */
    size_t maxParamNameLen;   /* bytes in one name */
    size_t maxParamValueLen;  /* bytes in one value */
    size_t maxParamsTotal;    /* bytes of all "name=value" strings of a
                               * request, counting '=' and '\0' */

    /*
     * Set by FCGX_Free when the connection in ipcFd is kept and bytes of
     * the next request were read with the last one (a web server may
     * send them in the same write): the reader holding them, which the
     * next FCGX_Accept_r on that connection goes on from.  It belongs
     * to that connection: FCGX_Free discards it when it closes the
     * connection or ipcFd is < 0.  A caller that moves the connection
     * elsewhere must first check it is NULL (no bytes would be lost).
     */
    FCGX_Stream *readAhead;

    /*
     * Sizes of the buffers FCGX_Accept_r gives each request: output is
     * written as FCGI_STDOUT records of up to outBufSize bytes (less the
     * record header), input is read in reads of up to inBufSize bytes.
     * 0 means 8192 (fcgi2's size); values are clamped to 32 ... 65536.
     * Set them after FCGX_InitRequest.
     */
    int outBufSize;
    int inBufSize;

    /*
     * Bytes of the connection in ipcFd that the caller read before
     * fcgi2 did (FCGX_SetPreread): the request's input takes them
     * before it reads ipcFd.  preread is NULL when there are none.
     */
    unsigned char *preread;
    size_t prereadLen;
    size_t prereadPos;

    /*
     * Memory kept from one request for the next on this FCGX_Request.
     * With keepSpares set (after FCGX_InitRequest, which zeroes these
     * fields), FCGX_Free keeps the request's streams (each with its
     * state and buffer) and its params vector here instead of freeing
     * them, and FCGX_Accept_r takes them again for the next request,
     * as new, when the buffer sizes match.  FCGX_FreeSpares frees them:
     * call it before the FCGX_Request is discarded or initialised again.
     */
    int keepSpares;
    FCGX_Stream *spareIn;
    FCGX_Stream *spareOut;
    FCGX_Stream *spareErr;
    struct Params *spareParams;
} FCGX_Request;
#define FCGX_HAVE_BUF_SIZES 1


/*
 *======================================================================
 * Control
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * FCGX_IsCGI --
 *
 *      Returns TRUE iff this process appears to be a CGI process
 *      rather than a FastCGI process.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_IsCGI(void);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Init --
 *
 *      Initialize the FCGX library.  Call in multi-threaded apps
 *      before calling FCGX_Accept_r().
 *
 *      Returns 0 upon success.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_Init(void);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_OpenSocket --
 *
 *	Create a FastCGI listen socket.
 *
 *	path is the Unix domain socket (named pipe for WinNT), or a colon
 *	followed by a port number.  e.g. "/tmp/fastcgi/mysocket", ":5000"
 *
 *	backlog is the listen queue depth used in the listen() call.
 *
 *  Returns the socket's file descriptor or -1 on error.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_OpenSocket(const char *path, int backlog);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_InitRequest --
 *
 *	Initialize a FCGX_Request for use with FCGX_Accept_r().
 *
 * 	sock is a file descriptor returned by FCGX_OpenSocket() or 0 (default).
 * 	The only supported flag at this time is FCGI_FAIL_ON_INTR.
 *
 * 	Returns 0 upon success.
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_InitRequest(FCGX_Request *request, int sock, int flags);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Accept_r --
 *
 *      Accept a new request (multi-thread safe).  Be sure to call
 * 	FCGX_Init() first.
 *
 * Results:
 *	0 for successful call, -1 for error.
 *
 * Side effects:
 *
 *      Finishes the request accepted by (and frees any
 *      storage allocated by) the previous call to FCGX_Accept.
 *      Creates input, output, and error streams and
 *      assigns them to *in, *out, and *err respectively.
 *      Creates a parameters data structure to be accessed
 *      via getenv(3) (if assigned to environ) or by FCGX_GetParam
 *      and assigns it to *envp.
 *
 *      DO NOT retain pointers to the envp array or any strings
 *      contained in it (e.g. to the result of calling FCGX_GetParam),
 *      since these will be freed by the next call to FCGX_Finish
 *      or FCGX_Accept.
 *
 *	DON'T use the FCGX_Request, its structure WILL change.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_Accept_r(FCGX_Request *request);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Finish_r --
 *
 *      Finish the request (multi-thread safe).
 *
 * Side effects:
 *
 *      Finishes the request accepted by (and frees any
 *      storage allocated by) the previous call to FCGX_Accept.
 *
 *      DO NOT retain pointers to the envp array or any strings
 *      contained in it (e.g. to the result of calling FCGX_GetParam),
 *      since these will be freed by the next call to FCGX_Finish
 *      or FCGX_Accept.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_Finish_r(FCGX_Request *request);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Free --
 *
 *      Free the memory and, if close is true, 
 *	    IPC FD associated with the request (multi-thread safe).
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_Free(FCGX_Request * request, int close);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FreeSpares --
 *
 *      Frees the memory FCGX_Free kept in the request for its next
 *      request (request->keepSpares).  The request stays usable: a
 *      later FCGX_Free keeps memory again while keepSpares is set.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_FreeSpares(FCGX_Request *request);
#define FCGX_HAVE_SPARES 1

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetParamsBlock --
 *
 *      The request's environment (envp) as one run of bytes, when its
 *      strings lie one after the other in one block of memory: each
 *      "name=value" followed by its NUL, in envp's order.
 *
 * Results:
 *      1 with *start and *length set (length counts every NUL,
 *      the last one included); 0 when the strings are not in one
 *      block (more than fit in its 4 KiB) or there is no request.
 *      The bytes are valid until the request is freed.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_GetParamsBlock(const FCGX_Request *request, const char **start,
        size_t *length);
#define FCGX_HAVE_PARAMS_BLOCK 1

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Accept --
 *
 *      Accept a new request (NOT multi-thread safe).
 *
 * Results:
 *	0 for successful call, -1 for error.
 *
 * Side effects:
 *
 *      Finishes the request accepted by (and frees any
 *      storage allocated by) the previous call to FCGX_Accept.
 *      Creates input, output, and error streams and
 *      assigns them to *in, *out, and *err respectively.
 *      Creates a parameters data structure to be accessed
 *      via getenv(3) (if assigned to environ) or by FCGX_GetParam
 *      and assigns it to *envp.
 *
 *      DO NOT retain pointers to the envp array or any strings
 *      contained in it (e.g. to the result of calling FCGX_GetParam),
 *      since these will be freed by the next call to FCGX_Finish
 *      or FCGX_Accept.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_Accept(
        FCGX_Stream **in,
        FCGX_Stream **out,
        FCGX_Stream **err,
        FCGX_ParamArray *envp);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Finish --
 *
 *      Finish the current request (NOT multi-thread safe).
 *
 * Side effects:
 *
 *      Finishes the request accepted by (and frees any
 *      storage allocated by) the previous call to FCGX_Accept.
 *
 *      DO NOT retain pointers to the envp array or any strings
 *      contained in it (e.g. to the result of calling FCGX_GetParam),
 *      since these will be freed by the next call to FCGX_Finish
 *      or FCGX_Accept.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_Finish(void);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_StartFilterData --
 *
 *      stream is an input stream for a FCGI_FILTER request.
 *      stream is positioned at EOF on FCGI_STDIN.
 *      Repositions stream to the start of FCGI_DATA.
 *      If the preconditions are not met (e.g. FCGI_STDIN has not
 *      been read to EOF) sets the stream error code to
 *      FCGX_CALL_SEQ_ERROR.
 *
 * Results:
 *      0 for a normal return, < 0 for error
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_StartFilterData(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_SetExitStatus --
 *
 *      Sets the exit status for stream's request. The exit status
 *      is the status code the request would have exited with, had
 *      the request been run as a CGI program.  You can call
 *      SetExitStatus several times during a request; the last call
 *      before the request ends determines the value.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_SetExitStatus(int status, FCGX_Stream *stream);

/*
 *======================================================================
 * Parameters
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetParam -- obtain value of FCGI parameter in environment
 *
 *
 * Results:
 *	Value bound to name, NULL if name not present in the
 *      environment envp.  Caller must not mutate the result
 *      or retain it past the end of this request.
 *
 *----------------------------------------------------------------------
 */
DLLAPI char *FCGX_GetParam(const char *name, FCGX_ParamArray envp);

/*
 *======================================================================
 * Readers
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetChar --
 *
 *      Reads a byte from the input stream and returns it.
 *
 * Results:
 *	The byte, or EOF (-1) if the end of input has been reached.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_GetChar(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_UnGetChar --
 *
 *      Pushes back the character c onto the input stream.  One
 *      character of pushback is guaranteed once a character
 *      has been read.  No pushback is possible for EOF.
 *
 * Results:
 *	Returns c if the pushback succeeded, EOF if not.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_UnGetChar(int c, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetStr --
 *
 *      Reads up to n consecutive bytes from the input stream
 *      into the character array str.  Performs no interpretation
 *      of the input bytes.
 *
 * Results:
 *	Number of bytes read.  If result is smaller than n,
 *      the end of input has been reached.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_GetStr(char *str, int n, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetLine --
 *
 *      Reads up to n-1 consecutive bytes from the input stream
 *      into the character array str.  Stops before n-1 bytes
 *      have been read if '\n' or EOF is read.  The terminating '\n'
 *      is copied to str.  After copying the last byte into str,
 *      stores a '\0' terminator.
 *
 * Results:
 *	NULL if EOF is the first thing read from the input stream,
 *      str otherwise.
 *
 *----------------------------------------------------------------------
 */
DLLAPI char *FCGX_GetLine(char *str, int n, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_HasSeenEOF --
 *
 *      Returns EOF if end-of-file has been detected while reading
 *      from stream; otherwise returns 0.
 *
 *      Note that FCGX_HasSeenEOF(s) may return 0, yet an immediately
 *      following FCGX_GetChar(s) may return EOF.  This function, like
 *      the standard C stdio function feof, does not provide the
 *      ability to peek ahead.
 *
 * Results:
 *	EOF if end-of-file has been detected, 0 if not.
 *
 *----------------------------------------------------------------------
 */

DLLAPI  int FCGX_HasSeenEOF(FCGX_Stream *stream);

/*
 *======================================================================
 * Writers
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutChar --
 *
 *      Writes a byte to the output stream.
 *
 * Results:
 *	The byte, or EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_PutChar(int c, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutStr --
 *
 *      Writes n consecutive bytes from the character array str
 *      into the output stream.  Performs no interpretation
 *      of the output bytes.
 *
 * Results:
 *      Number of bytes written (n) for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_PutStr(const char *str, int n, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutS --
 *
 *      Writes a null-terminated character string to the output stream.
 *
 * Results:
 *      number of bytes written for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_PutS(const char *str, FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FPrintF, FCGX_VFPrintF --
 *
 *      Performs printf-style output formatting and writes the results
 *      to the output stream.
 *
 * Results:
 *      number of bytes written for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_FPrintF(FCGX_Stream *stream, const char *format, ...);

DLLAPI int FCGX_VFPrintF(FCGX_Stream *stream, const char *format, va_list arg);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FFlush --
 *
 *      Flushes any buffered output.
 *
 *      Server-push is a legitimate application of FCGX_FFlush.
 *      Otherwise, FCGX_FFlush is not very useful, since FCGX_Accept
 *      does it implicitly.  Calling FCGX_FFlush in non-push applications
 *      results in extra writes and therefore reduces performance.
 *
 * Results:
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_FFlush(FCGX_Stream *stream);

/*
 *======================================================================
 * Both Readers and Writers
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FClose --
 *
 *      Closes the stream.  For writers, flushes any buffered
 *      output.
 *
 *      Close is not a very useful operation since FCGX_Accept
 *      does it implicitly.  Closing the out stream before the
 *      err stream results in an extra write if there's nothing
 *      in the err stream, and therefore reduces performance.
 *
 * Results:
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_FClose(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutStrClose --
 *
 *      FCGX_PutStr(str, n, stream) then FCGX_FClose(stream), for a
 *      request's stdout or stderr writer, in as few writes as
 *      possible: the end of str, the stream's EOF record and (when
 *      this is the last open writer) FCGI_END_REQUEST leave in one
 *      writev().  Close the other writer first to get
 *      FCGI_END_REQUEST into that write.
 *
 * Results:
 *      0 for normal return, EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_PutStrClose(const char *str, int n, FCGX_Stream *stream);
#define FCGX_HAVE_PUT_STR_CLOSE 1

#ifndef _WIN32
#include <sys/uio.h>      /* for struct iovec */

/* Records of the caller's bytes FCGX_PutStrClose sends in its one writev(). */
#define FCGX_CLOSE_RECORDS_MAX 4
/* The most bytes FCGX_PutStrCloseV takes: that many records of 65528 bytes. */
#define FCGX_CLOSE_WRITE_MAX (FCGX_CLOSE_RECORDS_MAX * 65528)

/* What FCGX_PutStrCloseV prepares: iov[0..iovcnt) points into the
 * stream's buffer, the caller's bytes and this structure. */
typedef struct FCGX_CloseWrite {
    struct iovec iov[2 * FCGX_CLOSE_RECORDS_MAX + 3];
    int iovcnt;
    unsigned char headers[FCGX_CLOSE_RECORDS_MAX][8];
    unsigned char closeRecords[8 + 16];
} FCGX_CloseWrite;

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutStrCloseV --
 *
 *      FCGX_PutStrClose without the write: fills w with the bytes
 *      FCGX_PutStrClose would send (what is buffered, the records of
 *      str, the stream's EOF record and, when this is the last open
 *      writer, FCGI_END_REQUEST) and leaves the stream as FCGX_FClose
 *      leaves it.  The caller must then write all of w->iov, in order,
 *      before anything else is written to the connection, and keep
 *      str, w and the request's streams alive until then.  With n 0
 *      on a stderr that never carried anything, w->iovcnt can be 0.
 *
 * Results:
 *      0, or EOF (-1) with nothing changed when it cannot: str needs
 *      more than FCGX_CLOSE_RECORDS_MAX records, or the stream is not
 *      a request's open writer.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_PutStrCloseV(const char *str, int n, FCGX_Stream *stream,
        FCGX_CloseWrite *w);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_SkipReadInput --
 *
 *      Discards the rest of a request's input stream as far as it has
 *      already been read from the connection, without reading: the
 *      content, padding and further records of the stream that are in
 *      the stream's buffer.  It stops before a record of any other
 *      kind (a management record, another request, an abort), which
 *      the usual reads process.  After a 0 the stream goes on from
 *      where it stopped (FCGX_GetStr reads the rest).
 *
 * Results:
 *      1 when the stream's end was reached, 0 when reading is needed
 *      to get there, EOF (-1) if the stream has an error.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_SkipReadInput(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_HasReadAhead --
 *
 *      Whether a request's input stream, at its end, holds bytes read
 *      past it: the start of the next request on the connection, which
 *      FCGX_Free(request, 0) keeps in request->readAhead while ipcFd is
 *      open.  No I/O.
 *
 * Results:
 *      1 if so, 0 if not (also for a stream not at its end).
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_HasReadAhead(FCGX_Stream *stream);
#define FCGX_HAVE_CLOSE_WRITE 1
#endif

/*
 *----------------------------------------------------------------------
 *
 * FCGX_SetPreread --
 *
 *      Gives a request bytes of its connection (ipcFd) that the
 *      caller has already read, e.g. a dispatcher that gathered a
 *      whole request with non-blocking reads.  FCGX_Accept_r and the
 *      request's input read them before they read ipcFd, as if they
 *      were still in the socket: records that are all in buf are
 *      parsed without a read.  buf must come from malloc; the request
 *      owns it from then on and frees it once it is consumed, or in
 *      FCGX_Free when the connection is closed (a kept connection
 *      keeps what is left for its next request).
 *
 * Results:
 *      0, or -1 when bytes given before are still unread or n is 0
 *      (buf is then left to the caller).
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_SetPreread(FCGX_Request *request, unsigned char *buf, size_t n);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_TakePreread --
 *
 *      After FCGX_Free(request, 0): every byte of the kept connection
 *      read and not yet consumed, in order (what request->readAhead
 *      holds, then what is left of FCGX_SetPreread's buffer), for a
 *      caller that goes back to watching the connection itself.
 *      request->readAhead is freed.
 *
 * Results:
 *      A malloc'd buffer the caller owns and its length in *n; NULL
 *      with *n = 0 when there are none, NULL with *n = (size_t)-1 when
 *      memory ran out (the bytes are then dropped).
 *
 *----------------------------------------------------------------------
 */
DLLAPI unsigned char *FCGX_TakePreread(FCGX_Request *request, size_t *n);
#define FCGX_HAVE_PREREAD 1

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetError --
 *
 *      Return the stream error code.  0 means no error, > 0
 *      is an errno(2) error, < 0 is an FastCGI error.
 *
 *----------------------------------------------------------------------
 */
DLLAPI int FCGX_GetError(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_ClearError --
 *
 *      Clear the stream error code and end-of-file indication.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_ClearError(FCGX_Stream *stream);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_CreateWriter --
 *
 *      Create a FCGX_Stream (used by cgi-fcgi).  This shouldn't 
 *      be needed by a FastCGI applictaion.
 *
 *----------------------------------------------------------------------
 */
DLLAPI FCGX_Stream *FCGX_CreateWriter(
        int socket,
        int requestId,
        int bufflen,
        int streamType);

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FreeStream --
 *
 *      Free a FCGX_Stream (used by cgi-fcgi).  This shouldn't 
 *      be needed by a FastCGI applictaion.
 *
 *----------------------------------------------------------------------
 */
DLLAPI void FCGX_FreeStream(FCGX_Stream **stream);

/* ----------------------------------------------------------------------
 *
 *  Prevent the lib from accepting any new requests.  Signal handler safe.
 *
 * ----------------------------------------------------------------------
 */
DLLAPI void FCGX_ShutdownPending(void);


/*
 *  Attach/Detach an accepted request from its listen socket.
 *  XXX This is not fully implemented at this time (patch welcome).
 */
DLLAPI int FCGX_Attach(FCGX_Request * r);
DLLAPI int FCGX_Detach(FCGX_Request * r);


#if defined (__cplusplus) || defined (c_plusplus)
} /* terminate extern "C" { */
#endif

#endif	/* _FCGIAPP_H */
