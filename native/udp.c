/*
 * netmend's UDP data path: what Node's dgram cannot do. One bind owns an IPv4 and an IPv6 socket
 * on the same port (as wireguard-go's StdNetBind) with:
 *  - SO_MARK (UAPI `fwmark`, config `FwMark`), so wg-quick's `not fwmark` rule keeps the node's
 *    own datagrams out of a full tunnel;
 *  - IP_PKTINFO / IPV6_RECVPKTINFO: every datagram reports the local address it arrived on, and a
 *    peer's endpoint can carry that address as a sticky source for replies; a send from a
 *    source that no longer works drops the source and goes out again without it;
 *  - receiving on the JavaScript thread's event loop (uv_poll, one wake-up per batch): recvmmsg
 *    (+ UDP_GRO), transport messages decrypted in C with the receive key registered for their
 *    index, the whole batch handed to JavaScript in one call;
 *  - a writer thread: batches of plaintext packets for one peer are padded, sealed and sent with
 *    sendmmsg (+ UDP_SEGMENT when the kernel takes it).
 * The protocol (handshakes, timers, replay window, roaming, cryptokey routing) stays in
 * TypeScript; only bytes and keys cross over. Crypto: Node's own OpenSSL (EVP ChaCha20-Poly1305).
 */
#define _GNU_SOURCE
#include "addon.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <uv.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define SOCKET_BUFFER_BYTES (7 << 20)
#define RX_SLOTS 64
#define RX_SLOT_BYTES 65536
#define RX_MAX_RECORDS 1024
#define TX_MAX_SEGMENTS 64
#define TX_GSO_MAX_BYTES 65000
#define TX_QUEUE_LIMIT_BYTES (16 * 1024 * 1024)
#define INLINE_MAX_PACKETS 16
#define TRANSPORT_HEADER 16
#define TAG_LEN 16
#define MESSAGE_TRANSPORT 4

/* One record per datagram (or GRO segment) handed to JavaScript; layout mirrored in src/mesh/bind.ts. */
enum record_kind { RECORD_TRANSPORT_OK = 1, RECORD_TRANSPORT_BAD = 2, RECORD_UNKNOWN_INDEX = 3, RECORD_RAW = 4 };
typedef struct record {
  uint8_t kind;
  uint8_t family;
  uint16_t port;
  uint32_t receiver_index;
  uint32_t counter_lo, counter_hi;
  uint8_t address[16];
  uint8_t local_address[16];
  uint32_t ifindex;
  uint32_t offset;
  uint32_t length;
  uint32_t wire_length;
} record;
_Static_assert(sizeof(record) == 64, "record layout is shared with bind.ts");

/* ---------------- receive keys, by (device, local index) ---------------- */

typedef struct key_entry {
  struct key_entry *next;
  uint32_t device;
  uint32_t index;
  uint8_t key[32];
} key_entry;

#define KEY_BUCKETS 4096
static key_entry *key_buckets[KEY_BUCKETS];
static pthread_rwlock_t key_lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned key_bucket(uint32_t device, uint32_t index) { return (index ^ (device * 2654435761u)) & (KEY_BUCKETS - 1); }

static int key_lookup(uint32_t device, uint32_t index, uint8_t out[32]) {
  int found = 0;
  pthread_rwlock_rdlock(&key_lock);
  for (key_entry *entry = key_buckets[key_bucket(device, index)]; entry; entry = entry->next) {
    if (entry->device == device && entry->index == index) {
      memcpy(out, entry->key, 32);
      found = 1;
      break;
    }
  }
  pthread_rwlock_unlock(&key_lock);
  return found;
}

/* ---------------- endpoints: destination and sticky source, shared with the writer ---------------- */

typedef struct endpoint {
  atomic_int refs;
  pthread_mutex_t lock;
  int family; /* 0: none */
  struct sockaddr_in dst4;
  struct sockaddr_in6 dst6;
  int has_src;
  struct in_pktinfo src4;
  struct in6_pktinfo src6;
} endpoint;

static void endpoint_unref(endpoint *ep) {
  if (ep && atomic_fetch_sub(&ep->refs, 1) == 1) {
    pthread_mutex_destroy(&ep->lock);
    free(ep);
  }
}

typedef struct endpoint_snapshot {
  int family;
  struct sockaddr_in dst4;
  struct sockaddr_in6 dst6;
  int has_src;
  struct in_pktinfo src4;
  struct in6_pktinfo src6;
} endpoint_snapshot;

static void endpoint_read(endpoint *ep, endpoint_snapshot *out) {
  pthread_mutex_lock(&ep->lock);
  out->family = ep->family;
  out->dst4 = ep->dst4;
  out->dst6 = ep->dst6;
  out->has_src = ep->has_src;
  out->src4 = ep->src4;
  out->src6 = ep->src6;
  pthread_mutex_unlock(&ep->lock);
}

/* ---------------- the bind ---------------- */

typedef struct send_job {
  struct send_job *next;
  endpoint *ep;
  int seal;
  uint8_t key[32];
  uint32_t remote_index;
  uint64_t counter;
  uint32_t mtu;
  uint32_t count;
  uint32_t bytes;
  uint32_t *lengths;
  uint8_t *data;
} send_job;

typedef struct udp_bind {
  int fd4, fd6;
  uint16_t port;
  uint32_t device;
  atomic_bool stopping;
  int closed;
  int gro4, gro6;
  atomic_bool gso_off;

  /* Receiving runs on the JavaScript thread's own event loop (uv_poll): a datagram reaches
   * JavaScript after one wake-up, not two (a reader thread, then the loop). */
  napi_env env;
  napi_ref on_batch;
  napi_async_context async_context;
  uv_poll_t poll4, poll6;
  int polls_open;
  int finalized;
  struct rx_state *rx;
  napi_ref inbox_ref;
  uint8_t *inbox;

  int writer_started;
  int writer_busy; /* a job is being sent: an inline send would overtake it */
  pthread_t writer;
  pthread_mutex_t write_lock;
  pthread_cond_t write_ready;
  send_job *head, *tail;
  size_t queued_bytes;

  atomic_uint_fast64_t rx_datagrams, rx_segments, rx_batches, rx_bytes;
  atomic_uint_fast64_t tx_datagrams, tx_bytes, tx_syscalls, tx_errors, tx_dropped, src_cleared;
  atomic_int last_tx_errno;
} udp_bind;

