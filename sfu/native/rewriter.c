/* The native twin of sfu.core.rewriter.Rewriter: same state, same bytes.
 *
 * The Python class stays the reference (its docstrings explain the
 * semantics); tests/native/test_differential.py checks that both write the
 * same bytes and keep the same state on long random streams. Arguments are
 * resolved by sfu/native/rewriter.py (random defaults, negotiated ids, MID
 * checks), so this file only holds the per-packet arithmetic.
 */
#include "native.h"

#include <string.h>
#include <structmember.h>

static PyObject *s_seq, *s_ts, *s_marker, *s_payload, *s_level;

static int intern_names(void)
{
    if (s_seq) return 0;
    s_seq = PyUnicode_InternFromString("sequence_number");
    s_ts = PyUnicode_InternFromString("timestamp");
    s_marker = PyUnicode_InternFromString("marker");
    s_payload = PyUnicode_InternFromString("payload");
    s_level = PyUnicode_InternFromString("audio_level");
    return (s_seq && s_ts && s_marker && s_payload && s_level) ? 0 : -1;
}

static int get_masked(PyObject *obj, PyObject *name, unsigned long long *out)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (!value) return -1;
    *out = PyLong_AsUnsignedLongLongMask(value); /* Python's `& mask` semantics */
    Py_DECREF(value);
    return (*out == (unsigned long long)-1 && PyErr_Occurred()) ? -1 : 0;
}

int view_read(PyObject *view, View *v)
{
    unsigned long long seq, ts;
    PyObject *marker, *level;
    memset(v, 0, sizeof *v);
    if (intern_names() < 0 || get_masked(view, s_seq, &seq) < 0 || get_masked(view, s_ts, &ts) < 0)
        return -1;
    v->seq = (uint16_t)seq;
    v->ts = (uint32_t)ts;
    if (!(marker = PyObject_GetAttr(view, s_marker))) return -1;
    v->marker = PyObject_IsTrue(marker);
    Py_DECREF(marker);
    if (v->marker < 0) return -1;

    if (!(level = PyObject_GetAttr(view, s_level))) return -1;
    v->level = -1;
    if (level != Py_None) {
        Py_buffer b;
        if (PyObject_GetBuffer(level, &b, PyBUF_SIMPLE) < 0) { Py_DECREF(level); return -1; }
        if (b.len > 0) v->level = ((const uint8_t *)b.buf)[0];
        PyBuffer_Release(&b);
        if (v->level < 0) {
            Py_DECREF(level);
            PyErr_SetString(PyExc_ValueError, "audio_level is empty");
            return -1;
        }
    }
    Py_DECREF(level);

    if (!(v->payload_obj = PyObject_GetAttr(view, s_payload))) return -1;
    if (PyBytes_CheckExact(v->payload_obj)) {
        v->payload = (const uint8_t *)PyBytes_AS_STRING(v->payload_obj);
        v->payload_len = PyBytes_GET_SIZE(v->payload_obj);
    } else {
        if (PyObject_GetBuffer(v->payload_obj, &v->buffer, PyBUF_SIMPLE) < 0) {
            Py_CLEAR(v->payload_obj);
            return -1;
        }
        v->has_buffer = 1;
        v->payload = v->buffer.buf;
        v->payload_len = v->buffer.len;
    }
    return 0;
}

void view_release(View *v)
{
    if (v->has_buffer) PyBuffer_Release(&v->buffer);
    v->has_buffer = 0;
    Py_CLEAR(v->payload_obj);
}

static void put16(uint8_t *p, uint32_t x) { p[0] = x >> 8; p[1] = x; }
static void put32(uint8_t *p, uint32_t x) { p[0] = x >> 24; p[1] = x >> 16; p[2] = x >> 8; p[3] = x; }

/* Header bytes as sfu.core.rewriter._Layout packs them: elements in the order
 * MID, abs-send-time, audio level, zero padded to a 4-byte multiple. */
static void layout_init(Layout *lay, uint32_t ssrc, int pt, const uint8_t *mid, Py_ssize_t mid_len,
                        int ast_id, int al_id)
{
    int ext_len = (int)mid_len + (ast_id ? 4 : 0) + (al_id ? 2 : 0);
    int padding = (4 - ext_len % 4) % 4, n = 12;
    uint8_t *b = lay->bytes;
    memset(lay, 0, sizeof *lay);
    b[0] = ext_len ? 0x90 : 0x80;
    b[1] = (uint8_t)pt;
    put32(b + 8, ssrc);
    if (ext_len) {
        b[12] = 0xBE;
        b[13] = 0xDE;
        put16(b + 14, (ext_len + padding) / 4);
        n = 16;
        memcpy(b + n, mid, mid_len);
        n += (int)mid_len;
        if (ast_id) { b[n] = ast_id << 4 | 2; lay->ast_at = n + 1; n += 4; }
        if (al_id) { b[n] = al_id << 4; lay->level_at = n + 1; n += 2; }
        n += padding;
    }
    lay->len = n;
}

