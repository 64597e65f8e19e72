/* SRTP protect for the AEAD_AES_128_GCM and AEAD_AES_256_GCM profiles
 * (RFC 7714), on OpenSSL's EVP: the sink's outgoing streams, one per SSRC.
 *
 * What libsrtp 2.7's srtp_protect does for one SSRC-specific stream of these
 * profiles, without what costs there per packet and per subscriber: the
 * stream look-up through the session's list, the 1024-bit window shifted on
 * every packet, the key-usage counter, the cipher's indirections. The same
 * bytes and the same refusals (tests/native/test_gcm.py compares them with
 * pylibsrtp's sessions byte for byte):
 *
 * - session key and salt from the master key and salt by the AES-CM PRF
 *   (RFC 3711 4.3.1; the 96-bit master salt padded to the PRF's 112 bits);
 * - the packet index estimated from the highest one sent, as libsrtp's rdbx
 *   does (a rollover counter that follows wrapping sequence numbers), with
 *   a 128-packet window: an index further behind is refused, one sent
 *   before is sent again (libsrtp's allow_repeat_tx, as aiortc sets it);
 * - IV = (0 0 | SSRC | ROC | SEQ) XOR salt, the RTP header (with CSRCs and
 *   extension) as additional data, the payload encrypted in place and the
 *   16-byte tag appended.
 *
 * The functions have libsrtp's signatures (create/dealloc/protect, 0 for
 * success), so a Sink uses either without knowing which. No allocation per
 * packet; nothing raises; single-threaded like the rest of the fan-out.
 * Built only when OpenSSL's headers are there (CALLSFU_OPENSSL, setup.py).
 */
#include "native.h"

#ifdef CALLSFU_OPENSSL

#include <openssl/evp.h>
#include <string.h>

#define SALT 12
#define TAG 16

typedef struct {
    EVP_CIPHER_CTX *evp; /* keyed once; the IV is set per packet */
    uint32_t ssrc;
    uint8_t salt[SALT];
    uint64_t index;        /* highest index sent: ROC << 16 | SEQ (libsrtp's rdbx index) */
    uint64_t window[2];    /* bit a: index - a was sent (a < WINDOW) */
} GcmStream;

/* The AES-CM PRF of RFC 3711 4.3: `out_len` bytes of keystream for `label`. */
static int derive(const GcmPolicy *p, uint8_t label, uint8_t *out, int out_len)
{
    const EVP_CIPHER *ctr = p->key_len == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr();
    uint8_t iv[16] = {0}, zeros[32] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;
    memcpy(iv, p->master + p->key_len, SALT); /* the 112-bit salt: 96 bits and two zero bytes */
    iv[7] ^= label;
    ok = c && EVP_EncryptInit_ex(c, ctr, NULL, p->master, iv) == 1 &&
         EVP_EncryptUpdate(c, out, &n, zeros, out_len) == 1 && n == out_len;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int gcm_create(void **ctx, const void *policy)
{
    const GcmPolicy *p = policy;
    uint8_t key[32];
    GcmStream *s;
    *ctx = NULL;
    if (p->key_len != 16 && p->key_len != 32) return 1;
    if (!(s = PyMem_RawCalloc(1, sizeof *s))) return 1;
    s->ssrc = p->ssrc;
    if (derive(p, 0x00, key, p->key_len) < 0 || derive(p, 0x02, s->salt, SALT) < 0 ||
        !(s->evp = EVP_CIPHER_CTX_new()) ||
        EVP_EncryptInit_ex(s->evp, p->key_len == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), NULL, key, NULL) != 1) {
        memset(key, 0, sizeof key);
        EVP_CIPHER_CTX_free(s->evp);
        PyMem_RawFree(s);
        return 1;
    }
    memset(key, 0, sizeof key);
    *ctx = s;
    return 0;
}

