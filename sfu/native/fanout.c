/* callsfu's native fan-out: rewrite + SRTP protect + sendto per subscriber.
 *
 * Sink: one subscriber's way out: its libsrtp context (borrowed from a
 *   pylibsrtp Session, kept alive by a reference), our own duplicate of the
 *   ICE socket's descriptor and the destination address. Errors are counted
 *   on the sink, never raised.
 * FanoutGroup: the (Rewriter, Sink) pairs fed by one publisher's track; one
 *   forward(view, abs_send_time) per received packet serves all of them from
 *   one preallocated scratch buffer, with no Python and no allocation per
 *   subscriber.
 * Single-threaded by design: only the event loop's thread calls in (libsrtp
 * contexts must not be shared between threads).
 */
#include "native.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <structmember.h>
#include <sys/socket.h>
#include <unistd.h>

/* libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr) */
typedef int (*protect_fn)(void *ctx, void *packet, int *len);

/* The one scratch buffer: room for any rewritten datagram plus libsrtp's
 * trailer (what is longer than MAX_PACKET is dropped before protect). */
static uint8_t scratch[65536 + MAX_HEADER + 2 + SRTP_TRAILER];

typedef struct {
    PyObject_HEAD
    int fd; /* our own duplicate; -1 once closed */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    PyObject *session; /* the pylibsrtp Session that owns ctx */
    void *ctx;
    protect_fn protect;
    unsigned long long sent, failed;
    int last_errno;
} SinkObject;

static PyTypeObject SinkType;

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
    static char *kwlist[] = {"fd", "host", "port", "session", "ctx", "protect", NULL};
    int fd;
    const char *host;
    unsigned int port;
    PyObject *session;
    unsigned long long ctx, protect;
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "isIOKK", kwlist, &fd, &host, &port, &session, &ctx, &protect))
        return -1;
    if (self->fd >= 0 || self->session) {
        PyErr_SetString(PyExc_RuntimeError, "a Sink is initialised once");
        return -1;
    }
    if (!ctx || !protect || port > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "Sink needs an SRTP context, srtp_protect and a port below 65536");
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0) return PyErr_SetFromErrno(PyExc_OSError), -1;
    if (make_addr(self, local.ss_family, host, port) < 0) {
        PyErr_Format(PyExc_ValueError, "cannot send to %s from this socket's address family", host);
        return -1;
    }
    self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (self->fd < 0) return PyErr_SetFromErrno(PyExc_OSError), -1;
    Py_INCREF(session);
    self->session = session;
    self->ctx = (void *)(uintptr_t)ctx;
    self->protect = (protect_fn)(uintptr_t)protect;
    return 0;
}

static PyObject *Sink_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    SinkObject *self = (SinkObject *)type->tp_alloc(type, 0);
    if (self) self->fd = -1;
    return (PyObject *)self;
}

static void sink_close(SinkObject *self)
{
    if (self->fd >= 0) close(self->fd);
    self->fd = -1;
}

