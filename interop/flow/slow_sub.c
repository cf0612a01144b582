/*
 * Slow subscriber (C client, Debian libnats-dev / nats.c 3.x) for the
 * flow-control kit.
 *
 * usage: flow_slow_sub URL SUBJECT COUNT
 * env:   FLOW_WORK_US  busy work per message in microseconds (default 70)
 *        FLOW_TIMEOUT  overall bound in seconds (default 110)
 *        FLOW_IDLE     give up after this many seconds without a message (default 15)
 *
 * build: gcc -O1 -Wall -o flow_slow_sub slow_sub.c $(pkg-config --cflags --libs libnats)
 *
 * Subscribes with a message handler, lifts libnats' own pending limits
 * (natsSubscription_SetPendingLimits(sub, -1, -1)) so only the server decides
 * about slow consumers, flushes, prints READY, then hashes each payload and
 * spins until FLOW_WORK_US have passed. Every sequence number 0..COUNT-1
 * (10-digit payload prefix) must arrive exactly once; any disconnected /
 * closed callback or async error (e.g. NATS_SLOW_CONSUMER) is a failure.
 * Prints INFO and PASS/FAIL lines; exit 1 on failure, 2 on the watchdog.
 */
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

#define TAG "c"

static int failures = 0;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int closing = 0;
static char events[5][256];
static double event_t[5];
static int nevents = 0;
static int count = 0;
static int64_t work_ns = 70000;
static unsigned char *seen;
static int64_t n = 0, dups = 0, bad = 0;
static int64_t first_ns = -1, last_ns = -1, start_ns = 0;
static volatile unsigned sink;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[1024] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    if (!ok) failures++;
    printf("%s [%s] %s%s%s\n", ok ? "PASS" : "FAIL", TAG, name, detail[0] ? " -- " : "", detail);
    fflush(stdout);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL [c] watchdog: scenario exceeded time limit\n";
    if (write(1, m, sizeof(m) - 1) < 0) { /* nothing */ }
    _exit(2);
}

/* Records a connection event (ignored once we close the connection ourselves). */
static void event(const char *fmt, ...)
{
    pthread_mutex_lock(&mu);
    if (!closing && nevents < 5) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(events[nevents], sizeof(events[0]), fmt, ap);
        va_end(ap);
        event_t[nevents] = (now_ns() - start_ns) / 1e9;
    }
    if (!closing) nevents++;
    pthread_mutex_unlock(&mu);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc; (void)closure;
    event("disconnected callback");
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc; (void)closure;
    event("closed callback");
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc; (void)sub; (void)closure;
    event("async error %d (%s)", (int)err, natsStatus_GetText(err));
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc; (void)sub; (void)closure;
    int64_t t = now_ns();
    int64_t t_end = t + work_ns;
    const unsigned char *d = (const unsigned char *)natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    /* a little real work: FNV-1a over the payload, twice */
    uint32_t h = 2166136261u;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < len; i++) { h ^= d[i]; h *= 16777619u; }
    sink = h;
    long seq = -1;
    if (len >= 10) {
        seq = 0;
        for (int i = 0; i < 10; i++) {
            if (d[i] < '0' || d[i] > '9') { seq = -1; break; }
            seq = seq * 10 + (d[i] - '0');
        }
    }
    pthread_mutex_lock(&mu);
    if (seq >= 0 && seq < count) {
        if (seen[seq]) dups++;
        seen[seq] = 1;
    } else {
        bad++;
    }
    n++;
    if (first_ns < 0) first_ns = t;
    last_ns = t;
    pthread_mutex_unlock(&mu);
    natsMsg_Destroy(msg);
    while (now_ns() < t_end) { /* busy work */ }
}

static double envf(const char *k, double def)
{
    const char *v = getenv(k);
    return (v != NULL && v[0]) ? atof(v) : def;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s URL SUBJECT COUNT\n", argv[0]);
        return 64;
    }
    const char *url = argv[1], *subject = argv[2];
    count = atoi(argv[3]);
    work_ns = (int64_t)(envf("FLOW_WORK_US", 70) * 1000);
    double timeout = envf("FLOW_TIMEOUT", 110), idle = envf("FLOW_IDLE", 15);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)timeout + 10);
    seen = calloc((size_t)count, 1);
    start_ns = now_ns();

    char name[128];
    snprintf(name, sizeof(name), "%s: subscriber connect + subscribe + flush", subject);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, url);
    if (s == NATS_OK) s = natsOptions_SetName(o, "flow-slow-sub-c");
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, 0);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_closed, NULL);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_error, NULL);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    if (s == NATS_OK) s = natsConnection_Subscribe(&sub, nc, subject, on_msg, NULL);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
    if (s != NATS_OK) {
        const char *t = nats_GetLastError(NULL);
        check(name, 0, "%s", (t != NULL && t[0]) ? t : natsStatus_GetText(s));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    int64_t ready_ns = now_ns();

    const char *why = NULL;
    char whybuf[64];
    for (;;) {
        pthread_mutex_lock(&mu);
        int64_t got = n, last = last_ns;
        int ev = nevents;
        pthread_mutex_unlock(&mu);
        if (got >= count || ev > 0) break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t t = now_ns();
        if ((t - start_ns) / 1e9 > timeout) {
            snprintf(whybuf, sizeof(whybuf), "TIMEOUT after %.0fs", timeout);
            why = whybuf;
            break;
        }
        if ((t - (last >= 0 ? last : ready_ns)) / 1e9 > idle) {
            snprintf(whybuf, sizeof(whybuf), "no message for %.0fs", idle);
            why = whybuf;
            break;
        }
    }
    if (why == NULL && nevents == 0) {
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL); /* catch duplicates / extras */
    }
    pthread_mutex_lock(&mu);
    closing = 1;
    int64_t got = n, d = dups, b = bad;
    double el = first_ns >= 0 ? (last_ns - first_ns) / 1e9 : 0;
    int nev = nevents;
    int64_t have = 0;
    for (int i = 0; i < count; i++) have += seen[i];
    int connected = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    pthread_mutex_unlock(&mu);

    printf("INFO [%s] %s: received %lld msgs in %.2fs after the first (%.0f msg/s, work %lld us/msg)%s%s\n",
           TAG, subject, (long long)got, el, el > 0 ? got / el : 0.0, (long long)(work_ns / 1000),
           why ? "; stopped: " : "", why ? why : "");
    snprintf(name, sizeof(name), "%s: all %d messages received", subject, count);
    check(name, got == count && why == NULL, "got %lld%s%s%s", (long long)got, why ? " (" : "", why ? why : "", why ? ")" : "");
    snprintf(name, sizeof(name), "%s: every sequence number seen exactly once", subject);
    check(name, have == count && d == 0 && b == 0, "missing %lld, duplicates %lld, malformed %lld",
          (long long)(count - have), (long long)d, (long long)b);
    char evs[1400] = "";
    for (int i = 0; i < nev && i < 5; i++) {
        char one[300];
        snprintf(one, sizeof(one), "%s%.2fs %s", i ? "; " : "", event_t[i], events[i]);
        strncat(evs, one, sizeof(evs) - strlen(evs) - 1);
    }
    snprintf(name, sizeof(name), "%s: connection never disconnected/closed, no slow-consumer/async error", subject);
    check(name, nev == 0 && connected, "%s", evs[0] ? evs : (connected ? "none" : "not connected at the end"));

    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    free(seen);
    return failures ? 1 : 0;
}
