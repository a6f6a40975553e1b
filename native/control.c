/*
 * The control socket's transport (src/mesh/uapi.ts speaks the protocol): a Unix stream socket
 * served on the JavaScript thread's event loop with uv_poll, as the TUN and UDP readers are.
 * Requests are lines ending with an empty line; each complete request is handed to JavaScript
 * in one call (connection id, text without the empty line), and the reply comes back by
 * controlReply. Through node:net every `wg` command cost a stream object per connection (wg
 * connects twice: once to see the socket is alive, once to talk) and a few hundred
 * microseconds of stream machinery before the reply left, which `wg set` waited for.
 */
#define _GNU_SOURCE
#include "addon.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <uv.h>

/* A line longer than this closes the connection (no UAPI line comes near it). */
#define MAX_LINE_BYTES (1 << 20)
/* A request larger than this closes the connection (a full configuration of thousands of peers fits). */
#define MAX_REQUEST_BYTES (256u << 20)
/* While this much reply waits for a client that does not read, its further requests wait unread
 * (as wireguard-go's blocking write holds that connection), so the node's memory stays bounded. */
#define MAX_REPLY_BACKLOG_BYTES (1u << 20)

typedef struct bytes {
  char *data;
  size_t length;
  size_t capacity;
} bytes;

/* Room for `extra` more bytes and a terminating NUL. */
static int bytes_reserve(bytes *b, size_t extra) {
  if (b->length + extra + 1 <= b->capacity) return 1;
  size_t capacity = b->capacity ? b->capacity : 256;
  while (b->length + extra + 1 > capacity) capacity *= 2;
  char *grown = realloc(b->data, capacity);
  if (!grown) return 0;
  b->data = grown;
  b->capacity = capacity;
  return 1;
}

static int bytes_append(bytes *b, const char *data, size_t length) {
  if (!bytes_reserve(b, length)) return 0;
  memcpy(b->data + b->length, data, length);
  b->length += length;
  b->data[b->length] = '\0';
  return 1;
}

static void bytes_free(bytes *b) {
  free(b->data);
  b->data = NULL;
  b->length = b->capacity = 0;
}

struct control_server;

typedef struct control_conn {
  struct control_server *server;
  struct control_conn *next;
  uint32_t id;
  int fd;
  uv_poll_t poll;
  bytes line;
  bytes request;
  int in_request;
  bytes out;
  size_t out_sent;
  /* Received bytes not taken yet because replies backed up. */
  bytes in;
  int taking_in;
  int peer_done;
  int closing;
  int watching;
} control_conn;

typedef struct control_server {
  napi_env env;
  napi_ref on_request;
  napi_async_context async_context;
  int fd;
  uv_poll_t poll;
  int closed;
  int finalized;
  int handles_open;
  uint32_t next_id;
  control_conn *conns;
} control_server;

static void release_server(control_server *server) {
  if (server->handles_open == 0 && server->finalized) free(server);
}

static void conn_closed(uv_handle_t *handle) {
  control_conn *conn = handle->data;
  control_server *server = conn->server;
  bytes_free(&conn->line);
  bytes_free(&conn->request);
  bytes_free(&conn->out);
  bytes_free(&conn->in);
  free(conn);
  server->handles_open--;
  release_server(server);
}

static void close_conn(control_conn *conn) {
  if (conn->closing) return;
  conn->closing = 1;
  control_server *server = conn->server;
  for (control_conn **at = &server->conns; *at; at = &(*at)->next) {
    if (*at == conn) { *at = conn->next; break; }
  }
  uv_poll_stop(&conn->poll);
  close(conn->fd);
  uv_close((uv_handle_t *)&conn->poll, conn_closed);
}

static void on_conn_event(uv_poll_t *handle, int status, int events);
static int resume_input(control_conn *conn);

static int backed_up(const control_conn *conn) { return conn->out.length - conn->out_sent >= MAX_REPLY_BACKLOG_BYTES; }

/* Readable until the client is done, and while its replies do not back up; writable while replies
 * wait for room in the socket. */
static void watch(control_conn *conn) {
  int pending = conn->out_sent < conn->out.length;
  int readable = !conn->peer_done && !backed_up(conn) && conn->in.length == 0;
  int events = (readable ? UV_READABLE : 0) | (pending ? UV_WRITABLE : 0);
  if (events != conn->watching) {
    conn->watching = events;
    uv_poll_start(&conn->poll, events, on_conn_event);
  }
}

/* Writes what is queued; closes the connection on a write error, or once the client is done and
 * everything went out. Returns 0 when the connection was closed. */
