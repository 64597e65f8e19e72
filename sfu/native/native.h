/* Shared declarations of callsfu's native fan-out (see fanout.c, rewriter.c).
 *
 * Everything here runs on the event loop's thread with the GIL held; nothing
 * calls back into Python while a packet is being written, protected or sent.
 */
#ifndef CALLSFU_NATIVE_H
#define CALLSFU_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Longest header a layout writes: 12 fixed bytes, 4 of extension header,
 * MID (1 + 16), abs-send-time (4), audio level (2), padding to 4 (3). */
#define MAX_HEADER 44
/* libsrtp needs this much room after the packet (SRTP_MAX_TAG_LEN + MKI). */
#define SRTP_TRAILER 144
/* Longest RTP packet protected, as sfu/rtc/srtp.py: pylibsrtp's 1500-byte
 * buffer less the trailer; longer ones are dropped and counted. */
#define MAX_PACKET (1500 - SRTP_TRAILER)

/* One precompiled outgoing header: fixed bytes with zero seq/ts/values. */
typedef struct {
    uint8_t bytes[MAX_HEADER];
    uint8_t len;      /* header length, 0 when this layout is not used */
    uint8_t ast_at;   /* offset of the 24-bit abs-send-time, 0 when absent */
    uint8_t level_at; /* offset of the audio-level byte, 0 when absent */
} Layout;

/* The fields of one sfu.core.packet.RtpView the rewrite needs. */
typedef struct {
    uint16_t seq;
    uint32_t ts;
    int marker;
    int level; /* the RFC 6464 byte, -1 when the packet carries none */
    const uint8_t *payload;
    Py_ssize_t payload_len;
    PyObject *payload_obj; /* owned reference */
    Py_buffer buffer;      /* used when payload is not exactly bytes */
    int has_buffer;
} View;

typedef struct {
    PyObject_HEAD
    Layout plain, leveled, rtx_plain, rtx_leveled;
    PyObject *mid;          /* str, as given */
    uint32_t ssrc, rtx_ssrc;
    int payload_type, rtx_payload_type;
    int has_rtx_ssrc, has_rtx_pt, has_rtx; /* RTX is written when both are given */
    unsigned int clock_rate, gap;
    unsigned long long packets_sent, octets_sent;
    uint16_t last_seq, rtx_seq, seq_offset, skip;
    uint32_t last_ts, ts_offset;
    long long epoch_span;
    int fresh, started;
} RewriterObject;

extern PyTypeObject RewriterType;

/* Read `view`'s fields; -1 with an exception set when it is not an RtpView. */
int view_read(PyObject *view, View *v);
void view_release(View *v);

/* Write the rewritten packet for `v` at `out` (room for MAX_HEADER +
 * payload), update the rewriter's state as Rewriter.rewrite does, and return
 * the packet's length. */
Py_ssize_t rewriter_write(RewriterObject *r, const View *v, uint32_t abs_send_time, uint8_t *out);

/* libsrtp 2.x, reached through pylibsrtp's statically linked copy:
 * srtp_protect(srtp_t, void *rtp, int *len), srtp_create(srtp_t *, const
 * srtp_policy_t *), srtp_dealloc(srtp_t); 0 is srtp_err_status_ok. */
typedef int (*protect_fn)(void *ctx, void *packet, int *len);
typedef int (*create_fn)(void **ctx, const void *policy);
typedef int (*dealloc_fn)(void *ctx);

/* The key of a sink's own AES-GCM streams (gcm.c): it starts as libsrtp's
 * srtp_policy_t does (the SSRC type, then the SSRC the sink sets per
 * stream); the master key, then the 12-byte master salt, zero-padded. */
typedef struct {
    int type;
    unsigned int ssrc;
    int key_len; /* 16: AEAD_AES_128_GCM, 32: AEAD_AES_256_GCM */
    uint8_t master[32 + 14];
} GcmPolicy;

/* The replay window of gcm.c's streams (packets) = sfu.rtc.srtp.OUTBOUND_WINDOW. */
#define WINDOW 128

#ifdef CALLSFU_OPENSSL
/* libsrtp's create/dealloc/protect, for one SSRC of AEAD_AES_{128,256}_GCM. */
int gcm_create(void **ctx, const void *policy);
int gcm_dealloc(void *ctx);
int gcm_protect(void *ctx, void *packet, int *len);
#endif

/* Most SSRCs one subscriber connection sends RTP on (a media and an RTX
 * SSRC per section); past it new SSRCs are dropped and counted. */
#define MAX_STREAMS 256

/* One outgoing SSRC of a sink and the libsrtp session that alone protects it. */
typedef struct {
    uint32_t ssrc;
    void *ctx;
} Stream;

/* One subscriber connection's way out (sink.c). */
typedef struct {
    PyObject_HEAD
    int fd; /* our own duplicate of the shared socket; -1 once closed */
    dev_t dev; /* which socket the descriptor is: one sendmmsg per run of the same */
    ino_t ino;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    PyObject *policy; /* the pylibsrtp Policy (key, profile) every session is made from */
    void *policy_ptr; /* its srtp_policy_t, SSRC-specific: the SSRC is set per session */
    create_fn create;
    dealloc_fn dealloc;
    protect_fn protect;
    Stream *streams;
    int n_streams, cap_streams;
    unsigned long long sent, failed;
    int last_errno;
} SinkObject;

extern PyTypeObject SinkType;

/* The libsrtp session of `ssrc` on this sink, made on first use; NULL when
 * none can be (too many SSRCs, libsrtp refused): the caller counts a drop. */
void *sink_session(SinkObject *s, uint32_t ssrc);

#endif
