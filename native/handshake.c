/*
 * The handshake's primitives in one native call each (reference §2): BLAKE2s (HASH, and MAC as
 * keyed BLAKE2s), the HMAC-BLAKE2s key derivation chain, ChaCha20-Poly1305 with associated data,
 * and X25519. Through node:crypto one handshake message cost a few hundred microseconds, most of
 * it in object creation and OpenSSL's algorithm look-ups around tiny inputs (createHash,
 * createHmac, createCipheriv, key objects per DH), and far more right after the process was idle;
 * here the same work is a few plain function calls on raw bytes.
 *
 * BLAKE2s is written here from RFC 7693 (OpenSSL has no keyed BLAKE2s before 3.2). The AEAD is
 * OpenSSL's (EVP, one context reused per thread). X25519 is OpenSSL's curve: its raw function
 * when the Node binary exports it (Node's bundled OpenSSL does), else the EVP_PKEY route; either
 * way the result is checked against RFC 7748's test vector when the addon loads.
 * The protocol itself (what is hashed and derived when) stays in src/mesh/noise.ts.
 */
#define _GNU_SOURCE
#include "addon.h"
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---------------- BLAKE2s (RFC 7693) ---------------- */

typedef struct blake2s_state {
  uint32_t h[8];
  uint32_t t[2];
  uint8_t buffer[64];
  size_t filled;
  size_t out_length;
} blake2s_state;

