/*
 * fcgi_config.h -- checked-in configuration of vendored fcgi2 for Linux
 * (glibc) and macOS, written from upstream include/fcgi_config.h.in so
 * that no configure step runs at install time.
 *
 * Only the macros that fcgiapp.c, os_unix.c and their headers test are
 * meaningful here: HAVE_SYS_SOCKET_H, HAVE_SYS_TIME_H, HAVE_UNISTD_H,
 * HAVE_LIMITS_H, HAVE_NETINET_IN_H, HAVE_NETDB_H, HAVE_SYS_TYPES_H,
 * HAVE_SOCKLEN, HAVE_SOCKADDR_UN_SUN_LEN, USE_LOCKING and
 * HAVE_VA_ARG_LONG_DOUBLE_BUG.  The rest are defined as configure would
 * on both platforms, for completeness.
 */

#ifndef FCGI_CONFIG_H
#define FCGI_CONFIG_H

#if !defined(__linux__) && !defined(__APPLE__)
#error "ext/config/fcgi_config.h covers Linux and macOS only; add your platform after checking it against include/fcgi_config.h.in"
#endif

/* Headers present on both platforms. */
#define HAVE_ARPA_INET_H 1
#define HAVE_DLFCN_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_LIMITS_H 1
#define HAVE_MEMORY_H 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define STDC_HEADERS 1

/* Types and prototypes present on both platforms. */
#define HAVE_FILENO_PROTO 1
#define HAVE_FPOS 1
#define HAVE_SOCKLEN 1
#define HAVE_STRERROR 1

/* BSD-derived struct sockaddr_un has sun_len; glibc's does not. */
#ifdef __APPLE__
#define HAVE_SOCKADDR_UN_SUN_LEN 1
#endif

/*
 * Left undefined on purpose:
 * - USE_LOCKING: concurrent accept() on one listening socket is safe on
 *   Linux and macOS; configure sets it only for IRIX 5, Solaris 2 and SVR4.
 * - HAVE_VA_ARG_LONG_DOUBLE_BUG: an HP-UX 9 compiler bug.
 * - HAVE_LIBNSL, HAVE_LIBSOCKET, HAVE_LIBRESOLV, HAVE_LIBDNET_STUB,
 *   HAVE_LIBIEEE, HAVE_LIBPTHREAD: link-time facts; the library code does
 *   not test them, and node-gyp/cmake-js link what the addon needs.
 * - const, inline, ssize_t: the compilers we support have them.
 */

#define PACKAGE "fcgi"
#define VERSION "2.4.5"

#endif /* FCGI_CONFIG_H */
