/* Sink: one subscriber connection's way out, and its SRTP sessions.
 *
 * A sink holds our own duplicate of the shared (UDP mux) socket's descriptor,
 * the destination address, and one libsrtp session per SSRC it sends RTP on,
 * all made from the same outbound policy (the connection's DTLS keying
 * material, sfu/rtc/srtp.py). One session per SSRC, not one per connection:
 * libsrtp finds a packet's stream by a linear search of its session's stream
 * list, which in a 32-person call holds 62 streams per connection (10% of the
 * SFU's CPU in the profile). Here each session holds exactly one stream, and
 * the fan-out group keeps the session pointer beside each rewriter, so the
 * fast path does no look-up at all.
 *
 * Every RTP packet of an SSRC goes through that SSRC's one session (the fast
 * path, and send() for replays and RTX), so its rollover counter and replay
 * state never split. The connection's own aiortc session still protects its
 * RTCP (SRTCP keeps separate keys and indices), never its RTP.
 *
 * With OpenSSL (gcm.c), a sink whose policy is a GcmPolicy (a bytearray made
 * by gcm_policy()) makes its per-SSRC streams with gcm.c instead of libsrtp.
 *
 * Errors are counted on the sink, never raised.
 */
#include "native.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <structmember.h>
#include <sys/stat.h>
#include <unistd.h>

/* libsrtp's srtp_policy_t starts with its srtp_ssrc_t {type, value}. */
typedef struct {
    int type;
    unsigned int value;
} ssrc_head;

/* For send(): room for any packet plus libsrtp's trailer. */
static uint8_t one[MAX_PACKET + SRTP_TRAILER];

/* Parse `host` for a socket of `family` (IPv4 goes v4-mapped on IPv6). */
static int make_addr(SinkObject *s, int family, const char *host, unsigned int port)
{
    memset(&s->addr, 0, sizeof s->addr);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&s->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        s->addrlen = sizeof *a;
        return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->addr;
        struct in_addr v4;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        s->addrlen = sizeof *a;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1) return 0;
        if (inet_pton(AF_INET, host, &v4) != 1) return -1;
        a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xFF;
        memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
        return 0;
    }
    return -1;
}

static int Sink_init(SinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "host", "port", "policy", "policy_ptr", "create", "dealloc", "protect", NULL};
    int fd;
    const char *host;
    unsigned int port;
    PyObject *policy;
    unsigned long long policy_ptr, create, dealloc, protect;
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    struct stat st;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "isIOKKKK", kwlist, &fd, &host, &port, &policy, &policy_ptr,
                                     &create, &dealloc, &protect))
        return -1;
    if (self->fd >= 0 || self->policy) {
        PyErr_SetString(PyExc_RuntimeError, "a Sink is initialised once");
        return -1;
    }
#ifdef CALLSFU_OPENSSL
    if (PyByteArray_Check(policy) && PyByteArray_GET_SIZE(policy) == (Py_ssize_t)sizeof(GcmPolicy) &&
        !policy_ptr && !create && !dealloc && !protect) { /* our own AES-GCM streams (gcm.c) */
        policy_ptr = (uintptr_t)PyByteArray_AS_STRING(policy);
        create = (uintptr_t)gcm_create;
        dealloc = (uintptr_t)gcm_dealloc;
        protect = (uintptr_t)gcm_protect;
    }
#endif
    if (!policy_ptr || !create || !dealloc || !protect || port > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "Sink needs an SRTP policy, srtp_create/dealloc/protect and a port below 65536");
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0) return PyErr_SetFromErrno(PyExc_OSError), -1;
    if (make_addr(self, local.ss_family, host, port) < 0) {
        PyErr_Format(PyExc_ValueError, "cannot send to %s from this socket's address family", host);
        return -1;
    }
    if (fstat(fd, &st) < 0) return PyErr_SetFromErrno(PyExc_OSError), -1;
    self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (self->fd < 0) return PyErr_SetFromErrno(PyExc_OSError), -1;
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    Py_INCREF(policy);
    self->policy = policy;
    self->policy_ptr = (void *)(uintptr_t)policy_ptr;
    self->create = (create_fn)(uintptr_t)create;
    self->dealloc = (dealloc_fn)(uintptr_t)dealloc;
    self->protect = (protect_fn)(uintptr_t)protect;
    return 0;
}

static PyObject *Sink_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    SinkObject *self = (SinkObject *)type->tp_alloc(type, 0);
    if (self) self->fd = -1;
    return (PyObject *)self;
}