static const uint32_t blake2s_iv[8] = {
  0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au, 0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

static const uint8_t blake2s_sigma[10][16] = {
  { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
  { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
  { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
  { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
  { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
  { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
  { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
  { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
  { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
  { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t rotr32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load32_le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32_le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

#define B2S_G(a, b, c, d, x, y) do { \
    v[a] = v[a] + v[b] + (x); v[d] = rotr32(v[d] ^ v[a], 16); \
    v[c] = v[c] + v[d];       v[b] = rotr32(v[b] ^ v[c], 12); \
    v[a] = v[a] + v[b] + (y); v[d] = rotr32(v[d] ^ v[a], 8);  \
    v[c] = v[c] + v[d];       v[b] = rotr32(v[b] ^ v[c], 7);  \
  } while (0)

/* F: compresses one 64-byte block; `last` sets the final-block flag. */
static void blake2s_compress(blake2s_state *s, const uint8_t block[64], int last) {
  uint32_t m[16], v[16];
  for (int i = 0; i < 16; i++) m[i] = load32_le(block + 4 * i);
  for (int i = 0; i < 8; i++) { v[i] = s->h[i]; v[i + 8] = blake2s_iv[i]; }
  v[12] ^= s->t[0];
  v[13] ^= s->t[1];
  if (last) v[14] = ~v[14];
  for (int round = 0; round < 10; round++) {
    const uint8_t *z = blake2s_sigma[round];
    B2S_G(0, 4, 8, 12, m[z[0]], m[z[1]]);
    B2S_G(1, 5, 9, 13, m[z[2]], m[z[3]]);
    B2S_G(2, 6, 10, 14, m[z[4]], m[z[5]]);
    B2S_G(3, 7, 11, 15, m[z[6]], m[z[7]]);
    B2S_G(0, 5, 10, 15, m[z[8]], m[z[9]]);
    B2S_G(1, 6, 11, 12, m[z[10]], m[z[11]]);
    B2S_G(2, 7, 8, 13, m[z[12]], m[z[13]]);
    B2S_G(3, 4, 9, 14, m[z[14]], m[z[15]]);
  }
  for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2s_count(blake2s_state *s, uint32_t bytes) {
  s->t[0] += bytes;
  if (s->t[0] < bytes) s->t[1]++;
}

static void blake2s_update(blake2s_state *s, const uint8_t *data, size_t length) {
  while (length > 0) {
    /* The last block is compressed by final (with the flag set), so a full buffer waits for more input. */
    if (s->filled == 64) {
      blake2s_count(s, 64);
      blake2s_compress(s, s->buffer, 0);
      s->filled = 0;
    }
    size_t take = 64 - s->filled;
    if (take > length) take = length;
    memcpy(s->buffer + s->filled, data, take);
    s->filled += take;
    data += take;
    length -= take;
  }
}

/* out_length 1..32, key_length 0..32 (the caller checks). */
static void blake2s_init(blake2s_state *s, size_t out_length, const uint8_t *key, size_t key_length) {
  memcpy(s->h, blake2s_iv, sizeof s->h);
  s->h[0] ^= 0x01010000u ^ ((uint32_t)key_length << 8) ^ (uint32_t)out_length;
  s->t[0] = s->t[1] = 0;
  s->filled = 0;
  s->out_length = out_length;
  if (key_length > 0) {
    uint8_t block[64] = { 0 };
    memcpy(block, key, key_length);
    blake2s_update(s, block, 64);
    OPENSSL_cleanse(block, sizeof block);
  }
}

static void blake2s_final(blake2s_state *s, uint8_t *out) {
  blake2s_count(s, (uint32_t)s->filled);
  memset(s->buffer + s->filled, 0, 64 - s->filled);
  blake2s_compress(s, s->buffer, 1);
  uint8_t full[32];
  for (int i = 0; i < 8; i++) store32_le(full + 4 * i, s->h[i]);
  memcpy(out, full, s->out_length);
  OPENSSL_cleanse(full, sizeof full);
  OPENSSL_cleanse(s, sizeof *s);
}

/* ---------------- HMAC-BLAKE2s and WireGuard's KDF ---------------- */

/* HMAC (RFC 2104) over BLAKE2s-256, block 64 bytes; keys of WireGuard's KDF are at most 32 bytes. */
static void hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t key_length, const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length) {
  uint8_t pad[64], inner[32], hashed_key[32];
  if (key_length > 64) {
    blake2s_state k;
    blake2s_init(&k, 32, NULL, 0);
    blake2s_update(&k, key, key_length);
    blake2s_final(&k, hashed_key);
    key = hashed_key;
    key_length = 32;
  }
  blake2s_state s;
  memset(pad, 0x36, sizeof pad);
  for (size_t i = 0; i < key_length; i++) pad[i] ^= key[i];
  blake2s_init(&s, 32, NULL, 0);
  blake2s_update(&s, pad, 64);
  blake2s_update(&s, a, a_length);
  if (b_length > 0) blake2s_update(&s, b, b_length);
  blake2s_final(&s, inner);
  memset(pad, 0x5c, sizeof pad);
  for (size_t i = 0; i < key_length; i++) pad[i] ^= key[i];
  blake2s_init(&s, 32, NULL, 0);
  blake2s_update(&s, pad, 64);
  blake2s_update(&s, inner, 32);
  blake2s_final(&s, out);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
  OPENSSL_cleanse(hashed_key, sizeof hashed_key);
}

/* KDF_n(key, input): prk = HMAC(key, input); T1 = HMAC(prk, 0x1); Ti = HMAC(prk, Ti-1 || i). */
static void wireguard_kdf(uint8_t *out, unsigned n, const uint8_t *key, size_t key_length, const uint8_t *input, size_t input_length) {
  uint8_t prk[32];
  hmac_blake2s(prk, key, key_length, input, input_length, NULL, 0);
  for (unsigned i = 1; i <= n; i++) {
    uint8_t counter = (uint8_t)i;
    if (i == 1) hmac_blake2s(out, prk, 32, &counter, 1, NULL, 0);
    else hmac_blake2s(out + 32 * (i - 1), prk, 32, out + 32 * (i - 2), 32, &counter, 1);
  }
  OPENSSL_cleanse(prk, sizeof prk);
}

/* ---------------- X25519 ---------------- */

typedef int (*x25519_fn)(uint8_t out[32], const uint8_t private_key[32], const uint8_t public_key[32]);
typedef void (*x25519_public_fn)(uint8_t out[32], const uint8_t private_key[32]);
static x25519_fn raw_x25519;
static x25519_public_fn raw_x25519_public;

static int all_zero(const uint8_t *bytes, size_t length) {
  uint8_t acc = 0;
  for (size_t i = 0; i < length; i++) acc |= bytes[i];
  return acc == 0;
}

static int x25519_evp(uint8_t out[32], const uint8_t private_key[32], const uint8_t public_key[32]) {
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, private_key, 32);
  EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, public_key, 32);
  EVP_PKEY_CTX *ctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  size_t length = 32;
  int ok = ctx && theirs && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, theirs) == 1
    && EVP_PKEY_derive(ctx, out, &length) == 1 && length == 32;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(theirs);
  EVP_PKEY_free(mine);
  return ok;
}

static int x25519_public_evp(uint8_t out[32], const uint8_t private_key[32]) {
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, private_key, 32);
  size_t length = 32;
  int ok = mine && EVP_PKEY_get_raw_public_key(mine, out, &length) == 1 && length == 32;
  EVP_PKEY_free(mine);
  return ok;
}

/* 1 with the shared secret in out; 0 when the peer's key is of low order (all-zero secret) or unusable. */
static int x25519(uint8_t out[32], const uint8_t private_key[32], const uint8_t public_key[32], int force_evp) {
  int ok = (raw_x25519 && !force_evp) ? raw_x25519(out, private_key, public_key) : x25519_evp(out, private_key, public_key);
  if (!ok || all_zero(out, 32)) { OPENSSL_cleanse(out, 32); return 0; }
  return 1;
}

static int x25519_public(uint8_t out[32], const uint8_t private_key[32], int force_evp) {
  if (raw_x25519_public && !force_evp) { raw_x25519_public(out, private_key); return 1; }
  return x25519_public_evp(out, private_key);
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t length) {
  for (size_t i = 0; i < length; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) return 0;
    out[i] = (uint8_t)v;
  }
  return 1;
}

/* OpenSSL's own X25519 functions, used directly when the Node binary exports them and they give
 * RFC 7748 §6.1's results (the EVP_PKEY route costs a key object per call). */
static void find_raw_x25519(void) {
  x25519_fn f = (x25519_fn)dlsym(RTLD_DEFAULT, "ossl_x25519");
  x25519_public_fn p = (x25519_public_fn)dlsym(RTLD_DEFAULT, "ossl_x25519_public_from_private");
  if (!f || !p) return;
  uint8_t alice[32], bob_public[32], expected_public[32], expected_shared[32], out[32];
  hex_to_bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", alice, 32);
  hex_to_bytes("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", expected_public, 32);
  hex_to_bytes("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bob_public, 32);
  hex_to_bytes("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", expected_shared, 32);
  p(out, alice);
  if (memcmp(out, expected_public, 32) != 0) return;
  if (f(out, alice, bob_public) != 1 || memcmp(out, expected_shared, 32) != 0) return;
  raw_x25519 = f;
  raw_x25519_public = p;
}

/* ---------------- ChaCha20-Poly1305 with associated data ---------------- */

#define AEAD_TAG 16

static EVP_CIPHER_CTX *aead_context(int encrypt) {
  static __thread EVP_CIPHER_CTX *sealer, *opener;
  EVP_CIPHER_CTX **slot = encrypt ? &sealer : &opener;
  if (*slot) return *slot;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return NULL;
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL) : EVP_DecryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL);
  if (ok != 1 || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1) { EVP_CIPHER_CTX_free(ctx); return NULL; }
  *slot = ctx;
  return ctx;
}

/* out: length + 16 bytes (ciphertext then tag). */
static int aead_seal(uint8_t *out, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *plain, size_t length, const uint8_t *ad, size_t ad_length) {
  EVP_CIPHER_CTX *ctx = aead_context(1);
  int n = 0, final = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
  if (ad_length > 0 && EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)ad_length) != 1) return 0;
  if (length > 0 && EVP_EncryptUpdate(ctx, out, &n, plain, (int)length) != 1) return 0;
  if (EVP_EncryptFinal_ex(ctx, out + n, &final) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG, out + length) == 1;
}

/* out: sealed_length - 16 bytes; 0 when the tag does not verify. */
static int aead_open(uint8_t *out, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *sealed, size_t sealed_length, const uint8_t *ad, size_t ad_length) {
  EVP_CIPHER_CTX *ctx = aead_context(0);
  size_t body = sealed_length - AEAD_TAG;
  int n = 0, final = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG, (void *)(sealed + body)) != 1) return 0;
  if (ad_length > 0 && EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)ad_length) != 1) return 0;
  if (body > 0 && EVP_DecryptUpdate(ctx, out, &n, sealed, (int)body) != 1) return 0;
  return EVP_DecryptFinal_ex(ctx, out + n, &final) == 1;
}