/* The header for one packet at `out`; returns its length. */
static int layout_put(const Layout *lay, const View *v, uint16_t seq, uint32_t ts, uint32_t ast, uint8_t *out)
{
    memcpy(out, lay->bytes, lay->len);
    if (v->marker) out[1] |= 0x80;
    put16(out + 2, seq);
    put32(out + 4, ts);
    if (lay->ast_at) { out[lay->ast_at] = ast >> 16; out[lay->ast_at + 1] = ast >> 8; out[lay->ast_at + 2] = ast; }
    if (lay->level_at && v->level >= 0) out[lay->level_at] = (uint8_t)v->level;
    return lay->len;
}

static void start_epoch(RewriterObject *r, const View *v)
{
    uint16_t first_seq = r->last_seq + 1 + r->skip;
    uint32_t first_ts = r->started ? r->last_ts + r->gap : r->last_ts;
    r->skip = 0;
    r->seq_offset = first_seq - v->seq;
    r->ts_offset = first_ts - v->ts;
    r->last_seq = first_seq - 1;
    r->last_ts = first_ts;
    r->epoch_span = -1;
    r->fresh = 0;
    r->started = 1;
}

Py_ssize_t rewriter_write(RewriterObject *r, const View *v, uint32_t abs_send_time, uint8_t *out)
{
    uint16_t seq, ahead;
    uint32_t ts;
    const Layout *lay;
    int n;
    if (r->fresh) start_epoch(r, v);
    seq = v->seq + r->seq_offset;
    ts = v->ts + r->ts_offset;
    ahead = seq - r->last_seq;
    if (ahead > 0 && ahead < 0x8000) {
        r->last_seq = seq;
        r->last_ts = ts;
        r->epoch_span += ahead;
    }
    r->packets_sent++;
    r->octets_sent += v->payload_len;
    lay = (v->level >= 0 && r->leveled.len) ? &r->leveled : &r->plain;
    n = layout_put(lay, v, seq, ts, abs_send_time & 0xFFFFFF, out);
    memcpy(out + n, v->payload, v->payload_len);
    return n + v->payload_len;
}

/* ---------------------------------------------------------------- the Python type */

