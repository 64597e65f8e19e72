/* callsfu's native fan-out: rewrite + SRTP protect per subscriber, one sendmmsg.
 *
 * Sink (sink.c): one subscriber connection's way out: our own duplicate of
 *   the shared socket's descriptor, the destination address, and one libsrtp
 *   session per SSRC. Errors are counted on the sink, never raised.
 * FanoutGroup: the (Rewriter, Sink) pairs fed by one publisher's track; one
 *   forward(view, abs_send_time) per received packet rewrites and protects
 *   the packet for every pair into preallocated slots and sends them all
 *   with one sendmmsg per run of pairs on the same socket (at most BATCH
 *   datagrams a call): no Python and no allocation per subscriber.
 *   A send that stops short on a full socket buffer (EAGAIN, ENOBUFS) drops
 *   the rest of that batch, counted on each sink and on the group; an error
 *   that belongs to one destination (EACCES, EINVAL, ...) drops that one
 *   datagram and the others still go.
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

/* Datagrams per sendmmsg; a larger group is sent in several calls. */
#define BATCH 64
#define SLOT (MAX_PACKET + SRTP_TRAILER)

/* The preallocated batch (one of it: single-threaded): the protected
 * datagrams, their headers and whose they are. `wide` takes a rewrite that
 * cannot fit a slot (it is written, to keep the rewriter's state, then
 * dropped). */
static uint8_t slots[BATCH][SLOT];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];
static SinkObject *owners[BATCH];
static uint8_t wide[65536 + MAX_HEADER + 2];

/* ---------------------------------------------------------------- FanoutGroup */

typedef struct {
    RewriterObject *rewriter;
    SinkObject *sink;
    void *ctx; /* the sink's SRTP session of the rewriter's SSRC (the sink owns it); NULL: none */
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    Py_ssize_t n, cap;
    unsigned long long syscalls, cut_short;
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
    void *ctx;
    if (!PyArg_ParseTuple(args, "O!O!", &RewriterType, &rewriter, &SinkType, &sink)) return NULL;
    Py_INCREF(sink);
    ctx = sink_session((SinkObject *)sink, ((RewriterObject *)rewriter)->ssrc);
    if (!ctx) { /* no session can be made for it: stays on the Python path, which counts the drops */
        Py_DECREF(sink);
        Py_RETURN_FALSE;
    }
    if ((i = group_find(self, rewriter)) >= 0) { /* already in: a new sink for it */
        Py_SETREF(self->entries[i].sink, (SinkObject *)sink);
        self->entries[i].ctx = ctx;
        Py_RETURN_TRUE;
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
    self->entries[self->n].ctx = ctx;
    self->n++;
    Py_RETURN_TRUE;
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

/* Send the first `k` prepared datagrams (all on owners[0]'s socket). */
static void flush(GroupObject *g, int k)
{
    int i = 0, fd = k > 0 ? owners[0]->fd : -1;
    while (i < k) {
#ifdef CALLSFU_SENDTO_EACH /* for benchmarks only: what batching saves (benchmarks/README.md) */
        int r = sendto(fd, iovs[i].iov_base, iovs[i].iov_len, MSG_DONTWAIT, msgs[i].msg_hdr.msg_name,
                       msgs[i].msg_hdr.msg_namelen) < 0 ? -1 : 1;
#else
        int r = sendmmsg(fd, &msgs[i], (unsigned int)(k - i), MSG_DONTWAIT);
#endif
        int err = errno;
        g->syscalls++;
        if (r > 0) {
            for (int j = i; j < i + r; j++) owners[j]->sent++;
            i += r;
            continue;
        }
        if (r == 0 || err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR) {
            g->cut_short += (unsigned long long)(k - i); /* the socket is full: the rest is lost */
            for (; i < k; i++) {
                owners[i]->failed++;
                owners[i]->last_errno = r == 0 ? EAGAIN : err;
            }
            return;
        }
        owners[i]->failed++; /* this destination's own error (EACCES, EINVAL, ...): skip it */
        owners[i]->last_errno = err;
        i++;
    }
}

/* The hot loop: for each pair, rewrite into a slot and protect; then sendmmsg. */
static PyObject *Group_forward(GroupObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    View v;
    unsigned long long ast;
    int k = 0;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "forward(view, abs_send_time)");
        return NULL;
    }
    ast = PyLong_AsUnsignedLongLongMask(args[1]);
    if (ast == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (view_read(args[0], &v) < 0) { view_release(&v); return NULL; }
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Entry *e = &self->entries[i];
        SinkObject *s = e->sink;
        int usable = s->fd >= 0 && e->ctx, n;
        uint8_t *out;
        Py_ssize_t len;
        if (usable && k > 0 && (k == BATCH || s->dev != owners[0]->dev || s->ino != owners[0]->ino)) {
            flush(self, k); /* full, or another socket from here on */
            k = 0;
        }
        out = usable && v.payload_len <= MAX_PACKET - MAX_HEADER ? slots[k] : wide;
        len = rewriter_write(e->rewriter, &v, (uint32_t)(ast & 0xFFFFFF), out); /* always: the state moves on */
        if (!usable || len > MAX_PACKET) {
            s->failed++;
            continue;
        }
        if (out == wide) memcpy(slots[k], wide, (size_t)len);
        n = (int)len;
        if (s->protect(e->ctx, slots[k], &n) != 0) {
            s->failed++;
            s->last_errno = 0;
            continue;
        }
        iovs[k].iov_base = slots[k];
        iovs[k].iov_len = (size_t)n;
        msgs[k].msg_hdr.msg_name = &s->addr;
        msgs[k].msg_hdr.msg_namelen = s->addrlen;
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        owners[k++] = s;
    }
    flush(self, k);
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
    {"add", (PyCFunction)Group_add, METH_VARARGS,
     "add(rewriter, sink) -> bool: serve this pair from now on; False when the sink cannot protect its SSRC"},
    {"remove", (PyCFunction)Group_remove, METH_O, "remove(rewriter) -> bool: stop serving its pair"},
    {"forward", (PyCFunction)(void (*)(void))Group_forward, METH_FASTCALL,
     "forward(view, abs_send_time) -> int: rewrite and protect the packet for every pair, send them in one sendmmsg"},
    {"clear", (PyCFunction)Group_clear, METH_NOARGS, "clear(): remove every pair"},
    {NULL}};

