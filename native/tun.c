/*
 * netmend's TUN addon: what Node cannot do by itself. It opens a TUN device (TUNSETIFF,
 * IFF_TUN | IFF_NO_PI) and moves packets without blocking the event loop:
 *  - reading runs on the JavaScript thread's event loop (uv_poll): when the fd is readable it is
 *    drained into one contiguous batch (up to READ_BATCH_PACKETS) handed to JavaScript in one
 *    call, one wake-up per batch (a reader thread would add a second one, and latency);
 *  - write() copies a whole array of packets into one native batch in a single JS->native
 *    crossing and a writer thread performs the write(2) calls, so the syscalls overlap with
 *    whatever the JavaScript thread does next (crypto, on a 2-core router).
 * Plain node_api.h, no C++ wrapper library.
 */
#define _GNU_SOURCE
#include "addon.h"
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <uv.h>

#define READ_BATCH_PACKETS 128
/* Large enough for a full batch of 1500-byte packets plus one maximal packet. */
#define READ_BATCH_BYTES (256 * 1024)
#define MAX_PACKET 65536
/* Batches queued towards JavaScript before the reader pauses (the kernel queue then absorbs or drops). */
/* Bytes queued towards the device before write() starts dropping, like a full txqueue. */
#define WRITE_QUEUE_LIMIT_BYTES (8 * 1024 * 1024)
#define INLINE_WRITE_PACKETS 16

/* A batch is read straight into the inbox, an ArrayBuffer made once per device (packets, then
 * their lengths as uint32), so a delivery creates no JavaScript object: after idle, making them
 * per batch cost more than the read. JavaScript uses the packets during the call only. */
#define INBOX_LENGTHS_OFFSET READ_BATCH_BYTES
#define INBOX_BYTES (READ_BATCH_BYTES + READ_BATCH_PACKETS * sizeof(uint32_t))
typedef struct read_batch {
  uint32_t count;
  uint32_t bytes;
  uint32_t *lengths;
  uint8_t *data;
} read_batch;

typedef struct write_batch {
  struct write_batch *next;
  uint32_t count;
  uint32_t bytes;
  uint32_t *lengths;
  uint8_t *data;
} write_batch;

typedef struct tun_device {
  int fd;
  char name[IFNAMSIZ];
  atomic_bool stopping;
  int closed;

  int reading;
  napi_env env;
  napi_ref on_batch;
  napi_async_context async_context;
  uv_poll_t poll;
  int poll_open;  /* the poll handle is not closed yet */
  int finalized;  /* the JS handle is gone: free once the poll handle is closed */
  read_batch batch;
  napi_ref inbox_ref;

  int writer_started;
  int writer_busy; /* a batch is being written: an inline write would overtake it */
  pthread_t writer;
  pthread_mutex_t write_lock;
  pthread_cond_t write_ready;
  write_batch *write_head, *write_tail;
  size_t write_queued_bytes;

  atomic_uint_fast64_t rx_packets, rx_batches, rx_bytes, rx_errors;
  atomic_uint_fast64_t tx_packets, tx_bytes, tx_errors, tx_dropped, tx_batches;
  int last_tx_errno;
} tun_device;

/* ---------- reading ---------- */

/* On the JavaScript thread: callback(count) for a batch in the inbox, or callback(-1) once the device is gone. */
static void deliver(tun_device *dev, read_batch *batch) {
  napi_env env = dev->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback = NULL, count;
  if (napi_get_reference_value(env, dev->on_batch, &callback) == napi_ok && callback != NULL) {
    napi_create_int32(env, batch ? (int32_t)batch->count : -1, &count);
    call_from_loop(env, dev->async_context, callback, 1, &count);
  }
  napi_close_handle_scope(env, scope);
}