static void set_buffer(int fd, int force, int plain) {
  int size = SOCKET_BUFFER_BYTES;
  if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) < 0) setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
}

static int apply_mark(int fd, uint32_t mark) {
  if (fd < 0) return 0;
  return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0 ? -errno : 0;
}

/* Returns fd or -errno. */
static int open_socket(int family, uint16_t port, uint32_t mark, int *gro) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  } else {
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  if (mark) {
    int err = apply_mark(fd, mark);
    if (err) { close(fd); return err; }
  }
  *gro = setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one) == 0;
  int rc;
  if (family == AF_INET6) {
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT };
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  }
  if (rc < 0) { int err = errno; close(fd); return -err; }
  return fd;
}

static uint16_t bound_port(int fd) {
  struct sockaddr_storage sa;
  socklen_t length = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &length) < 0) return 0;
  return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port : ((struct sockaddr_in *)&sa)->sin_port);
}

/* ---------------- reading ---------------- */

/*
 * Received batches reach JavaScript through the inbox, one ArrayBuffer made once per bind: the
 * records at its start, then room for the bytes of a batch of up to INBOX_DATA_BYTES. Making
 * two ArrayBuffers and their views per batch cost ~45 us a batch once the process had slept for
 * a few ms (every cache line cold again on these machines), on every hop of a first ping. A bigger batch (bulk, GRO) hands its own allocation over as an external ArrayBuffer,
 * which copies nothing. JavaScript reads a batch during the call only: what it keeps, it copies.
 */
#define INBOX_RECORDS_BYTES (RX_MAX_RECORDS * sizeof(record))
#define INBOX_DATA_BYTES (256 * 1024)

typedef struct rx_batch {
  uint32_t count;
  uint32_t data_bytes;
  record *records;
  uint8_t *data;
  int handed_over; /* data is its own allocation (too big for the inbox), given to JavaScript */
} rx_batch;

static void free_rx_data(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

/* Empty, pointing into the inbox, or into a fresh allocation for `bytes` that do not fit. */
static int start_rx_batch(udp_bind *bind, rx_batch *batch, size_t bytes) {
  batch->count = 0;
  batch->data_bytes = 0;
  batch->records = (record *)bind->inbox;
  batch->handed_over = bytes > INBOX_DATA_BYTES;
  batch->data = batch->handed_over ? malloc(bytes) : bind->inbox + INBOX_RECORDS_BYTES;
  return batch->data != NULL;
}

/* On the JavaScript thread: onBatch(count, data), data null when the bytes are in the inbox. */
static void deliver_rx(udp_bind *bind, rx_batch *batch) {
  napi_env env = bind->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    if (batch->handed_over) free(batch->data);
    return;
  }
  napi_value callback = NULL, argv[2];
  if (napi_get_reference_value(env, bind->on_batch, &callback) != napi_ok || callback == NULL) goto out;
  if (batch->handed_over) {
    if (napi_create_external_arraybuffer(env, batch->data, batch->data_bytes ? batch->data_bytes : 1, free_rx_data, NULL, &argv[1]) != napi_ok) goto out;
    batch->data = NULL;
  } else {
    napi_get_null(env, &argv[1]);
  }
  napi_create_uint32(env, batch->count, &argv[0]);
  call_from_loop(env, bind->async_context, callback, 2, argv);
out:
  napi_close_handle_scope(env, scope);
  if (batch->handed_over) free(batch->data);
}

static int open_transport(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t *msg, uint32_t length, uint8_t *out) {
  uint8_t nonce[12] = { 0 };
  memcpy(nonce + 4, msg + 8, 8);
  uint32_t body = length - TRANSPORT_HEADER - TAG_LEN;
  int n = 0, final = 0;
  if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(msg + length - TAG_LEN)) != 1) return 0;
  if (body > 0 && EVP_DecryptUpdate(ctx, out, &n, msg + TRANSPORT_HEADER, (int)body) != 1) return 0;
  return EVP_DecryptFinal_ex(ctx, out + n, &final) == 1;
}

static EVP_CIPHER_CTX *new_aead(int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return NULL;
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL) : EVP_DecryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL);
  if (ok != 1 || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1) { EVP_CIPHER_CTX_free(ctx); return NULL; }
  return ctx;
}

/* One datagram segment into the batch: decrypted in place of the copy, or copied raw. */
static void add_segment(udp_bind *bind, EVP_CIPHER_CTX *ctx, rx_batch *batch, const uint8_t *msg, uint32_t length, const record *meta) {
  record *r = &batch->records[batch->count++];
  *r = *meta;
  r->wire_length = length;
  r->offset = batch->data_bytes;
  r->length = 0;
  uint32_t type = length >= 4 ? (uint32_t)msg[0] | (uint32_t)msg[1] << 8 | (uint32_t)msg[2] << 16 | (uint32_t)msg[3] << 24 : 0;
  if (type == MESSAGE_TRANSPORT && length >= TRANSPORT_HEADER + TAG_LEN) {
    memcpy(&r->receiver_index, msg + 4, 4);
    memcpy(&r->counter_lo, msg + 8, 4);
    memcpy(&r->counter_hi, msg + 12, 4);
    uint8_t key[32];
    if (!key_lookup(bind->device, r->receiver_index, key)) { r->kind = RECORD_UNKNOWN_INDEX; return; }
    uint8_t *out = batch->data + batch->data_bytes;
    if (open_transport(ctx, key, msg, length, out)) {
      r->kind = RECORD_TRANSPORT_OK;
      r->length = length - TRANSPORT_HEADER - TAG_LEN;
      batch->data_bytes += r->length;
    } else {
      r->kind = RECORD_TRANSPORT_BAD;
    }
    OPENSSL_cleanse(key, sizeof key);
    return;
  }
  r->kind = RECORD_RAW;
  r->length = length;
  memcpy(batch->data + batch->data_bytes, msg, length);
  batch->data_bytes += length;
}

typedef struct rx_state {
  uint8_t *slots;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in6 *names;
  uint8_t (*controls)[128];
  int used; /* entries the last recvmmsg filled: only those need their lengths reset */
  EVP_CIPHER_CTX *ctx;
} rx_state;