void *sink_session(SinkObject *s, uint32_t ssrc)
{
    void *ctx = NULL;
    for (int i = 0; i < s->n_streams; i++)
        if (s->streams[i].ssrc == ssrc) return s->streams[i].ctx;
    if (s->n_streams >= MAX_STREAMS || !s->policy_ptr) return NULL;
    if (s->n_streams == s->cap_streams) { /* once per new SSRC, never per packet */
        int cap = s->cap_streams ? s->cap_streams * 2 : 4;
        Stream *grown = PyMem_Realloc(s->streams, cap * sizeof(Stream));
        if (!grown) return NULL;
        s->streams = grown;
        s->cap_streams = cap;
    }
    ((ssrc_head *)s->policy_ptr)->value = ssrc;
    if (s->create(&ctx, s->policy_ptr) != 0 || !ctx) return NULL;
    s->streams[s->n_streams].ssrc = ssrc;
    s->streams[s->n_streams].ctx = ctx;
    s->n_streams++;
    return ctx;
}

static void sink_close(SinkObject *self)
{
    if (self->fd >= 0) close(self->fd);
    self->fd = -1;
}

static void Sink_dealloc(SinkObject *self)
{
    sink_close(self);
    for (int i = 0; i < self->n_streams; i++) self->dealloc(self->streams[i].ctx);
    PyMem_Free(self->streams);
    Py_CLEAR(self->policy);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* send(packet): the Python path's way out (replays, RTX, outlets not in a
 * fast group): the packet's own SSRC picks the session. */
static PyObject *Sink_send(SinkObject *self, PyObject *packet)
{
    Py_buffer b;
    void *ctx;
    int n;
    if (PyObject_GetBuffer(packet, &b, PyBUF_SIMPLE) < 0) return NULL;
    n = (int)b.len;
    if (self->fd < 0 || b.len > MAX_PACKET || b.len < 12) {
        self->failed++;
    } else if (!(ctx = sink_session(self, ((uint32_t)((uint8_t *)b.buf)[8] << 24) | ((uint8_t *)b.buf)[9] << 16 |
                                            ((uint8_t *)b.buf)[10] << 8 | ((uint8_t *)b.buf)[11]))) {
        self->failed++;
        self->last_errno = 0;
    } else {
        memcpy(one, b.buf, b.len);
        if (self->protect(ctx, one, &n) != 0) {
            self->failed++;
            self->last_errno = 0;
        } else if (sendto(self->fd, one, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&self->addr, self->addrlen) < 0) {
            self->failed++; /* EAGAIN, EACCES, ...: a lost packet, nothing more */
            self->last_errno = errno;
        } else {
            self->sent++;
        }
    }
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyObject *Sink_close(SinkObject *self, PyObject *unused)
{
    sink_close(self);
    Py_RETURN_NONE;
}

static PyObject *Sink_get_closed(SinkObject *self, void *closure) { return PyBool_FromLong(self->fd < 0); }

static PyObject *Sink_get_ssrcs(SinkObject *self, void *closure)
{
    PyObject *out = PyTuple_New(self->n_streams);
    for (int i = 0; out && i < self->n_streams; i++) {
        PyObject *ssrc = PyLong_FromUnsignedLong(self->streams[i].ssrc);
        if (!ssrc) { Py_CLEAR(out); break; }
        PyTuple_SET_ITEM(out, i, ssrc);
    }
    return out;
}

static PyMethodDef Sink_methods[] = {
    {"send", (PyCFunction)Sink_send, METH_O, "send(packet): SRTP-protect and send one RTP packet; never raises"},
    {"close", (PyCFunction)Sink_close, METH_NOARGS, "close(): release the descriptor; later sends count as failed"},
    {NULL}};

static PyMemberDef Sink_members[] = {
    {"sent", T_ULONGLONG, offsetof(SinkObject, sent), READONLY, "datagrams sent"},
    {"failed", T_ULONGLONG, offsetof(SinkObject, failed), READONLY, "packets dropped: send error, too long, closed"},
    {"last_errno", T_INT, offsetof(SinkObject, last_errno), READONLY, "errno of the last failed send"},
    {NULL}};

static PyObject *Sink_get_protection(SinkObject *self, void *closure)
{
#ifdef CALLSFU_OPENSSL
    if (self->protect == gcm_protect) return PyUnicode_FromString("gcm");
#endif
    return PyUnicode_FromString("libsrtp");
}

static PyGetSetDef Sink_getset[] = {
    {"protection", (getter)Sink_get_protection, NULL, "what protects its RTP: 'gcm' (gcm.c) or 'libsrtp'", NULL},
    {"closed", (getter)Sink_get_closed, NULL, "True once closed", NULL},
    {"ssrcs", (getter)Sink_get_ssrcs, NULL, "the SSRCs that have an SRTP session here, in order of first use", NULL},
    {NULL}};

PyTypeObject SinkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sfu.native._fanout.Sink",
    .tp_basicsize = sizeof(SinkObject),
    .tp_dealloc = (destructor)Sink_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sink(fd, host, port, policy, policy_ptr, create, dealloc, protect): one subscriber connection's "
              "destination and its SRTP sessions, one per SSRC (build it with sfu.native.new_sink).",
    .tp_methods = Sink_methods,
    .tp_members = Sink_members,
    .tp_getset = Sink_getset,
    .tp_init = (initproc)Sink_init,
    .tp_new = Sink_new,
};
