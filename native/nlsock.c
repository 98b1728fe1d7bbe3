// xfrmd's netlink socket addon: the only native code in xfrmd.
//
// Why our own addon instead of the `netlink` package's binding: that binding
// aborts the process when a receive queue overflows (ENOBUFS), cannot set
// NETLINK_EXT_ACK / NETLINK_GET_STRICT_CHK, loses errno, and ships glibc-only
// prebuilds. This file does only the socket part (open, optionally inside a named
// netns; setsockopt; bind groups; send; non-blocking receive via uv_poll; close).
// All message encoding is TypeScript (src/netlink/). ENOBUFS is an ordinary event
// for the caller ("overflow"), never fatal.
//
// JS API (see src/netlink/native.ts for the typed wrapper):
//   open(protocol, netns|null, rcvbuf, flags) -> handle   flags: 1 EXT_ACK, 2 STRICT_CHK,
//                                                          4 CAP_ACK, 8 NO_ENOBUFS
//   portid(handle) -> number
//   addMembership(handle, group)
//   send(handle, buffer) -> bytes sent
//   start(handle, cb(errno, Buffer))     start receiving; cb gets batches of datagrams (see on_poll)
//   ref(handle, bool)                    keep the event loop alive while waiting, or not
//   close(handle)
// and the same for a unix stream socket (ubusd), so the daemon needs no node:net and its
// streams (2 MB of its memory):
//   connectUnix(path) -> handle           blocking connect, then non-blocking
//   write(handle, buffer) -> bytes        what the socket took now (0: full, try when writable)
//   startStream(handle, onData(errno, Buffer, eof), onWritable())
//   wantWrite(handle, bool)               call onWritable once the socket takes data again
// and one thing that is not a socket:
//   releaseFreeMemory() -> bool           hand the C heap's free pages back to the kernel
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <node_api.h>
#include <uv.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define RECV_MAX (64 * 1024)    // one datagram; kernel dump skbs are at most 32 KiB
#define RECV_BUF (256 * 1024)   // one batch of datagrams handed to JS in a single Buffer
#define MAX_BATCH 1024          // datagrams per JS callback; uv_poll is level-triggered

typedef struct {
  int fd;
  uint32_t portid;
  napi_env env;
  uv_poll_t poll;
  int poll_init;
  int poll_closed;
  int finalized;
  int refed;
  napi_ref cb;
  napi_ref wcb; // stream sockets: onWritable
  int stream;
  int want_write;
  napi_async_context actx;
} nlsock;

// One receive buffer for every socket: callbacks run one at a time on the loop thread and
// copy out what they read before returning, so per-socket buffers (a daemon has five) only
// kept more touched pages resident.
static unsigned char *recv_buf;

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, n;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

static void free_sock(nlsock *s) {
  free(s);
}

static void on_poll_closed(uv_handle_t *h) {
  nlsock *s = h->data;
  s->poll_closed = 1;
  if (s->finalized) free_sock(s);
}

static void do_close(nlsock *s) {
  if (s->poll_init && !s->poll_closed && !uv_is_closing((uv_handle_t *)&s->poll)) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  if (s->cb) {
    napi_delete_reference(s->env, s->cb);
    s->cb = NULL;
  }
  if (s->wcb) {
    napi_delete_reference(s->env, s->wcb);
    s->wcb = NULL;
  }
  if (s->actx) {
    napi_async_destroy(s->env, s->actx);
    s->actx = NULL;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  nlsock *s = data;
  do_close(s);
  s->finalized = 1;
  if (!s->poll_init || s->poll_closed) free_sock(s);
}

static nlsock *get_sock(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a netlink socket handle");
    return NULL;
  }
  return p;
}

#define ARGS(n)                                                   \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;

static int set_int(int fd, int level, int opt, int val) {
  return setsockopt(fd, level, opt, &val, sizeof val);
}