static int get_u32(PyObject *obj, const char *name, unsigned long long max, uint32_t *out)
{
    unsigned long long x = PyLong_AsUnsignedLongLong(obj);
    if (PyErr_Occurred() || x > max) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be an integer from 0 to %llu", name, max);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

static int Rewriter_init(RewriterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ssrc", "payload_type", "mid", "mid_element", "ast_id", "al_id", "rtx_ssrc",
                             "rtx_payload_type", "first_sequence_number", "first_timestamp", "clock_rate",
                             "gap", "first_rtx_sequence_number", NULL};
    PyObject *ssrc, *pt, *mid, *ast, *al, *rtx_ssrc, *rtx_pt, *seq, *ts, *rate, *gap, *rtx_seq;
    const uint8_t *mid_el;
    Py_ssize_t mid_len;
    uint32_t v_ssrc, v_pt, v_ast, v_al, v_rtx_ssrc = 0, v_rtx_pt = 0, v_seq, v_ts, v_rate, v_gap, v_rtx_seq;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOUy#OOOOOOOOO", kwlist, &ssrc, &pt, &mid, &mid_el, &mid_len,
                                     &ast, &al, &rtx_ssrc, &rtx_pt, &seq, &ts, &rate, &gap, &rtx_seq))
        return -1;
    if (get_u32(ssrc, "ssrc", 0xFFFFFFFFull, &v_ssrc) || get_u32(pt, "payload_type", 127, &v_pt) ||
        get_u32(ast, "ast_id", 14, &v_ast) || get_u32(al, "al_id", 14, &v_al) ||
        get_u32(seq, "first_sequence_number", 0xFFFF, &v_seq) ||
        get_u32(ts, "first_timestamp", 0xFFFFFFFFull, &v_ts) ||
        get_u32(rate, "clock_rate", 0xFFFFFFFFull, &v_rate) || get_u32(gap, "gap", 0xFFFFFFFFull, &v_gap) ||
        get_u32(rtx_seq, "first_rtx_sequence_number", 0xFFFF, &v_rtx_seq))
        return -1;
    if (mid_len > 17) {
        PyErr_SetString(PyExc_ValueError, "mid_element is longer than 17 bytes");
        return -1;
    }
    self->has_rtx_ssrc = rtx_ssrc != Py_None;
    self->has_rtx_pt = rtx_pt != Py_None;
    self->has_rtx = self->has_rtx_ssrc && self->has_rtx_pt;
    if ((self->has_rtx_ssrc && get_u32(rtx_ssrc, "rtx_ssrc", 0xFFFFFFFFull, &v_rtx_ssrc)) ||
        (self->has_rtx_pt && get_u32(rtx_pt, "rtx_payload_type", 127, &v_rtx_pt)))
        return -1;
    self->ssrc = v_ssrc;
    self->payload_type = (int)v_pt;
    self->rtx_ssrc = v_rtx_ssrc;
    self->rtx_payload_type = (int)v_rtx_pt;
    self->clock_rate = v_rate;
    self->gap = v_gap;
    Py_INCREF(mid);
    Py_XSETREF(self->mid, mid);
    layout_init(&self->plain, v_ssrc, v_pt, mid_el, mid_len, v_ast, 0);
    memset(&self->leveled, 0, sizeof(Layout));
    memset(&self->rtx_plain, 0, sizeof(Layout));
    memset(&self->rtx_leveled, 0, sizeof(Layout));
    if (v_al) layout_init(&self->leveled, v_ssrc, v_pt, mid_el, mid_len, v_ast, v_al);
    if (self->has_rtx) {
        layout_init(&self->rtx_plain, v_rtx_ssrc, v_rtx_pt, mid_el, mid_len, v_ast, 0);
        if (v_al) layout_init(&self->rtx_leveled, v_rtx_ssrc, v_rtx_pt, mid_el, mid_len, v_ast, v_al);
    }
    self->packets_sent = self->octets_sent = 0;
    self->last_seq = (uint16_t)(v_seq - 1);
    self->last_ts = v_ts;
    self->rtx_seq = (uint16_t)v_rtx_seq;
    self->seq_offset = self->skip = 0;
    self->ts_offset = 0;
    self->epoch_span = 0;
    self->fresh = 1;
    self->started = 0;
    return 0;
}

static void Rewriter_dealloc(RewriterObject *self)
{
    Py_CLEAR(self->mid);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_view_args(PyObject *const *args, Py_ssize_t nargs, View *v, uint32_t *ast)
{
    unsigned long long x;
    memset(v, 0, sizeof *v); /* so that view_release is safe on every error */
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "expected (view, abs_send_time)");
        return -1;
    }
    x = PyLong_AsUnsignedLongLongMask(args[1]);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *ast = (uint32_t)(x & 0xFFFFFF);
    return view_read(args[0], v);
}

static PyObject *Rewriter_rewrite(RewriterObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    View v;
    uint32_t ast;
    PyObject *out;
    if (parse_view_args(args, nargs, &v, &ast) < 0) { view_release(&v); return NULL; }
    out = PyBytes_FromStringAndSize(NULL, MAX_HEADER + v.payload_len);
    if (out) _PyBytes_Resize(&out, rewriter_write(self, &v, ast, (uint8_t *)PyBytes_AS_STRING(out)));
    view_release(&v);
    return out;
}

static PyObject *Rewriter_rtx(RewriterObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    View v;
    uint32_t ast;
    const Layout *lay;
    PyObject *out = NULL;
    uint8_t *p;
    int n;
    if (parse_view_args(args, nargs, &v, &ast) < 0) { view_release(&v); return NULL; }
    lay = (v.level >= 0 && self->rtx_leveled.len) ? &self->rtx_leveled : &self->rtx_plain;
    if (!self->has_rtx || self->fresh) {
        view_release(&v);
        Py_RETURN_NONE;
    }
    out = PyBytes_FromStringAndSize(NULL, MAX_HEADER + 2 + v.payload_len);
    if (out) {
        p = (uint8_t *)PyBytes_AS_STRING(out);
        n = layout_put(lay, &v, self->rtx_seq, v.ts + self->ts_offset, ast, p);
        self->rtx_seq++;
        put16(p + n, (uint16_t)(v.seq + self->seq_offset)); /* the original sequence number */
        memcpy(p + n + 2, v.payload, v.payload_len);
        _PyBytes_Resize(&out, n + 2 + v.payload_len);
    }
    view_release(&v);
    return out;
}