/* One recvmmsg: returns the datagrams read (0 when none), -1 once the bind was closed meanwhile. */
static int drain_socket(udp_bind *bind, int fd, int family, rx_state *rx) {
  for (int i = 0; i < rx->used; i++) {
    rx->msgs[i].msg_hdr.msg_namelen = sizeof rx->names[i];
    rx->msgs[i].msg_hdr.msg_controllen = sizeof rx->controls[i];
    rx->msgs[i].msg_hdr.msg_flags = 0;
  }
  int n = recvmmsg(fd, rx->msgs, RX_SLOTS, MSG_DONTWAIT, NULL);
  rx->used = n > 0 ? n : 0;
  if (n <= 0) return 0;
  size_t total = 0;
  uint32_t segments = 0;
  for (int i = 0; i < n; i++) total += rx->msgs[i].msg_len;
  rx_batch batch;
  if (!start_rx_batch(bind, &batch, total)) return n;
  for (int i = 0; i < n; i++) {
    struct msghdr *header = &rx->msgs[i].msg_hdr;
    record meta;
    memset(&meta, 0, sizeof meta);
    meta.family = family == AF_INET6 ? 6 : 4;
    int gso_size = 0;
    if (family == AF_INET6) {
      memcpy(meta.address, &rx->names[i].sin6_addr, 16);
      meta.port = ntohs(rx->names[i].sin6_port);
    } else {
      struct sockaddr_in *sin = (struct sockaddr_in *)&rx->names[i];
      memcpy(meta.address, &sin->sin_addr, 4);
      meta.port = ntohs(sin->sin_port);
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c; c = CMSG_NXTHDR(header, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo info;
        memcpy(&info, CMSG_DATA(c), sizeof info);
        memcpy(meta.local_address, &info.ipi_spec_dst, 4);
        meta.ifindex = (uint32_t)info.ipi_ifindex;
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        struct in6_pktinfo info;
        memcpy(&info, CMSG_DATA(c), sizeof info);
        memcpy(meta.local_address, &info.ipi6_addr, 16);
        meta.ifindex = info.ipi6_ifindex;
      } else if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
      }
    }
    const uint8_t *data = rx->iovs[i].iov_base;
    uint32_t length = rx->msgs[i].msg_len;
    uint32_t step = gso_size > 0 ? (uint32_t)gso_size : length;
    if (step == 0) step = 1;
    for (uint32_t at = 0; at < length || (length == 0 && at == 0); at += step) {
      uint32_t piece = length - at < step ? length - at : step;
      if (batch.count == RX_MAX_RECORDS) {
        /* The records are full: JavaScript takes this batch, a fresh one the rest. */
        deliver_rx(bind, &batch);
        if (bind->closed) return -1;
        if (!start_rx_batch(bind, &batch, total)) return n;
      }
      add_segment(bind, rx->ctx, &batch, data + at, piece, &meta);
      segments++;
      if (length == 0) break;
    }
  }
  atomic_fetch_add(&bind->rx_datagrams, (uint64_t)n);
  atomic_fetch_add(&bind->rx_segments, segments);
  atomic_fetch_add(&bind->rx_bytes, total);
  atomic_fetch_add(&bind->rx_batches, 1);
  if (batch.count == 0) {
    if (batch.handed_over) free(batch.data);
    return n;
  }
  deliver_rx(bind, &batch);
  return bind->closed ? -1 : n;
}

static void free_rx_state(rx_state *rx) {
  if (!rx) return;
  if (rx->ctx) EVP_CIPHER_CTX_free(rx->ctx);
  free(rx->slots); free(rx->msgs); free(rx->iovs); free(rx->names); free(rx->controls);
  free(rx);
}

/* The recvmmsg vectors are wired once; each call resets only the lengths the last one changed. */
static rx_state *new_rx_state(void) {
  rx_state *rx = calloc(1, sizeof *rx);
  if (!rx) return NULL;
  rx->slots = malloc((size_t)RX_SLOTS * RX_SLOT_BYTES);
  rx->msgs = calloc(RX_SLOTS, sizeof *rx->msgs);
  rx->iovs = calloc(RX_SLOTS, sizeof *rx->iovs);
  rx->names = calloc(RX_SLOTS, sizeof *rx->names);
  rx->controls = calloc(RX_SLOTS, 128);
  rx->ctx = new_aead(0);
  if (!rx->slots || !rx->msgs || !rx->iovs || !rx->names || !rx->controls || !rx->ctx) { free_rx_state(rx); return NULL; }
  for (int i = 0; i < RX_SLOTS; i++) {
    rx->iovs[i].iov_base = rx->slots + (size_t)i * RX_SLOT_BYTES;
    rx->iovs[i].iov_len = RX_SLOT_BYTES;
    struct msghdr *header = &rx->msgs[i].msg_hdr;
    header->msg_iov = &rx->iovs[i];
    header->msg_iovlen = 1;
    header->msg_name = &rx->names[i];
    header->msg_namelen = sizeof rx->names[i];
    header->msg_control = rx->controls[i];
    header->msg_controllen = sizeof rx->controls[i];
  }
  return rx;
}

/* Readable: drain a bounded number of batches, so timers and the other socket get their turn. */
static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)status; (void)events;
  udp_bind *bind = handle->data;
  int v4 = handle == &bind->poll4;
  for (int round = 0; round < 8 && !bind->closed; round++) {
    int n = drain_socket(bind, v4 ? bind->fd4 : bind->fd6, v4 ? AF_INET : AF_INET6, bind->rx);
    if (n < RX_SLOTS) break;
  }
}

static void release_bind(udp_bind *bind) {
  pthread_mutex_destroy(&bind->write_lock);
  pthread_cond_destroy(&bind->write_ready);
  free_rx_state(bind->rx);
  free(bind);
}

static void poll_closed(uv_handle_t *handle) {
  udp_bind *bind = handle->data;
  if (--bind->polls_open == 0 && bind->finalized) release_bind(bind);
}

/* ---------------- writing ---------------- */

static uint32_t padded_length(uint32_t length, uint32_t mtu) {
  if (length == 0) return 0;
  if (mtu == 0) return (length + 15) & ~15u;
  uint32_t last = length > mtu ? length % mtu : length;
  uint32_t rounded = (last + 15) & ~15u;
  return length + (rounded < mtu ? rounded : mtu) - last;
}