// Opens the socket inside /run/netns/NAME when asked: the socket keeps that
// namespace for its whole life, the thread returns to its own at once.
static int open_in_netns(const char *netns, int protocol, int *err) {
  int self = -1, target = -1, fd = -1;
  if (netns == NULL) {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    *err = fd < 0 ? errno : 0;
    return fd;
  }
  // "@new": a private, empty namespace that lives as long as this socket (the
  // daemon's capability probe creates and deletes devices there, harmlessly).
  int fresh = strcmp(netns, "@new") == 0;
  if (!fresh && (strchr(netns, '/') != NULL || netns[0] == '.' || netns[0] == 0)) {
    *err = EINVAL;
    return -1;
  }
  char path[300];
  snprintf(path, sizeof path, "/run/netns/%s", netns);
  self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    *err = errno;
    return -1;
  }
  target = fresh ? -1 : open(path, O_RDONLY | O_CLOEXEC);
  if (!fresh && target < 0) {
    *err = errno;
    close(self);
    return -1;
  }
  if (fresh ? unshare(CLONE_NEWNET) < 0 : setns(target, CLONE_NEWNET) < 0) {
    *err = errno;
    close(self);
    close(target);
    return -1;
  }
  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  *err = fd < 0 ? errno : 0;
  if (setns(self, CLONE_NEWNET) < 0) {
    // Staying in the wrong namespace would silently misconfigure everything after.
    napi_fatal_error("xfrmd_netlink", NAPI_AUTO_LENGTH, "cannot return to own network namespace", NAPI_AUTO_LENGTH);
  }
  close(self);
  if (target >= 0) close(target);
  return fd;
}

/* An open fd as the JS handle (an external finalized with the socket); the fd is closed on failure. */
static napi_value wrap_sock(napi_env env, int fd, uint32_t portid, int stream, const char *what) {
  if (!recv_buf) recv_buf = malloc(RECV_BUF);
  nlsock *s = calloc(1, sizeof *s);
  if (!s || !recv_buf) {
    free(s);
    close(fd);
    return throw_errno(env, ENOMEM, what);
  }
  s->fd = fd;
  s->portid = portid;
  s->stream = stream;
  s->env = env;
  napi_value ext;
  if (napi_create_external(env, s, finalize, NULL, &ext) != napi_ok) {
    close(fd);
    free_sock(s);
    return NULL;
  }
  return ext;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t protocol = 0, rcvbuf = 0, flags = 0;
  napi_get_value_int32(env, argv[0], &protocol);
  napi_get_value_int32(env, argv[2], &rcvbuf);
  napi_get_value_int32(env, argv[3], &flags);
  char netns[256];
  const char *ns = NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_string) {
    size_t len = 0;
    napi_get_value_string_utf8(env, argv[1], netns, sizeof netns, &len);
    ns = netns;
  }
  int err = 0;
  int fd = open_in_netns(ns, protocol, &err);
  if (fd < 0) return throw_errno(env, err, ns ? "netlink socket in netns" : "netlink socket");

  if (rcvbuf > 0) {
    // FORCE needs CAP_NET_ADMIN (the daemon has it); fall back to the capped option.
    if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) < 0) set_int(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
  }
  // Optional features: older kernels lack some, which is not an error.
  if (flags & 1) set_int(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  if (flags & 2) set_int(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
  if (flags & 4) set_int(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  if (flags & 8) set_int(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1);

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    err = errno;
    close(fd);
    return throw_errno(env, err, "netlink bind");
  }
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    err = errno;
    close(fd);
    return throw_errno(env, err, "netlink getsockname");
  }

  return wrap_sock(env, fd, sa.nl_pid, 0, "netlink socket");
}

static napi_value js_portid(napi_env env, napi_callback_info info) {
  ARGS(1);
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  napi_value r;
  napi_create_uint32(env, s->portid, &r);
  return r;
}

static napi_value js_add_membership(napi_env env, napi_callback_info info) {
  ARGS(2);
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  int32_t group = 0;
  napi_get_value_int32(env, argv[1], &group);
  if (s->fd < 0) return throw_errno(env, EBADF, "addMembership");
  if (set_int(s->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group) < 0) return throw_errno(env, errno, "addMembership");
  return NULL;
}

/* (handle, Buffer) arguments of send and write: the open socket and the bytes, or NULL after
 * an exception was thrown. */