static PyMemberDef Group_members[] = {
    {"syscalls", T_ULONGLONG, offsetof(GroupObject, syscalls), READONLY, "sendmmsg calls made"},
    {"cut_short", T_ULONGLONG, offsetof(GroupObject, cut_short), READONLY,
     "datagrams dropped because a full socket buffer stopped a batch"},
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
    .tp_members = Group_members,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- module */

#ifdef CALLSFU_OPENSSL
/* gcm_policy(key_and_salt): the GcmPolicy a Sink makes its own AES-GCM streams from. */
static PyObject *gcm_policy(PyObject *module, PyObject *arg)
{
    Py_buffer b;
    PyObject *out;
    GcmPolicy *p;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    if (b.len != 16 + 12 && b.len != 32 + 12) {
        PyBuffer_Release(&b);
        return PyErr_Format(PyExc_ValueError, "an AES-GCM master key and salt is 28 or 44 bytes, not %zd", b.len);
    }
    if ((out = PyByteArray_FromStringAndSize(NULL, sizeof(GcmPolicy)))) {
        p = (GcmPolicy *)PyByteArray_AS_STRING(out);
        memset(p, 0, sizeof *p);
        p->key_len = (int)b.len - 12;
        memcpy(p->master, b.buf, (size_t)b.len);
    }
    PyBuffer_Release(&b);
    return out;
}
#endif

static PyMethodDef module_methods[] = {
#ifdef CALLSFU_OPENSSL
    {"gcm_policy", gcm_policy, METH_O,
     "gcm_policy(key_and_salt) -> bytearray: the policy of a Sink that protects with its own AES-GCM streams"},
#endif
    {NULL}};

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "sfu.native._fanout",
    "callsfu's native fan-out: Rewriter, Sink, FanoutGroup (see sfu/native/__init__.py).", -1, module_methods};

PyMODINIT_FUNC PyInit__fanout(void)
{
    PyObject *m;
    if (PyType_Ready(&RewriterType) < 0 || PyType_Ready(&SinkType) < 0 || PyType_Ready(&GroupType) < 0)
        return NULL;
    if (!(m = PyModule_Create(&fanout_module))) return NULL;
    if (PyModule_AddObjectRef(m, "Rewriter", (PyObject *)&RewriterType) < 0 ||
        PyModule_AddObjectRef(m, "Sink", (PyObject *)&SinkType) < 0 ||
        PyModule_AddObjectRef(m, "FanoutGroup", (PyObject *)&GroupType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0 || PyModule_AddIntConstant(m, "BATCH", BATCH) < 0 ||
        PyModule_AddIntConstant(m, "MAX_STREAMS", MAX_STREAMS) < 0 ||
#ifdef CALLSFU_OPENSSL
        PyModule_AddIntConstant(m, "GCM_WINDOW", WINDOW) < 0) {
#else
        PyModule_AddIntConstant(m, "GCM_WINDOW", 0) < 0) {
#endif
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
