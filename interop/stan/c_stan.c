/*
 * NATS Streaming (STAN) interop scenario using the official C client
 * (Debian libnats-dev, nats.c 3.4.x, streaming API stanConnection_*).
 *
 * usage: c_stan NATS_URL CLUSTER_ID PREFIX
 *   NATS_URL    e.g. nats://127.0.0.1:4222
 *   CLUSTER_ID  e.g. test-cluster
 *   PREFIX      unique run prefix, [A-Za-z0-9_-]+ (e.g. c-embedded); used for
 *               client IDs (<prefix>-a, ...) and channels (<prefix>.start, ...)
 *
 * build: cc -O1 -Wall -o c_stan c_stan.c $(pkg-config --cflags --libs libnats) -lpthread
 *
 * Prints one line per check: "ok <name>" or "FAIL <name>: <details>"; exits 1
 * if any check failed, 2 on the global watchdog (alarm). Every wait is bounded.
 *
 * Note: the C API hands the subscription's channel to the message callback
 * (not MsgProto.subject), so the subject check here is weaker than in the
 * Python/Node programs.
 */
/* libnats-dev is built with streaming support (exports stan* symbols) but the
 * installed nats.h only declares the streaming API when this is defined. */
#ifndef NATS_HAS_STREAMING
#define NATS_HAS_STREAMING 1
#endif
#include <nats/nats.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000
#define GRACE_MS 500
#define WATCHDOG_S 55
#define MAXMSGS 256

static const char *ERR_DUP = "stan: clientID already registered";
static const char *ERR_BADID =
    "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed";

static int passes = 0, failures = 0;
static const char *g_url, *g_cluster, *g_prefix;

/* ------------------------------------------------------------------ utils */

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[2048] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    if (ok) {
        passes++;
        if (detail[0]) printf("ok %s (%s)\n", name, detail);
        else printf("ok %s\n", name);
    } else {
        failures++;
        printf("FAIL %s: %s\n", name, detail);
    }
    fflush(stdout);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL watchdog: scenario exceeded time limit\n";
    if (write(1, m, sizeof(m) - 1) < 0) { /* nothing */ }
    _exit(2);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *ch(char *buf, size_t n, const char *s)
{
    snprintf(buf, n, "%s.%s", g_prefix, s);
    return buf;
}

static const char *cid(char *buf, size_t n, const char *s)
{
    snprintf(buf, n, "%s-%s", g_prefix, s);
    return buf;
}

/* Error text for a failed call: thread-local last error, else status text. */
static void errtxt(char *buf, size_t n, natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    if (t != NULL && t[0] != '\0')
        snprintf(buf, n, "%s (%s)", t, natsStatus_GetText(s));
    else
        snprintf(buf, n, "%s", natsStatus_GetText(s));
}