static int seal_transport(EVP_CIPHER_CTX *ctx, const uint8_t key[32], uint32_t remote_index, uint64_t counter, const uint8_t *plain, uint32_t length, uint32_t padded, uint8_t *out) {
  out[0] = MESSAGE_TRANSPORT; out[1] = out[2] = out[3] = 0;
  memcpy(out + 4, &remote_index, 4);
  memcpy(out + 8, &counter, 8);
  uint8_t nonce[12] = { 0 };
  memcpy(nonce + 4, &counter, 8);
  uint8_t *body = out + TRANSPORT_HEADER;
  memcpy(body, plain, length);
  memset(body + length, 0, padded - length);
  int n = 0, final = 0;
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
  if (padded > 0 && EVP_EncryptUpdate(ctx, body, &n, body, (int)padded) != 1) return 0;
  if (EVP_EncryptFinal_ex(ctx, body + n, &final) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, body + padded) == 1;
}

typedef struct tx_state {
  uint8_t *wire;
  size_t wire_capacity;
  uint32_t *sizes;
  uint32_t size_capacity;
  struct mmsghdr msgs[TX_MAX_SEGMENTS * 2];
  struct iovec iovs[TX_MAX_SEGMENTS * 2];
  uint8_t controls[TX_MAX_SEGMENTS * 2][CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
} tx_state;

/* Fills msg's control: the sticky source (if any) and the GSO segment size (if > 0). */
static void set_control(struct msghdr *m, uint8_t *buffer, size_t capacity, const endpoint_snapshot *ep, uint16_t segment) {
  memset(buffer, 0, capacity);
  m->msg_control = buffer;
  m->msg_controllen = capacity;
  struct cmsghdr *c = CMSG_FIRSTHDR(m);
  size_t used = 0;
  if (ep->has_src) {
    if (ep->family == 4) {
      c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      memcpy(CMSG_DATA(c), &ep->src4, sizeof ep->src4);
      used += CMSG_SPACE(sizeof(struct in_pktinfo));
    } else {
      c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      memcpy(CMSG_DATA(c), &ep->src6, sizeof ep->src6);
      used += CMSG_SPACE(sizeof(struct in6_pktinfo));
    }
    c = CMSG_NXTHDR(m, c);
  }
  if (segment > 0 && c) {
    c->cmsg_level = IPPROTO_UDP; c->cmsg_type = UDP_SEGMENT; c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &segment, sizeof segment);
    used += CMSG_SPACE(sizeof(uint16_t));
  }
  m->msg_controllen = used;
  if (used == 0) m->msg_control = NULL;
}

static void clear_source(udp_bind *bind, endpoint *ep) {
  pthread_mutex_lock(&ep->lock);
  int had = ep->has_src;
  ep->has_src = 0;
  pthread_mutex_unlock(&ep->lock);
  if (had) atomic_fetch_add(&bind->src_cleared, 1);
}

/* Sends count wire messages (concatenated, sizes[]) to one endpoint, GSO-grouped when possible. */
static void send_wire(udp_bind *bind, tx_state *tx, endpoint *ep, const uint8_t *wire, const uint32_t *sizes, uint32_t count) {
  endpoint_snapshot snap;
  endpoint_read(ep, &snap);
  if (snap.family == 0) { atomic_fetch_add(&bind->tx_dropped, count); return; }
  int fd = snap.family == 4 ? bind->fd4 : bind->fd6;
  if (fd < 0) { atomic_fetch_add(&bind->tx_dropped, count); return; }
  uint32_t done = 0;
  const uint8_t *cursor = wire;
  int retried_without_source = 0;
  while (done < count) {
    int gso = !atomic_load(&bind->gso_off);
    /* Build up to TX_MAX_SEGMENTS*2 sendmmsg entries from messages done.. */
    int entries = 0;
    uint32_t covered = 0;
    const uint8_t *at = cursor;
    uint32_t covered_per_entry[TX_MAX_SEGMENTS * 2];
    while (done + covered < count && entries < TX_MAX_SEGMENTS * 2) {
      uint32_t first = sizes[done + covered];
      uint32_t group = 1, bytes = first;
      if (gso) {
        while (done + covered + group < count && group < TX_MAX_SEGMENTS) {
          uint32_t next = sizes[done + covered + group];
          if (next > first || bytes + next > TX_GSO_MAX_BYTES) break;
          group++;
          bytes += next;
          if (next < first) break; /* a shorter segment can only be the last */
        }
      }
      struct msghdr *m = &tx->msgs[entries].msg_hdr;
      memset(m, 0, sizeof *m);
      tx->iovs[entries].iov_base = (void *)at;
      tx->iovs[entries].iov_len = bytes;
      m->msg_iov = &tx->iovs[entries];
      m->msg_iovlen = 1;
      if (snap.family == 4) { m->msg_name = &snap.dst4; m->msg_namelen = sizeof snap.dst4; }
      else { m->msg_name = &snap.dst6; m->msg_namelen = sizeof snap.dst6; }
      set_control(m, tx->controls[entries], sizeof tx->controls[entries], &snap, group > 1 ? (uint16_t)first : 0);
      covered_per_entry[entries] = group;
      covered += group;
      at += bytes;
      entries++;
    }
    int sent = sendmmsg(fd, tx->msgs, (unsigned)entries, MSG_DONTWAIT);
    atomic_fetch_add(&bind->tx_syscalls, 1);
    int advance = sent > 0 ? sent : 0;
    for (int i = 0; i < advance; i++) {
      atomic_fetch_add(&bind->tx_datagrams, covered_per_entry[i]);
      atomic_fetch_add(&bind->tx_bytes, tx->iovs[i].iov_len);
      done += covered_per_entry[i];
      cursor += tx->iovs[i].iov_len;
    }
    if (sent == entries) continue;
    if (sent < 0 || sent < entries) {
      int err = sent < 0 ? errno : 0;
      if (sent >= 0) continue; /* partial: the next call reports the error of the first unsent entry */
      if (err == EINTR) continue;
      if (err == EAGAIN || err == ENOBUFS) {
        struct pollfd out = { .fd = fd, .events = POLLOUT };
        if (poll(&out, 1, 100) > 0) continue;
      } else if (err == EIO && gso && covered_per_entry[0] > 1) {
        atomic_store(&bind->gso_off, true);
        continue;
      } else if (snap.has_src && !retried_without_source) {
        /* The sticky source is gone (address removed, route changed): forget it, send again. */
        clear_source(bind, ep);
        snap.has_src = 0;
        retried_without_source = 1;
        continue;
      }
      atomic_store(&bind->last_tx_errno, err);
      atomic_fetch_add(&bind->tx_errors, covered_per_entry[0]);
      done += covered_per_entry[0];
      cursor += tx->iovs[0].iov_len;
    }
  }
}