/* ---------------- JavaScript bindings ---------------- */

static int fixed_arg(napi_env env, napi_value value, uint8_t **data, size_t want) {
  size_t length = 0;
  return uint8_array_arg(env, value, data, &length) && length == want;
}

static napi_value new_buffer(napi_env env, size_t length, uint8_t **data) {
  napi_value result;
  void *target;
  if (napi_create_buffer(env, length, &target, &result) != napi_ok) return NULL;
  *data = target;
  return result;
}

static napi_value null_value(napi_env env) {
  napi_value result;
  napi_get_null(env, &result);
  return result;
}

static napi_value js_blake2s_args(napi_env env, size_t argc, napi_value *argv) {
  uint32_t out_length = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &out_length) != napi_ok || out_length < 1 || out_length > 32) return throw_type(env, "blake2s(outLength 1-32, key, ...parts)");
  uint8_t *key = NULL;
  size_t key_length = 0;
  napi_valuetype key_type;
  napi_typeof(env, argv[1], &key_type);
  if (key_type != napi_null && (!uint8_array_arg(env, argv[1], &key, &key_length) || key_length > 32)) return throw_type(env, "blake2s: the key is a Uint8Array of at most 32 bytes, or null");
  blake2s_state s;
  blake2s_init(&s, out_length, key, key_length);
  for (size_t i = 2; i < argc; i++) {
    uint8_t *part;
    size_t length;
    if (!uint8_array_arg(env, argv[i], &part, &length)) return throw_type(env, "blake2s: every part is a Uint8Array");
    blake2s_update(&s, part, length);
  }
  uint8_t *out;
  napi_value result = new_buffer(env, out_length, &out);
  if (result) blake2s_final(&s, out);
  return result;
}