static int flush_out(control_conn *conn) {
  while (conn->out_sent < conn->out.length) {
    ssize_t n = send(conn->fd, conn->out.data + conn->out_sent, conn->out.length - conn->out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn(conn);
      return 0;
    }
    conn->out_sent += (size_t)n;
  }
  if (conn->out_sent >= conn->out.length) {
    conn->out.length = 0;
    conn->out_sent = 0;
    if (conn->peer_done && conn->in.length == 0) { close_conn(conn); return 0; }
  }
  if (!backed_up(conn) && conn->in.length > 0 && !conn->taking_in) {
    if (!resume_input(conn)) { close_conn(conn); return 0; }
    if (conn->closing) return 0;
  }
  watch(conn);
  return 1;
}

/* onRequest(connectionId, text) on the JavaScript thread. */
static void deliver_request(control_conn *conn) {
  control_server *server = conn->server;
  napi_env env = server->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback = NULL, argv[2];
  if (napi_get_reference_value(env, server->on_request, &callback) == napi_ok && callback != NULL
      && napi_create_uint32(env, conn->id, &argv[0]) == napi_ok
      && napi_create_string_utf8(env, conn->request.data ? conn->request.data : "", conn->request.length, &argv[1]) == napi_ok) {
    call_from_loop(env, server->async_context, callback, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

/* One complete line (without its newline): start, extend or finish the current request. */
static int take_line(control_conn *conn, const char *line, size_t length) {
  if (!conn->in_request) {
    if (length == 0) return 1;
    conn->in_request = 1;
    conn->request.length = 0;
    return bytes_append(&conn->request, line, length);
  }
  if (length > 0) {
    if (conn->request.length + 1 + length > MAX_REQUEST_BYTES) return 0;
    return bytes_append(&conn->request, "\n", 1) && bytes_append(&conn->request, line, length);
  }
  conn->in_request = 0;
  deliver_request(conn);
  conn->request.length = 0;
  if (conn->request.capacity > (1u << 20)) bytes_free(&conn->request);
  return 1;
}

/* Splits what was read into lines and takes them, stopping between lines once replies back up.
 * Returns the bytes taken, or -1 when the connection must be closed. */
static ssize_t take_bytes(control_conn *conn, const char *data, size_t length) {
  size_t taken = 0;
  while (taken < length && !conn->closing && !conn->server->closed && !backed_up(conn)) {
    const char *at = data + taken;
    size_t left = length - taken;
    const char *newline = memchr(at, '\n', left);
    size_t take = newline ? (size_t)(newline - at) : left;
    if (conn->line.length + take > MAX_LINE_BYTES) return -1;
    if (!newline) return bytes_append(&conn->line, at, take) ? (ssize_t)length : -1;
    int ok;
    if (conn->line.length == 0) {
      ok = take_line(conn, at, take);
    } else {
      ok = bytes_append(&conn->line, at, take) && take_line(conn, conn->line.data, conn->line.length);
      conn->line.length = 0;
    }
    if (!ok) return -1;
    taken += take + 1;
  }
  return (ssize_t)taken;
}

/* What was read: taken now, or kept in `in` until the replies drain. Returns 0 to close. */
static int take_input(control_conn *conn, const char *data, size_t length) {
  ssize_t taken = take_bytes(conn, data, length);
  if (taken < 0) return 0;
  if ((size_t)taken < length && !conn->closing) return bytes_append(&conn->in, data + taken, length - (size_t)taken);
  return 1;
}

/* The replies drained: takes the requests that waited. Replies they produce come back through
 * controlReply -> flush_out, which must not start this again meanwhile (taking_in). */
static int resume_input(control_conn *conn) {
  conn->taking_in = 1;
  ssize_t taken = take_bytes(conn, conn->in.data, conn->in.length);
  conn->taking_in = 0;
  if (taken < 0) return 0;
  if (conn->closing) return 1;
  memmove(conn->in.data, conn->in.data + taken, conn->in.length - (size_t)taken);
  conn->in.length -= (size_t)taken;
  if (conn->in.capacity > (1u << 20) && conn->in.length == 0) bytes_free(&conn->in);
  return 1;
}

static void on_conn_event(uv_poll_t *handle, int status, int events) {
  control_conn *conn = handle->data;
  if (conn->closing) return;
  if (status < 0) { close_conn(conn); return; }
  if (events & UV_WRITABLE) {
    if (!flush_out(conn)) return;
  }
  if (!(events & UV_READABLE)) return;
  char buffer[16384];
  for (int round = 0; round < 64 && !conn->closing && !conn->server->closed && !backed_up(conn) && conn->in.length == 0; round++) {
    ssize_t n = recv(conn->fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(conn);
      return;
    }
    if (n == 0) {
      /* The client is done: close once its replies are out (node:net's allowHalfOpen=false). */
      conn->peer_done = 1;
      flush_out(conn);
      return;
    }
    if (!take_input(conn, buffer, (size_t)n)) { close_conn(conn); return; }
  }
  if (!conn->closing && !conn->server->closed) watch(conn);
}

static void on_accept(uv_poll_t *handle, int status, int events) {
  (void)events;
  control_server *server = handle->data;
  if (server->closed || status < 0) return;
  uv_loop_t *loop = handle->loop;
  for (;;) {
    int fd = accept4(server->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    control_conn *conn = calloc(1, sizeof *conn);
    if (!conn || uv_poll_init(loop, &conn->poll, fd) != 0) { free(conn); close(fd); continue; }
    conn->server = server;
    conn->fd = fd;
    conn->id = ++server->next_id;
    conn->poll.data = conn;
    conn->next = server->conns;
    server->conns = conn;
    server->handles_open++;
    watch(conn);
  }
}

static void listen_closed(uv_handle_t *handle) {
  control_server *server = handle->data;
  server->handles_open--;
  release_server(server);
}

static void stop_server(control_server *server) {
  if (server->closed) return;
  server->closed = 1;
  uv_poll_stop(&server->poll);
  close(server->fd);
  uv_close((uv_handle_t *)&server->poll, listen_closed);
  while (server->conns) close_conn(server->conns);
}

static void finalize_server(napi_env env, void *data, void *hint) {
  (void)hint;
  control_server *server = data;
  stop_server(server);
  napi_delete_reference(env, server->on_request);
  napi_async_destroy(env, server->async_context);
  server->finalized = 1;
  release_server(server);
}

static control_server *server_arg(napi_env env, napi_value value) { return external_arg(env, value, "a control socket handle"); }

/* controlListen(path, onRequest(connectionId, text)) -> handle; throws with errno (EADDRINUSE, ...) */
static napi_value control_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t path_length = 0;
  napi_valuetype type;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_length) != napi_ok
      || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return throw_type(env, "controlListen(path, onRequest)");
  if (path_length == 0 || path_length >= sizeof path - 1) return throw_errno(env, "bind", ENAMETOOLONG, path);
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path, path_length);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno, path);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) { int err = errno; close(fd); return throw_errno(env, "bind", err, path); }
  /* 0600 (the socket hands out the private key) before listen(): until then a connect is refused,
   * so the mode bind() took from the process's umask is never open to other users. */
  if (chmod(path, 0600) != 0) { int err = errno; close(fd); unlink(path); return throw_errno(env, "chmod", err, path); }
  if (listen(fd, 128) != 0) { int err = errno; close(fd); unlink(path); return throw_errno(env, "listen", err, path); }
  control_server *server = calloc(1, sizeof *server);
  uv_loop_t *loop = NULL;
  napi_value resource, handle;
  napi_create_string_utf8(env, "netmend:control", NAPI_AUTO_LENGTH, &resource);
  if (!server || napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[1], 1, &server->on_request) != napi_ok
      || napi_async_init(env, NULL, resource, &server->async_context) != napi_ok) {
    free(server);
    close(fd);
    unlink(path);
    return throw_errno(env, "controlListen", ENOMEM, NULL);
  }
  server->env = env;
  server->fd = fd;
  uv_poll_init(loop, &server->poll, fd);
  server->poll.data = server;
  server->handles_open = 1;
  /* Referenced, as a node:net server is: a node serving its control socket stays up. */
  uv_poll_start(&server->poll, UV_READABLE, on_accept);
  napi_create_external(env, server, finalize_server, NULL, &handle);
  return handle;
}