static void stop_polling(tun_device *dev);

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  tun_device *dev = handle->data;
  if (dev->closed || !dev->reading) return;
  if (status < 0) {
    /* EPOLLERR: the kernel deleted the interface (`ip link del`): tell JavaScript once. */
    stop_polling(dev);
    deliver(dev, NULL);
    return;
  }
  read_batch *batch = &dev->batch;
  for (int round = 0; round < 4 && !dev->closed && dev->reading; round++) {
    batch->count = 0;
    batch->bytes = 0;
    int gone = 0;
    while (batch->count < READ_BATCH_PACKETS && READ_BATCH_BYTES - batch->bytes >= MAX_PACKET) {
      ssize_t n = read(dev->fd, batch->data + batch->bytes, MAX_PACKET);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EBADFD || errno == EBADF || errno == ENODEV) gone = 1;
        else if (errno != EAGAIN) atomic_fetch_add(&dev->rx_errors, 1);
        break;
      }
      if (n == 0) break;
      batch->lengths[batch->count++] = (uint32_t)n;
      batch->bytes += (uint32_t)n;
    }
    if (batch->count > 0) {
      atomic_fetch_add(&dev->rx_packets, batch->count);
      atomic_fetch_add(&dev->rx_bytes, batch->bytes);
      atomic_fetch_add(&dev->rx_batches, 1);
      deliver(dev, batch);
    }
    if (gone) {
      stop_polling(dev);
      if (!dev->closed) deliver(dev, NULL);
      return;
    }
    if (batch->count < READ_BATCH_PACKETS) break;
  }
}

static void free_device(tun_device *dev) {
  pthread_mutex_destroy(&dev->write_lock);
  pthread_cond_destroy(&dev->write_ready);
  free(dev);
}

static void poll_closed(uv_handle_t *handle) {
  tun_device *dev = handle->data;
  dev->poll_open = 0;
  if (dev->finalized) free_device(dev);
}

static void stop_polling(tun_device *dev) {
  if (!dev->reading) return;
  dev->reading = 0;
  uv_poll_stop(&dev->poll);
  uv_close((uv_handle_t *)&dev->poll, poll_closed);
}

/* ---------- writing ---------- */

static void *writer_main(void *arg) {
  tun_device *dev = arg;
  for (;;) {
    pthread_mutex_lock(&dev->write_lock);
    while (dev->write_head == NULL && !atomic_load(&dev->stopping)) pthread_cond_wait(&dev->write_ready, &dev->write_lock);
    write_batch *batch = dev->write_head;
    if (batch == NULL) { pthread_mutex_unlock(&dev->write_lock); return NULL; }
    dev->write_head = batch->next;
    if (dev->write_head == NULL) dev->write_tail = NULL;
    dev->write_queued_bytes -= batch->bytes;
    dev->writer_busy = 1;
    pthread_mutex_unlock(&dev->write_lock);

    uint8_t *cursor = batch->data;
    for (uint32_t i = 0; i < batch->count; i++) {
      ssize_t n;
      do n = write(dev->fd, cursor, batch->lengths[i]); while (n < 0 && errno == EINTR);
      if (n < 0) {
        if (errno == EAGAIN) {
          /* The fd is non-blocking for the reader; wait for room rather than dropping. */
          struct pollfd out = { .fd = dev->fd, .events = POLLOUT };
          if (poll(&out, 1, 100) > 0) { i--; continue; }
          atomic_fetch_add(&dev->tx_dropped, 1);
        } else {
          dev->last_tx_errno = errno;
          atomic_fetch_add(&dev->tx_errors, 1);
        }
      } else {
        atomic_fetch_add(&dev->tx_packets, 1);
        atomic_fetch_add(&dev->tx_bytes, (uint64_t)n);
      }
      cursor += batch->lengths[i];
    }
    free(batch);
    pthread_mutex_lock(&dev->write_lock);
    dev->writer_busy = 0;
    pthread_mutex_unlock(&dev->write_lock);
  }
}

/* ---------- lifecycle ---------- */