static void run_job(udp_bind *bind, tx_state *tx, EVP_CIPHER_CTX *ctx, send_job *job) {
  if (!job->seal) {
    send_wire(bind, tx, job->ep, job->data, job->lengths, job->count);
    return;
  }
  size_t need = 0;
  for (uint32_t i = 0; i < job->count; i++) need += TRANSPORT_HEADER + padded_length(job->lengths[i], job->mtu) + TAG_LEN;
  if (need > tx->wire_capacity) {
    free(tx->wire);
    tx->wire = malloc(need);
    tx->wire_capacity = tx->wire ? need : 0;
  }
  if (job->count > tx->size_capacity) {
    free(tx->sizes);
    tx->sizes = malloc(job->count * sizeof(uint32_t));
    tx->size_capacity = tx->sizes ? job->count : 0;
  }
  if (!tx->wire || !tx->sizes) { atomic_fetch_add(&bind->tx_dropped, job->count); return; }
  uint8_t *out = tx->wire;
  const uint8_t *plain = job->data;
  for (uint32_t i = 0; i < job->count; i++) {
    uint32_t padded = padded_length(job->lengths[i], job->mtu);
    if (!seal_transport(ctx, job->key, job->remote_index, job->counter + i, plain, job->lengths[i], padded, out)) {
      atomic_fetch_add(&bind->tx_dropped, job->count);
      return;
    }
    tx->sizes[i] = TRANSPORT_HEADER + padded + TAG_LEN;
    out += tx->sizes[i];
    plain += job->lengths[i];
  }
  send_wire(bind, tx, job->ep, tx->wire, tx->sizes, job->count);
}

static void free_job(send_job *job) {
  OPENSSL_cleanse(job->key, sizeof job->key);
  endpoint_unref(job->ep);
  free(job);
}

static void *writer_main(void *arg) {
  udp_bind *bind = arg;
  tx_state *tx = calloc(1, sizeof *tx);
  EVP_CIPHER_CTX *ctx = new_aead(1);
  for (;;) {
    pthread_mutex_lock(&bind->write_lock);
    while (bind->head == NULL && !atomic_load(&bind->stopping)) pthread_cond_wait(&bind->write_ready, &bind->write_lock);
    send_job *job = bind->head;
    if (job == NULL) { pthread_mutex_unlock(&bind->write_lock); break; }
    bind->head = job->next;
    if (bind->head == NULL) bind->tail = NULL;
    bind->queued_bytes -= job->bytes;
    bind->writer_busy = 1;
    pthread_mutex_unlock(&bind->write_lock);
    if (tx && ctx) run_job(bind, tx, ctx, job);
    else atomic_fetch_add(&bind->tx_dropped, job->count);
    free_job(job);
    pthread_mutex_lock(&bind->write_lock);
    bind->writer_busy = 0;
    pthread_mutex_unlock(&bind->write_lock);
  }
  if (ctx) EVP_CIPHER_CTX_free(ctx);
  if (tx) { free(tx->wire); free(tx->sizes); free(tx); }
  return NULL;
}

/* ---------------- lifecycle ---------------- */

static void stop_bind(udp_bind *bind) {
  if (bind->closed) return;
  bind->closed = 1;
  atomic_store(&bind->stopping, true);
  if (bind->fd4 >= 0) { uv_poll_stop(&bind->poll4); uv_close((uv_handle_t *)&bind->poll4, poll_closed); }
  if (bind->fd6 >= 0) { uv_poll_stop(&bind->poll6); uv_close((uv_handle_t *)&bind->poll6, poll_closed); }
  if (bind->writer_started) {
    pthread_mutex_lock(&bind->write_lock);
    pthread_cond_broadcast(&bind->write_ready);
    pthread_mutex_unlock(&bind->write_lock);
    pthread_join(bind->writer, NULL);
    bind->writer_started = 0;
  }
  while (bind->head) {
    send_job *next = bind->head->next;
    free_job(bind->head);
    bind->head = next;
  }
  if (bind->fd4 >= 0) close(bind->fd4);
  if (bind->fd6 >= 0) close(bind->fd6);
}

static void finalize_bind(napi_env env, void *data, void *hint) {
  (void)hint;
  udp_bind *bind = data;
  stop_bind(bind);
  napi_delete_reference(env, bind->on_batch);
  napi_delete_reference(env, bind->inbox_ref);
  napi_async_destroy(env, bind->async_context);
  bind->finalized = 1;
  if (bind->polls_open == 0) release_bind(bind);
}

static udp_bind *bind_arg(napi_env env, napi_value value) {
  return external_arg(env, value, "a UDP bind handle");
}

static endpoint *endpoint_arg(napi_env env, napi_value value) {
  return external_arg(env, value, "an endpoint handle");
}