/* controlReply(handle, connectionId, text) -> false when that connection is gone (the reply is dropped) */
static napi_value control_reply(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  control_server *server = argc >= 3 ? server_arg(env, argv[0]) : NULL;
  if (!server) return argc >= 3 ? NULL : throw_type(env, "controlReply(handle, connectionId, text)");
  uint32_t id = 0;
  size_t length = 0;
  if (napi_get_value_uint32(env, argv[1], &id) != napi_ok || napi_get_value_string_utf8(env, argv[2], NULL, 0, &length) != napi_ok) return throw_type(env, "controlReply(handle, connectionId, text)");
  control_conn *conn = server->closed ? NULL : server->conns;
  while (conn && conn->id != id) conn = conn->next;
  if (!conn || conn->closing) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (!bytes_reserve(&conn->out, length)) { close_conn(conn); return throw_errno(env, "controlReply", ENOMEM, NULL); }
  size_t copied = 0;
  napi_get_value_string_utf8(env, argv[2], conn->out.data + conn->out.length, length + 1, &copied);
  conn->out.length += copied;
  flush_out(conn);
  napi_get_boolean(env, true, &result);
  return result;
}

/* controlClose(handle): stops listening and closes every connection (the caller removes the file). */
static napi_value control_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  control_server *server = argc >= 1 ? server_arg(env, argv[0]) : NULL;
  if (!server) return NULL;
  stop_server(server);
  return NULL;
}

void control_init_exports(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "controlListen", NULL, control_listen, NULL, NULL, NULL, napi_default, NULL },
    { "controlReply", NULL, control_reply, NULL, NULL, NULL, napi_default, NULL },
    { "controlClose", NULL, control_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