static void stop_device(tun_device *dev) {
  if (dev->closed) return;
  dev->closed = 1;
  atomic_store(&dev->stopping, true);
  stop_polling(dev);
  if (dev->writer_started) {
    pthread_mutex_lock(&dev->write_lock);
    pthread_cond_broadcast(&dev->write_ready);
    pthread_mutex_unlock(&dev->write_lock);
    pthread_join(dev->writer, NULL);
    dev->writer_started = 0;
  }
  while (dev->write_head) {
    write_batch *next = dev->write_head->next;
    free(dev->write_head);
    dev->write_head = next;
  }
  close(dev->fd);
}

static void finalize_device(napi_env env, void *data, void *hint) {
  (void)hint;
  tun_device *dev = data;
  stop_device(dev);
  if (dev->on_batch) napi_delete_reference(env, dev->on_batch);
  if (dev->inbox_ref) napi_delete_reference(env, dev->inbox_ref);
  if (dev->async_context) napi_async_destroy(env, dev->async_context);
  dev->finalized = 1;
  if (!dev->poll_open) free_device(dev);
}

static tun_device *device_arg(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_get_cb_info(env, info, argc, argv, NULL, NULL);
  if (*argc < 1) { throw_type(env, "expected a TUN handle"); return NULL; }
  return external_arg(env, argv[0], "a TUN handle");
}

/* open(name, mtu?) -> [handle, actualName]. The MTU is set by name right away, while the link is
 * surely still in this namespace (it may be moved to another one as soon as open returns). */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  size_t name_length = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_length) != napi_ok) return throw_type(env, "open(name): name must be a string");
  if (name_length >= IFNAMSIZ) return throw_type(env, "open(name): interface names are at most 15 bytes");

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, name_length);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETIFF)", err, name);
  }
  uint32_t mtu = 0;
  if (argc >= 2) napi_get_value_uint32(env, argv[1], &mtu);
  if (mtu > 0) {
    int control = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq mtu_request;
    memset(&mtu_request, 0, sizeof mtu_request);
    memcpy(mtu_request.ifr_name, ifr.ifr_name, IFNAMSIZ);
    mtu_request.ifr_mtu = (int)mtu;
    if (control < 0 || ioctl(control, SIOCSIFMTU, &mtu_request) < 0) {
      int err = errno;
      if (control >= 0) close(control);
      close(fd);
      return throw_errno(env, "ioctl(SIOCSIFMTU)", err, name);
    }
    close(control);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "fcntl(O_NONBLOCK)", err, name);
  }
  tun_device *dev = calloc(1, sizeof *dev);
  if (dev == NULL) { close(fd); return throw_errno(env, "calloc", ENOMEM, NULL); }
  dev->fd = fd;
  memcpy(dev->name, ifr.ifr_name, IFNAMSIZ);
  dev->name[IFNAMSIZ - 1] = 0;
  pthread_mutex_init(&dev->write_lock, NULL);
  pthread_cond_init(&dev->write_ready, NULL);

  napi_value handle, actual_name, result;
  napi_create_external(env, dev, finalize_device, NULL, &handle);
  napi_create_string_utf8(env, dev->name, NAPI_AUTO_LENGTH, &actual_name);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, handle);
  napi_set_element(env, result, 1, actual_name);
  return result;
}

/* startReading(handle, callback(count)) -> [inbox, lengthsOffset]: each batch's packets from offset
 * 0, their lengths (uint32) from lengthsOffset to the end; callback(-1) once if the device is deleted. */