/* udpOpen(port, mark, device, onBatch(count, data | null)) -> [handle, port, inbox, recordsBytes]: the
 * records fill the inbox's first recordsBytes, an inbox batch's bytes follow; throws with errno */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t port = 0, mark = 0, device = 0;
  napi_valuetype type;
  if (argc < 4 || napi_get_value_uint32(env, argv[0], &port) != napi_ok || port > 65535 || napi_get_value_uint32(env, argv[1], &mark) != napi_ok
      || napi_get_value_uint32(env, argv[2], &device) != napi_ok || napi_typeof(env, argv[3], &type) != napi_ok || type != napi_function) {
    return throw_type(env, "udpOpen(port, mark, device, onBatch)");
  }
  int fd4 = -1, fd6 = -1, gro4 = 0, gro6 = 0;
  for (int attempt = 0; attempt < 100; attempt++) {
    fd4 = open_socket(AF_INET, (uint16_t)port, mark, &gro4);
    if (fd4 < 0) {
      if (fd4 == -EAFNOSUPPORT) { fd4 = -1; }
      else return throw_errno(env, "bind", -fd4, "udp4");
    }
    uint16_t actual = fd4 >= 0 ? bound_port(fd4) : (uint16_t)port;
    fd6 = open_socket(AF_INET6, actual, mark, &gro6);
    if (fd6 >= 0) { port = fd4 >= 0 ? actual : bound_port(fd6); break; }
    if (fd6 == -EADDRINUSE && port == 0 && fd4 >= 0) { close(fd4); fd4 = -1; continue; }
    if (fd6 == -EAFNOSUPPORT || fd6 == -EADDRNOTAVAIL) { fd6 = -1; port = actual; break; }
    int err = -fd6;
    if (fd4 >= 0) close(fd4);
    return throw_errno(env, "bind", err, "udp6");
  }
  if (fd4 < 0 && fd6 < 0) return throw_errno(env, "bind", EADDRINUSE, "udp");
  udp_bind *bind = calloc(1, sizeof *bind);
  if (!bind) {
    if (fd4 >= 0) close(fd4);
    if (fd6 >= 0) close(fd6);
    return throw_errno(env, "udpOpen", ENOMEM, NULL);
  }
  bind->fd4 = fd4;
  bind->fd6 = fd6;
  bind->gro4 = gro4;
  bind->gro6 = gro6;
  bind->port = (uint16_t)port;
  bind->device = device;
  pthread_mutex_init(&bind->write_lock, NULL);
  pthread_cond_init(&bind->write_ready, NULL);

  napi_value handle, resource, result, port_value, inbox, records_bytes;
  uv_loop_t *loop = NULL;
  bind->rx = new_rx_state();
  napi_create_string_utf8(env, "netmend:udp-read", NAPI_AUTO_LENGTH, &resource);
  if (!bind->rx || napi_get_uv_event_loop(env, &loop) != napi_ok
      || napi_create_arraybuffer(env, INBOX_RECORDS_BYTES + INBOX_DATA_BYTES, (void **)&bind->inbox, &inbox) != napi_ok
      || napi_create_reference(env, inbox, 1, &bind->inbox_ref) != napi_ok
      || napi_create_reference(env, argv[3], 1, &bind->on_batch) != napi_ok
      || napi_async_init(env, NULL, resource, &bind->async_context) != napi_ok) {
    if (fd4 >= 0) close(fd4);
    if (fd6 >= 0) close(fd6);
    if (bind->inbox_ref) napi_delete_reference(env, bind->inbox_ref);
    if (bind->on_batch) napi_delete_reference(env, bind->on_batch);
    free_rx_state(bind->rx);
    free(bind);
    return throw_errno(env, "udpOpen", ENOMEM, NULL);
  }
  bind->env = env;
  bind->fd4 = fd4;
  bind->fd6 = fd6;
  /* The sockets alone must not keep Node alive: the device decides when to stop. */
  if (fd4 >= 0) {
    uv_poll_init(loop, &bind->poll4, fd4);
    bind->poll4.data = bind;
    uv_poll_start(&bind->poll4, UV_READABLE, on_readable);
    uv_unref((uv_handle_t *)&bind->poll4);
    bind->polls_open++;
  }
  if (fd6 >= 0) {
    uv_poll_init(loop, &bind->poll6, fd6);
    bind->poll6.data = bind;
    uv_poll_start(&bind->poll6, UV_READABLE, on_readable);
    uv_unref((uv_handle_t *)&bind->poll6);
    bind->polls_open++;
  }
  napi_create_external(env, bind, finalize_bind, NULL, &handle);
  napi_create_array_with_length(env, 4, &result);
  napi_create_uint32(env, bind->port, &port_value);
  napi_create_uint32(env, (uint32_t)INBOX_RECORDS_BYTES, &records_bytes);
  napi_set_element(env, result, 0, handle);
  napi_set_element(env, result, 1, port_value);
  napi_set_element(env, result, 2, inbox);
  napi_set_element(env, result, 3, records_bytes);
  return result;
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  udp_bind *bind = argc >= 1 ? bind_arg(env, argv[0]) : NULL;
  if (bind) stop_bind(bind);
  return NULL;
}

static napi_value udp_set_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  udp_bind *bind = argc >= 2 ? bind_arg(env, argv[0]) : NULL;
  uint32_t mark = 0;
  if (!bind || napi_get_value_uint32(env, argv[1], &mark) != napi_ok) return throw_type(env, "udpSetMark(handle, mark)");
  if (bind->closed) return throw_errno(env, "setsockopt(SO_MARK)", EBADF, NULL);
  int e = apply_mark(bind->fd4, mark);
  if (!e) e = apply_mark(bind->fd6, mark);
  if (e) return throw_errno(env, "setsockopt(SO_MARK)", -e, NULL);
  return NULL;
}

static void finalize_endpoint(napi_env env, void *data, void *hint) { (void)env; (void)hint; endpoint_unref(data); }

static napi_value endpoint_create(napi_env env, napi_callback_info info) {
  (void)info;
  endpoint *ep = calloc(1, sizeof *ep);
  if (!ep) return throw_errno(env, "calloc", ENOMEM, NULL);
  atomic_init(&ep->refs, 1);
  pthread_mutex_init(&ep->lock, NULL);
  napi_value handle;
  napi_create_external(env, ep, finalize_endpoint, NULL, &handle);
  return handle;
}

/* endpointSet(ep, address: 4|16 bytes, port, source: 4|16 bytes | null, ifindex) */
static napi_value endpoint_set(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  endpoint *ep = argc >= 5 ? endpoint_arg(env, argv[0]) : NULL;
  if (!ep) return throw_type(env, "endpointSet(ep, address, port, source, ifindex)");
  uint8_t *address, *source = NULL;
  size_t address_length, source_length = 0;
  uint32_t port = 0, ifindex = 0;
  napi_valuetype source_type;
  napi_typeof(env, argv[3], &source_type);
  if (!uint8_array_arg(env, argv[1], &address, &address_length) || (address_length != 4 && address_length != 16)
      || napi_get_value_uint32(env, argv[2], &port) != napi_ok || port > 65535 || napi_get_value_uint32(env, argv[4], &ifindex) != napi_ok
      || (source_type != napi_null && source_type != napi_undefined && (!uint8_array_arg(env, argv[3], &source, &source_length) || source_length != address_length))) {
    return throw_type(env, "endpointSet(ep, address, port, source, ifindex): bad arguments");
  }
  pthread_mutex_lock(&ep->lock);
  if (address_length == 4) {
    ep->family = 4;
    memset(&ep->dst4, 0, sizeof ep->dst4);
    ep->dst4.sin_family = AF_INET;
    ep->dst4.sin_port = htons((uint16_t)port);
    memcpy(&ep->dst4.sin_addr, address, 4);
    memset(&ep->src4, 0, sizeof ep->src4);
    if (source) { memcpy(&ep->src4.ipi_spec_dst, source, 4); ep->src4.ipi_ifindex = (int)ifindex; }
  } else {
    ep->family = 6;
    memset(&ep->dst6, 0, sizeof ep->dst6);
    ep->dst6.sin6_family = AF_INET6;
    ep->dst6.sin6_port = htons((uint16_t)port);
    memcpy(&ep->dst6.sin6_addr, address, 16);
    memset(&ep->src6, 0, sizeof ep->src6);
    if (source) { memcpy(&ep->src6.ipi6_addr, source, 16); ep->src6.ipi6_ifindex = ifindex; }
  }
  ep->has_src = source != NULL;
  pthread_mutex_unlock(&ep->lock);
  return NULL;
}