/* blake2s(outLength 1..32, key: Uint8Array(0..32) | null, ...parts: Uint8Array[]) -> Buffer */
static napi_value js_blake2s(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value fixed[8], *argv = fixed;
  napi_get_cb_info(env, info, &argc, fixed, NULL, NULL);
  /* argc is now the call's own count, which may exceed the array: fetch them all, never read past it. */
  if (argc > 8) {
    argv = malloc(argc * sizeof *argv);
    if (!argv) return throw_errno(env, "blake2s", ENOMEM, NULL);
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  }
  napi_value result = js_blake2s_args(env, argc, argv);
  if (argv != fixed) free(argv);
  return result;
}

/* hmacBlake2s(key, data) -> 32-byte Buffer */
static napi_value js_hmac(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key, *data, *out;
  size_t key_length, data_length;
  if (argc < 2 || !uint8_array_arg(env, argv[0], &key, &key_length) || !uint8_array_arg(env, argv[1], &data, &data_length)) return throw_type(env, "hmacBlake2s(key, data)");
  napi_value result = new_buffer(env, 32, &out);
  if (result) hmac_blake2s(out, key, key_length, data, data_length, NULL, 0);
  return result;
}

/* kdf(n 1..3, key, input) -> Buffer of n * 32 bytes: T1 || T2 || T3 */
static napi_value js_kdf(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t n = 0;
  uint8_t *key, *input, *out;
  size_t key_length, input_length;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &n) != napi_ok || n < 1 || n > 3
      || !uint8_array_arg(env, argv[1], &key, &key_length) || !uint8_array_arg(env, argv[2], &input, &input_length)) return throw_type(env, "kdf(n 1-3, key, input)");
  napi_value result = new_buffer(env, 32 * n, &out);
  if (result) wireguard_kdf(out, n, key, key_length, input, input_length);
  return result;
}