static PyObject *Rewriter_switch_source(RewriterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"skip", NULL};
    PyObject *skip = NULL;
    unsigned long long x = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &skip)) return NULL;
    if (skip) {
        x = PyLong_AsUnsignedLongLongMask(skip);
        if (x == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    }
    self->fresh = 1;
    self->skip = self->started ? (uint16_t)x : 0;
    Py_RETURN_NONE;
}

static PyObject *Rewriter_precedes_epoch(RewriterObject *self, PyObject *view)
{
    unsigned long long seq;
    uint16_t back;
    if (intern_names() < 0 || get_masked(view, s_seq, &seq) < 0) return NULL;
    if (self->fresh) Py_RETURN_FALSE;
    back = self->last_seq - (uint16_t)(seq + self->seq_offset);
    return PyBool_FromLong(back < 0x8000 && back > self->epoch_span);
}

static PyObject *Rewriter_original_sequence_number(RewriterObject *self, PyObject *arg)
{
    unsigned long long out_seq = PyLong_AsUnsignedLongLongMask(arg);
    uint16_t back;
    if (out_seq == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (self->fresh) Py_RETURN_NONE;
    back = self->last_seq - (uint16_t)out_seq;
    if (back >= 0x8000 || back > self->epoch_span) Py_RETURN_NONE;
    return PyLong_FromLong((uint16_t)(out_seq - self->seq_offset));
}

static PyObject *Rewriter_get_rtx_ssrc(RewriterObject *self, void *closure)
{
    if (!self->has_rtx_ssrc) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(self->rtx_ssrc);
}

static PyObject *Rewriter_get_rtx_pt(RewriterObject *self, void *closure)
{
    if (!self->has_rtx_pt) Py_RETURN_NONE;
    return PyLong_FromLong(self->rtx_payload_type);
}

static PyMethodDef Rewriter_methods[] = {
    {"rewrite", (PyCFunction)(void (*)(void))Rewriter_rewrite, METH_FASTCALL,
     "rewrite(view, abs_send_time) -> bytes: as sfu.core.rewriter.Rewriter.rewrite"},
    {"rtx", (PyCFunction)(void (*)(void))Rewriter_rtx, METH_FASTCALL,
     "rtx(view, abs_send_time) -> bytes | None: as sfu.core.rewriter.Rewriter.rtx"},
    {"switch_source", (PyCFunction)(void (*)(void))Rewriter_switch_source, METH_VARARGS | METH_KEYWORDS,
     "switch_source(skip=0): start a new epoch at the next packet"},
    {"precedes_epoch", (PyCFunction)Rewriter_precedes_epoch, METH_O,
     "precedes_epoch(view) -> bool: older than the current epoch's first packet"},
    {"original_sequence_number", (PyCFunction)Rewriter_original_sequence_number, METH_O,
     "original_sequence_number(out_seq) -> int | None: the publisher's sequence number"},
    {NULL}};

#define RO(name, type, field) {name, type, offsetof(RewriterObject, field), READONLY, NULL}
static PyMemberDef Rewriter_members[] = {
    RO("ssrc", T_UINT, ssrc),
    RO("payload_type", T_INT, payload_type),
    RO("mid", T_OBJECT, mid),
    RO("clock_rate", T_UINT, clock_rate),
    RO("gap", T_UINT, gap),
    RO("packets_sent", T_ULONGLONG, packets_sent),
    RO("octets_sent", T_ULONGLONG, octets_sent),
    RO("last_sequence_number", T_USHORT, last_seq),
    RO("last_timestamp", T_UINT, last_ts),
    RO("rtx_sequence_number", T_USHORT, rtx_seq),
    RO("seq_offset", T_USHORT, seq_offset),
    RO("ts_offset", T_UINT, ts_offset),
    {NULL}};

static PyGetSetDef Rewriter_getset[] = {
    {"rtx_ssrc", (getter)Rewriter_get_rtx_ssrc, NULL, "RTX SSRC as given (None: none)", NULL},
    {"rtx_payload_type", (getter)Rewriter_get_rtx_pt, NULL, "RTX payload type as given (None: none)", NULL},
    {NULL}};

PyTypeObject RewriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sfu.native._fanout.Rewriter",
    .tp_basicsize = sizeof(RewriterObject),
    .tp_dealloc = (destructor)Rewriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "One subscriber slot's RTP rewriter (the native twin of sfu.core.rewriter.Rewriter).",
    .tp_methods = Rewriter_methods,
    .tp_members = Rewriter_members,
    .tp_getset = Rewriter_getset,
    .tp_init = (initproc)Rewriter_init,
    .tp_new = PyType_GenericNew,
};