static napi_value endpoint_clear_source(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  endpoint *ep = argc >= 1 ? endpoint_arg(env, argv[0]) : NULL;
  if (!ep) return NULL;
  pthread_mutex_lock(&ep->lock);
  ep->has_src = 0;
  pthread_mutex_unlock(&ep->lock);
  return NULL;
}

static napi_value endpoint_has_source(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  endpoint *ep = argc >= 1 ? endpoint_arg(env, argv[0]) : NULL;
  if (!ep) return NULL;
  pthread_mutex_lock(&ep->lock);
  bool has = ep->has_src != 0;
  pthread_mutex_unlock(&ep->lock);
  napi_get_boolean(env, has, &result);
  return result;
}

static void enqueue(udp_bind *bind, send_job *job) {
  pthread_mutex_lock(&bind->write_lock);
  if (bind->tail) bind->tail->next = job; else bind->head = job;
  bind->tail = job;
  bind->queued_bytes += job->bytes;
  pthread_cond_signal(&bind->write_ready);
  pthread_mutex_unlock(&bind->write_lock);
}

/*
 * udpSend(handle, ep, key: 32 bytes | null, remoteIndex, counterStart, mtu, packets: Uint8Array[]) -> queued count
 * With a key: each packet is a plaintext (empty = keepalive) sealed with counters counterStart...
 * Without: each packet is a finished datagram (handshake messages, cookie replies).
 */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) return throw_type(env, "udpSend(handle, ep, key, remoteIndex, counter, mtu, packets)");
  udp_bind *bind = bind_arg(env, argv[0]);
  if (!bind) return NULL;
  endpoint *ep = endpoint_arg(env, argv[1]);
  if (!ep) return NULL;
  uint8_t *key = NULL;
  size_t key_length = 0;
  napi_valuetype key_type;
  napi_typeof(env, argv[2], &key_type);
  if (key_type != napi_null && (!uint8_array_arg(env, argv[2], &key, &key_length) || key_length != 32)) return throw_type(env, "udpSend: key must be 32 bytes or null");
  uint32_t remote_index = 0, mtu = 0;
  double counter = 0;
  bool is_array = false;
  if (napi_get_value_uint32(env, argv[3], &remote_index) != napi_ok || napi_get_value_double(env, argv[4], &counter) != napi_ok
      || napi_get_value_uint32(env, argv[5], &mtu) != napi_ok || napi_is_array(env, argv[6], &is_array) != napi_ok || !is_array) {
    return throw_type(env, "udpSend: bad arguments");
  }
  if (bind->closed) { napi_create_uint32(env, 0, &result); return result; }
  uint32_t count = 0;
  napi_get_array_length(env, argv[6], &count);
  if (count == 0) { napi_create_uint32(env, 0, &result); return result; }
  uint8_t **pointers = malloc(count * sizeof *pointers);
  size_t *sizes = malloc(count * sizeof *sizes);
  if (!pointers || !sizes) { free(pointers); free(sizes); return throw_errno(env, "malloc", ENOMEM, NULL); }
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    napi_get_element(env, argv[6], i, &element);
    if (!uint8_array_arg(env, element, &pointers[i], &sizes[i])) { free(pointers); free(sizes); return throw_type(env, "udpSend: every packet must be a Uint8Array"); }
    total += sizes[i];
  }
  pthread_mutex_lock(&bind->write_lock);
  int full = bind->queued_bytes + total > TX_QUEUE_LIMIT_BYTES;
  pthread_mutex_unlock(&bind->write_lock);
  send_job *job = full ? NULL : malloc(sizeof *job + count * sizeof(uint32_t) + total);
  if (!job) {
    atomic_fetch_add(&bind->tx_dropped, count);
    free(pointers); free(sizes);
    napi_create_uint32(env, 0, &result);
    return result;
  }
  memset(job, 0, sizeof *job);
  job->seal = key != NULL;
  if (key) memcpy(job->key, key, 32);
  job->remote_index = remote_index;
  job->counter = (uint64_t)counter;
  job->mtu = mtu;
  job->count = count;
  job->bytes = (uint32_t)total;
  job->lengths = (uint32_t *)(job + 1);
  job->data = (uint8_t *)(job->lengths + count);
  uint8_t *cursor = job->data;
  for (uint32_t i = 0; i < count; i++) {
    job->lengths[i] = (uint32_t)sizes[i];
    memcpy(cursor, pointers[i], sizes[i]);
    cursor += sizes[i];
  }
  free(pointers); free(sizes);
  atomic_fetch_add(&ep->refs, 1);
  job->ep = ep;
  /* A few packets with nothing queued: seal and send right here. A thread hand-off costs more
   * latency than the work itself (pings, handshakes, interactive traffic); bulk goes to the writer. */
  pthread_mutex_lock(&bind->write_lock);
  int send_inline = bind->head == NULL && !bind->writer_busy && count <= INLINE_MAX_PACKETS;
  pthread_mutex_unlock(&bind->write_lock);
  static __thread tx_state *inline_tx;
  static __thread EVP_CIPHER_CTX *inline_ctx;
  if (send_inline && !inline_tx) inline_tx = calloc(1, sizeof *inline_tx);
  if (send_inline && !inline_ctx) inline_ctx = new_aead(1);
  if (send_inline && inline_tx && inline_ctx) {
    run_job(bind, inline_tx, inline_ctx, job);
    free_job(job);
    napi_create_uint32(env, count, &result);
    return result;
  }
  if (!bind->writer_started) {
    int err = pthread_create(&bind->writer, NULL, writer_main, bind);
    if (err != 0) { free_job(job); return throw_errno(env, "pthread_create", err, "udp writer"); }
    bind->writer_started = 1;
  }
  enqueue(bind, job);
  napi_create_uint32(env, count, &result);
  return result;
}