/* aeadSeal(key32, nonce12, plaintext, ad) -> ciphertext || tag */
static napi_value js_aead_seal(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key, *nonce, *plain, *ad, *out;
  size_t plain_length, ad_length;
  if (argc < 4 || !fixed_arg(env, argv[0], &key, 32) || !fixed_arg(env, argv[1], &nonce, 12)
      || !uint8_array_arg(env, argv[2], &plain, &plain_length) || !uint8_array_arg(env, argv[3], &ad, &ad_length)) return throw_type(env, "aeadSeal(key32, nonce12, plaintext, ad)");
  napi_value result = new_buffer(env, plain_length + AEAD_TAG, &out);
  if (!result) return NULL;
  if (!aead_seal(out, key, nonce, plain, plain_length, ad, ad_length)) return throw_errno(env, "aeadSeal", EINVAL, "ChaCha20-Poly1305");
  return result;
}

/* aeadOpen(key32, nonce12, sealed, ad) -> plaintext, or null when it does not authenticate */
static napi_value js_aead_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key, *nonce, *sealed, *ad, *out;
  size_t sealed_length, ad_length;
  if (argc < 4 || !fixed_arg(env, argv[0], &key, 32) || !fixed_arg(env, argv[1], &nonce, 12)
      || !uint8_array_arg(env, argv[2], &sealed, &sealed_length) || !uint8_array_arg(env, argv[3], &ad, &ad_length)) return throw_type(env, "aeadOpen(key32, nonce12, sealed, ad)");
  if (sealed_length < AEAD_TAG) return null_value(env);
  napi_value result = new_buffer(env, sealed_length - AEAD_TAG, &out);
  if (!result) return NULL;
  if (!aead_open(out, key, nonce, sealed, sealed_length, ad, ad_length)) {
    OPENSSL_cleanse(out, sealed_length - AEAD_TAG);
    return null_value(env);
  }
  return result;
}

/* x25519(private32, public32, forceEvp?) -> shared secret, or null for a low-order public key */
static napi_value js_x25519(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *private_key, *public_key, *out;
  if (argc < 2 || !fixed_arg(env, argv[0], &private_key, 32) || !fixed_arg(env, argv[1], &public_key, 32)) return throw_type(env, "x25519(private32, public32)");
  bool force_evp = false;
  if (argc > 2) napi_get_value_bool(env, argv[2], &force_evp);
  uint8_t shared[32];
  if (!x25519(shared, private_key, public_key, force_evp)) return null_value(env);
  napi_value result = new_buffer(env, 32, &out);
  if (result) memcpy(out, shared, 32);
  OPENSSL_cleanse(shared, sizeof shared);
  return result;
}

/* x25519PublicKey(private32, forceEvp?) -> public key */
static napi_value js_x25519_public(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *private_key, *out;
  if (argc < 1 || !fixed_arg(env, argv[0], &private_key, 32)) return throw_type(env, "x25519PublicKey(private32)");
  bool force_evp = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &force_evp);
  napi_value result = new_buffer(env, 32, &out);
  if (result && !x25519_public(out, private_key, force_evp)) return throw_errno(env, "x25519PublicKey", EINVAL, "X25519");
  return result;
}

/* x25519Backend() -> 'raw' | 'evp': which X25519 the addon uses (tests run both). */
static napi_value js_x25519_backend(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_string_utf8(env, raw_x25519 ? "raw" : "evp", NAPI_AUTO_LENGTH, &result);
  return result;
}

void handshake_init_exports(napi_env env, napi_value exports) {
  find_raw_x25519();
  napi_property_descriptor props[] = {
    { "blake2s", NULL, js_blake2s, NULL, NULL, NULL, napi_default, NULL },
    { "hmacBlake2s", NULL, js_hmac, NULL, NULL, NULL, napi_default, NULL },
    { "kdf", NULL, js_kdf, NULL, NULL, NULL, napi_default, NULL },
    { "aeadSeal", NULL, js_aead_seal, NULL, NULL, NULL, napi_default, NULL },
    { "aeadOpen", NULL, js_aead_open, NULL, NULL, NULL, napi_default, NULL },
    { "x25519", NULL, js_x25519, NULL, NULL, NULL, napi_default, NULL },
    { "x25519PublicKey", NULL, js_x25519_public, NULL, NULL, NULL, napi_default, NULL },
    { "x25519Backend", NULL, js_x25519_backend, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