int gcm_dealloc(void *ctx)
{
    GcmStream *s = ctx;
    if (s) {
        EVP_CIPHER_CTX_free(s->evp);
        memset(s, 0, sizeof *s);
        PyMem_RawFree(s);
    }
    return 0;
}

/* libsrtp's srtp_rdbx_estimate_index / srtp_index_guess: the index of `seq`
 * and its distance from the highest sent. */
static int32_t estimate(const GcmStream *s, uint16_t seq, uint64_t *guess)
{
    uint32_t roc = (uint32_t)(s->index >> 16), guess_roc = roc;
    int local = (uint16_t)s->index, diff;
    if (s->index <= 0x8000) {
        *guess = seq;
        return (int32_t)seq - local;
    }
    if (local < 0x8000) {
        if ((int)seq - local > 0x8000) {
            guess_roc = roc - 1;
            diff = (int)seq - local - 0x10000;
        } else {
            diff = (int)seq - local;
        }
    } else if (local - 0x8000 > (int)seq) {
        guess_roc = roc + 1;
        diff = (int)seq - local + 0x10000;
    } else {
        diff = (int)seq - local;
    }
    *guess = ((uint64_t)guess_roc << 16) | seq;
    return diff;
}

/* libsrtp's srtp_rdbx_add_index: move the window forward, or mark an older index. */
static void window_add(GcmStream *s, int32_t delta)
{
    if (delta > 0) {
        s->index += (uint16_t)delta; /* (srtp_index_advance takes the delta as a 16-bit number) */
        if (delta >= WINDOW) {
            s->window[0] = s->window[1] = 0;
        } else if (delta >= 64) {
            s->window[1] = s->window[0] << (delta - 64);
            s->window[0] = 0;
        } else {
            s->window[1] = (s->window[1] << delta) | (s->window[0] >> (64 - delta));
            s->window[0] <<= delta;
        }
        s->window[0] |= 1;
    } else {
        int age = -delta;
        s->window[age >> 6] |= (uint64_t)1 << (age & 63);
    }
}

int gcm_protect(void *ctx, void *packet, int *len)
{
    GcmStream *s = ctx;
    uint8_t *p = packet, iv[SALT];
    int n = *len, header, out = 0, age;
    uint64_t index;
    int32_t delta;
    uint32_t ssrc, roc;
    if (n < 12) return 2; /* srtp_err_status_bad_param */
    header = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if (n < header + 4) return 2;
        header += 4 + 4 * ((p[header + 2] << 8) | p[header + 3]);
    }
    if (n < header) return 2;
    ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    if (ssrc != s->ssrc) return 13; /* srtp_err_status_no_ctx: not this stream's packet */
    delta = estimate(s, (uint16_t)(p[2] << 8 | p[3]), &index);
    age = -delta;
    if (delta <= 0 && age > WINDOW - 1) return 10; /* srtp_err_status_replay_old */
    window_add(s, delta); /* (a repeat is sent again, as allow_repeat_tx lets libsrtp) */
    roc = (uint32_t)(index >> 16);
    memcpy(iv, s->salt, SALT);
    iv[2] ^= p[8], iv[3] ^= p[9], iv[4] ^= p[10], iv[5] ^= p[11];
    iv[6] ^= (uint8_t)(roc >> 24), iv[7] ^= (uint8_t)(roc >> 16), iv[8] ^= (uint8_t)(roc >> 8), iv[9] ^= (uint8_t)roc;
    iv[10] ^= p[2], iv[11] ^= p[3];
    if (EVP_EncryptInit_ex(s->evp, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(s->evp, NULL, &out, p, header) != 1 ||
        (n > header && EVP_EncryptUpdate(s->evp, p + header, &out, p + header, n - header) != 1) ||
        EVP_EncryptFinal_ex(s->evp, p + n, &out) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->evp, EVP_CTRL_GCM_GET_TAG, TAG, p + n) != 1)
        return 8; /* srtp_err_status_cipher_fail */
    *len = n + TAG;
    return 0;
}

#endif