/* keyAdd(device, index, key32) / keyRemove(device, index): receive keys the reader decrypts with. */
static napi_value key_add(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t device = 0, index = 0;
  uint8_t *key;
  size_t key_length;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &device) != napi_ok || napi_get_value_uint32(env, argv[1], &index) != napi_ok
      || !uint8_array_arg(env, argv[2], &key, &key_length) || key_length != 32) return throw_type(env, "keyAdd(device, index, key)");
  key_entry *entry = calloc(1, sizeof *entry);
  if (!entry) return throw_errno(env, "calloc", ENOMEM, NULL);
  entry->device = device;
  entry->index = index;
  memcpy(entry->key, key, 32);
  unsigned bucket = key_bucket(device, index);
  pthread_rwlock_wrlock(&key_lock);
  entry->next = key_buckets[bucket];
  key_buckets[bucket] = entry;
  pthread_rwlock_unlock(&key_lock);
  return NULL;
}

static napi_value key_remove(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t device = 0, index = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &device) != napi_ok || napi_get_value_uint32(env, argv[1], &index) != napi_ok) return throw_type(env, "keyRemove(device, index)");
  unsigned bucket = key_bucket(device, index);
  pthread_rwlock_wrlock(&key_lock);
  for (key_entry **link = &key_buckets[bucket]; *link; link = &(*link)->next) {
    key_entry *entry = *link;
    if (entry->device == device && entry->index == index) {
      *link = entry->next;
      OPENSSL_cleanse(entry->key, sizeof entry->key);
      free(entry);
      break;
    }
  }
  pthread_rwlock_unlock(&key_lock);
  return NULL;
}

/* transportOpen(key32, message) -> plaintext Buffer | null: the same AEAD as the reader, for single datagrams. */
static napi_value transport_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key, *msg;
  size_t key_length, length;
  if (argc < 2 || !uint8_array_arg(env, argv[0], &key, &key_length) || key_length != 32 || !uint8_array_arg(env, argv[1], &msg, &length)) return throw_type(env, "transportOpen(key, message)");
  if (length < TRANSPORT_HEADER + TAG_LEN) { napi_get_null(env, &result); return result; }
  static __thread EVP_CIPHER_CTX *ctx;
  if (!ctx) ctx = new_aead(0);
  void *out;
  napi_value buffer;
  if (napi_create_buffer(env, length - TRANSPORT_HEADER - TAG_LEN, &out, &buffer) != napi_ok) return NULL;
  if (!ctx || !open_transport(ctx, key, msg, (uint32_t)length, out)) { napi_get_null(env, &result); return result; }
  return buffer;
}

/* transportSeal(key32, remoteIndex, counter, mtu, plaintext) -> message Buffer: the writer's AEAD, for tests. */
static napi_value transport_seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], buffer;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key, *plain;
  size_t key_length, length;
  uint32_t remote_index = 0, mtu = 0;
  double counter = 0;
  if (argc < 5 || !uint8_array_arg(env, argv[0], &key, &key_length) || key_length != 32 || napi_get_value_uint32(env, argv[1], &remote_index) != napi_ok
      || napi_get_value_double(env, argv[2], &counter) != napi_ok || napi_get_value_uint32(env, argv[3], &mtu) != napi_ok || !uint8_array_arg(env, argv[4], &plain, &length)) {
    return throw_type(env, "transportSeal(key, remoteIndex, counter, mtu, plaintext)");
  }
  static __thread EVP_CIPHER_CTX *ctx;
  if (!ctx) ctx = new_aead(1);
  uint32_t padded = padded_length((uint32_t)length, mtu);
  void *out;
  if (napi_create_buffer(env, TRANSPORT_HEADER + padded + TAG_LEN, &out, &buffer) != napi_ok) return NULL;
  if (!ctx || !seal_transport(ctx, key, remote_index, (uint64_t)counter, plain, (uint32_t)length, padded, out)) return throw_type(env, "transportSeal failed");
  return buffer;
}

static napi_value udp_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], stats;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  udp_bind *bind = argc >= 1 ? bind_arg(env, argv[0]) : NULL;
  if (!bind) return NULL;
  napi_create_object(env, &stats);
  set_count(env, stats, "rxDatagrams", atomic_load(&bind->rx_datagrams));
  set_count(env, stats, "rxSegments", atomic_load(&bind->rx_segments));
  set_count(env, stats, "rxBatches", atomic_load(&bind->rx_batches));
  set_count(env, stats, "rxBytes", atomic_load(&bind->rx_bytes));
  set_count(env, stats, "txDatagrams", atomic_load(&bind->tx_datagrams));
  set_count(env, stats, "txBytes", atomic_load(&bind->tx_bytes));
  set_count(env, stats, "txSyscalls", atomic_load(&bind->tx_syscalls));
  set_count(env, stats, "txErrors", atomic_load(&bind->tx_errors));
  set_count(env, stats, "txDropped", atomic_load(&bind->tx_dropped));
  set_count(env, stats, "sourceCleared", atomic_load(&bind->src_cleared));
  set_count(env, stats, "lastTxErrno", (uint64_t)atomic_load(&bind->last_tx_errno));
  set_count(env, stats, "gro", (uint64_t)(bind->gro4 || bind->gro6));
  set_count(env, stats, "gso", (uint64_t)!atomic_load(&bind->gso_off));
  return stats;
}

void udp_init_exports(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL },
    { "udpClose", NULL, udp_close, NULL, NULL, NULL, napi_default, NULL },
    { "udpSetMark", NULL, udp_set_mark, NULL, NULL, NULL, napi_default, NULL },
    { "udpSend", NULL, udp_send, NULL, NULL, NULL, napi_default, NULL },
    { "udpStats", NULL, udp_stats, NULL, NULL, NULL, napi_default, NULL },
    { "endpointCreate", NULL, endpoint_create, NULL, NULL, NULL, napi_default, NULL },
    { "endpointSet", NULL, endpoint_set, NULL, NULL, NULL, napi_default, NULL },
    { "endpointClearSource", NULL, endpoint_clear_source, NULL, NULL, NULL, napi_default, NULL },
    { "endpointHasSource", NULL, endpoint_has_source, NULL, NULL, NULL, napi_default, NULL },
    { "keyAdd", NULL, key_add, NULL, NULL, NULL, napi_default, NULL },
    { "keyRemove", NULL, key_remove, NULL, NULL, NULL, napi_default, NULL },
    { "transportOpen", NULL, transport_open, NULL, NULL, NULL, napi_default, NULL },
    { "transportSeal", NULL, transport_seal, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
