/* Shared by the addon's parts (tun.c, udp.c, handshake.c, control.c): includes and the error helpers. */
#ifndef NETMEND_ADDON_H
#define NETMEND_ADDON_H
#include <errno.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Throws an Error with code (ENOENT, EADDRINUSE, ...), errno and syscall, as Node's own errors. */
napi_value throw_errno(napi_env env, const char *syscall, int err, const char *detail);
napi_value throw_type(napi_env env, const char *message);
/* A Uint8Array (or Buffer) argument's bytes; 0 for anything else. */
int uint8_array_arg(napi_env env, napi_value value, uint8_t **data, size_t *length);
/* The pointer behind a handle made with napi_create_external; throws "expected <what>" and returns NULL for anything else. */
void *external_arg(napi_env env, napi_value value, const char *what);
void set_count(napi_env env, napi_value object, const char *key, uint64_t value);
/* Calls a JavaScript callback from a libuv callback (uv_poll): microtasks run after it, and an
 * exception it throws is reported as uncaught, as for any Node event. */
void call_from_loop(napi_env env, napi_async_context context, napi_value callback, size_t argc, const napi_value *argv);

void tun_init_exports(napi_env env, napi_value exports);
void udp_init_exports(napi_env env, napi_value exports);
void handshake_init_exports(napi_env env, napi_value exports);
void control_init_exports(napi_env env, napi_value exports);
#endif