/* Append to a problems buffer. */
static void addp(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 3 >= n) return;
    if (len > 0) {
        strcat(buf, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* -------------------------------------------------------------- collector */

enum { ACK_NONE = 0, ACK_ALL = 1, ACK_REDELIVERED = 2 };

typedef struct {
    uint64_t seq;
    char data[64];
    char channel[128];
    int redelivered;
    int64_t ts;
} rmsg;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int ackmode;
    int n;
    rmsg msgs[MAXMSGS];
    char ackerr[256];
} collector;

/* Collectors are never freed: a callback may still run briefly after close. */
static collector *coll_new(int ackmode)
{
    collector *c = calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->ackmode = ackmode;
    return c;
}

static void on_msg(stanConnection *sc, stanSubscription *sub, const char *channel, stanMsg *msg,
                   void *closure)
{
    (void)sc;
    collector *c = closure;
    int redel = stanMsg_IsRedelivered(msg) ? 1 : 0;
    if (c->ackmode == ACK_ALL || (c->ackmode == ACK_REDELIVERED && redel)) {
        natsStatus s = stanSubscription_AckMsg(sub, msg);
        if (s != NATS_OK) {
            pthread_mutex_lock(&c->mu);
            errtxt(c->ackerr, sizeof(c->ackerr), s);
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_mutex_lock(&c->mu);
    if (c->n < MAXMSGS) {
        rmsg *m = &c->msgs[c->n];
        m->seq = stanMsg_GetSequence(msg);
        int len = stanMsg_GetDataLength(msg);
        if (len > (int)sizeof(m->data) - 1) len = (int)sizeof(m->data) - 1;
        if (len > 0) memcpy(m->data, stanMsg_GetData(msg), (size_t)len);
        m->data[len < 0 ? 0 : len] = '\0';
        snprintf(m->channel, sizeof(m->channel), "%s", channel ? channel : "(null)");
        m->redelivered = redel;
        m->ts = stanMsg_GetTimestamp(msg);
    }
    c->n++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    stanMsg_Destroy(msg);
}

static int coll_count(collector *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Wait until at least n messages; returns 1 on success, 0 on timeout. */
static int coll_wait(collector *c, int n, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (c->n < n) {
        if (pthread_cond_timedwait(&c->cond, &c->mu, &dl) != 0) break;
    }
    int ok = c->n >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void seqlist(char *buf, size_t n, collector *c, int from, int to)
{
    buf[0] = '\0';
    size_t len = 0;
    for (int i = from; i < to && i < MAXMSGS && len + 24 < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%llu", i > from ? "," : "",
                                (unsigned long long)c->msgs[i].seq);
}

/* Compare messages [from, to) with expected sequences / payloads "<dpfx><seq>". */
static void msg_problems(char *probs, size_t pn, collector *c, int from, int to,
                         const char *channel, const uint64_t *exp, int nexp, const char *dpfx,
                         int redelivered)
{
    pthread_mutex_lock(&c->mu);
    if (to > c->n) to = c->n;
    int cnt = to - from;
    int bad = cnt != nexp;
    for (int i = 0; !bad && i < cnt; i++)
        if (c->msgs[from + i].seq != exp[i]) bad = 1;
    if (bad) {
        char got[1024], want[1024];
        size_t len = 0;
        seqlist(got, sizeof(got), c, from, to);
        want[0] = '\0';
        for (int i = 0; i < nexp && len + 24 < sizeof(want); i++)
            len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%llu", i ? "," : "",
                                    (unsigned long long)exp[i]);
        addp(probs, pn, "sequences [%s] != expected [%s]", got, want);
    }
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t now_ns = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
    const int64_t hour_ns = 3600LL * 1000000000LL;
    for (int i = from; i < to && i < MAXMSGS; i++) {
        rmsg *m = &c->msgs[i];
        if (m->ts > 0 && (m->ts > now_ns + hour_ns || m->ts < now_ns - hour_ns))
            addp(probs, pn, "seq %llu: timestamp %lld is not Unix ns within 1h of now (%lld)",
                 (unsigned long long)m->seq, (long long)m->ts, (long long)now_ns);
        if (i > from && m->ts < c->msgs[i - 1].ts)
            addp(probs, pn, "seq %llu: timestamp %lld < previous %lld", (unsigned long long)m->seq,
                 (long long)m->ts, (long long)c->msgs[i - 1].ts);
        char wantd[64];
        snprintf(wantd, sizeof(wantd), "%s%llu", dpfx, (unsigned long long)m->seq);
        if (dpfx != NULL && strcmp(m->data, wantd) != 0)
            addp(probs, pn, "seq %llu: data '%s' != '%s'", (unsigned long long)m->seq, m->data, wantd);
        if (strcmp(m->channel, channel) != 0)
            addp(probs, pn, "seq %llu: channel '%s' != '%s'", (unsigned long long)m->seq, m->channel,
                 channel);
        if (m->ts <= 0)
            addp(probs, pn, "seq %llu: timestamp %lld not > 0", (unsigned long long)m->seq,
                 (long long)m->ts);
        if (m->redelivered != redelivered)
            addp(probs, pn, "seq %llu: redelivered=%d, expected %d", (unsigned long long)m->seq,
                 m->redelivered, redelivered);
    }
    if (c->ackerr[0]) addp(probs, pn, "ack failed: %s", c->ackerr);
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ connections */

static natsStatus connect_id(stanConnection **sc, const char *clientID, char *err, size_t en)
{
    stanConnOptions *o = NULL;
    natsStatus s = stanConnOptions_Create(&o);
    if (s == NATS_OK) s = stanConnOptions_SetURL(o, g_url);
    if (s == NATS_OK) s = stanConnOptions_SetConnectionWait(o, TIMEOUT_MS);
    if (s == NATS_OK) s = stanConnOptions_SetPubAckWait(o, TIMEOUT_MS);
    if (s == NATS_OK) s = stanConnection_Connect(sc, g_cluster, clientID, o);
    if (s != NATS_OK) {
        errtxt(err, en, s);
        *sc = NULL;
    }
    stanConnOptions_Destroy(o);
    return s;
}

/* Close + destroy; returns 1 if the close succeeded. */
static int close_conn(stanConnection *sc, char *err, size_t en)
{
    natsStatus s = stanConnection_Close(sc);
    if (s != NATS_OK) errtxt(err, en, s);
    stanConnection_Destroy(sc);
    return s == NATS_OK;
}

typedef struct {
    int start; /* 0 new-only, 1 all, 2 seq, 3 last, 4 delta(ms), 5 time(ms since epoch) */
    uint64_t seq;
    int64_t ms;
    int manual;
    int64_t ackwait_ms;
    const char *durable;
} subspec;

static natsStatus subscribe(stanSubscription **sub, stanConnection *sc, const char *channel,
                            const char *queue, collector *c, const subspec *sp, char *err,
                            size_t en)
{
    stanSubOptions *o = NULL;
    natsStatus s = stanSubOptions_Create(&o);
    if (s == NATS_OK) {
        switch (sp->start) {
        case 1: s = stanSubOptions_DeliverAllAvailable(o); break;
        case 2: s = stanSubOptions_StartAtSequence(o, sp->seq); break;
        case 3: s = stanSubOptions_StartWithLastReceived(o); break;
        case 4: s = stanSubOptions_StartAtTimeDelta(o, sp->ms); break;
        case 5: s = stanSubOptions_StartAtTime(o, sp->ms); break;
        default: break;
        }
    }
    if (s == NATS_OK && sp->manual) s = stanSubOptions_SetManualAckMode(o, true);
    if (s == NATS_OK && sp->ackwait_ms > 0) s = stanSubOptions_SetAckWait(o, sp->ackwait_ms);
    if (s == NATS_OK && sp->durable) s = stanSubOptions_SetDurableName(o, sp->durable);
    if (s == NATS_OK) {
        if (queue)
            s = stanConnection_QueueSubscribe(sub, sc, channel, queue, on_msg, c, o);
        else
            s = stanConnection_Subscribe(sub, sc, channel, on_msg, c, o);
    }
    if (s != NATS_OK) {
        errtxt(err, en, s);
        *sub = NULL;
    }
    stanSubOptions_Destroy(o);
    return s;
}

/* Unsubscribe (or close) and destroy; appends a problem on failure. */
static void unsub(stanSubscription *sub, int close, char *probs, size_t pn)
{
    natsStatus s = close ? stanSubscription_Close(sub) : stanSubscription_Unsubscribe(sub);
    if (s != NATS_OK) {
        char e[512];
        errtxt(e, sizeof(e), s);
        addp(probs, pn, "%s: %s", close ? "close" : "unsubscribe", e);
    }
    stanSubscription_Destroy(sub);
}

/* Synchronous publishes of "<dpfx><i>" for i in [from, to]; problems appended. */
static void publish_sync(stanConnection *sc, const char *channel, const char *dpfx, int from, int to,
                         char *probs, size_t pn)
{
    for (int i = from; i <= to; i++) {
        char d[64];
        snprintf(d, sizeof(d), "%s%d", dpfx, i);
        natsStatus s = stanConnection_Publish(sc, channel, d, (int)strlen(d));
        if (s != NATS_OK) {
            char e[512];
            errtxt(e, sizeof(e), s);
            addp(probs, pn, "publish '%s': %s", d, e);
        }
    }
}

/* -------------------------------------------------------------- scenarios */

static stanConnection *A = NULL;

static int s_connect_publish(void)
{
    char id[128], c[128], err[512], probs[4096] = "";
    if (connect_id(&A, cid(id, sizeof(id), "a"), err, sizeof(err)) != NATS_OK) {
        check("connect", 0, "client %s: %s", id, err);
        return 0;
    }
    check("connect", 1, NULL);
    publish_sync(A, ch(c, sizeof(c), "start"), "m", 1, 5, probs, sizeof(probs));
    check("publish_sync", probs[0] == '\0', "%s", probs);
    return 1;
}

static void start_case(const char *name, const subspec *sp, const uint64_t *exp, int nexp)
{
    char c[128], err[512], probs[4096] = "";
    collector *col = coll_new(ACK_NONE);
    stanSubscription *sub = NULL;
    ch(c, sizeof(c), "start");
    if (subscribe(&sub, A, c, NULL, col, sp, err, sizeof(err)) != NATS_OK) {
        check(name, 0, "subscribe: %s", err);
        return;
    }
    coll_wait(col, nexp, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, exp, nexp, "m", 0);
    unsub(sub, 0, probs, sizeof(probs));
    check(name, probs[0] == '\0', "%s", probs);
}

static void s_start_positions(void)
{
    static const uint64_t all[] = {1, 2, 3, 4, 5}, from3[] = {3, 4, 5}, last[] = {5}, six[] = {6};
    subspec sp;

    memset(&sp, 0, sizeof(sp));
    sp.start = 1;
    start_case("start_deliver_all", &sp, all, 5);
    memset(&sp, 0, sizeof(sp));
    sp.start = 2;
    sp.seq = 3;
    start_case("start_at_sequence", &sp, from3, 3);
    memset(&sp, 0, sizeof(sp));
    sp.start = 3;
    start_case("start_last_received", &sp, last, 1);
    memset(&sp, 0, sizeof(sp));
    sp.start = 4;
    sp.ms = 3600 * 1000;
    start_case("start_time_delta", &sp, all, 5);

    /* new only (default): nothing of the stored ones, then m6 -> seq 6 */
    char c[128], err[512], probs[4096] = "";
    collector *col = coll_new(ACK_NONE);
    stanSubscription *sub = NULL;
    memset(&sp, 0, sizeof(sp));
    ch(c, sizeof(c), "start");
    if (subscribe(&sub, A, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("start_new_only", 0, "subscribe: %s", err);
        return;
    }
    sleep_ms(GRACE_MS);
    int before = coll_count(col);
    if (before > 0) {
        char l[512];
        pthread_mutex_lock(&col->mu);
        seqlist(l, sizeof(l), col, 0, col->n);
        pthread_mutex_unlock(&col->mu);
        addp(probs, sizeof(probs), "received stored messages [%s] before publishing m6", l);
    }
    publish_sync(A, c, "m", 6, 6, probs, sizeof(probs));
    coll_wait(col, before + 1, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    if (probs[0] == '\0') msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, six, 1, "m", 0);
    unsub(sub, 0, probs, sizeof(probs));
    check("start_new_only", probs[0] == '\0', "%s", probs);
}

static void s_start_at_time(void)
{
    /* a1,a2 ... 1.5 s ... T ... 1.5 s ... b3,b4 ; start at T -> seqs 3,4 */
    static const uint64_t exp[] = {3, 4};
    char c[128], err[512], probs[4096] = "";
    ch(c, sizeof(c), "time");
    publish_sync(A, c, "a", 1, 2, probs, sizeof(probs));
    sleep_ms(1500);
    int64_t t = nats_Now();
    sleep_ms(1500);
    publish_sync(A, c, "b", 3, 4, probs, sizeof(probs));
    if (probs[0]) {
        check("start_at_time", 0, "%s", probs);
        return;
    }
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    sp.start = 5;
    sp.ms = t;
    collector *col = coll_new(ACK_NONE);
    stanSubscription *sub = NULL;
    if (subscribe(&sub, A, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("start_at_time", 0, "subscribe: %s", err);
        return;
    }
    coll_wait(col, 2, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, exp, 2, "b", 0);
    unsub(sub, 0, probs, sizeof(probs));
    check("start_at_time", probs[0] == '\0', "%s", probs);
}

#define NASYNC 100
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int acks;
    int errs;
    int dup;
    int seen[NASYNC];
    char firsterr[256];
} g_async = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {0}, ""};
static int g_async_idx[NASYNC];

static void on_pub_ack(const char *guid, const char *error, void *closure)
{
    (void)guid;
    int i = *(int *)closure;
    pthread_mutex_lock(&g_async.mu);
    if (g_async.seen[i]++) g_async.dup++;
    g_async.acks++;
    if (error != NULL && error[0] != '\0') {
        if (g_async.errs++ == 0) snprintf(g_async.firsterr, sizeof(g_async.firsterr), "%s", error);
    }
    pthread_cond_broadcast(&g_async.cond);
    pthread_mutex_unlock(&g_async.mu);
}

static void s_async_publish(void)
{
    char c[128], err[512], probs[4096] = "";
    ch(c, sizeof(c), "async");
    for (int i = 0; i < NASYNC; i++) {
        char d[32];
        g_async_idx[i] = i;
        snprintf(d, sizeof(d), "a%d", i + 1);
        natsStatus s = stanConnection_PublishAsync(A, c, d, (int)strlen(d), on_pub_ack, &g_async_idx[i]);
        if (s != NATS_OK) {
            errtxt(err, sizeof(err), s);
            addp(probs, sizeof(probs), "publish %s: %s", d, err);
            break;
        }
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += TIMEOUT_MS / 1000;
    pthread_mutex_lock(&g_async.mu);
    while (g_async.acks < NASYNC)
        if (pthread_cond_timedwait(&g_async.cond, &g_async.mu, &dl) != 0) break;
    if (g_async.acks < NASYNC)
        addp(probs, sizeof(probs), "only %d/%d acks within %ds", g_async.acks, NASYNC, TIMEOUT_MS / 1000);
    if (g_async.errs)
        addp(probs, sizeof(probs), "%d acks with error, first '%s'", g_async.errs, g_async.firsterr);
    if (g_async.dup) addp(probs, sizeof(probs), "%d duplicate acks", g_async.dup);
    pthread_mutex_unlock(&g_async.mu);
    check("async_publish", probs[0] == '\0', "%s", probs);

    uint64_t exp[NASYNC];
    for (int i = 0; i < NASYNC; i++) exp[i] = (uint64_t)i + 1;
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    sp.start = 1;
    collector *col = coll_new(ACK_NONE);
    stanSubscription *sub = NULL;
    probs[0] = '\0';
    if (subscribe(&sub, A, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("async_deliver_all", 0, "subscribe: %s", err);
        return;
    }
    coll_wait(col, NASYNC, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, exp, NASYNC, "a", 0);
    unsub(sub, 0, probs, sizeof(probs));
    probs[600] = '\0';
    check("async_deliver_all", probs[0] == '\0', "%s", probs);
}

static void s_redelivery(void)
{
    static const uint64_t one[] = {1};
    char c[128], err[512], probs[4096] = "";
    ch(c, sizeof(c), "redeliver");
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    sp.start = 1;
    sp.manual = 1;
    sp.ackwait_ms = 1000;
    /* The first delivery is not acked; the redelivered one is acked in the callback. */
    collector *col = coll_new(ACK_REDELIVERED);
    stanSubscription *sub = NULL;
    if (subscribe(&sub, A, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("redeliver_first", 0, "subscribe: %s", err);
        return;
    }
    publish_sync(A, c, "r", 1, 1, probs, sizeof(probs));
    if (!coll_wait(col, 1, TIMEOUT_MS)) addp(probs, sizeof(probs), "no delivery");
    if (probs[0] == '\0') msg_problems(probs, sizeof(probs), col, 0, 1, c, one, 1, "r", 0);
    check("redeliver_first", probs[0] == '\0', "%s", probs);

    int64_t t0 = mono_ms();
    int ok = coll_wait(col, 2, 3000);
    probs[0] = '\0';
    if (!ok) {
        check("redeliver_again", 0, "no redelivery within 3s (ack wait 1s, message not acked)");
    } else {
        char el[64];
        snprintf(el, sizeof(el), "after %.2fs", (double)(mono_ms() - t0) / 1000.0);
        msg_problems(probs, sizeof(probs), col, 1, 2, c, one, 1, "r", 1);
        if (probs[0]) check("redeliver_again", 0, "%s", probs);
        else check("redeliver_again", 1, "%s", el);
    }
    int n = coll_count(col);
    sleep_ms(1500);
    probs[0] = '\0';
    int n2 = coll_count(col);
    if (ok && n2 > n) {
        char l[512];
        pthread_mutex_lock(&col->mu);
        seqlist(l, sizeof(l), col, n, n2);
        pthread_mutex_unlock(&col->mu);
        addp(probs, sizeof(probs), "redelivered after ack: seqs [%s]", l);
    }
    pthread_mutex_lock(&col->mu);
    if (col->ackerr[0]) addp(probs, sizeof(probs), "ack failed: %s", col->ackerr);
    pthread_mutex_unlock(&col->mu);
    size_t before = strlen(probs);
    unsub(sub, 0, probs, sizeof(probs));
    if (ok || strlen(probs) != before)
        check("redeliver_stops_after_ack", probs[0] == '\0', "%s", probs);
}

static void s_queue(void)
{
    enum { NQ = 20 };
    char c[128], id[128], err[512], probs[4096] = "";
    stanConnection *qc[2] = {NULL, NULL};
    stanSubscription *qs[2] = {NULL, NULL};
    collector *col[2] = {coll_new(ACK_NONE), coll_new(ACK_NONE)};
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    ch(c, sizeof(c), "queue");
    for (int i = 0; i < 2; i++) {
        if (connect_id(&qc[i], cid(id, sizeof(id), i ? "q2" : "q1"), err, sizeof(err)) != NATS_OK) {
            addp(probs, sizeof(probs), "connect %s: %s", id, err);
            break;
        }
        if (subscribe(&qs[i], qc[i], c, "grp", col[i], &sp, err, sizeof(err)) != NATS_OK) {
            addp(probs, sizeof(probs), "subscribe %s: %s", id, err);
            break;
        }
    }
    if (probs[0]) {
        check("queue_group", 0, "setup: %s", probs);
        for (int i = 0; i < 2; i++) {
            if (qs[i]) stanSubscription_Destroy(qs[i]);
            if (qc[i]) close_conn(qc[i], err, sizeof(err));
        }
        return;
    }
    publish_sync(A, c, "q", 1, NQ, probs, sizeof(probs));
    int64_t dl = mono_ms() + TIMEOUT_MS;
    while (mono_ms() < dl && coll_count(col[0]) + coll_count(col[1]) < NQ) sleep_ms(50);
    sleep_ms(GRACE_MS);
    int count[NQ + 1];
    memset(count, 0, sizeof(count));
    int n0 = coll_count(col[0]), n1 = coll_count(col[1]);
    for (int k = 0; k < 2; k++) {
        pthread_mutex_lock(&col[k]->mu);
        for (int i = 0; i < col[k]->n && i < MAXMSGS; i++) {
            rmsg *m = &col[k]->msgs[i];
            char wantd[32];
            snprintf(wantd, sizeof(wantd), "q%llu", (unsigned long long)m->seq);
            if (m->seq >= 1 && m->seq <= NQ) count[m->seq]++;
            else addp(probs, sizeof(probs), "unexpected seq %llu", (unsigned long long)m->seq);
            if (strcmp(m->data, wantd) != 0)
                addp(probs, sizeof(probs), "seq %llu: data '%s'", (unsigned long long)m->seq, m->data);
        }
        pthread_mutex_unlock(&col[k]->mu);
    }
    for (int s = 1; s <= NQ; s++)
        if (count[s] != 1) addp(probs, sizeof(probs), "seq %d delivered %d times", s, count[s]);
    for (int i = 0; i < 2; i++) {
        unsub(qs[i], 0, probs, sizeof(probs));
        if (!close_conn(qc[i], err, sizeof(err))) addp(probs, sizeof(probs), "close: %s", err);
    }
    if (probs[0]) check("queue_group", 0, "%s", probs);
    else check("queue_group", 1, "split %d/%d", n0, n1);
}

static void s_durable(void)
{
    static const uint64_t e123[] = {1, 2, 3}, e45[] = {4, 5}, e1_5[] = {1, 2, 3, 4, 5};
    char c[128], id[128], err[512], probs[4096] = "";
    stanConnection *D = NULL;
    stanSubscription *sub = NULL;
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    sp.start = 1;
    sp.manual = 1;
    sp.durable = "dur1";
    ch(c, sizeof(c), "durable");
    collector *col = coll_new(ACK_ALL);
    if (connect_id(&D, cid(id, sizeof(id), "dur"), err, sizeof(err)) != NATS_OK) {
        check("durable_first", 0, "connect %s: %s", id, err);
        return;
    }
    if (subscribe(&sub, D, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("durable_first", 0, "subscribe: %s", err);
        close_conn(D, err, sizeof(err));
        return;
    }
    publish_sync(A, c, "d", 1, 3, probs, sizeof(probs));
    coll_wait(col, 3, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, e123, 3, "d", 0);
    unsub(sub, 1, probs, sizeof(probs)); /* close, keep the durable */
    check("durable_first", probs[0] == '\0', "%s", probs);

    probs[0] = '\0';
    publish_sync(A, c, "d", 4, 5, probs, sizeof(probs));
    col = coll_new(ACK_ALL);
    if (subscribe(&sub, D, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("durable_resume", 0, "resubscribe: %s", err);
        close_conn(D, err, sizeof(err));
        return;
    }
    coll_wait(col, 2, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, e45, 2, "d", 0);
    unsub(sub, 0, probs, sizeof(probs)); /* unsubscribe deletes the durable */
    check("durable_resume", probs[0] == '\0', "%s", probs);

    probs[0] = '\0';
    col = coll_new(ACK_ALL);
    if (subscribe(&sub, D, c, NULL, col, &sp, err, sizeof(err)) != NATS_OK) {
        check("durable_after_unsubscribe", 0, "resubscribe: %s", err);
        close_conn(D, err, sizeof(err));
        return;
    }
    coll_wait(col, 5, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, e1_5, 5, "d", 0);
    unsub(sub, 0, probs, sizeof(probs));
    if (!close_conn(D, err, sizeof(err))) addp(probs, sizeof(probs), "close %s: %s", id, err);
    check("durable_after_unsubscribe", probs[0] == '\0', "%s", probs);
}

static void s_durable_queue(void)
{
    static const uint64_t e12[] = {1, 2}, e34[] = {3, 4};
    char c[128], id[128], err[512], probs[4096] = "";
    stanConnection *Q = NULL;
    stanSubscription *sub = NULL;
    subspec sp;
    memset(&sp, 0, sizeof(sp));
    sp.start = 1;
    sp.manual = 1;
    sp.durable = "dq";
    ch(c, sizeof(c), "dqueue");
    collector *col = coll_new(ACK_ALL);
    if (connect_id(&Q, cid(id, sizeof(id), "dq"), err, sizeof(err)) != NATS_OK) {
        check("durable_queue_first", 0, "connect %s: %s", id, err);
        return;
    }
    if (subscribe(&sub, Q, c, "g", col, &sp, err, sizeof(err)) != NATS_OK) {
        check("durable_queue_first", 0, "subscribe: %s", err);
        close_conn(Q, err, sizeof(err));
        return;
    }
    publish_sync(A, c, "e", 1, 2, probs, sizeof(probs));
    coll_wait(col, 2, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, e12, 2, "e", 0);
    unsub(sub, 1, probs, sizeof(probs));
    check("durable_queue_first", probs[0] == '\0', "%s", probs);

    probs[0] = '\0';
    publish_sync(A, c, "e", 3, 4, probs, sizeof(probs));
    col = coll_new(ACK_ALL);
    if (subscribe(&sub, Q, c, "g", col, &sp, err, sizeof(err)) != NATS_OK) {
        check("durable_queue_resume", 0, "resubscribe: %s", err);
        close_conn(Q, err, sizeof(err));
        return;
    }
    coll_wait(col, 2, TIMEOUT_MS);
    sleep_ms(GRACE_MS);
    msg_problems(probs, sizeof(probs), col, 0, MAXMSGS, c, e34, 2, "e", 0);
    unsub(sub, 0, probs, sizeof(probs));
    if (!close_conn(Q, err, sizeof(err))) addp(probs, sizeof(probs), "close %s: %s", id, err);
    check("durable_queue_resume", probs[0] == '\0', "%s", probs);
}

static void s_errors(void)
{
    char id[128], c[128], err[512], probs[4096] = "";
    stanConnection *sc = NULL;
    if (connect_id(&sc, cid(id, sizeof(id), "a"), err, sizeof(err)) == NATS_OK) {
        check("error_duplicate_client_id", 0, "second connect with a live client ID succeeded");
        close_conn(sc, err, sizeof(err));
    } else {
        if (strstr(err, ERR_DUP) != NULL) check("error_duplicate_client_id", 1, "got '%s'", err);
        else check("error_duplicate_client_id", 0, "error '%s' does not contain '%s'", err, ERR_DUP);
    }
    publish_sync(A, ch(c, sizeof(c), "after-dup"), "x", 1, 1, probs, sizeof(probs));
    check("duplicate_keeps_original", probs[0] == '\0', "%s", probs);

    sc = NULL;
    if (connect_id(&sc, "bad id!", err, sizeof(err)) == NATS_OK) {
        check("error_invalid_client_id", 0, "connect with client ID 'bad id!' succeeded");
        close_conn(sc, err, sizeof(err));
    } else {
        if (strstr(err, ERR_BADID) != NULL) check("error_invalid_client_id", 1, "got '%s'", err);
        else check("error_invalid_client_id", 0, "error '%s' does not contain '%s'", err, ERR_BADID);
    }
}

static void s_close(void)
{
    char err[512] = "";
    int ok = close_conn(A, err, sizeof(err));
    A = NULL;
    check("close", ok, "%s", err);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s NATS_URL CLUSTER_ID PREFIX\n", argv[0]);
        return 64;
    }
    g_url = argv[1];
    g_cluster = argv[2];
    g_prefix = argv[3];
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG_S);

    if (nats_Open(-1) != NATS_OK) {
        check("nats_open", 0, "nats_Open failed");
        return 1;
    }
    if (s_connect_publish()) {
        s_start_positions();
        s_start_at_time();
        s_async_publish();
        s_redelivery();
        s_queue();
        s_durable();
        s_durable_queue();
        s_errors();
        s_close();
    }
    printf("# c: %d ok, %d failed\n", passes, failures);
    fflush(stdout);
    alarm(0);
    /* nats_Close() may wait on library threads; exit directly instead. */
    _exit(failures ? 1 : 0);
}