static nlsock *sock_and_buffer(napi_env env, napi_value *argv, void **data, size_t *len, const char *what) {
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (napi_get_buffer_info(env, argv[1], data, len) != napi_ok) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s: expected a Buffer", what);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  if (s->fd < 0) {
    throw_errno(env, EBADF, what);
    return NULL;
  }
  return s;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *data = NULL;
  size_t len = 0;
  nlsock *s = sock_and_buffer(env, argv, &data, &len, "send");
  if (!s) return NULL;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  ssize_t r;
  do {
    r = sendto(s->fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "send");
  napi_value n;
  napi_create_int64(env, r, &n);
  return n;
}

static void call_js(nlsock *s, napi_ref ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value cb, recv, result;
  if (!ref || napi_get_reference_value(env, ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv); // make_callback needs an object receiver
  // make_callback (not call_function) so promise reactions run right after the batch.
  if (napi_make_callback(env, s->actx, recv, cb, argc, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
      napi_fatal_exception(env, ex);
    }
  }
}

static void deliver(nlsock *s, int err, napi_value arr, int eof) {
  napi_value argv[3];
  napi_create_int32(s->env, err, &argv[0]);
  argv[1] = arr;
  napi_get_boolean(s->env, eof, &argv[2]);
  call_js(s, s->cb, 3, argv);
}

// Datagrams go to JS packed in one Buffer as records [u32 length, host order][bytes,
// padded to 4]: one allocation and one call per batch, not per datagram (a bulk
// change yields one ACK datagram per request).
static void on_poll(uv_poll_t *h, int status, int events) {
  nlsock *s = h->data;
  napi_env env = s->env;
  size_t off = 0;
  uint32_t n = 0;
  int err = 0;
  while (n < MAX_BATCH && s->fd >= 0 && off + 4 + RECV_MAX <= RECV_BUF) {
    ssize_t r = recv(s->fd, recv_buf + off + 4, RECV_MAX, MSG_DONTWAIT | MSG_TRUNC);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno; // ENOBUFS: overflow, socket stays usable
      break;
    }
    if (r > RECV_MAX) {
      err = EMSGSIZE;
      break;
    }
    uint32_t len = (uint32_t)r;
    memcpy(recv_buf + off, &len, 4);
    off += 4 + ((len + 3) & ~3u);
    n++;
  }
  // libuv stops a poll handle on POLLERR (status < 0), which is how a pending
  // ENOBUFS shows up: the recv above consumed the error, so start it again.
  if (status < 0 && s->fd >= 0 && !uv_is_closing((uv_handle_t *)&s->poll)) {
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (!s->refed) uv_unref((uv_handle_t *)&s->poll);
  }
  if (n == 0 && err == 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value b;
  void *copy;
  if (napi_create_buffer_copy(env, off, recv_buf, &copy, &b) == napi_ok) deliver(s, err, b, 0);
  napi_close_handle_scope(env, scope);
}

/* What start and startStream share: the callback(s) kept, an async context for them, the poll
 * handle on the fd (refed). 1, or 0 after an exception was thrown. */
static int begin_poll(napi_env env, nlsock *s, napi_value cb, napi_value wcb, const char *name, const char *what) {
  if (s->fd < 0) { throw_errno(env, EBADF, what); return 0; }
  if (s->poll_init) { throw_errno(env, EALREADY, what); return 0; }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return 0;
  napi_create_reference(env, cb, 1, &s->cb);
  if (wcb) napi_create_reference(env, wcb, 1, &s->wcb);
  napi_value resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  napi_async_init(env, NULL, resource, &s->actx);
  int r = uv_poll_init(loop, &s->poll, s->fd);
  if (r < 0) { throw_errno(env, -r, "uv_poll_init"); return 0; }
  s->poll_init = 1;
  s->poll.data = s;
  s->refed = 1;
  return 1;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  nlsock *s = get_sock(env, argv[0]);
  if (!s || !begin_poll(env, s, argv[1], NULL, "xfrmd:netlink", "start")) return NULL;
  int r = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, -r, "uv_poll_start");
  return NULL;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  if (s->poll_init && !s->poll_closed && !uv_is_closing((uv_handle_t *)&s->poll)) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
    s->refed = on;
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  do_close(s);
  return NULL;
}