static napi_value tun_start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tun_device *dev = device_arg(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  if (dev->closed) return throw_errno(env, "startReading", EBADF, dev->name);
  if (dev->reading || dev->on_batch) return throw_type(env, "startReading: already reading");
  napi_valuetype type;
  if (argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return throw_type(env, "startReading: callback must be a function");
  napi_value resource_name;
  uv_loop_t *loop = NULL;
  napi_value inbox;
  uint8_t *inbox_bytes = NULL;
  napi_create_string_utf8(env, "netmend:tun-read", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_arraybuffer(env, INBOX_BYTES, (void **)&inbox_bytes, &inbox) != napi_ok
      || napi_create_reference(env, inbox, 1, &dev->inbox_ref) != napi_ok || napi_create_reference(env, argv[1], 1, &dev->on_batch) != napi_ok
      || napi_async_init(env, NULL, resource_name, &dev->async_context) != napi_ok) {
    return throw_errno(env, "startReading", ENOMEM, dev->name);
  }
  dev->batch.data = inbox_bytes;
  dev->batch.lengths = (uint32_t *)(inbox_bytes + INBOX_LENGTHS_OFFSET);
  dev->env = env;
  uv_poll_init(loop, &dev->poll, dev->fd);
  dev->poll.data = dev;
  dev->poll_open = 1;
  dev->reading = 1;
  uv_poll_start(&dev->poll, UV_READABLE, on_readable);
  napi_value result, lengths_offset;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, INBOX_LENGTHS_OFFSET, &lengths_offset);
  napi_set_element(env, result, 0, inbox);
  napi_set_element(env, result, 1, lengths_offset);
  return result;
}

/* write(handle, packets: Array<Uint8Array>) -> number queued */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tun_device *dev = device_arg(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  if (dev->closed) return throw_errno(env, "write", EBADF, dev->name);
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) return throw_type(env, "write: packets must be an array of buffers");
  uint32_t count = 0;
  napi_get_array_length(env, argv[1], &count);
  napi_value result;
  if (count == 0) { napi_create_uint32(env, 0, &result); return result; }

  /* Two passes: sizes first so the batch is one allocation, then the copy. */
  uint8_t *pointers[READ_BATCH_PACKETS];
  size_t sizes[READ_BATCH_PACKETS];
  uint32_t queued = 0;
  for (uint32_t start = 0; start < count; start += READ_BATCH_PACKETS) {
    uint32_t n = count - start < READ_BATCH_PACKETS ? count - start : READ_BATCH_PACKETS;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
      napi_value element;
      bool is_typed = false;
      napi_get_element(env, argv[1], start + i, &element);
      if (napi_is_typedarray(env, element, &is_typed) != napi_ok || !is_typed) return throw_type(env, "write: every packet must be a Buffer or Uint8Array");
      napi_typedarray_type kind;
      size_t length;
      void *data;
      napi_get_typedarray_info(env, element, &kind, &length, &data, NULL, NULL);
      if (kind != napi_uint8_array) return throw_type(env, "write: every packet must be a Buffer or Uint8Array");
      pointers[i] = data;
      sizes[i] = length;
      total += length;
    }
    pthread_mutex_lock(&dev->write_lock);
    int full = dev->write_queued_bytes + total > WRITE_QUEUE_LIMIT_BYTES;
    int idle = dev->write_head == NULL && !dev->writer_busy;
    pthread_mutex_unlock(&dev->write_lock);
    /* A few packets and an idle writer: write them here, sparing a thread hand-off (latency);
     * whatever the kernel does not take at once goes to the writer as usual. */
    uint32_t direct = 0;
    if (idle && n <= INLINE_WRITE_PACKETS) {
      for (; direct < n; direct++) {
        ssize_t written;
        do written = write(dev->fd, pointers[direct], sizes[direct]); while (written < 0 && errno == EINTR);
        if (written < 0) {
          if (errno == EAGAIN) break;
          dev->last_tx_errno = errno;
          atomic_fetch_add(&dev->tx_errors, 1);
          continue;
        }
        atomic_fetch_add(&dev->tx_packets, 1);
        atomic_fetch_add(&dev->tx_bytes, (uint64_t)written);
      }
      queued += direct;
      if (direct == n) continue;
    }
    if (direct > 0) {
      memmove(pointers, pointers + direct, (n - direct) * sizeof pointers[0]);
      memmove(sizes, sizes + direct, (n - direct) * sizeof sizes[0]);
      n -= direct;
      total = 0;
      for (uint32_t i = 0; i < n; i++) total += sizes[i];
    }
    if (full) { atomic_fetch_add(&dev->tx_dropped, n); continue; }
    write_batch *batch = malloc(sizeof *batch + n * sizeof(uint32_t) + total);
    if (batch == NULL) { atomic_fetch_add(&dev->tx_dropped, n); continue; }
    batch->next = NULL;
    batch->count = n;
    batch->bytes = (uint32_t)total;
    batch->lengths = (uint32_t *)(batch + 1);
    batch->data = (uint8_t *)(batch->lengths + n);
    uint8_t *cursor = batch->data;
    for (uint32_t i = 0; i < n; i++) {
      batch->lengths[i] = (uint32_t)sizes[i];
      memcpy(cursor, pointers[i], sizes[i]);
      cursor += sizes[i];
    }
    if (!dev->writer_started) {
      int err = pthread_create(&dev->writer, NULL, writer_main, dev);
      if (err != 0) { free(batch); return throw_errno(env, "pthread_create", err, "writer"); }
      dev->writer_started = 1;
    }
    pthread_mutex_lock(&dev->write_lock);
    if (dev->write_tail) dev->write_tail->next = batch; else dev->write_head = batch;
    dev->write_tail = batch;
    dev->write_queued_bytes += total;
    atomic_fetch_add(&dev->tx_batches, 1);
    pthread_cond_signal(&dev->write_ready);
    pthread_mutex_unlock(&dev->write_lock);
    queued += n;
  }
  napi_create_uint32(env, queued, &result);
  return result;
}

