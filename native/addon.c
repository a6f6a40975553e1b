/*
 * netmend's native addon: the TUN device (tun.c), the UDP data path (udp.c), the
 * handshake's primitives (handshake.c) and the control socket (control.c), one module so there is
 * one thing to build and load (src/mesh/addon.ts). Plain node_api.h, no C++ wrapper.
 */
#define _GNU_SOURCE
#include "addon.h"

static const char *errno_code(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOMEM: return "ENOMEM";
    default: return "ERRNO";
  }
}

napi_value throw_errno(napi_env env, const char *syscall, int err, const char *detail) {
  char message[256];
  snprintf(message, sizeof message, "%s %s: %s", syscall, detail ? detail : "", strerror(err));
  napi_value msg, code_value, error, errno_value, syscall_value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code_value);
  napi_create_error(env, code_value, msg, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return NULL;
}

napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

void set_count(napi_env env, napi_value object, const char *key, uint64_t value) {
  napi_value number;
  napi_create_double(env, (double)value, &number);
  napi_set_named_property(env, object, key, number);
}

int uint8_array_arg(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type kind;
  if (napi_get_typedarray_info(env, value, &kind, length, (void **)data, NULL, NULL) != napi_ok) return 0;
  return kind == napi_uint8_array;
}

void *external_arg(napi_env env, napi_value value, const char *what) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    char message[96];
    snprintf(message, sizeof message, "expected %s", what);
    throw_type(env, message);
    return NULL;
  }
  return data;
}

void call_from_loop(napi_env env, napi_async_context context, napi_value callback, size_t argc, const napi_value *argv) {
  napi_value global, result;
  napi_get_global(env, &global);
  if (napi_make_callback(env, context, global, callback, argc, argv, &result) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
}

static napi_value init(napi_env env, napi_value exports) {
  tun_init_exports(env, exports);
  udp_init_exports(env, exports);
  handshake_init_exports(env, exports);
  control_init_exports(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
