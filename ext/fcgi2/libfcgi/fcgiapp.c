/*
 * fcgiapp.c --
 *
 *	FastCGI application library: request-at-a-time
 *
 *
 * Copyright (c) 1996 Open Market, Inc.
 *
 * See the file "LICENSE" for information on usage and redistribution
 * of this file, and for a DISCLAIMER OF ALL WARRANTIES.
 *
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>      /* for fcntl */
#include <math.h>
#include <memory.h>     /* for memchr() */
#include <stdarg.h>
#include <stddef.h>     /* for offsetof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fcgi_config.h"

#ifdef HAVE_SYS_SOCKET_H
#include <sys/socket.h> /* for getpeername */
#endif

#ifdef HAVE_SYS_TIME_H
#include <sys/time.h>
#endif

#ifdef HAVE_UNISTD_H
#include <unistd.h>
#endif

#ifdef HAVE_LIMITS_H
#include <limits.h>
#endif

#include "fcgimisc.h"
#include "fastcgi.h"
#include "fcgios.h"
#include "fcgiapp.h"

/* FCGX_PutStr: output of at least this many bytes is written without
 * copying it through the stream buffer (PutStrDirect). */
#define DIRECT_WRITE_MIN 8192
/* FCGI_MAX_LENGTH rounded down to a multiple of 8. */
#define DIRECT_RECORD_MAX 65528
/* FCGX_PutStrClose: records of the caller's bytes sent in its one writev. */
#define CLOSE_RECORDS_MAX FCGX_CLOSE_RECORDS_MAX

/*
 * This is a workaround for one version of the HP C compiler
 * (c89 on HP-UX 9.04, also Stratus FTX), which will dump core
 * if given 'long double' for varargs.
 */
#ifdef HAVE_VA_ARG_LONG_DOUBLE_BUG
#define LONG_DOUBLE double
#else
#define LONG_DOUBLE long double
#endif

/*
 * Globals
 */
static int libInitialized = 0;
static int isFastCGI = -1;
static char *webServerAddressList = NULL;
static FCGX_Request the_request;

void FCGX_ShutdownPending(void)
{
    OS_ShutdownPending();
}

static void *Malloc(size_t size)
{
    void *result = malloc(size);
    ASSERT(size == 0 || result != NULL);
    return result;
}

static char *StringCopy(char *str)
{
    int strLen = strlen(str);
    char *newString = (char *)Malloc(strLen + 1);
    memcpy(newString, str, strLen);
    newString[strLen] = '\000';
    return newString;
}


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
int FCGX_GetChar(FCGX_Stream *stream)
{
    if (stream->isClosed || ! stream->isReader)
        return EOF;

    if (stream->rdNext != stream->stop)
        return *stream->rdNext++;

    stream->fillBuffProc(stream);
    if (stream->isClosed)
        return EOF;

    stream->stopUnget = stream->rdNext;
    if (stream->rdNext != stream->stop)
        return *stream->rdNext++;

    ASSERT(stream->isClosed); /* bug in fillBufProc if not */
    return EOF;
}

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
int FCGX_GetStr(char *str, int n, FCGX_Stream *stream)
{
    int m, bytesMoved;

    if (stream->isClosed || ! stream->isReader || n <= 0) {
        return 0;
    }
    /*
     * Fast path: n bytes are already available
     */
    if(n <= (stream->stop - stream->rdNext)) {
        memcpy(str, stream->rdNext, n);
        stream->rdNext += n;
        return n;
    }
    /*
     * General case: stream is closed or buffer fill procedure
     * needs to be called
     */
    bytesMoved = 0;
    for (;;) {
        if(stream->rdNext != stream->stop) {
            m = min(n - bytesMoved, stream->stop - stream->rdNext);
            memcpy(str, stream->rdNext, m);
            bytesMoved += m;
            stream->rdNext += m;
            if(bytesMoved == n)
                return bytesMoved;
            str += m;
        }
        if(stream->isClosed || !stream->isReader)
            return bytesMoved;
        stream->fillBuffProc(stream);
        if (stream->isClosed)
            return bytesMoved;

        stream->stopUnget = stream->rdNext;
    }
}

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
char *FCGX_GetLine(char *str, int n, FCGX_Stream *stream)
{
    int c;
    char *p = str;

    n--;
    while (n > 0) {
        c = FCGX_GetChar(stream);
        if(c == EOF) {
            if(p == str)
                return NULL;
            else
                break;
        }
        *p++ = (char) c;
        n--;
        if(c == '\n')
            break;
    }
    *p = '\0';
    return str;
}

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
int FCGX_UnGetChar(int c, FCGX_Stream *stream) {
    if(c == EOF
            || stream->isClosed
            || !stream->isReader
            || stream->rdNext == stream->stopUnget)
        return EOF;
    --(stream->rdNext);
    *stream->rdNext = (unsigned char) c;
    return c;
}

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
int FCGX_HasSeenEOF(FCGX_Stream *stream) {
    return (stream->isClosed) ? EOF : 0;
}

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
int FCGX_PutChar(int c, FCGX_Stream *stream)
{
    if(stream->wrNext != stream->stop)
        return (*stream->wrNext++ = (unsigned char) c);
    if(stream->isClosed || stream->isReader)
        return EOF;
    stream->emptyBuffProc(stream, FALSE);
    if(stream->wrNext != stream->stop)
        return (*stream->wrNext++ = (unsigned char) c);
    ASSERT(stream->isClosed); /* bug in emptyBuffProc if not */
    return EOF;
}

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
static int PutStrDirect(const char *str, int n, FCGX_Stream *stream);