static napi_value tun_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_device *dev = device_arg(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  napi_value stats;
  napi_create_object(env, &stats);
  set_count(env, stats, "rxPackets", atomic_load(&dev->rx_packets));
  set_count(env, stats, "rxBytes", atomic_load(&dev->rx_bytes));
  set_count(env, stats, "rxBatches", atomic_load(&dev->rx_batches));
  set_count(env, stats, "rxErrors", atomic_load(&dev->rx_errors));
  set_count(env, stats, "txPackets", atomic_load(&dev->tx_packets));
  set_count(env, stats, "txBytes", atomic_load(&dev->tx_bytes));
  set_count(env, stats, "txBatches", atomic_load(&dev->tx_batches));
  set_count(env, stats, "txErrors", atomic_load(&dev->tx_errors));
  set_count(env, stats, "txDropped", atomic_load(&dev->tx_dropped));
  pthread_mutex_lock(&dev->write_lock);
  set_count(env, stats, "txQueuedBytes", dev->write_queued_bytes);
  pthread_mutex_unlock(&dev->write_lock);
  set_count(env, stats, "lastTxErrno", (uint64_t)dev->last_tx_errno);
  return stats;
}

/* Waits (blocking the caller) until queued writes have reached the kernel; for tests and shutdown. */
static napi_value tun_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tun_device *dev = device_arg(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  uint32_t timeout_ms = 1000;
  if (argc >= 2) napi_get_value_uint32(env, argv[1], &timeout_ms);
  bool drained = false;
  for (uint32_t waited = 0; ; waited++) {
    pthread_mutex_lock(&dev->write_lock);
    drained = dev->write_head == NULL;
    pthread_mutex_unlock(&dev->write_lock);
    /* A popped batch may still be mid-write; a short extra pause covers it. */
    if (drained || waited >= timeout_ms) break;
    usleep(1000);
  }
  if (drained) usleep(200);
  napi_value result;
  napi_get_boolean(env, drained, &result);
  return result;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_device *dev = device_arg(env, info, &argc, argv);
  if (dev == NULL) return NULL;
  stop_device(dev);
  return NULL;
}

void tun_init_exports(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL },
    { "startReading", NULL, tun_start_reading, NULL, NULL, NULL, napi_default, NULL },
    { "write", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, tun_stats, NULL, NULL, NULL, napi_default, NULL },
    { "flush", NULL, tun_flush, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