static void Sink_dealloc(SinkObject *self)
{
    sink_close(self);
    Py_CLEAR(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Protect the `len` bytes at scratch in place and send them; count the outcome. */
static void sink_emit(SinkObject *s, Py_ssize_t len)
{
    int n = (int)len;
    if (s->fd < 0 || len > MAX_PACKET) {
        s->failed++;
        return;
    }
    if (s->protect(s->ctx, scratch, &n) != 0) {
        s->failed++;
        s->last_errno = 0;
        return;
    }
    if (sendto(s->fd, scratch, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
        s->failed++; /* EAGAIN, ECONNREFUSED, ...: a lost packet, nothing more */
        s->last_errno = errno;
    } else {
        s->sent++;
    }
}

static PyObject *Sink_send(SinkObject *self, PyObject *packet)
{
    Py_buffer b;
    if (PyObject_GetBuffer(packet, &b, PyBUF_SIMPLE) < 0) return NULL;
    if (b.len > MAX_PACKET) {
        self->failed++;
    } else {
        memcpy(scratch, b.buf, b.len);
        sink_emit(self, b.len);
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

static PyMethodDef Sink_methods[] = {
    {"send", (PyCFunction)Sink_send, METH_O, "send(packet): SRTP-protect and send one RTP packet; never raises"},
    {"close", (PyCFunction)Sink_close, METH_NOARGS, "close(): release the descriptor; later sends count as failed"},
    {NULL}};

static PyMemberDef Sink_members[] = {
    {"sent", T_ULONGLONG, offsetof(SinkObject, sent), READONLY, "datagrams sent"},
    {"failed", T_ULONGLONG, offsetof(SinkObject, failed), READONLY, "packets dropped: send error, too long, closed"},
    {"last_errno", T_INT, offsetof(SinkObject, last_errno), READONLY, "errno of the last failed send"},
    {NULL}};

static PyGetSetDef Sink_getset[] = {{"closed", (getter)Sink_get_closed, NULL, "True once closed", NULL}, {NULL}};

static PyTypeObject SinkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sfu.native._fanout.Sink",
    .tp_basicsize = sizeof(SinkObject),
    .tp_dealloc = (destructor)Sink_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sink(fd, host, port, session, ctx, protect): one subscriber's SRTP context and destination.",
    .tp_methods = Sink_methods,
    .tp_members = Sink_members,
    .tp_getset = Sink_getset,
    .tp_init = (initproc)Sink_init,
    .tp_new = Sink_new,
};

/* ---------------------------------------------------------------- FanoutGroup */

typedef struct {
    RewriterObject *rewriter;
    SinkObject *sink;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    Py_ssize_t n, cap;
} GroupObject;

static Py_ssize_t group_find(GroupObject *g, PyObject *rewriter)
{
    for (Py_ssize_t i = 0; i < g->n; i++)
        if ((PyObject *)g->entries[i].rewriter == rewriter) return i;
    return -1;
}

static PyObject *Group_add(GroupObject *self, PyObject *args)
{
    PyObject *rewriter, *sink;
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "O!O!", &RewriterType, &rewriter, &SinkType, &sink)) return NULL;
    Py_INCREF(sink);
    if ((i = group_find(self, rewriter)) >= 0) { /* already in: a new sink for it */
        Py_SETREF(self->entries[i].sink, (SinkObject *)sink);
        Py_RETURN_NONE;
    }
    if (self->n == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 8;
        Entry *grown = PyMem_Realloc(self->entries, cap * sizeof(Entry));
        if (!grown) { Py_DECREF(sink); return PyErr_NoMemory(); }
        self->entries = grown;
        self->cap = cap;
    }
    Py_INCREF(rewriter);
    self->entries[self->n].rewriter = (RewriterObject *)rewriter;
    self->entries[self->n].sink = (SinkObject *)sink;
    self->n++;
    Py_RETURN_NONE;
}

static PyObject *Group_remove(GroupObject *self, PyObject *rewriter)
{
    Py_ssize_t i = group_find(self, rewriter);
    Entry gone;
    if (i < 0) Py_RETURN_FALSE;
    gone = self->entries[i];
    memmove(&self->entries[i], &self->entries[i + 1], (self->n - i - 1) * sizeof(Entry));
    self->n--;
    Py_DECREF(gone.rewriter);
    Py_DECREF(gone.sink);
    Py_RETURN_TRUE;
}

/* The hot loop: for each pair, rewrite into scratch, protect, send. */
static PyObject *Group_forward(GroupObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    View v;
    unsigned long long ast;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "forward(view, abs_send_time)");
        return NULL;
    }
    ast = PyLong_AsUnsignedLongLongMask(args[1]);
    if (ast == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (view_read(args[0], &v) < 0) { view_release(&v); return NULL; }
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Entry *e = &self->entries[i];
        sink_emit(e->sink, rewriter_write(e->rewriter, &v, (uint32_t)(ast & 0xFFFFFF), scratch));
    }
    view_release(&v);
    return PyLong_FromSsize_t(self->n);
}

static PyObject *Group_clear(GroupObject *self, PyObject *unused)
{
    while (self->n > 0) {
        self->n--;
        Py_DECREF(self->entries[self->n].rewriter);
        Py_DECREF(self->entries[self->n].sink);
    }
    Py_RETURN_NONE;
}

static void Group_dealloc(GroupObject *self)
{
    Py_XDECREF(Group_clear(self, NULL));
    PyMem_Free(self->entries);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t Group_len(GroupObject *self) { return self->n; }

static int Group_contains(GroupObject *self, PyObject *rewriter) { return group_find(self, rewriter) >= 0; }

static PySequenceMethods Group_as_sequence = {
    .sq_length = (lenfunc)Group_len,
    .sq_contains = (objobjproc)Group_contains,
};

static PyMethodDef Group_methods[] = {
    {"add", (PyCFunction)Group_add, METH_VARARGS, "add(rewriter, sink): serve this pair from now on"},
    {"remove", (PyCFunction)Group_remove, METH_O, "remove(rewriter) -> bool: stop serving its pair"},
    {"forward", (PyCFunction)(void (*)(void))Group_forward, METH_FASTCALL,
     "forward(view, abs_send_time) -> int: rewrite, protect and send the packet to every pair"},
    {"clear", (PyCFunction)Group_clear, METH_NOARGS, "clear(): remove every pair"},
    {NULL}};

static PyTypeObject GroupType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sfu.native._fanout.FanoutGroup",
    .tp_basicsize = sizeof(GroupObject),
    .tp_dealloc = (destructor)Group_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The (Rewriter, Sink) pairs fed by one publisher track; forward() serves them all.",
    .tp_as_sequence = &Group_as_sequence,
    .tp_methods = Group_methods,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- module */

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "sfu.native._fanout",
    "callsfu's native fan-out: Rewriter, Sink, FanoutGroup (see sfu/native/__init__.py).", -1, NULL};

PyMODINIT_FUNC PyInit__fanout(void)
{
    PyObject *m;
    if (PyType_Ready(&RewriterType) < 0 || PyType_Ready(&SinkType) < 0 || PyType_Ready(&GroupType) < 0)
        return NULL;
    if (!(m = PyModule_Create(&fanout_module))) return NULL;
    if (PyModule_AddObjectRef(m, "Rewriter", (PyObject *)&RewriterType) < 0 ||
        PyModule_AddObjectRef(m, "Sink", (PyObject *)&SinkType) < 0 ||
        PyModule_AddObjectRef(m, "FanoutGroup", (PyObject *)&GroupType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