int FCGX_PutStr(const char *str, int n, FCGX_Stream *stream)
{
    int m, bytesMoved;

    /*
     * Fast path: room for n bytes in the buffer
     */
    if(n <= (stream->stop - stream->wrNext)) {
        memcpy(stream->wrNext, str, n);
        stream->wrNext += n;
        return n;
    }
    /*
     * Large output of a request: records written from the caller's
     * bytes, not copied through the buffer first.
     */
    if(n >= DIRECT_WRITE_MIN && !stream->isReader && !stream->isClosed) {
        m = PutStrDirect(str, n, stream);
        if(m != -2)
            return m;
    }
    /*
     * General case: stream is closed or buffer empty procedure
     * needs to be called
     */
    bytesMoved = 0;
    for (;;) {
        if(stream->wrNext != stream->stop) {
            m = min(n - bytesMoved, stream->stop - stream->wrNext);
            memcpy(stream->wrNext, str, m);
            bytesMoved += m;
            stream->wrNext += m;
            if(bytesMoved == n)
                return bytesMoved;
            str += m;
	}
        if(stream->isClosed || stream->isReader)
            return -1;
        stream->emptyBuffProc(stream, FALSE);
    }
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_PutS --
 *
 *      Writes a character string to the output stream.
 *
 * Results:
 *      number of bytes written for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
int FCGX_PutS(const char *str, FCGX_Stream *stream)
{
    return FCGX_PutStr(str, strlen(str), stream);
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FPrintF --
 *
 *      Performs output formatting and writes the results
 *      to the output stream.
 *
 * Results:
 *      number of bytes written for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
int FCGX_FPrintF(FCGX_Stream *stream, const char *format, ...)
{
    int result;
    va_list ap;
    va_start(ap, format);
    result = FCGX_VFPrintF(stream, format, ap);
    va_end(ap);
    return result;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_VFPrintF --
 *
 *      Performs output formatting and writes the results
 *      to the output stream.
 *
 * Results:
 *      number of bytes written for normal return,
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */

#define PRINTF_BUFFLEN 100
    /*
     * More than sufficient space for all unmodified conversions
     * except %s and %f.
     */
#define FMT_BUFFLEN 25
    /*
     * Max size of a format specifier is 1 + 5 + 7 + 7 + 2 + 1 + slop
     */
static void CopyAndAdvance(char **destPtr, char **srcPtr, int n);

int FCGX_VFPrintF(FCGX_Stream *stream, const char *format, va_list arg)
{
    char *f, *fStop, *percentPtr, *p, *fmtBuffPtr, *buffPtr;
    int op, performedOp, sizeModifier, buffCount = 0, buffLen, specifierLength;
    int fastPath, n, auxBuffLen = 0, buffReqd, minWidth, precision, exp;
    char *auxBuffPtr = NULL;
    int streamCount = 0;
    char fmtBuff[FMT_BUFFLEN];
    char buff[PRINTF_BUFFLEN];

    int intArg;
    short shortArg;
    long longArg;
    long long longLongArg;
    unsigned unsignedArg;
    unsigned long uLongArg;
    unsigned long long uLongLongArg;
    unsigned short uShortArg;
    char *charPtrArg = NULL;
    void *voidPtrArg;
    int *intPtrArg;
    long *longPtrArg;
    short *shortPtrArg;
    double doubleArg = 0.0;
    LONG_DOUBLE lDoubleArg = 0.0L;

    fmtBuff[0] = '%';
    f = (char *) format;
    fStop = f + strlen(f);
    while (f != fStop) {
        percentPtr = (char *)memchr(f, '%', fStop - f);
        if(percentPtr == NULL) percentPtr = fStop;
        if(percentPtr != f) {
            if(FCGX_PutStr(f, percentPtr - f, stream) < 0)
                goto ErrorReturn;
            streamCount += percentPtr - f;
            f = percentPtr;
            if(f == fStop) break;
	}
        fastPath = TRUE;
        /*
         * The following loop always executes either once or twice.
         */
        for (;;) {
            if(fastPath) {
                /*
                 * Fast path: Scan optimistically, hoping that no flags,
                 * minimum field width, or precision are specified.
                 * Use the preallocated buffer, which is large enough
                 * for all fast path cases.  If the conversion specifier
                 * is really more complex, run the loop a second time
                 * using the slow path.
                 * Note that fast path execution of %s bypasses the buffer
                 * and %f is not attempted on the fast path due to
                 * its large buffering requirements.
                 */
                op = *(percentPtr + 1);
                switch(op) {
	            case 'l':
                        if(op == 'l' && *(percentPtr + 2) == 'l') {
                            sizeModifier = 'L';
                            op = *(percentPtr + 3);
                            fmtBuff[1] = 'l';
                            fmtBuff[2] = 'l';
                            fmtBuff[3] = (char) op;
                            fmtBuff[4] = '\0';
                            specifierLength = 4;
                            break;
                        }
                        /* fall through */
	            case 'L':
                    case 'h':
                        sizeModifier = op;
                        op = *(percentPtr + 2);
                        fmtBuff[1] = (char) sizeModifier;
                        fmtBuff[2] = (char) op;
                        fmtBuff[3] = '\0';
                        specifierLength = 3;
                        break;
	            default:
                        sizeModifier = ' ';
                        fmtBuff[1] = (char) op;
                        fmtBuff[2] = '\0';
                        specifierLength = 2;
                        break;
	        }
                buffPtr = buff;
                buffLen = PRINTF_BUFFLEN;
	    } else {
                /*
                 * Slow path: Scan the conversion specifier and construct
                 * a new format string, compute an upper bound on the
                 * amount of buffering that sprintf will require,
                 * and allocate a larger buffer if necessary.
                 */
                p = percentPtr + 1;
                fmtBuffPtr = &fmtBuff[1];
                /*
                 * Scan flags
                 */
                n = strspn(p, "-0+ #");
                if(n > 5)
                    goto ErrorReturn;
                CopyAndAdvance(&fmtBuffPtr, &p, n);
                /*
                 * Scan minimum field width
                 */
                n = strspn(p, "0123456789");
                if(n == 0) {
                    if(*p == '*') {
                        minWidth = va_arg(arg, int);
                        if(abs(minWidth) > 999999)
                            goto ErrorReturn;
			/*
			 * The following use of strlen rather than the
			 * value returned from sprintf is because SUNOS4
			 * returns a char * instead of an int count.
			 */
			sprintf(fmtBuffPtr, "%d", minWidth);
                        fmtBuffPtr += strlen(fmtBuffPtr);
                        p++;
	            } else {
                        minWidth = 0;
	            }
	        } else if(n <= 6) {
                    minWidth = strtol(p, NULL, 10);
                    CopyAndAdvance(&fmtBuffPtr, &p, n);
                } else {
                    goto ErrorReturn;
                }
                /*
                 * Scan precision
                 */
	        if(*p == '.') {
                    CopyAndAdvance(&fmtBuffPtr, &p, 1);
                    n = strspn(p, "0123456789");
                    if(n == 0) {
                        if(*p == '*') {
                            precision = va_arg(arg, int);
                            if(precision < 0) precision = 0;
                            if(precision > 999999)
                                goto ErrorReturn;
			/*
			 * The following use of strlen rather than the
			 * value returned from sprintf is because SUNOS4
			 * returns a char * instead of an int count.
			 */
			    sprintf(fmtBuffPtr, "%d", precision);
			    fmtBuffPtr += strlen(fmtBuffPtr);
                            p++;
	                } else {
                            precision = 0;
	                }
	            } else if(n <= 6) {
                        precision = strtol(p, NULL, 10);
                        CopyAndAdvance(&fmtBuffPtr, &p, n);
                    } else {
                        goto ErrorReturn;
                    }
                } else {
                    precision = -1;
                }
                /*
                 * Scan size modifier and conversion operation
                 */
                switch(*p) {
	            case 'l':
                        if(*p == 'l' && *(p + 1) == 'l') {
                            sizeModifier = 'L';
                            CopyAndAdvance(&fmtBuffPtr, &p, 2);
                            break;
                        }
                        /* fall through */
                    case 'L':
                    case 'h':
                        sizeModifier = *p;
                        CopyAndAdvance(&fmtBuffPtr, &p, 1);
                        break;
	            default:
                        sizeModifier = ' ';
                        break;
                }
                op = *p;
                CopyAndAdvance(&fmtBuffPtr, &p, 1);
                ASSERT(fmtBuffPtr - fmtBuff < FMT_BUFFLEN);
                *fmtBuffPtr = '\0';
                specifierLength = p - percentPtr;
                /*
                 * Bound the required buffer size.  For s and f
                 * conversions this requires examining the argument.
                 */
                switch(op) {
	            case 'd':
                    case 'i':
                    case 'u':
                    case 'o':
                    case 'x':
                    case 'X':
                    case 'c':
                    case 'p':
                        buffReqd = max(precision, 46);
                        break;
	            case 's':
                        charPtrArg = va_arg(arg, char *);
			if (!charPtrArg) charPtrArg = "(null)";
                        if(precision == -1) {
			    buffReqd = strlen(charPtrArg);
		        } else {
			    p = (char *)memchr(charPtrArg, '\0', precision);
                            buffReqd =
			      (p == NULL) ? precision : p - charPtrArg;
			}
                        break;
	            case 'f':
                        switch(sizeModifier) {
                            case ' ':
                                doubleArg = va_arg(arg, double);
				                frexp(doubleArg, &exp);
                                break;
                            case 'L':
                                lDoubleArg = va_arg(arg, LONG_DOUBLE);
                                /* XXX Need to check for the presence of 
                                 * frexpl() and use it if available */
				                frexp((double) lDoubleArg, &exp);
                                break;
                            default:
                                goto ErrorReturn;
                        }
                        if(precision == -1) precision = 6;
                        buffReqd = precision + 3 + ((exp > 0) ? exp/3 : 0);
                        break;
	            case 'e':
	            case 'E':
	            case 'g':
	            case 'G':
                        if(precision == -1) precision = 6;
                        buffReqd = precision + 8;
                        break;
	            case 'n':
	            case '%':
	            default:
                        goto ErrorReturn;
                        break;
                }
                buffReqd = max(buffReqd + 10, minWidth);
                /*
                 * Allocate the buffer
                 */
	        if(buffReqd <= PRINTF_BUFFLEN) {
                    buffPtr = buff;
		    buffLen = PRINTF_BUFFLEN;
	        } else {
                    if(auxBuffPtr == NULL || buffReqd > auxBuffLen) {
		        if(auxBuffPtr != NULL) free(auxBuffPtr);
                        auxBuffPtr = (char *)Malloc(buffReqd);
                        auxBuffLen = buffReqd;
                        if(auxBuffPtr == NULL)
                            goto ErrorReturn;
		    }
                    buffPtr = auxBuffPtr;
		    buffLen = auxBuffLen;
		}
	    }
            /*
             * This giant switch statement requires the following variables
             * to be set up: op, sizeModifier, arg, buffPtr, fmtBuff.
             * When fastPath == FALSE and op == 's' or 'f', the argument
             * has been read into charPtrArg, doubleArg, or lDoubleArg.
             * The statement produces the boolean performedOp, TRUE if
             * the op/sizeModifier were executed and argument consumed;
             * if performedOp, the characters written into buffPtr[]
             * and the character count buffCount (== EOF meaning error).
             *
             * The switch cases are arranged in the same order as in the
             * description of fprintf in section 15.11 of Harbison and Steele.
             */
            performedOp = TRUE;
            switch(op) {
	        case 'd':
	        case 'i':
                    switch(sizeModifier) {
                        case ' ':
                            intArg = va_arg(arg, int);
			    sprintf(buffPtr, fmtBuff, intArg);
                            buffCount = strlen(buffPtr);
                            break;
	                case 'l':
                            longArg = va_arg(arg, long);
                            sprintf(buffPtr, fmtBuff, longArg);
                            buffCount = strlen(buffPtr);
                            break;
                        case 'L':
                            longLongArg = va_arg(arg, long long);
                            sprintf(buffPtr, fmtBuff, longLongArg);
                            buffCount = strlen(buffPtr);
                            break;
	                case 'h':
                            shortArg = (short) va_arg(arg, int);
                            sprintf(buffPtr, fmtBuff, shortArg);
                            buffCount = strlen(buffPtr);
                            break;
	                default:
                            goto ErrorReturn;
	            }
                    break;
	        case 'u':
                case 'o':
                case 'x':
                case 'X':
                    switch(sizeModifier) {
                        case ' ':
                            unsignedArg = va_arg(arg, unsigned);
			    sprintf(buffPtr, fmtBuff, unsignedArg);
                            buffCount = strlen(buffPtr);
                            break;
	                case 'l':
                            uLongArg = va_arg(arg, unsigned long);
			    sprintf(buffPtr, fmtBuff, uLongArg);
                            buffCount = strlen(buffPtr);
                            break;
                        case 'L':
                            uLongLongArg = va_arg(arg, unsigned long long);
                            sprintf(buffPtr, fmtBuff, uLongLongArg);
                            buffCount = strlen(buffPtr);
                            break;
                        case 'h':
                            uShortArg = (unsigned short) va_arg(arg, int);
                            sprintf(buffPtr, fmtBuff, uShortArg);
                            buffCount = strlen(buffPtr);
                            break;
                        default:
                            goto ErrorReturn;
                    }
                    break;
                case 'c':
                    switch(sizeModifier) {
                        case ' ':
                            intArg = va_arg(arg, int);
			    sprintf(buffPtr, fmtBuff, intArg);
                            buffCount = strlen(buffPtr);
                            break;
	                case 'l':
                            /*
                             * XXX: Allowed by ISO C Amendment 1, but
                             * many platforms don't yet support wint_t
                             */
                            goto ErrorReturn;
                    default:
                            goto ErrorReturn;
                    }
                    break;
	        case 's':
                    switch(sizeModifier) {
                        case ' ':
		            if(fastPath) {
			        buffPtr = va_arg(arg, char *);
                                buffCount = strlen(buffPtr);
                                buffLen = buffCount + 1;
			    } else {
				sprintf(buffPtr, fmtBuff, charPtrArg);
	                        buffCount = strlen(buffPtr);
			    }
			    break;
	                case 'l':
                            /*
                             * XXX: Don't know how to convert a sequence
                             * of wide characters into a byte stream, or
                             * even how to predict the buffering required.
                             */
                            goto ErrorReturn;
                        default:
                            goto ErrorReturn;
                    }
                    break;
                case 'p':
                    if(sizeModifier != ' ')
                        goto ErrorReturn;
                    voidPtrArg = va_arg(arg, void *);
		    sprintf(buffPtr, fmtBuff, voidPtrArg);
                    buffCount = strlen(buffPtr);
                    break;
                case 'n':
                    switch(sizeModifier) {
                        case ' ':
                            intPtrArg = va_arg(arg, int *);
                            *intPtrArg = streamCount;
                            break;
                        case 'l':
                            longPtrArg = va_arg(arg, long *);
                            *longPtrArg = streamCount;
                            break;
                        case 'h':
                            shortPtrArg = (short *) va_arg(arg, short *);
                            *shortPtrArg = (short) streamCount;
                            break;
	                default:
                            goto ErrorReturn;
	            }
                    buffCount = 0;
                    break;
                case 'f':
		    if(fastPath) {
		        performedOp = FALSE;
                        break;
		    }
                    switch(sizeModifier) {
                        case ' ':
			    sprintf(buffPtr, fmtBuff, doubleArg);
                            buffCount = strlen(buffPtr);
                            break;
                        case 'L':
			    sprintf(buffPtr, fmtBuff, lDoubleArg);
                            buffCount = strlen(buffPtr);
                            break;
                        default:
                            goto ErrorReturn;
                    }
                    break;
                case 'e':
                case 'E':
                case 'g':
                case 'G':
                    switch(sizeModifier) {
                        case ' ':
                            doubleArg = va_arg(arg, double);
			    sprintf(buffPtr, fmtBuff, doubleArg);
                            buffCount = strlen(buffPtr);
                            break;
                        case 'L':
                            lDoubleArg = va_arg(arg, LONG_DOUBLE);
			    sprintf(buffPtr, fmtBuff, lDoubleArg);
                            buffCount = strlen(buffPtr);
                            break;
                        default:
                            goto ErrorReturn;
                    }
                    break;
                case '%':
                    if(sizeModifier != ' ')
                        goto ErrorReturn;
                    buff[0] = '%';
                    buffCount = 1;
                    break;
                case '\0':
                    goto ErrorReturn;
                default:
                    performedOp = FALSE;
                    break;
            } /* switch(op) */
            if(performedOp) break;
            if(!fastPath)
                goto ErrorReturn;
            fastPath = FALSE;
        } /* for (;;) */
        ASSERT(buffCount < buffLen);
        if(buffCount > 0) {
            if(FCGX_PutStr(buffPtr, buffCount, stream) < 0)
                goto ErrorReturn;
            streamCount += buffCount;
        } else if(buffCount < 0) {
            goto ErrorReturn;
	}
        f += specifierLength;
    } /* while(f != fStop) */
    goto NormalReturn;
  ErrorReturn:
    streamCount = -1;
  NormalReturn:
    if(auxBuffPtr != NULL) free(auxBuffPtr);
    return streamCount;
}

/*
 * Copy n characters from *srcPtr to *destPtr, then increment
 * both *srcPtr and *destPtr by n.
 */
static void CopyAndAdvance(char **destPtr, char **srcPtr, int n)
{
    char *dest = *destPtr;
    char *src = *srcPtr;
    int i;
    for (i = 0; i < n; i++)
        *dest++ = *src++;
    *destPtr = dest;
    *srcPtr = src;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FFlush --
 *
 *      Flushes any buffered output.
 *
 *      Server-push is a legitimate application of FCGX_FFlush.
 *      Otherwise, FCGX_FFlush is not very useful, since FCGX_Accept
 *      does it implicitly.  FCGX_FFlush may reduce performance
 *      by increasing the total number of operating system calls
 *      the application makes.
 *
 * Results:
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
int FCGX_FFlush(FCGX_Stream *stream)
{
    if(stream->isClosed || stream->isReader)
        return 0;
    stream->emptyBuffProc(stream, FALSE);
    return (stream->isClosed) ? -1 : 0;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FClose --
 *
 *      Performs FCGX_FFlush and closes the stream.
 *
 *      This is not a very useful operation, since FCGX_Accept
 *      does it implicitly.  Closing the out stream before the
 *      err stream results in an extra write if there's nothing
 *      in the err stream, and therefore reduces performance.
 *
 * Results:
 *      EOF (-1) if an error occurred.
 *
 *----------------------------------------------------------------------
 */
int FCGX_FClose(FCGX_Stream *stream)
{
    if (stream == NULL) return 0;

    if(!stream->wasFCloseCalled) {
        if(!stream->isReader) {
            stream->emptyBuffProc(stream, TRUE);
        }
        stream->wasFCloseCalled = TRUE;
        stream->isClosed = TRUE;
        if(stream->isReader) {
            stream->wrNext = stream->stop = stream->rdNext;
        } else {
            stream->rdNext = stream->stop = stream->wrNext;
        }
    }
    return (stream->FCGI_errno == 0) ? 0 : EOF;
}

/*
 *----------------------------------------------------------------------
 *
 * SetError --
 *
 *      An error has occurred; save the error code in the stream
 *      for diagnostic purposes and set the stream state so that
 *      reads return EOF and writes have no effect.
 *
 *----------------------------------------------------------------------
 */
static void SetError(FCGX_Stream *stream, int FCGI_errno)
{
    /*
     * Preserve only the first error.
     */
    if(stream->FCGI_errno == 0) {
        stream->FCGI_errno = FCGI_errno;
    }
  
    stream->isClosed = TRUE;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetError --
 *
 *      Return the stream error code.  0 means no error, > 0
 *      is an errno(2) error, < 0 is an FCGX_errno error.
 *
 *----------------------------------------------------------------------
 */
int FCGX_GetError(FCGX_Stream *stream) {
    return stream->FCGI_errno;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_ClearError --
 *
 *      Clear the stream error code and end-of-file indication.
 *
 *----------------------------------------------------------------------
 */
void FCGX_ClearError(FCGX_Stream *stream) {
    stream->FCGI_errno = 0;
    /*
     * stream->isClosed = FALSE;
     * XXX: should clear isClosed but work is needed to make it safe
     * to do so.  For example, if an application calls FClose, gets
     * an I/O error on the write, calls ClearError and retries
     * the FClose, FClose (really EmptyBuffProc) will write a second
     * EOF record.  If an application calls PutChar instead of FClose
     * after the ClearError, the application will write more data.
     * The stream's state must discriminate between various states
     * of the stream that are now all lumped under isClosed.
     */
}

/*
 *======================================================================
 * Parameters
 *======================================================================
 */

/*
 * A vector of pointers representing the parameters received
 * by a FastCGI application server, with the vector's length
 * and last valid element so adding new parameters is efficient.
 */

/*
 * The "name=value" strings of a Params live in blocks it owns, one after
 * the other ("a=1\0b=2\0..."): one allocation for a request's params
 * instead of one per pair, and, while they fit in the first block, the
 * whole environment in one run of bytes (FCGX_GetParamsBlock).  A block
 * never moves, so the vector's pointers stay valid as more are added.
 */
typedef struct ParamsBlock {
    struct ParamsBlock *next;
    size_t size;            /* bytes data can hold */
    size_t used;            /* bytes taken */
    char data[1];           /* size bytes */
} ParamsBlock;

#define PARAMS_BLOCK_SIZE 4096

typedef struct Params {
    FCGX_ParamArray vec;    /* vector of strings */
    int length;		    /* number of string vec can hold */
    char **cur;		    /* current item in vec; *cur == NULL */
    ParamsBlock *first;     /* the blocks holding vec's strings, or NULL */
    ParamsBlock *last;      /* the block new strings go to */
} Params;
typedef Params *ParamsPtr;

/*
 *----------------------------------------------------------------------
 *
 * NewParams --
 *
 *	Creates a new Params structure.
 *
 * Results:
 *      Pointer to the new structure.
 *
 *----------------------------------------------------------------------
 */
static ParamsPtr NewParams(int length)
{
    ParamsPtr result;
    result = (Params *)Malloc(sizeof(Params));
    result->vec = (char **)Malloc(length * sizeof(char *));
    result->length = length;
    result->cur = result->vec;
    *result->cur = NULL;
    result->first = NULL;
    result->last = NULL;
    return result;
}

/*
 * Room for size bytes of strings in paramsPtr's blocks: the end of the last
 * block, or a new block (of PARAMS_BLOCK_SIZE, or size if larger).  NULL
 * when malloc fails (nothing changed then).
 */
static char *ParamsAlloc(ParamsPtr paramsPtr, size_t size)
{
    ParamsBlock *block = paramsPtr->last;
    char *result;
    if(block == NULL || block->size - block->used < size) {
        size_t dataSize = size > PARAMS_BLOCK_SIZE ? size : PARAMS_BLOCK_SIZE;
        block = (ParamsBlock *)malloc(offsetof(ParamsBlock, data) + dataSize);
        if(block == NULL) {
            return NULL;
        }
        block->next = NULL;
        block->size = dataSize;
        block->used = 0;
        if(paramsPtr->last == NULL) {
            paramsPtr->first = block;
        } else {
            paramsPtr->last->next = block;
        }
        paramsPtr->last = block;
    }
    result = block->data + block->used;
    block->used += size;
    return result;
}

/*
 * Frees paramsPtr's blocks after the first, or all of them (keepFirst 0);
 * the kept block is emptied.
 */
static void FreeParamsBlocks(ParamsPtr paramsPtr, int keepFirst)
{
    ParamsBlock *block = paramsPtr->first, *next;
    if(block != NULL && keepFirst) {
        next = block->next;
        block->next = NULL;
        block->used = 0;
        paramsPtr->last = block;
        block = next;
    } else {
        paramsPtr->first = NULL;
        paramsPtr->last = NULL;
    }
    while(block != NULL) {
        next = block->next;
        free(block);
        block = next;
    }
}

/*
 *----------------------------------------------------------------------
 *
 * FreeParams --
 *
 *	Frees a Params structure and all the parameters it contains.
 *
 * Side effects:
 *      env becomes invalid.
 *
 *----------------------------------------------------------------------
 */
static void FreeParams(ParamsPtr *paramsPtrPtr)
{
    ParamsPtr paramsPtr = *paramsPtrPtr;
    if(paramsPtr == NULL) {
        return;
    }
    FreeParamsBlocks(paramsPtr, 0);
    free(paramsPtr->vec);
    free(paramsPtr);
    *paramsPtrPtr = NULL;
}

/*
 * A request's params: NewParams(30), or the structure, vector and first
 * block that FreeRequestParams kept (keepSpares), emptied.  Such a vector
 * is at least 30 long (made by NewParams(30), only grown since) and at
 * most SPARE_PARAMS_MAX.
 */
#define SPARE_PARAMS_MAX 1024

static ParamsPtr NewRequestParams(FCGX_Request *request)
{
    ParamsPtr result = request->spareParams;
    if(result == NULL) {
        return NewParams(30);
    }
    request->spareParams = NULL;
    result->cur = result->vec;
    *result->cur = NULL;
    return result;
}

/*
 * FreeParams(&request->paramsPtr), but with keepSpares the structure, its
 * vector and its first block, emptied, stay in request->spareParams for
 * the next request.
 */
static void FreeRequestParams(FCGX_Request *request)
{
    ParamsPtr paramsPtr = request->paramsPtr;
    if(paramsPtr == NULL || !request->keepSpares
            || request->spareParams != NULL
            || paramsPtr->length > SPARE_PARAMS_MAX) {
        FreeParams(&request->paramsPtr);
        return;
    }
    FreeParamsBlocks(paramsPtr, 1);
    paramsPtr->cur = paramsPtr->vec;
    *paramsPtr->cur = NULL;
    request->spareParams = paramsPtr;
    request->paramsPtr = NULL;
}

/*
 *----------------------------------------------------------------------
 *
 * PutParam --
 *
 *	Add a name/value pair to a Params structure.
 *
 * Results:
 *      0 for success, -1 if the vector could not grow (the
 *      structure is then unchanged and nameValue not added).
 *
 * Side effects:
 *      Parameters structure updated.
 *
 *----------------------------------------------------------------------
 */
static int PutParam(ParamsPtr paramsPtr, char *nameValue)
{
    int size = paramsPtr->cur - paramsPtr->vec;
    FCGX_ParamArray vec;

    /*
     * Make room for nameValue and the terminating NULL before storing
     * anything, so a failed realloc leaves the structure intact.
     */
    if(size + 1 >= paramsPtr->length) {
        vec = (FCGX_ParamArray)realloc(paramsPtr->vec,
                2 * paramsPtr->length * sizeof(char *));
        if(vec == NULL) {
            return -1;
        }
        paramsPtr->vec = vec;
        paramsPtr->length *= 2;
        paramsPtr->cur = vec + size;
    }
    *paramsPtr->cur++ = nameValue;
    *paramsPtr->cur = NULL;
    return 0;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_GetParam -- obtain value of FCGI parameter in environment
 *
 *
 * Results:
 *	Value bound to name, NULL if name not present in the
 *      environment envp.  A name sent more than once keeps all its
 *      pairs in envp, in the order received; this returns the first.
 *      Caller must not mutate the result
 *      or retain it past the end of this request.
 *
 *----------------------------------------------------------------------
 */
char *FCGX_GetParam(const char *name, FCGX_ParamArray envp)
{
    int len;
    char **p;

	if (name == NULL || envp == NULL) return NULL;

    len = strlen(name);

    for (p = envp; *p; ++p) {
        if((strncmp(name, *p, len) == 0) && ((*p)[len] == '=')) {
            return *p+len+1;
        }
    }
    return NULL;
}

/*
 *----------------------------------------------------------------------
 *
 * Start of FastCGI-specific code
 *
 *----------------------------------------------------------------------
 */

/*
 *----------------------------------------------------------------------
 *
 * PairInBuffer --
 *
 *      When a name-value pair lies whole in stream's buffer (its two
 *      lengths, its name and its value), stores the lengths, moves
 *      rdNext past them to the name and returns 1.  Otherwise returns 0
 *      and consumes nothing.
 *
 *----------------------------------------------------------------------
 */
static size_t FourByteLength(const unsigned char *p)
{
    return ((size_t)(p[0] & 0x7f) << 24) + ((size_t)p[1] << 16)
            + ((size_t)p[2] << 8) + p[3];
}

static int PairInBuffer(FCGX_Stream *stream, size_t *nameLen,
        size_t *valueLen)
{
    const unsigned char *p = stream->rdNext;
    size_t avail = (size_t)(stream->stop - stream->rdNext);
    size_t h, n, v;

    if(stream->isClosed || !stream->isReader || avail < 2) {
        return 0;
    }
    if((p[0] & 0x80) == 0) {
        n = p[0];
        h = 1;
    } else if(avail >= 4) {
        n = FourByteLength(p);
        h = 4;
    } else {
        return 0;
    }
    if(avail > h && (p[h] & 0x80) == 0) {
        v = p[h];
        h += 1;
    } else if(avail >= h + 4 && (p[h] & 0x80) != 0) {
        v = FourByteLength(p + h);
        h += 4;
    } else {
        return 0;
    }
    if(n > avail - h || v > avail - h - n) {
        return 0;
    }
    *nameLen = n;
    *valueLen = v;
    stream->rdNext += h;
    return 1;
}

/*
 *----------------------------------------------------------------------
 *
 * ReadParams --
 *
 *      Reads FastCGI name-value pairs from stream until EOF.  Converts
 *      each pair to name=value format and adds it to Params structure.
 *
 *      A name longer than maxNameLen, a value longer than maxValueLen,
 *      or pairs whose "name=value" strings (counting '=' and '\0')
 *      add up to more than maxTotal are a FCGX_PARAMS_ERROR, detected
 *      before the pair is allocated.
 *
 *----------------------------------------------------------------------
 */
static int ReadParams(Params *paramsPtr, FCGX_Stream *stream,
        size_t maxNameLen, size_t maxValueLen, size_t maxTotal)
{
    int c;
    size_t nameLen, valueLen, total = 0;
    unsigned char lenBuff[3];
    char *nameValue;
    int inBuffer;

    for(;;) {
        /*
         * The usual pair lies whole in the buffer: its lengths are read
         * and its bytes copied from there, without a call per length
         * byte and per string.  Another is read as the stream delivers
         * it.
         */
        inBuffer = PairInBuffer(stream, &nameLen, &valueLen);
        if(!inBuffer) {
            if((c = FCGX_GetChar(stream)) == EOF) {
                break;
            }
            /*
             * Read name length (one or four bytes) and value length
             * (one or four bytes) from stream.  Either is below 2^31.
             */
            nameLen = c;
            if((nameLen & 0x80) != 0) {
                if(FCGX_GetStr((char *) &lenBuff[0], 3, stream) != 3) {
                    SetError(stream, FCGX_PARAMS_ERROR);
                    return -1;
                }
                nameLen = ((nameLen & 0x7f) << 24) + (lenBuff[0] << 16)
                        + (lenBuff[1] << 8) + lenBuff[2];
            }
            if((c = FCGX_GetChar(stream)) == EOF) {
                SetError(stream, FCGX_PARAMS_ERROR);
                return -1;
            }
            valueLen = c;
            if((valueLen & 0x80) != 0) {
                if(FCGX_GetStr((char *) &lenBuff[0], 3, stream) != 3) {
                    SetError(stream, FCGX_PARAMS_ERROR);
                    return -1;
                }
                valueLen = ((valueLen & 0x7f) << 24) + (lenBuff[0] << 16)
                        + (lenBuff[1] << 8) + lenBuff[2];
            }
        }
        if(nameLen > maxNameLen || valueLen > maxValueLen) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
        /*
         * Bound all pairs together.  total <= maxTotal holds throughout,
         * so neither the subtractions nor valueLen + 2 can wrap, and
         * the size allocated below is at most maxTotal.
         */
        if(nameLen > maxTotal - total
                || valueLen + 2 > maxTotal - total - nameLen) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
        total += nameLen + valueLen + 2;
        /*
         * nameLen and valueLen are now valid; read the name and value
         * from stream and construct a standard environment entry.
         * Not Malloc: running out of memory fails the request, it
         * does not abort the process.
         */
        nameValue = ParamsAlloc(paramsPtr, nameLen + valueLen + 2);
        if(nameValue == NULL) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
        if(inBuffer) {
            memcpy(nameValue, stream->rdNext, nameLen);
            memcpy(nameValue + nameLen + 1, stream->rdNext + nameLen,
                    valueLen);
            stream->rdNext += nameLen + valueLen;
        } else if(FCGX_GetStr(nameValue, (int) nameLen, stream)
                        != (int) nameLen
                || FCGX_GetStr(nameValue + nameLen + 1, (int) valueLen,
                        stream) != (int) valueLen) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
        *(nameValue + nameLen) = '=';
        *(nameValue + nameLen + valueLen + 1) = '\0';
        /*
         * "name=value" must read back as this pair: a name that is
         * empty or holds '=' or NUL, or a value that holds NUL, would
         * be looked up (FCGX_GetParam, environ) as another pair or cut
         * short.  Such params fail the request.
         */
        if(nameLen == 0 || memchr(nameValue, '=', nameLen) != NULL
                || memchr(nameValue, '\0', nameLen + valueLen + 1) != NULL) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
        if(PutParam(paramsPtr, nameValue) < 0) {
            SetError(stream, FCGX_PARAMS_ERROR);
            return -1;
        }
    }
    /*
     * A reader delivers EOF after an error too (protocol error, bad
     * version, FCGI_ABORT_REQUEST, the peer gone).  The params are then
     * incomplete: fail, so that the request never reaches the
     * application with them.
     */
    if(FCGX_GetError(stream) != 0) {
        return -1;
    }
    return 0;
}

/*
 *----------------------------------------------------------------------
 *
 * MakeHeader --
 *
 *      Constructs an FCGI_Header struct.
 *
 *----------------------------------------------------------------------
 */
static FCGI_Header MakeHeader(
        int type,
        int requestId,
        int contentLength,
        int paddingLength)
{
    FCGI_Header header;
    ASSERT(contentLength >= 0 && contentLength <= FCGI_MAX_LENGTH);
    ASSERT(paddingLength >= 0 && paddingLength <= 0xff);
    header.version = FCGI_VERSION_1;
    header.type             = (unsigned char) type;
    header.requestIdB1      = (unsigned char) ((requestId     >> 8) & 0xff);
    header.requestIdB0      = (unsigned char) ((requestId         ) & 0xff);
    header.contentLengthB1  = (unsigned char) ((contentLength >> 8) & 0xff);
    header.contentLengthB0  = (unsigned char) ((contentLength     ) & 0xff);
    header.paddingLength    = (unsigned char) paddingLength;
    header.reserved         =  0;
    return header;
}

/*
 *----------------------------------------------------------------------
 *
 * MakeEndRequestBody --
 *
 *      Constructs an FCGI_EndRequestBody struct.
 *
 *----------------------------------------------------------------------
 */
static FCGI_EndRequestBody MakeEndRequestBody(
        int appStatus,
        int protocolStatus)
{
    FCGI_EndRequestBody body;
    body.appStatusB3    = (unsigned char) ((appStatus >> 24) & 0xff);
    body.appStatusB2    = (unsigned char) ((appStatus >> 16) & 0xff);
    body.appStatusB1    = (unsigned char) ((appStatus >>  8) & 0xff);
    body.appStatusB0    = (unsigned char) ((appStatus      ) & 0xff);
    body.protocolStatus = (unsigned char) protocolStatus;
    memset(body.reserved, 0, sizeof(body.reserved));
    return body;
}

/*
 *----------------------------------------------------------------------
 *
 * MakeUnknownTypeBody --
 *
 *      Constructs an FCGI_MakeUnknownTypeBody struct.
 *
 *----------------------------------------------------------------------
 */
static FCGI_UnknownTypeBody MakeUnknownTypeBody(
        int type)
{
    FCGI_UnknownTypeBody body;
    body.type = (unsigned char) type;
    memset(body.reserved, 0, sizeof(body.reserved));
    return body;
}

/*
 *----------------------------------------------------------------------
 *
 * AlignInt8 --
 *
 *      Returns the smallest integer greater than or equal to n
 *      that's a multiple of 8.
 *
 *----------------------------------------------------------------------
 */
static int AlignInt8(unsigned n) {
    return (n + 7) & (UINT_MAX - 7);
}

/*
 *----------------------------------------------------------------------
 *
 * AlignPtr8 --
 *
 *      Returns the smallest pointer greater than or equal to p
 *      that's a multiple of 8.
 *
 *----------------------------------------------------------------------
 */
static unsigned char *AlignPtr8(unsigned char *p) {
    unsigned long u = (unsigned long) p;
    u = ((u + 7) & (ULONG_MAX - 7)) - u;
    return p + u;
}


/*
 * State associated with a stream
 */
typedef struct FCGX_Stream_Data {
    unsigned char *buff;      /* buffer after alignment */
    int bufflen;              /* number of bytes buff can store */
    unsigned char *mBuff;     /* buffer as returned by Malloc */
    unsigned char *buffStop;  /* reader: last valid byte + 1 of entire buffer.
                               * stop generally differs from buffStop for
                               * readers because of record structure.
                               * writer: buff + bufflen */
    int type;                 /* reader: FCGI_PARAMS or FCGI_STDIN
                               * writer: FCGI_STDOUT or FCGI_STDERR */
    int eorStop;              /* reader: stop stream at end-of-record */
    int skip;                 /* reader: don't deliver content bytes */
    int contentLen;           /* reader: bytes of unread content */
    int paddingLen;           /* reader: bytes of unread padding */
    int isAnythingWritten;    /* writer: data has been written to ipcFd */
    int rawWrite;             /* writer: write data without stream headers */
    int noRead;               /* reader: stop where a read would be needed */
    int wouldRead;            /* reader: stopped there (FCGX_SkipReadInput) */
    FCGX_Request *reqDataPtr; /* request data not specific to one stream */
} FCGX_Stream_Data;

/*
 *----------------------------------------------------------------------
 *
 * WriteCloseRecords --
 *
 *      Writes an EOF record for the stream content if necessary.
 *      If this is the last writer to close, writes an FCGI_END_REQUEST
 *      record.
 *
 *----------------------------------------------------------------------
 */
/*
 * The records that close a writer into buf (room for a header and an
 * FCGI_EndRequestRecord): the stream's EOF record unless this is a stderr
 * that never carried anything (buffered is FALSE and nothing was
 * written), then FCGI_END_REQUEST if this is the last open writer.
 * Returns their length.
 */
static int CloseRecords(FCGX_Stream *stream, int buffered, unsigned char *buf)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    int len = 0;
    if(!(data->type == FCGI_STDERR && !buffered && !data->isAnythingWritten)) {
        FCGI_Header header;
        header = MakeHeader(data->type, data->reqDataPtr->requestId, 0, 0);
        memcpy(buf, &header, sizeof(header));
        len = sizeof(header);
    }
    if(data->reqDataPtr->nWriters == 1) {
        FCGI_EndRequestRecord endRequestRecord;
        endRequestRecord.header = MakeHeader(FCGI_END_REQUEST,
                data->reqDataPtr->requestId,
                sizeof(endRequestRecord.body), 0);
        endRequestRecord.body = MakeEndRequestBody(
                data->reqDataPtr->appStatus, FCGI_REQUEST_COMPLETE);
        memcpy(buf + len, &endRequestRecord, sizeof(endRequestRecord));
        len += sizeof(endRequestRecord);
    }
    return len;
}

static void WriteCloseRecords(struct FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    unsigned char records[sizeof(FCGI_Header) + sizeof(FCGI_EndRequestRecord)];
    int len;
    /*
     * Enter rawWrite mode so final records won't be encapsulated as
     * stream data.
     */
    data->rawWrite = TRUE;
    len = CloseRecords(stream, stream->wrNext != data->buff, records);
    FCGX_PutStr((char *) records, len, stream);
    data->reqDataPtr->nWriters--;
}



static int write_it_all(int fd, char *buf, int len)
{
    int wrote;

    while (len) {
        wrote = OS_Write(fd, buf, len);
        if (wrote < 0)
            return wrote;
        len -= wrote;
        buf += wrote;
    }
    return len;
}

/*
 *----------------------------------------------------------------------
 *
 * EmptyBuffProc --
 *
 *      Encapsulates any buffered stream content in a FastCGI
 *      record.  Writes the data, making the buffer empty.
 *
 *----------------------------------------------------------------------
 */
static void EmptyBuffProc(struct FCGX_Stream *stream, int doClose)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    int cLen, eLen;
    /*
     * If the buffer contains stream data, fill in the header.
     * Pad the record to a multiple of 8 bytes in length.  Padding
     * can't overflow the buffer because the buffer is a multiple
     * of 8 bytes in length.  If the buffer contains no stream
     * data, reclaim the space reserved for the header.
     */
    if(!data->rawWrite) {
        cLen = stream->wrNext - data->buff - sizeof(FCGI_Header);
        if(cLen > 0) {
            eLen = AlignInt8(cLen);
            /*
             * Giving the padding a well-defined value keeps Purify happy.
             */
            memset(stream->wrNext, 0, eLen - cLen);
            stream->wrNext += eLen - cLen;
            *((FCGI_Header *) data->buff)
                    = MakeHeader(data->type,
                            data->reqDataPtr->requestId, cLen, eLen - cLen);
        } else {
            stream->wrNext = data->buff;
	}
    }
    if(doClose) {
        WriteCloseRecords(stream);
    };
    if (stream->wrNext != data->buff) {
        data->isAnythingWritten = TRUE;
        if (write_it_all(data->reqDataPtr->ipcFd, (char *)data->buff, stream->wrNext - data->buff) < 0) {
            SetError(stream, OS_Errno);
            return;
        }
        stream->wrNext = data->buff;
    }
    /*
     * The buffer is empty.
     */
    if(!data->rawWrite) {
        stream->wrNext += sizeof(FCGI_Header);
    }
}

/*
 *----------------------------------------------------------------------
 *
 * PutStrDirect --
 *
 *      FCGX_PutStr for n >= DIRECT_WRITE_MIN bytes on a request's
 *      writer: what is buffered and then the caller's bytes leave as
 *      records in one writev() each (records of DIRECT_RECORD_MAX
 *      bytes at most, a multiple of 8: no padding); a tail shorter
 *      than DIRECT_WRITE_MIN goes into the buffer as usual.
 *
 * Results:
 *      n, -1 on a write error (stream error set), or -2 when the stream
 *      is not one this applies to (raw writes, another buffer procedure).
 *
 *----------------------------------------------------------------------
 */
/*
 * The record EmptyBuffProc would make of what is buffered, as *iov:
 * returns 1, or 0 when nothing is buffered.
 */
static int BufferedRecord(FCGX_Stream *stream, struct iovec *iov)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    int bLen = stream->wrNext - data->buff - sizeof(FCGI_Header);
    int eLen;
    if(bLen <= 0)
        return 0;
    eLen = AlignInt8(bLen);
    memset(stream->wrNext, 0, eLen - bLen);
    stream->wrNext += eLen - bLen;
    *((FCGI_Header *) data->buff) = MakeHeader(data->type,
            data->reqDataPtr->requestId, bLen, eLen - bLen);
    iov->iov_base = data->buff;
    iov->iov_len = stream->wrNext - data->buff;
    return 1;
}

static int writev_all(int fd, struct iovec *iov, int cnt)
{
    int wrote;
    for (;;) {
        while (cnt > 0 && iov->iov_len == 0) {
            iov++;
            cnt--;
        }
        if (cnt == 0)
            return 0;
        wrote = OS_WriteV(fd, iov, cnt);
        if (wrote < 0)
            return -1;
        while (cnt > 0 && (size_t)wrote >= iov->iov_len) {
            wrote -= (int)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + wrote;
            iov->iov_len -= wrote;
        }
    }
}

static int PutStrDirect(const char *str, int n, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    int done = 0;

    if(data->rawWrite || stream->emptyBuffProc != EmptyBuffProc)
        return -2;
    while(n - done >= DIRECT_WRITE_MIN) {
        struct iovec iov[3];
        FCGI_Header header;
        int cLen = n - done;
        int cnt = BufferedRecord(stream, iov);
        if(cLen > DIRECT_RECORD_MAX)
            cLen = DIRECT_RECORD_MAX;
        cLen &= ~7;
        header = MakeHeader(data->type, data->reqDataPtr->requestId,
                cLen, 0);
        iov[cnt].iov_base = &header;
        iov[cnt].iov_len = sizeof(header);
        cnt++;
        iov[cnt].iov_base = (void *)(str + done);
        iov[cnt].iov_len = cLen;
        cnt++;
        data->isAnythingWritten = TRUE;
        stream->wrNext = data->buff + sizeof(FCGI_Header);
        if(writev_all(data->reqDataPtr->ipcFd, iov, cnt) < 0) {
            SetError(stream, OS_Errno);
            return -1;
        }
        done += cLen;
    }
    if(done < n && FCGX_PutStr(str + done, n - done, stream) != n - done)
        return -1;
    return n;
}

int FCGX_PutStrCloseV(const char *str, int n, FCGX_Stream *stream,
        FCGX_CloseWrite *w)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    static const unsigned char zeros[8] = {0};
    FCGI_Header header;
    int cnt, records = 0, i, closeLen;

    if(stream->isReader || stream->isClosed || data->rawWrite
            || stream->emptyBuffProc != EmptyBuffProc || n < 0)
        return EOF;
    if(n <= (stream->stop - stream->wrNext)) {
        memcpy(stream->wrNext, str, n);
        stream->wrNext += n;
        n = 0;
    } else {
        records = (n + DIRECT_RECORD_MAX - 1) / DIRECT_RECORD_MAX;
        if(records > CLOSE_RECORDS_MAX)
            return EOF;
    }
    /* What is buffered, the records of str, then the close records of
     * WriteCloseRecords. */
    cnt = BufferedRecord(stream, w->iov);
    for(i = 0; i < records; i++) {
        int cLen = n > DIRECT_RECORD_MAX ? DIRECT_RECORD_MAX : n;
        int padding = AlignInt8(cLen) - cLen;
        header = MakeHeader(data->type, data->reqDataPtr->requestId,
                cLen, padding);
        memcpy(w->headers[i], &header, sizeof(header));
        w->iov[cnt].iov_base = w->headers[i];
        w->iov[cnt].iov_len = sizeof(FCGI_Header);
        cnt++;
        w->iov[cnt].iov_base = (void *)str;
        w->iov[cnt].iov_len = cLen;
        cnt++;
        if(padding > 0) {
            /* Only the last record can be short. */
            w->iov[cnt].iov_base = (void *)zeros;
            w->iov[cnt].iov_len = padding;
            cnt++;
        }
        str += cLen;
        n -= cLen;
    }
    /* The close records, as WriteCloseRecords writes them. */
    closeLen = CloseRecords(stream, cnt > 0, w->closeRecords);
    if(closeLen > 0) {
        w->iov[cnt].iov_base = w->closeRecords;
        w->iov[cnt].iov_len = closeLen;
        cnt++;
    }
    w->iovcnt = cnt;
    /* The stream's state after FCGX_FClose. */
    data->rawWrite = TRUE;
    data->reqDataPtr->nWriters--;
    if(cnt > 0)
        data->isAnythingWritten = TRUE;
    stream->wrNext = data->buff;
    stream->wasFCloseCalled = TRUE;
    stream->isClosed = TRUE;
    stream->rdNext = stream->stop = stream->wrNext;
    return 0;
}

int FCGX_PutStrClose(const char *str, int n, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    FCGX_CloseWrite w;
    int records, lead;

    if(stream->isReader || stream->isClosed || data->rawWrite
            || stream->emptyBuffProc != EmptyBuffProc
            || n <= (stream->stop - stream->wrNext)) {
        /* Fits the buffer (or not a request's writer): FClose writes
         * the buffer and the close records in one write anyway. */
        if(n > 0 && FCGX_PutStr(str, n, stream) != n)
            return EOF;
        return FCGX_FClose(stream);
    }
    /* Beyond the last CLOSE_RECORDS_MAX records: as FCGX_PutStr does. */
    records = (n + DIRECT_RECORD_MAX - 1) / DIRECT_RECORD_MAX;
    if(records > CLOSE_RECORDS_MAX) {
        lead = (records - CLOSE_RECORDS_MAX) * DIRECT_RECORD_MAX;
        if(PutStrDirect(str, lead, stream) != lead)
            return EOF;
        str += lead;
        n -= lead;
    }
    /* The rest in one writev(). */
    if(FCGX_PutStrCloseV(str, n, stream, &w) != 0)
        return EOF;
    if(writev_all(data->reqDataPtr->ipcFd, w.iov, w.iovcnt) < 0) {
        SetError(stream, OS_Errno);
        return EOF;
    }
    return 0;
}

/*
 *----------------------------------------------------------------------
 *
 * WriteEndRequest --
 *
 *      Ends a request that the application never saw with an
 *      FCGI_END_REQUEST record (appStatus 0).
 *
 * Results:
 *      0 for success, -1 for a write error (errno set).
 *
 *----------------------------------------------------------------------
 */
static int WriteEndRequest(FCGX_Request *reqDataPtr, int protocolStatus)
{
    FCGI_EndRequestRecord endRequestRecord;
    endRequestRecord.header = MakeHeader(FCGI_END_REQUEST,
            reqDataPtr->requestId, sizeof(endRequestRecord.body), 0);
    endRequestRecord.body = MakeEndRequestBody(0, protocolStatus);
    return write_it_all(reqDataPtr->ipcFd, (char *)&endRequestRecord,
            sizeof(endRequestRecord)) < 0 ? -1 : 0;
}

/*
 * Return codes for Process* functions
 */
#define STREAM_RECORD 0
#define SKIP          1
#define BEGIN_RECORD  2
#define MGMT_RECORD   3

/*
 *----------------------------------------------------------------------
 *
 * ProcessManagementRecord --
 *
 *      Reads and responds to a management record.  The only type of
 *      management record this library understands is FCGI_GET_VALUES.
 *      The only variables that this library's FCGI_GET_VALUES
 *      understands are FCGI_MAX_CONNS, FCGI_MAX_REQS, and FCGI_MPXS_CONNS.
 *      Ignore other FCGI_GET_VALUES variables; respond to other
 *      management records with a FCGI_UNKNOWN_TYPE record.
 *
 *----------------------------------------------------------------------
 */
static int ProcessManagementRecord(int type, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    ParamsPtr paramsPtr;
    char **pPtr;
    char response[64]; /* 64 = 8 + 3*(1+1+14+1)* + padding */
    char *responseP = &response[FCGI_HEADER_LEN];
    char *name, value = '\0';
    int len, paddedLen;
    int bit = 0, answered = 0; /* one bit per variable in the response */
    if(type == FCGI_GET_VALUES) {
        /*
         * The buffer holds each variable once.  Zero it, so that the
         * padding sent is zeros, not stack contents.
         */
        memset(response, 0, sizeof(response));
        paramsPtr = NewParams(3);
        /*
         * The names asked for are short and their values empty
         * (FastCGI spec, 4.1); the request's limits do not apply here.
         */
        ReadParams(paramsPtr, stream, 256, 0, 4096);
        if((FCGX_GetError(stream) != 0) || (data->contentLen != 0)) {
            FreeParams(&paramsPtr);
            return FCGX_PROTOCOL_ERROR;
        }
        for (pPtr = paramsPtr->vec; pPtr < paramsPtr->cur; pPtr++) {
            name = *pPtr;
            char *tmpPtr = strchr(name, '=');
            if(tmpPtr != NULL) {
                *tmpPtr = '\0';
            }
            if(strcmp(name, FCGI_MAX_CONNS) == 0) {
                value = '1';
                bit = 1;
            } else if(strcmp(name, FCGI_MAX_REQS) == 0) {
                value = '1';
                bit = 2;
            } else if(strcmp(name, FCGI_MPXS_CONNS) == 0) {
                value = '0';
                bit = 4;
            } else {
                name = NULL;
            }
            /*
             * A name asked for again is answered once: repeats would
             * overrun response.
             */
            if(name != NULL && (answered & bit) == 0) {
                answered |= bit;
                len = strlen(name);
                responseP[0] = (char) len;
                responseP[1] = 1;
                memcpy(responseP + 2, name, len);
                responseP[len + 2] = value;
                responseP += len + 3;
	    }
        }
        len = responseP - &response[FCGI_HEADER_LEN];
        paddedLen = AlignInt8(len);
        FCGI_Header *header = (FCGI_Header *)response;
        *header = MakeHeader(FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
                             len, paddedLen - len);
        FreeParams(&paramsPtr);
    } else {
        paddedLen = len = sizeof(FCGI_UnknownTypeBody);
        FCGI_UnknownTypeRecord *utr = (FCGI_UnknownTypeRecord *) response;
        utr->header
            = MakeHeader(FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID,
                         len, 0);
        utr->body
            = MakeUnknownTypeBody(type);
    }
    if (write_it_all(data->reqDataPtr->ipcFd, response, FCGI_HEADER_LEN + paddedLen) < 0) {
        SetError(stream, OS_Errno);
        return -1;
    }

    return MGMT_RECORD;
}

/*
 *----------------------------------------------------------------------
 *
 * ProcessBeginRecord --
 *
 *      Reads an FCGI_BEGIN_REQUEST record.
 *
 * Results:
 *      BEGIN_RECORD for normal return.  FCGX_PROTOCOL_ERROR for
 *      protocol error.  SKIP for attempt to multiplex
 *      connection.  -1 for error from write (errno in stream).
 *
 * Side effects:
 *      In case of BEGIN_RECORD return, stores requestId, role,
 *      keepConnection values, and sets isBeginProcessed = TRUE.
 *
 *----------------------------------------------------------------------
 */
static int ProcessBeginRecord(int requestId, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    FCGI_BeginRequestBody body;
    if(requestId == 0 || data->contentLen != sizeof(body)) {
        return FCGX_PROTOCOL_ERROR;
    }
    if(data->reqDataPtr->isBeginProcessed) {
        /*
         * The id of the request in progress: not a second request but
         * a broken stream.  Answering FCGI_CANT_MPX_CONN would end the
         * request a second time.
         */
        if(requestId == data->reqDataPtr->requestId) {
            return FCGX_PROTOCOL_ERROR;
        }
        /*
         * The Web server is multiplexing the connection.  This library
         * doesn't know how to handle multiplexing, so respond with
         * FCGI_END_REQUEST{protocolStatus = FCGI_CANT_MPX_CONN}
         */
        FCGI_EndRequestRecord endRequestRecord;
        endRequestRecord.header = MakeHeader(FCGI_END_REQUEST,
                requestId, sizeof(endRequestRecord.body), 0);
        endRequestRecord.body
                = MakeEndRequestBody(0, FCGI_CANT_MPX_CONN);
        if (write_it_all(data->reqDataPtr->ipcFd, (char *)&endRequestRecord, sizeof(endRequestRecord)) < 0) {
            SetError(stream, OS_Errno);
            return -1;
        }

        return SKIP;
    }
    /*
     * Accept this new request.  Read the record body.
     */
    data->reqDataPtr->requestId = requestId;
    if(FCGX_GetStr((char *) &body, sizeof(body), stream)
            != sizeof(body)) {
        return FCGX_PROTOCOL_ERROR;
    }
    data->reqDataPtr->keepConnection = (body.flags & FCGI_KEEP_CONN);
    data->reqDataPtr->role = (body.roleB1 << 8) + body.roleB0;
    data->reqDataPtr->isBeginProcessed = TRUE;
    return BEGIN_RECORD;
}

/*
 *----------------------------------------------------------------------
 *
 * ProcessHeader --
 *
 *      Interprets FCGI_Header.  Processes FCGI_BEGIN_REQUEST and
 *      management records here; extracts information from stream
 *      records (FCGI_PARAMS, FCGI_STDIN) into stream.
 *
 * Results:
 *      >= 0 for a normal return, < 0 for error
 *
 * Side effects:
 *      XXX: Many (more than there used to be).
 *      If !stream->isRequestIdSet, ProcessHeader initializes
 *      stream->requestId from header and sets stream->isRequestIdSet
 *      to TRUE.  ProcessHeader also sets stream->contentLen to header's
 *      contentLength, and sets stream->paddingLen to the header's
 *      paddingLength.
 *
 *----------------------------------------------------------------------
 */
static int ProcessHeader(FCGI_Header header, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    int requestId;
    if(header.version != FCGI_VERSION_1) {
        return FCGX_UNSUPPORTED_VERSION;
    }
    requestId =        (header.requestIdB1 << 8)
                         + header.requestIdB0;
    data->contentLen = (header.contentLengthB1 << 8)
                         + header.contentLengthB0;
    data->paddingLen = header.paddingLength;
    if(header.type == FCGI_BEGIN_REQUEST) {
        return ProcessBeginRecord(requestId, stream);
    }
    if(requestId  == FCGI_NULL_REQUEST_ID) {
        return ProcessManagementRecord(header.type, stream);
    }
    if(requestId != data->reqDataPtr->requestId) {
        return SKIP;
    }
    if(header.type == FCGI_ABORT_REQUEST) {
        return FCGX_REQUEST_ABORTED;
    }
    if(header.type != data->type) {
        return FCGX_PROTOCOL_ERROR;
    }
    return STREAM_RECORD;
}

/*
 *----------------------------------------------------------------------
 *
 * FillBuffProc --
 *
 *      Reads bytes from the ipcFd, supplies bytes to a stream client.
 *
 *----------------------------------------------------------------------
 */
static void DropPreread(FCGX_Request *request)
{
    free(request->preread);
    request->preread = NULL;
    request->prereadLen = 0;
    request->prereadPos = 0;
}

static void FillBuffProc(FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    FCGI_Header header;
    int headerLen = 0;
    int status, count;

    for (;;) {
        /*
         * All done with the current record, including the padding.
         * If we're in a recursive call from ProcessHeader, deliver EOF.
         * Check before reading: the record may be the last bytes the
         * peer sent until it gets an answer (FCGI_GET_VALUES).
         */
        if(data->eorStop && data->contentLen == 0 && data->paddingLen == 0) {
            stream->wrNext = stream->stop = stream->rdNext;
            stream->isClosed = TRUE;
            return;
        }
        /*
         * If data->buff is empty, do a read.
         */
        if(stream->rdNext == data->buffStop) {
            if(data->reqDataPtr->preread != NULL) {
                /*
                 * FCGX_SetPreread: bytes the caller read already, no
                 * read.  In noRead mode the bytes of a header begun in
                 * this call move along, so they can still be put back
                 * (without noRead they may not all be in the buffer,
                 * and the header has them).
                 */
                FCGX_Request *req = data->reqDataPtr;
                size_t keep = data->noRead ? (size_t)headerLen : 0;
                size_t n = min(req->prereadLen - req->prereadPos,
                               (size_t)data->bufflen - keep);
                memmove(data->buff, stream->rdNext - keep, keep);
                memcpy(data->buff + keep, req->preread + req->prereadPos, n);
                req->prereadPos += n;
                if(req->prereadPos == req->prereadLen) {
                    DropPreread(req);
                }
                stream->rdNext = data->buff + keep;
                data->buffStop = data->buff + keep + n;
                continue;
            }
            if(data->noRead) {
                /* FCGX_SkipReadInput: stop here.  The bytes of a header
                 * begun in this call are still in the buffer. */
                stream->rdNext -= headerLen;
                stream->wrNext = stream->stop = stream->rdNext;
                data->wouldRead = TRUE;
                return;
            }
            count = OS_Read(data->reqDataPtr->ipcFd, (char *)data->buff,
                            data->bufflen);
            if(count <= 0) {
                SetError(stream, (count == 0 ? FCGX_PROTOCOL_ERROR : OS_Errno));
                return;
            }
            stream->rdNext = data->buff;
            data->buffStop = data->buff + count;
	}
        /*
         * Now data->buff is not empty.  If the current record contains
         * more content bytes, deliver all that are present in data->buff.
         */
        if(data->contentLen > 0) {
            count = min(data->contentLen, data->buffStop - stream->rdNext);
            data->contentLen -= count;
            if(!data->skip) {
                stream->wrNext = stream->stop = stream->rdNext + count;
                return;
	    } else {
                stream->rdNext += count;
                if(data->contentLen > 0) {
                    continue;
	        } else {
                    data->skip = FALSE;
	        }
	    }
	}
        /*
         * If the current record (whose content has been fully consumed by
         * the client) was padded, skip over the padding bytes.
         */
        if(data->paddingLen > 0) {
            count = min(data->paddingLen, data->buffStop - stream->rdNext);
            data->paddingLen -= count;
            stream->rdNext += count;
            if(data->paddingLen > 0) {
                continue;
	    }
	}
        if(data->eorStop) {
            continue; /* EOF at the top of the loop */
        }
        /*
         * Fill header with bytes from the input buffer.
         */
        count = min((int)sizeof(header) - headerLen,
                        data->buffStop - stream->rdNext);
        memcpy(((char *)(&header)) + headerLen, stream->rdNext, count);
        headerLen += count;
        stream->rdNext += count;
        if(headerLen < (int)sizeof(header)) {
            continue;
	};
        headerLen = 0;
        if(data->noRead && (header.type != data->type
                || ((header.requestIdB1 << 8) + header.requestIdB0)
                        != data->reqDataPtr->requestId)) {
            /* FCGX_SkipReadInput: leave other records (which may need
             * an answer written) to the usual reads. */
            stream->rdNext -= sizeof(header);
            stream->wrNext = stream->stop = stream->rdNext;
            data->wouldRead = TRUE;
            return;
        }
        /*
         * Interpret header.  eorStop prevents ProcessHeader from reading
         * past the end-of-record when using stream to read content.
         */
        data->eorStop = TRUE;
        stream->stop = stream->rdNext;
        status = ProcessHeader(header, stream);
        data->eorStop = FALSE;
        stream->isClosed = FALSE;
        switch(status) {
            case STREAM_RECORD:
                /*
                 * If this stream record header marked the end of stream
                 * data deliver EOF to the stream client, otherwise loop
                 * and deliver data.
                 *
                 * If this is final stream and
                 * stream->rdNext != data->buffStop, buffered
                 * data is next request (server pipelining):
                 * FCGX_Free keeps it in reqDataPtr->readAhead.
                 *
                 * EOF comes after the record's padding (at the top of
                 * the loop), so that no part of this record is left
                 * to be read as the start of the next one.
                 */
                if(data->contentLen == 0) {
                    data->eorStop = TRUE;
	        }
                break;
	    case SKIP:
            case MGMT_RECORD:
                /*
                 * Skip what the record processor left unread: a record
                 * of another request, the body of a management record
                 * of unknown type.  None of it is content of this
                 * stream.  An empty record sets no skip, which would
                 * otherwise swallow the next record's content.
                 */
                data->skip = (data->contentLen > 0);
                break;
            case BEGIN_RECORD:
                /*
                 * If this header marked the beginning of a new
                 * request, return role information to caller.
                 */
                return;
                break;
            default:
                ASSERT(status < 0);
                SetError(stream, status);
                return;
                break;
	}
    }
}

int FCGX_SkipReadInput(FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;

    if(!stream->isReader || stream->fillBuffProc != FillBuffProc)
        return EOF;
    for(;;) {
        if(stream->FCGI_errno != 0)
            return EOF;
        stream->rdNext = stream->stop;  /* the content delivered so far */
        if(stream->isClosed)
            return 1;
        data->noRead = TRUE;
        data->wouldRead = FALSE;
        FillBuffProc(stream);
        data->noRead = FALSE;
        if(data->wouldRead)
            return 0;
    }
}

/*
 *----------------------------------------------------------------------
 *
 * NewStream --
 *
 *      Creates a stream to read or write from an open ipcFd.
 *      The stream performs reads/writes of up to bufflen bytes.
 *      If spare is not NULL and *spare holds a stream FCGX_Free kept
 *      (keepSpares), its memory is used again when its buffer has the
 *      size this stream's gets, and freed otherwise; *spare becomes
 *      NULL.  Either way every field is set as for a new stream.
 *
 *----------------------------------------------------------------------
 */
static FCGX_Stream *NewStream(
        FCGX_Request *reqDataPtr, int bufflen, int isReader, int streamType,
        FCGX_Stream **spare)
{
    /*
     * XXX: It would be a lot cleaner to have a NewStream that only
     * knows about the type FCGX_Stream, with all other
     * necessary data passed in.  It appears that not just
     * data and the two procs are needed for initializing stream,
     * but also data->buff and data->buffStop.  This has implications
     * for procs that want to swap buffers, too.
     */
    FCGX_Stream *stream = NULL;
    FCGX_Stream_Data *data;
    bufflen = AlignInt8(min(max(bufflen, 32), FCGI_MAX_LENGTH + 1));
    if(spare != NULL && *spare != NULL) {
        stream = *spare;
        *spare = NULL;
        data = (FCGX_Stream_Data *)stream->data;
        if(data->bufflen + (data->buff != data->mBuff ? 8 : 0) != bufflen) {
            FCGX_FreeStream(&stream);
        }
    }
    if(stream == NULL) {
        stream = (FCGX_Stream *)Malloc(sizeof(FCGX_Stream));
        data = (FCGX_Stream_Data *)Malloc(sizeof(FCGX_Stream_Data));
        data->bufflen = bufflen;
        data->mBuff = (unsigned char *)Malloc(bufflen);
        data->buff = AlignPtr8(data->mBuff);
        if(data->buff != data->mBuff) {
            data->bufflen -= 8;
        }
    }
    data->reqDataPtr = reqDataPtr;
    if(isReader) {
        data->buffStop = data->buff;
    } else {
        data->buffStop = data->buff + data->bufflen;
    }
    data->type = streamType;
    data->eorStop = FALSE;
    data->skip = FALSE;
    data->contentLen = 0;
    data->paddingLen = 0;
    data->isAnythingWritten = FALSE;
    data->rawWrite = FALSE;
    data->noRead = FALSE;
    data->wouldRead = FALSE;

    stream->data = data;
    stream->isReader = isReader;
    stream->isClosed = FALSE;
    stream->wasFCloseCalled = FALSE;
    stream->FCGI_errno = 0;
    if(isReader) {
        stream->fillBuffProc = FillBuffProc;
        stream->emptyBuffProc = NULL;
        stream->rdNext = data->buff;
        stream->stop = stream->rdNext;
        stream->stopUnget = data->buff;
        stream->wrNext = stream->stop;
    } else {
        stream->fillBuffProc = NULL;
        stream->emptyBuffProc = EmptyBuffProc;
        stream->wrNext = data->buff + sizeof(FCGI_Header);
        stream->stop = data->buffStop;
        stream->stopUnget = NULL;
        stream->rdNext = stream->stop;
    }
    return stream;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_FreeStream --
 *
 *      Frees all storage allocated when *streamPtr was created,
 *      and nulls out *streamPtr.
 *
 *----------------------------------------------------------------------
 */
void FCGX_FreeStream(FCGX_Stream **streamPtr)
{
    FCGX_Stream *stream = *streamPtr;
    FCGX_Stream_Data *data;
    if(stream == NULL) {
        return;
    }
    data = (FCGX_Stream_Data *)stream->data;
    data->reqDataPtr = NULL;
    free(data->mBuff);
    free(data);
    free(stream);
    *streamPtr = NULL;
}

/*
 * FCGX_FreeStream(streamPtr), but when the request keeps its memory for
 * the next request (keepSpares) and *spare is empty, the stream goes
 * there as it is (NewStream sets it up again) and *streamPtr is nulled.
 */
static void ParkStream(FCGX_Request *request, FCGX_Stream **streamPtr,
        FCGX_Stream **spare)
{
    if(*streamPtr != NULL && request->keepSpares && *spare == NULL) {
        ((FCGX_Stream_Data *)(*streamPtr)->data)->reqDataPtr = NULL;
        *spare = *streamPtr;
        *streamPtr = NULL;
        return;
    }
    FCGX_FreeStream(streamPtr);
}

/*
 *----------------------------------------------------------------------
 *
 * SetReaderType --
 *
 *      Re-initializes the stream to read data of the specified type.
 *
 *----------------------------------------------------------------------
 */
static FCGX_Stream *SetReaderType(FCGX_Stream *stream, int streamType)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    ASSERT(stream->isReader);
    data->type = streamType;
    data->eorStop = FALSE;
    data->skip = FALSE;
    data->contentLen = 0;
    /*
     * paddingLen stays: the padding of the record just read (e.g.
     * FCGI_BEGIN_REQUEST) is still to be skipped, or it would be read
     * as the next record's header.
     */
    stream->wrNext = stream->stop = stream->rdNext;
    stream->isClosed = FALSE;
    return stream;
}

/*
 *----------------------------------------------------------------------
 *
 * NewReader --
 *
 *      Creates a stream to read streamType records for the given
 *      request.  The stream performs OS reads of up to bufflen bytes.
 *
 *----------------------------------------------------------------------
 */
static FCGX_Stream *NewReader(FCGX_Request *reqDataPtr, int bufflen, int streamType,
        FCGX_Stream **spare)
{
    return NewStream(reqDataPtr, bufflen, TRUE, streamType, spare);
}

/*
 *----------------------------------------------------------------------
 *
 * NewWriter --
 *
 *      Creates a stream to write streamType FastCGI records, using
 *      the ipcFd and RequestId contained in *reqDataPtr.
 *      The stream performs OS writes of up to bufflen bytes.
 *
 *----------------------------------------------------------------------
 */
static FCGX_Stream *NewWriter(FCGX_Request *reqDataPtr, int bufflen, int streamType,
        FCGX_Stream **spare)
{
    return NewStream(reqDataPtr, bufflen, FALSE, streamType, spare);
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_CreateWriter --
 *
 *      Creates a stream to write streamType FastCGI records, using
 *      the given ipcFd and request Id.  This function is provided
 *      for use by cgi-fcgi.  In order to be defensive against misuse,
 *      this function leaks a little storage; cgi-fcgi doesn't care.
 *
 *----------------------------------------------------------------------
 */
FCGX_Stream *FCGX_CreateWriter(
        int ipcFd,
        int requestId,
        int bufflen,
        int streamType)
{
    FCGX_Request *reqDataPtr = (FCGX_Request *)Malloc(sizeof(FCGX_Request));
    reqDataPtr->ipcFd = ipcFd;
    reqDataPtr->requestId = requestId;
    /*
     * Suppress writing an FCGI_END_REQUEST record.
     */
    reqDataPtr->nWriters = 2;
    return NewWriter(reqDataPtr, bufflen, streamType, NULL);
}

/*
 *======================================================================
 * Control
 *======================================================================
 */

/*
 *----------------------------------------------------------------------
 *
 * ParamsLimit --
 *
 *      Returns a request's params limit, or defaultLimit if the
 *      limit is 0 (not set).
 *
 *----------------------------------------------------------------------
 */
static size_t ParamsLimit(size_t limit, size_t defaultLimit)
{
    return (limit != 0) ? limit : defaultLimit;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_IsCGI --
 *
 *      This routine determines if the process is running as a CGI or
 *      FastCGI process.  The distinction is made by determining whether
 *      FCGI_LISTENSOCK_FILENO is a listener ipcFd or the end of a
 *      pipe (ie. standard in).
 *
 * Results:
 *      TRUE if the process is a CGI process, FALSE if FastCGI,
 *      -1 if the library could not be initialized (errno set).
 *
 *----------------------------------------------------------------------
 */
int FCGX_IsCGI(void)
{
    if (isFastCGI != -1) {
        return !isFastCGI;
    }

    if (!libInitialized) {
        int rc = FCGX_Init();
        if (rc) {
            /* Report the failure; never end the host process. */
            if (rc > 0) {
                errno = rc;
            }
            return -1;
        }
    }

    isFastCGI = OS_IsFcgi(FCGI_LISTENSOCK_FILENO);

    return !isFastCGI;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Finish --
 *
 *      Finishes the current request from the HTTP server.
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

void FCGX_Finish(void)
{
    FCGX_Finish_r(&the_request);
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Finish_r --
 *
 *      Finishes the current request from the HTTP server.
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
void FCGX_Finish_r(FCGX_Request *reqDataPtr)
{
    int close;

    if (reqDataPtr == NULL) {
        return;
    }

    close = !reqDataPtr->keepConnection;

    /* This should probably use a 'status' member instead of 'in' */
    if (reqDataPtr->in) {
        close |= FCGX_FClose(reqDataPtr->err);
        close |= FCGX_FClose(reqDataPtr->out);

	close |= FCGX_GetError(reqDataPtr->in);
    }

    FCGX_Free(reqDataPtr, close);
}

/*
 *----------------------------------------------------------------------
 *
 * HasReadAhead --
 *
 *      TRUE if the reader ended cleanly at the end of a record (EOF of
 *      FCGI_STDIN or FCGI_DATA, no error) with more bytes in its
 *      buffer: the start of the next request on the connection.
 *
 *----------------------------------------------------------------------
 */
static int HasReadAhead(FCGX_Stream *stream)
{
    FCGX_Stream_Data *data;
    if (stream == NULL || !stream->isReader || !stream->isClosed
            || stream->FCGI_errno != 0 || stream->wasFCloseCalled) {
        return FALSE;
    }
    data = (FCGX_Stream_Data *)stream->data;
    return data->eorStop && data->contentLen == 0 && data->paddingLen == 0
            && (stream->rdNext != data->buffStop
                || data->reqDataPtr->preread != NULL);
}

int FCGX_HasReadAhead(FCGX_Stream *stream)
{
    return HasReadAhead(stream);
}

void FCGX_Free(FCGX_Request * request, int close)
{
    if (request == NULL) 
        return;

    /*
     * The connection stays open for the next request: keep the bytes
     * of that request already read with this one, or they are lost.
     */
    if (!close && request->ipcFd >= 0 && HasReadAhead(request->in)) {
        FCGX_FreeStream(&request->readAhead);
        request->readAhead = request->in;
        request->in = NULL;
    }
    if (close || request->ipcFd < 0) {
        ParkStream(request, &request->readAhead, &request->spareIn);
        DropPreread(request);
    }
    ParkStream(request, &request->in, &request->spareIn);
    ParkStream(request, &request->out, &request->spareOut);
    ParkStream(request, &request->err, &request->spareErr);
    FreeRequestParams(request);

    if (close) {
        OS_IpcClose(request->ipcFd, ! request->detached);
        request->ipcFd = -1;
        request->detached = 0;
    }
}

int FCGX_GetParamsBlock(const FCGX_Request *request, const char **start,
        size_t *length)
{
    ParamsPtr paramsPtr;
    if(request == NULL || (paramsPtr = request->paramsPtr) == NULL
            || paramsPtr->first == NULL || paramsPtr->first->next != NULL
            || paramsPtr->cur == paramsPtr->vec) {
        return 0;
    }
    /*
     * One block: it holds the vector's strings and nothing else, in
     * order (ReadParams and FCGX_Accept_r put every string there, and a
     * request whose params failed never reaches the caller).
     */
    *start = paramsPtr->first->data;
    *length = paramsPtr->first->used;
    return 1;
}

void FCGX_FreeSpares(FCGX_Request *request)
{
    if (request == NULL)
        return;
    FCGX_FreeStream(&request->spareIn);
    FCGX_FreeStream(&request->spareOut);
    FCGX_FreeStream(&request->spareErr);
    FreeParams(&request->spareParams);
}

int FCGX_SetPreread(FCGX_Request *request, unsigned char *buf, size_t n)
{
    if (request == NULL || buf == NULL || n == 0 || request->preread != NULL)
        return -1;
    request->preread = buf;
    request->prereadLen = n;
    request->prereadPos = 0;
    return 0;
}

unsigned char *FCGX_TakePreread(FCGX_Request *request, size_t *n)
{
    size_t ahead = 0, left = 0;
    unsigned char *out;
    *n = 0;
    if (request->readAhead != NULL) {
        ahead = (size_t)(((FCGX_Stream_Data *)request->readAhead->data)
                ->buffStop - request->readAhead->rdNext);
    }
    if (request->preread != NULL) {
        left = request->prereadLen - request->prereadPos;
    }
    if (ahead + left == 0) {
        ParkStream(request, &request->readAhead, &request->spareIn);
        DropPreread(request);
        return NULL;
    }
    out = (unsigned char *)malloc(ahead + left);
    if (out != NULL) {
        if (ahead > 0)
            memcpy(out, request->readAhead->rdNext, ahead);
        if (left > 0)
            memcpy(out + ahead, request->preread + request->prereadPos, left);
        *n = ahead + left;
    } else {
        *n = (size_t)-1;
    }
    ParkStream(request, &request->readAhead, &request->spareIn);
    DropPreread(request);
    return out;
}

int FCGX_OpenSocket(const char *path, int backlog)
{
    int rc = OS_CreateLocalIpcFd(path, backlog);
    if (rc == FCGI_LISTENSOCK_FILENO && isFastCGI == 0) {
        /* XXX probably need to call OS_LibInit() again for Win */
        isFastCGI = 1;
    }
    return rc;
}

int FCGX_InitRequest(FCGX_Request *request, int sock, int flags)
{
    memset(request, 0, sizeof(FCGX_Request));

    /* @@@ Should check that sock is open and listening */
    request->listen_sock = sock;

    /* @@@ Should validate against "known" flags */
    request->flags = flags;

    request->ipcFd = -1;

    return 0;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Init --
 *
 *      Initialize the FCGX library.  This is called by FCGX_Accept()
 *      but must be called by the user when using FCGX_Accept_r().
 *
 * Results:
 *	    0 for successful call.
 *
 *----------------------------------------------------------------------
 */
int FCGX_Init(void)
{
    char *p;

    if (libInitialized) {
        return 0;
    }

    FCGX_InitRequest(&the_request, FCGI_LISTENSOCK_FILENO, 0);

    if (OS_LibInit(NULL) == -1) {
        return OS_Errno ? OS_Errno : -9997;
    }

    p = getenv("FCGI_WEB_SERVER_ADDRS");
    webServerAddressList = p ? StringCopy(p) : NULL;

    libInitialized = 1;
    return 0;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Accept --
 *
 *      Accepts a new request from the HTTP server.
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

int FCGX_Accept(
        FCGX_Stream **in,
        FCGX_Stream **out,
        FCGX_Stream **err,
        FCGX_ParamArray *envp)
{
    int rc;

    if (! libInitialized) {
        rc = FCGX_Init();
        if (rc) {
            return rc;
        }
    }

    rc = FCGX_Accept_r(&the_request);

    *in = the_request.in;
    *out = the_request.out;
    *err = the_request.err;
    *envp = the_request.envp;

    return rc;
}

/*
 *----------------------------------------------------------------------
 *
 * FCGX_Accept_r --
 *
 *      Accepts a new request from the HTTP server.
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
int FCGX_Accept_r(FCGX_Request *reqDataPtr)
{
    if (!libInitialized) {
        return -9998;
    }

    /* Finish the current request, if any. */
    FCGX_Finish_r(reqDataPtr);

    for (;;) {
        /*
         * If a connection isn't open, accept a new connection (blocking).
         * If an OS error occurs in accepting the connection,
         * return -1 to the caller, who should exit.
         */
        if (reqDataPtr->ipcFd < 0) {
            int fail_on_intr = reqDataPtr->flags & FCGI_FAIL_ACCEPT_ON_INTR;

            reqDataPtr->ipcFd = OS_Accept(reqDataPtr->listen_sock, fail_on_intr, webServerAddressList);
            if (reqDataPtr->ipcFd < 0) {
                return (errno > 0) ? (0 - errno) : -9999;
            }
        }
        /*
         * A connection is open.  Read from the connection in order to
         * get the request's role and environment.  If protocol or other
         * errors occur, close the connection and try again.
         */
        reqDataPtr->isBeginProcessed = FALSE;
        /*
         * No request yet: records of earlier requests on this
         * connection (e.g. an FCGI_ABORT_REQUEST that came after the
         * request ended) are skipped, not protocol errors.
         */
        reqDataPtr->requestId = FCGI_NULL_REQUEST_ID;
        if (reqDataPtr->readAhead != NULL) {
            /* Go on from the bytes read with the last request. */
            reqDataPtr->in = SetReaderType(reqDataPtr->readAhead, 0);
            reqDataPtr->readAhead = NULL;
        } else {
            reqDataPtr->in = NewReader(reqDataPtr,
                    reqDataPtr->inBufSize > 0 ? reqDataPtr->inBufSize : 8192, 0,
                    &reqDataPtr->spareIn);
        }
        FillBuffProc(reqDataPtr->in);
        if(!reqDataPtr->isBeginProcessed) {
            goto TryAgain;
        }
        {
            char *roleStr;
            switch(reqDataPtr->role) {
                case FCGI_RESPONDER:
                    roleStr = "FCGI_ROLE=RESPONDER";
                    break;
                case FCGI_AUTHORIZER:
                    roleStr = "FCGI_ROLE=AUTHORIZER";
                    break;
                case FCGI_FILTER:
                    roleStr = "FCGI_ROLE=FILTER";
                    break;
                default:
                    /* Rejected as the spec says, then closed. */
                    WriteEndRequest(reqDataPtr, FCGI_UNKNOWN_ROLE);
                    goto TryAgain;
            }
            reqDataPtr->paramsPtr = NewRequestParams(reqDataPtr);
            {
                /* In the params' first block, before the pairs read next. */
                size_t roleLen = strlen(roleStr) + 1;
                char *role = ParamsAlloc(reqDataPtr->paramsPtr, roleLen);
                if(role == NULL) {
                    /* Out of memory: refused, as a request whose params fail. */
                    goto TryAgain;
                }
                memcpy(role, roleStr, roleLen);
                if(PutParam(reqDataPtr->paramsPtr, role) < 0) {
                    goto TryAgain;
                }
            }
        }
        SetReaderType(reqDataPtr->in, FCGI_PARAMS);
        if(ReadParams(reqDataPtr->paramsPtr, reqDataPtr->in,
                ParamsLimit(reqDataPtr->maxParamNameLen,
                        FCGX_DEFAULT_MAX_PARAM_NAME),
                ParamsLimit(reqDataPtr->maxParamValueLen,
                        FCGX_DEFAULT_MAX_PARAM_VALUE),
                ParamsLimit(reqDataPtr->maxParamsTotal,
                        FCGX_DEFAULT_MAX_PARAMS_TOTAL)) >= 0) {
            /*
             * Finished reading the environment.  No errors occurred, so
             * leave the connection-retry loop.
             */
            break;
        }
        if(FCGX_GetError(reqDataPtr->in) == FCGX_REQUEST_ABORTED) {
            /* Aborted before it started: it ends, unseen, then closed. */
            WriteEndRequest(reqDataPtr, FCGI_REQUEST_COMPLETE);
        }

        /*
         * Close the connection and try again.
         */
TryAgain:
        FCGX_Free(reqDataPtr, 1);

    } /* for (;;) */
    /*
     * Build the remaining data structures representing the new
     * request and return successfully to the caller.
     */
    SetReaderType(reqDataPtr->in, FCGI_STDIN);
    reqDataPtr->out = NewWriter(reqDataPtr,
            reqDataPtr->outBufSize > 0 ? reqDataPtr->outBufSize : 8192,
            FCGI_STDOUT, &reqDataPtr->spareOut);
    reqDataPtr->err = NewWriter(reqDataPtr, 512, FCGI_STDERR,
            &reqDataPtr->spareErr);
    reqDataPtr->nWriters = 2;
    /* Each request starts with exit status 0, not the last one's. */
    reqDataPtr->appStatus = 0;
    reqDataPtr->envp = reqDataPtr->paramsPtr->vec;
    return 0;
}

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

int FCGX_StartFilterData(FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    if(data->reqDataPtr->role != FCGI_FILTER
            || !stream->isReader
            || !stream->isClosed
            || data->type != FCGI_STDIN) {
        SetError(stream, FCGX_CALL_SEQ_ERROR);
        return -1;
    }
    SetReaderType(stream, FCGI_DATA);
    return 0;
}

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

void FCGX_SetExitStatus(int status, FCGX_Stream *stream)
{
    FCGX_Stream_Data *data = (FCGX_Stream_Data *)stream->data;
    data->reqDataPtr->appStatus = status;
}


int 
FCGX_Attach(FCGX_Request * r)
{
    r->detached = FALSE;
    return 0;
}


int 
FCGX_Detach(FCGX_Request * r)
{
    if (r->ipcFd <= 0)
    {
        return -1;
    }

    r->detached = TRUE;
    return 0;
}