// ---- unix stream sockets (ubusd) ----

static napi_value js_connect_unix(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "connectUnix: expected a path");
    return NULL;
  }
  if (len == 0 || len >= sizeof sa.sun_path - 1) return throw_errno(env, ENAMETOOLONG, "connect");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  // a local connect completes at once (or fails): blocking here is simpler than a second poll
  int r;
  do {
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  } while (r < 0 && errno == EINTR);
  if (r < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "connect");
  }
  return wrap_sock(env, fd, 0, 1, "unix socket");
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *data = NULL;
  size_t len = 0;
  nlsock *s = sock_and_buffer(env, argv, &data, &len, "write");
  if (!s) return NULL;
  ssize_t r;
  do {
    r = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return throw_errno(env, errno, "write");
  napi_value n;
  napi_create_int64(env, r < 0 ? 0 : r, &n);
  return n;
}

static void on_stream_poll(uv_poll_t *h, int status, int events);

static void stream_poll_start(nlsock *s) {
  if (s->fd < 0 || !s->poll_init || uv_is_closing((uv_handle_t *)&s->poll)) return;
  uv_poll_start(&s->poll, UV_READABLE | (s->want_write ? UV_WRITABLE : 0), on_stream_poll);
  if (!s->refed) uv_unref((uv_handle_t *)&s->poll);
}

// What arrived goes to JS as one record [u32 length][bytes] (the netlink batch layout);
// end of stream as eof = true, after which the socket is not polled any more.
static void on_stream_poll(uv_poll_t *h, int status, int events) {
  nlsock *s = h->data;
  napi_env env = s->env;
  if ((events & UV_WRITABLE) && s->want_write) {
    s->want_write = 0;
    stream_poll_start(s);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    call_js(s, s->wcb, 0, NULL);
    napi_close_handle_scope(env, scope);
    if (s->fd < 0) return;
  }
  if (!(events & UV_READABLE) && status >= 0) return;
  size_t off = 4;
  int err = 0, eof = 0;
  while (s->fd >= 0 && off < RECV_BUF) {
    ssize_t r = recv(s->fd, recv_buf + off, RECV_BUF - off, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (r == 0) {
      eof = 1;
      break;
    }
    off += (size_t)r;
  }
  if (eof || err) uv_poll_stop(&s->poll);
  if (off == 4 && !eof && !err) return;
  uint32_t len = (uint32_t)(off - 4);
  memcpy(recv_buf, &len, 4);
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value b;
  void *copy;
  if (napi_create_buffer_copy(env, (off + 3) & ~(size_t)3, recv_buf, &copy, &b) == napi_ok) deliver(s, err, b, eof);
  napi_close_handle_scope(env, scope);
}

static napi_value js_start_stream(napi_env env, napi_callback_info info) {
  ARGS(3);
  nlsock *s = get_sock(env, argv[0]);
  if (!s || !begin_poll(env, s, argv[1], argv[2], "xfrmd:unix", "startStream")) return NULL;
  stream_poll_start(s);
  return NULL;
}

static napi_value js_want_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  nlsock *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  if (s->want_write != on) {
    s->want_write = on;
    stream_poll_start(s);
  }
  return NULL;
}

// Every message received is copied into a Buffer whose memory is malloc'd; after a burst (netifd
// setting up a thousand interfaces) glibc keeps the freed memory in the process unless asked.
// musl (OpenWrt) returns free pages by itself: there this is a no-op returning false.
static napi_value js_release_free_memory(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) != 0;
#endif
  napi_value r;
  napi_get_boolean(env, released, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"portid", NULL, js_portid, NULL, NULL, NULL, napi_default, NULL},
      {"addMembership", NULL, js_add_membership, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"connectUnix", NULL, js_connect_unix, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
      {"startStream", NULL, js_start_stream, NULL, NULL, NULL, napi_default, NULL},
      {"wantWrite", NULL, js_want_write, NULL, NULL, NULL, napi_default, NULL},
      {"releaseFreeMemory", NULL, js_release_free_memory, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
