/*
 * store_redis.c - the online store on Redis or Redis Cluster (hiredis 0.14).
 *
 * Keys: state "fr:v:<view>:{<entity>}" (the hash tag is the entity, so all
 * views of one entity share a slot), position "fr:pos:{<source>}:<partition>".
 * Values are the bytes store_lmdb.c keeps: a 20-byte stamp (u32 partition,
 * u64 next offset, u64 epoch, little-endian) then the encoded state; a
 * position is u64 next offset | i64 watermark | i64 committed ms | u64 epoch | u64
 * replayed (older positions lack the last).
 *
 * Commit.  One Lua script (COMMIT_LUA, loaded with SCRIPT LOAD, called with
 * EVALSHA, reloaded on NOSCRIPT) checks everything before it writes
 * anything: a stored position or state whose epoch is newer than the
 * writer's refuses the call ("FENCED": a zombie after a rebalance); a state
 * whose stamp is not newer than the stored one (same partition, stored
 * next offset >= new) is skipped, so a replayed write is a no-op.
 *   Single node: a commit that fits one unit (UNIT_KEYS states, UNIT_BYTES)
 * is one script call, atomic.  A bigger one is cut into units because one
 * script blocks the server while it runs and serving threads time out
 * after store.redis.timeout_ms: the units holding states go first (each one
 * atomic, each checking the positions' epochs and every key's stamp), and
 * only when all of them succeeded does the last unit write the positions.
 * Exactly once still holds after a crash in between: the states written
 * carry their stamps, the positions are the old ones, the processor resumes
 * there and skips the records a loaded state already holds, and a state
 * written again with the same stamp is skipped by the script.
 *   Cluster: the same script per key (one key per call, so no cross-slot
 * script), pipelined per node; positions last, fenced by epoch the same way.
 *
 * Key-value records (store.h): "fr:<ns>:{<group>}:<key>", beside a set
 * "fr:<ns>:{<group>}" of the group's keys, both in the group's slot, so a
 * small script (EVAL: PUT_LUA, DEL_LUA, INCR_LUA) changes a record and the
 * set atomically, on a cluster too; "fr:<ns>:groups" lists the groups (it
 * is added to first, and never shrinks: listing keeps the groups whose set
 * is not empty).
 *
 * Connections ("links").  Each read session owns its links (one per node);
 * the store's own links (commit, entities) are used under a mutex, the
 * key-value records' under another (a registry read never waits for a
 * commit); the
 * cluster slot map (CLUSTER SLOTS at open, refreshed on MOVED) is under a
 * rwlock and copied out, never pointed into.  hiredis connects and parses
 * replies; this file formats commands and moves the bytes itself, so that
 * every wait is a poll() bounded by the configured timeout, a write never
 * raises SIGPIPE, and a reply is refused past MAX_REPLY bytes before it is
 * buffered.  After an I/O error or a timeout the link is dropped and made
 * again, once, on the next call.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "config/redis_url.h"
#include "store/store.h"

#define STAMP_BYTES 20
#define POS_BYTES 40 /* 32 before the replayed count */
#define HEAD_BYTES (1 + STAMP_BYTES)       /* op byte + stamp: the script's per-state argument */
#define MAX_KEY 511                        /* entity key bytes, as the LMDB backend */
#define MAX_REPLY ((size_t)64 << 20)       /* one reply, parsed or buffered */
#define MAX_OUT ((size_t)80 << 20)         /* commands buffered on one link */
#define MAX_HELD ((size_t)256 << 20)       /* reply bytes one read session keeps */
#define MAX_NODES 1024
#define NSLOTS 16384
#define NO_NODE 0xFFFF
#define MGET_CHUNK 1000
#define UNIT_KEYS 1000                     /* states in one single-node script call */
#define UNIT_BYTES ((size_t)4 << 20)
#define WINDOW_CMDS 1000                   /* commands in flight on one link */
#define WINDOW_BYTES ((size_t)8 << 20)
#define MAX_REDIRECTS 5
#define REFRESH_MIN_MS 100                 /* full slot-map refreshes at most this often */

/*
 * KEYS: npos position keys, then the state keys.  ARGV[1] npos, ARGV[2]
 * "1" to write the positions ("0": only check them), ARGV[3] the commit
 * epoch (8 bytes LE), then npos position values, then per state its head
 * (op 's' set or 'd' delete, then the 20-byte stamp) and its body.
 * Returns the number of states written, or the error "FENCED".
 * Everything is read before anything is written, and SET/DEL cannot fail
 * on a key of another type, so a refused call writes nothing.
 */
static const char COMMIT_LUA[] =
    "local function cmp(a, ao, b, bo)\n"
    "  for i = 7, 0, -1 do\n"
    "    local x, y = string.byte(a, ao + i), string.byte(b, bo + i)\n"
    "    if x ~= y then if x < y then return -1 end return 1 end\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "local npos = tonumber(ARGV[1])\n"
    "local epoch = ARGV[3]\n"
    "for i = 1, npos do\n"
    "  local len = redis.pcall('STRLEN', KEYS[i])\n"
    "  local old = (len == 32 or len == 40) and redis.pcall('GETRANGE', KEYS[i], 0, 31)\n"
    "  if type(old) == 'string' and #old == 32 and cmp(old, 25, epoch, 1) > 0 then\n"
    "    return redis.error_reply('FENCED position written by a newer epoch')\n"
    "  end\n"
    "end\n"
    "local nst = #KEYS - npos\n"
    "local skip = {}\n"
    "for j = 1, nst do\n"
    "  local h = ARGV[3 + npos + 2 * j - 1]\n"
    "  local old = redis.pcall('GETRANGE', KEYS[npos + j], 0, 19)\n"
    "  if type(old) == 'string' and #old == 20 then\n"
    "    if cmp(old, 13, h, 14) > 0 then\n"
    "      return redis.error_reply('FENCED state written by a newer epoch')\n"
    "    end\n"
    "    if string.sub(old, 1, 4) == string.sub(h, 2, 5) and cmp(old, 5, h, 6) >= 0 then\n"
    "      skip[j] = true\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n = 0\n"
    "for j = 1, nst do\n"
    "  if not skip[j] then\n"
    "    local k = KEYS[npos + j]\n"
    "    local h = ARGV[3 + npos + 2 * j - 1]\n"
    "    if string.byte(h, 1) == 100 then\n"
    "      redis.call('DEL', k)\n"
    "    else\n"
    "      redis.call('SET', k, string.sub(h, 2) .. ARGV[3 + npos + 2 * j])\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "if ARGV[2] == '1' then\n"
    "  for i = 1, npos do redis.call('SET', KEYS[i], ARGV[3 + i]) end\n"
    "end\n"
    "return n\n";

/* KEYS: the record, the group's key set.  ARGV: value, key, "1" (only
 * when new).  1 when written, 0 when the key exists. */
static const char PUT_LUA[] =
    "if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('SADD', KEYS[2], ARGV[2])\n"
    "return 1\n";
/* KEYS: the record, the set.  ARGV: key.  The number of records removed. */
static const char DEL_LUA[] =
    "local n = redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "return n\n";
/* KEYS: the record, the set.  ARGV: key.  The new value, or NOTCOUNTER. */
static const char INCR_LUA[] =
    "local v = redis.pcall('INCR', KEYS[1])\n"
    "if type(v) == 'table' then return redis.error_reply('NOTCOUNTER not a counter') end\n"
    "redis.call('SADD', KEYS[2], ARGV[1])\n"
    "return v\n";

typedef struct addr {
    char host[256];
    int port;
} addr_t;

struct rstore;

/* One connection to one node; owned by one thread at a time. */
typedef struct link {
    addr_t addr;
    const struct rstore *st;
    redisContext *c;     /* NULL while disconnected */
    fr_buf_t out;        /* commands not yet sent */
    size_t charged;      /* bytes of the reply being parsed */
    int over;            /* that reply passed MAX_REPLY */
    int loaded;          /* the script is loaded on this connection */
    redisReplyObjectFunctions *orig;
    char err[400];       /* last failure, for messages at open */
} link_t;

/* The links of one owner (a read session, or the store's writer). */
typedef struct links {
    link_t **v;
    size_t n;
} links_t;

typedef struct slotmap {
    addr_t *nodes;
    size_t nnodes;
    uint16_t slot[NSLOTS]; /* index in nodes, NO_NODE when unassigned */
} slotmap_t;

typedef struct rstore {
    fr_store_t base;
    addr_t seed;
    char *user, *pass; /* owned; NULL when absent */
    int db;
    int cluster;
    int ctimeout_ms, timeout_ms;
    char sha[41];
    char **vpre;       /* per view "fr:v:<name>:{" */
    char **ppre;       /* per source "fr:pos:{<name>}:" */
    pthread_rwlock_t maplock;
    slotmap_t *map;    /* cluster only; under maplock */
    int64_t map_ms;    /* last full refresh; under maplock */
    pthread_mutex_t wlock;
    links_t wl;        /* commit and entities; under wlock */
    pthread_mutex_t kvlock;
    links_t kvl;       /* key-value records; under kvlock */
    int locks;         /* the locks were initialised */
} rstore_t;

typedef struct rrd {
    fr_store_rd_t base;
    links_t links;
    redisReply **held; /* replies whose bytes the caller sees until rd_end */
    size_t nheld, cap;
    size_t held_bytes;
    int active;
} rrd_t;

/* One command of a batch; key routes it on a cluster. */
typedef struct cmd {
    const char *key;
    size_t klen;
    int argc;
    const char **argv;
    const size_t *lens;
    int script; /* EVALSHA of COMMIT_LUA */
} cmd_t;

/* ---- slots (Redis Cluster specification, "Keys distribution model") ---- */

static uint16_t crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)buf[i] << 8);
        for (int j = 0; j < 8; j++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* The slot of key: the CRC16 of the hash tag (the bytes between the first
 * '{' and the first '}' after it, when not empty), else of the whole key. */
static unsigned key_slot(const char *key, size_t len)
{
    size_t s = 0, e;
    while (s < len && key[s] != '{')
        s++;
    if (s < len) {
        for (e = s + 1; e < len && key[e] != '}'; e++)
            ;
        if (e < len && e > s + 1)
            return crc16(key + s + 1, e - s - 1) & (NSLOTS - 1);
    }
    return crc16(key, len) & (NSLOTS - 1);
}

/* ---- the URL ---- */

/* Digits only, value in [lo, hi]; -1 otherwise. */
static long digits(const char *p, const char *end, long lo, long hi)
{
    long v = 0;
    if (p == end || end - p > 10)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* store.redis.url (config/redis_url.h) into st: seed, user, pass, db.
 * Messages never repeat the credentials. */
static int parse_url(const char *url, rstore_t *st, char *err, size_t errlen)
{
    fr_redis_url_t u;
    char why[160];
    int rc = fr_redis_url_parse(url, &u, why, sizeof why);
    if (rc == FR_ECONFIG)
        snprintf(err, errlen, "store.redis.url: %s", why);
    if (rc)
        return rc;
    snprintf(st->seed.host, sizeof st->seed.host, "%s", u.host);
    st->seed.port = u.port;
    st->user = u.user; /* transferred */
    st->pass = u.pass;
    st->db = u.db;
    return 0;
}

/* ---- links: bytes in and out ---- */

static int charge(const redisReadTask *t, size_t n)
{
    link_t *l = t->privdata;
    if (n > MAX_REPLY || l->charged > MAX_REPLY - n) {
        l->over = 1;
        return -1;
    }
    l->charged += n;
    return 0;
}

static void *acct_string(const redisReadTask *t, char *s, size_t n)
{
    if (charge(t, n + sizeof(redisReply)))
        return NULL;
    return ((link_t *)t->privdata)->orig->createString(t, s, n);
}

static void *acct_array(const redisReadTask *t, int n)
{
    if (n < 0 || charge(t, (size_t)n * sizeof(void *) + sizeof(redisReply)))
        return NULL;
    return ((link_t *)t->privdata)->orig->createArray(t, n);
}

static void *acct_integer(const redisReadTask *t, long long v)
{
    if (charge(t, sizeof(redisReply)))
        return NULL;
    return ((link_t *)t->privdata)->orig->createInteger(t, v);
}

static void *acct_nil(const redisReadTask *t)
{
    if (charge(t, sizeof(redisReply)))
        return NULL;
    return ((link_t *)t->privdata)->orig->createNil(t);
}

/* hiredis' own reply objects, with every allocation counted first. */
static const redisReplyObjectFunctions acct_fns = {
    .createString = acct_string,
    .createArray = acct_array,
    .createInteger = acct_integer,
    .createNil = acct_nil,
    .freeObject = freeReplyObject,
};

static void link_drop(link_t *l)
{
    if (l->c)
        redisFree(l->c);
    l->c = NULL;
    l->loaded = 0;
    fr_buf_destroy(&l->out);
    fr_buf_init(&l->out, MAX_OUT);
}

static void link_free(link_t *l)
{
    if (!l)
        return;
    link_drop(l);
    fr_buf_destroy(&l->out);
    free(l);
}

static int is_timeout(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT || e == EINPROGRESS;
}

/* Drops the link after a failure rc, remembering what for messages. */
static int link_fail(link_t *l, int rc, const char *what)
{
    snprintf(l->err, sizeof l->err, "%s:%d: %s", l->addr.host, l->addr.port, what);
    link_drop(l);
    return rc;
}

/* Waits until fd is ready for ev, at most timeout_ms. 0 or -ETIMEDOUT. */
static int wait_fd(link_t *l, short ev)
{
    int64_t left = l->st->timeout_ms;
    uint64_t t0 = fr_mono_ns();
    for (;;) {
        struct pollfd pfd = {.fd = l->c->fd, .events = ev};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 0; /* ready, or an error the next read or write reports */
        if (n < 0 && errno != EINTR)
            return link_fail(l, FR_ESTORE, "poll failed");
        left = l->st->timeout_ms - (int64_t)((fr_mono_ns() - t0) / 1000000u);
        if (left <= 0)
            return link_fail(l, -ETIMEDOUT, "timed out");
    }
}

/* Sends everything buffered. 0, or an error with the link dropped. */
static int link_flush(link_t *l)
{
    size_t off = 0;
    while (off < l->out.len) {
        ssize_t n = send(l->c->fd, l->out.p + off, l->out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(l, POLLOUT);
            if (rc)
                return rc;
            continue;
        }
        return link_fail(l, FR_ESTORE, "connection lost while sending");
    }
    if (l->out.cap > (1u << 20)) {
        fr_buf_destroy(&l->out);
        fr_buf_init(&l->out, MAX_OUT);
    }
    fr_buf_reset(&l->out);
    return 0;
}

/* Reads one reply (owned by the caller). 0, or an error with the link
 * dropped (its other pending replies are lost with it). */
static int link_reply(link_t *l, redisReply **out)
{
    redisReader *rd = l->c->reader;
    char buf[1 << 16];
    *out = NULL;
    l->charged = 0;
    l->over = 0;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(rd, &r) != REDIS_OK)
            return link_fail(l, l->over ? FR_ELIMIT : FR_ESTORE,
                             l->over ? "reply too large" : "protocol error");
        if (r) {
            *out = r;
            return 0;
        }
        if (rd->len - rd->pos > MAX_REPLY)
            return link_fail(l, FR_ELIMIT, "reply too large");
        int rc = wait_fd(l, POLLIN);
        if (rc)
            return rc;
        ssize_t n = read(l->c->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0)
            return link_fail(l, FR_ESTORE, n ? "read failed" : "server closed the connection");
        if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK)
            return link_fail(l, FR_ENOMEM, "out of memory");
    }
}

/* Appends one command in RESP; on failure the buffer is left as it was. */
static int link_append(link_t *l, int argc, const char *const *argv, const size_t *lens)
{
    size_t mark = l->out.len;
    int rc = fr_buf_printf(&l->out, "*%d\r\n", argc);
    for (int i = 0; !rc && i < argc; i++) {
        rc = fr_buf_printf(&l->out, "$%zu\r\n", lens[i]);
        if (!rc)
            rc = fr_buf_add(&l->out, argv[i], lens[i]);
        if (!rc)
            rc = fr_buf_add(&l->out, "\r\n", 2);
    }
    if (rc) {
        l->out.len = mark;
        if (l->out.p)
            l->out.p[mark] = '\0';
    }
    return rc;
}

static int link_ensure(link_t *l);

/* One command, one reply (owned by the caller; may be an error reply). */
static int link_call(link_t *l, int argc, const char *const *argv, const size_t *lens,
                     redisReply **out)
{
    *out = NULL;
    int rc = link_ensure(l);
    if (!rc)
        rc = link_append(l, argc, argv, lens);
    if (!rc)
        rc = link_flush(l);
    if (!rc)
        rc = link_reply(l, out);
    return rc;
}

/* A call whose reply must be the status OK. */
static int link_ok(link_t *l, int argc, const char *const *argv, const size_t *lens,
                   const char *what)
{
    redisReply *r;
    int rc = link_call(l, argc, argv, lens, &r);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK")) {
        char m[128];
        snprintf(m, sizeof m, "%s: %.100s", what,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = link_fail(l, FR_ESTORE, m);
    }
    freeReplyObject(r);
    return rc;
}

/* Connects if not connected (one attempt), then AUTH and SELECT. */
static int link_ensure(link_t *l)
{
    if (l->c)
        return 0;
    const rstore_t *st = l->st;
    struct timeval ctv = {st->ctimeout_ms / 1000, (st->ctimeout_ms % 1000) * 1000};
    struct timeval tv = {st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000};
    errno = 0;
    redisContext *c = redisConnectWithTimeout(l->addr.host, l->addr.port, ctv);
    int e = errno;
    if (!c)
        return FR_ENOMEM;
    if (c->err) {
        int rc = (c->err == REDIS_ERR_IO && is_timeout(e)) || strstr(c->errstr, "timed out")
                     ? -ETIMEDOUT
                     : FR_ESTORE;
        snprintf(l->err, sizeof l->err, "%s:%d: %s", l->addr.host, l->addr.port, c->errstr);
        redisFree(c);
        return rc;
    }
    /* a backstop: every wait is a poll() bounded the same way */
    redisSetTimeout(c, tv);
    l->orig = c->reader->fn;
    c->reader->fn = (redisReplyObjectFunctions *)&acct_fns; /* hiredis only reads it */
    c->reader->privdata = l;
    l->c = c;
    l->loaded = 0;
    fr_buf_reset(&l->out);
    int rc = 0;
    if (st->pass) {
        const char *argv[3] = {"AUTH", st->user ? st->user : st->pass, st->pass};
        size_t lens[3] = {4, strlen(argv[1]), strlen(st->pass)};
        rc = link_ok(l, st->user ? 3 : 2, argv, lens, "AUTH");
    }
    if (!rc && st->db) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", st->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        rc = link_ok(l, 2, argv, lens, "SELECT");
    }
    return rc;
}

/* Loads the script on l unless it is known to be there; digest (may be
 * NULL) receives its SHA1 in hex, else the reply must match the store's. */
static int link_script(link_t *l, char *digest)
{
    if (l->loaded)
        return 0;
    const char *argv[3] = {"SCRIPT", "LOAD", COMMIT_LUA};
    size_t lens[3] = {6, 4, sizeof COMMIT_LUA - 1};
    redisReply *r;
    int rc = link_call(l, 3, argv, lens, &r);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_STRING || r->len != 40 ||
        (!digest && memcmp(r->str, l->st->sha, 40))) {
        char m[128];
        snprintf(m, sizeof m, "SCRIPT LOAD: %.100s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = link_fail(l, FR_ESTORE, m);
    } else {
        l->loaded = 1;
        if (digest) {
            memcpy(digest, r->str, 40);
            digest[40] = '\0';
        }
    }
    freeReplyObject(r);
    return rc;
}

static void links_free(links_t *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        link_free(ls->v[i]);
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

/* The index of the link to a (made, not connected, when new). */
static int links_get(const rstore_t *st, links_t *ls, const addr_t *a, size_t *out)
{
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i]->addr.port == a->port && !strcmp(ls->v[i]->addr.host, a->host)) {
            *out = i;
            return 0;
        }
    if (ls->n >= MAX_NODES)
        return FR_ELIMIT;
    link_t **v = realloc(ls->v, (ls->n + 1) * sizeof *v);
    if (!v)
        return FR_ENOMEM;
    ls->v = v;
    link_t *l = calloc(1, sizeof *l);
    if (!l)
        return FR_ENOMEM;
    l->addr = *a;
    l->st = st;
    fr_buf_init(&l->out, MAX_OUT);
    ls->v[ls->n] = l;
    *out = ls->n++;
    return 0;
}

/* ---- the cluster slot map ---- */

static int map_node(slotmap_t *m, const addr_t *a)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == a->port && !strcmp(m->nodes[i].host, a->host))
            return (int)i;
    if (m->nnodes >= MAX_NODES)
        return -1;
    addr_t *v = realloc(m->nodes, (m->nnodes + 1) * sizeof *v);
    if (!v)
        return -1;
    m->nodes = v;
    m->nodes[m->nnodes] = *a;
    return (int)m->nnodes++;
}

static void map_free(slotmap_t *m)
{
    if (m)
        free(m->nodes);
    free(m);
}

/* Copies a string reply of at most 255 bytes into host; empty or "?"
 * (the node does not know its endpoint) means the node asked. */
static int reply_host(const redisReply *r, const addr_t *asked, char *host)
{
    if (r->type != REDIS_REPLY_STRING || r->len >= 256)
        return -1;
    if (r->len == 0 || (r->len == 1 && r->str[0] == '?')) {
        memcpy(host, asked->host, sizeof asked->host);
        return 0;
    }
    memcpy(host, r->str, r->len);
    host[r->len] = '\0';
    return 0;
}

/* Builds a slot map from a CLUSTER SLOTS reply got from node asked. */
static int map_parse(const redisReply *r, const addr_t *asked, slotmap_t **out)
{
    *out = NULL;
    if (r->type != REDIS_REPLY_ARRAY)
        return FR_ESTORE;
    slotmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return FR_ENOMEM;
    for (size_t s = 0; s < NSLOTS; s++)
        m->slot[s] = NO_NODE;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        rc = FR_ESTORE;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
            break;
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        long long port = e->element[2]->element[1]->integer;
        addr_t a;
        if (lo < 0 || hi < lo || hi >= NSLOTS || port < 1 || port > 65535 ||
            reply_host(e->element[2]->element[0], asked, a.host))
            break;
        a.port = (int)port;
        int n = map_node(m, &a);
        if (n < 0)
            break;
        for (long long s = lo; s <= hi; s++)
            m->slot[s] = (uint16_t)n;
        rc = 0;
    }
    if (rc) {
        map_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Asks one node for the slot map and installs it. */
static int map_load(rstore_t *st, link_t *l)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    redisReply *r;
    slotmap_t *m = NULL;
    int rc = link_call(l, 2, argv, lens, &r);
    if (rc)
        return rc;
    rc = map_parse(r, &l->addr, &m);
    if (rc)
        snprintf(l->err, sizeof l->err, "%s:%d: CLUSTER SLOTS: %.100s", l->addr.host,
                 l->addr.port, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&st->maplock);
    slotmap_t *old = st->map;
    st->map = m;
    st->map_ms = fr_now_ms();
    pthread_rwlock_unlock(&st->maplock);
    map_free(old);
    return 0;
}

/*
 * Refreshes the map from the node first (may be NULL), else a few known
 * nodes and the seed: at most 3 attempts, each bounded by the timeouts.
 * Skipped when the map is younger than REFRESH_MIN_MS unless force.
 */
static int map_refresh(rstore_t *st, links_t *ls, const addr_t *first, int force)
{
    addr_t cand[3];
    size_t nc = 0;
    if (first)
        cand[nc++] = *first;
    pthread_rwlock_rdlock(&st->maplock);
    int fresh = !force && st->map && fr_now_ms() - st->map_ms < REFRESH_MIN_MS;
    for (size_t i = 0; st->map && i < st->map->nnodes && nc < 2; i++)
        if (!first || strcmp(st->map->nodes[i].host, first->host) ||
            st->map->nodes[i].port != first->port)
            cand[nc++] = st->map->nodes[i];
    pthread_rwlock_unlock(&st->maplock);
    if (fresh)
        return 0;
    cand[nc++] = st->seed;
    int rc = FR_ESTORE;
    for (size_t i = 0; i < nc; i++) {
        size_t li;
        rc = links_get(st, ls, &cand[i], &li);
        if (!rc)
            rc = map_load(st, ls->v[li]);
        if (!rc)
            return 0;
    }
    return rc;
}

/* Points one slot at a (from a MOVED reply). */
static void map_set(rstore_t *st, unsigned slot, const addr_t *a)
{
    pthread_rwlock_wrlock(&st->maplock);
    if (st->map) {
        int n = map_node(st->map, a);
        if (n >= 0)
            st->map->slot[slot] = (uint16_t)n;
    }
    pthread_rwlock_unlock(&st->maplock);
}

/* The link that serves key: the one node, or the slot's master. */
static int route(rstore_t *st, links_t *ls, const char *key, size_t klen, size_t *li)
{
    if (!st->cluster)
        return links_get(st, ls, &st->seed, li);
    unsigned slot = key_slot(key, klen);
    for (int pass = 0;; pass++) {
        addr_t a;
        int found = 0;
        pthread_rwlock_rdlock(&st->maplock);
        if (st->map && st->map->slot[slot] != NO_NODE) {
            a = st->map->nodes[st->map->slot[slot]];
            found = 1;
        }
        pthread_rwlock_unlock(&st->maplock);
        if (found)
            return links_get(st, ls, &a, li);
        if (pass)
            return FR_ESTORE; /* the cluster does not cover the slot */
        int rc = map_refresh(st, ls, NULL, 1);
        if (rc)
            return rc;
    }
}

/* ---- commands with redirections ---- */

static int err_is(const redisReply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return r && r->type == REDIS_REPLY_ERROR && r->len >= n && !memcmp(r->str, prefix, n);
}

/* A reply run_batch hands to call_key: the command must be sent again. */
static int is_retry(const redisReply *r)
{
    return err_is(r, "MOVED ") || err_is(r, "ASK ") || err_is(r, "NOSCRIPT") ||
           err_is(r, "TRYAGAIN");
}

/* "MOVED|ASK <slot> <host>:<port>"; an empty host means the node asked. */
static int parse_redirect(const redisReply *r, const addr_t *asked, unsigned *slot, addr_t *a)
{
    const char *p = memchr(r->str, ' ', r->len), *end = r->str + r->len;
    if (!p)
        return -1;
    p++;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
        return -1;
    long s = digits(p, sp, 0, NSLOTS - 1);
    const char *colon = NULL;
    for (const char *q = sp + 1; q < end; q++)
        if (*q == ':')
            colon = q;
    long port = colon ? digits(colon + 1, end, 1, 65535) : -1;
    size_t hl = colon ? (size_t)(colon - sp - 1) : 0;
    if (s < 0 || port < 0 || hl >= sizeof a->host)
        return -1;
    if (hl) {
        memcpy(a->host, sp + 1, hl);
        a->host[hl] = '\0';
    } else {
        memcpy(a->host, asked->host, sizeof a->host);
    }
    a->port = (int)port;
    *slot = (unsigned)s;
    return 0;
}

/*
 * Runs one command to completion: follows MOVED (the map is refreshed)
 * and ASK (ASKING on the named node), reloads the script on NOSCRIPT,
 * waits a little on TRYAGAIN; at most MAX_REDIRECTS times.  *out is the
 * final reply (the caller's), possibly another error reply.
 */
static int call_key(rstore_t *st, links_t *ls, const cmd_t *c, redisReply **out)
{
    addr_t ask;
    int asking = 0, rc = 0;
    *out = NULL;
    for (int attempt = 0; attempt <= MAX_REDIRECTS; attempt++) {
        size_t li;
        rc = asking ? links_get(st, ls, &ask, &li) : route(st, ls, c->key, c->klen, &li);
        if (rc)
            return rc;
        link_t *l = ls->v[li];
        rc = link_ensure(l);
        if (!rc && c->script)
            rc = link_script(l, NULL);
        static const char *const asking_argv[1] = {"ASKING"};
        static const size_t asking_len[1] = {6};
        if (!rc && asking)
            rc = link_append(l, 1, asking_argv, asking_len);
        if (!rc)
            rc = link_append(l, c->argc, c->argv, c->lens);
        if (!rc)
            rc = link_flush(l);
        redisReply *r = NULL;
        if (!rc && asking) {
            rc = link_reply(l, &r);
            freeReplyObject(r); /* +OK; an error shows in the next reply */
        }
        if (!rc)
            rc = link_reply(l, &r);
        if (rc)
            return rc;
        if (!is_retry(r)) {
            *out = r;
            return 0;
        }
        unsigned slot;
        addr_t a;
        if (err_is(r, "MOVED ") && parse_redirect(r, &l->addr, &slot, &a) == 0) {
            asking = 0;
            map_refresh(st, ls, &a, 0); /* best effort: the MOVED is enough */
            map_set(st, slot, &a);
        } else if (err_is(r, "ASK ") && parse_redirect(r, &l->addr, &slot, &a) == 0) {
            asking = 1;
            ask = a;
        } else if (err_is(r, "NOSCRIPT")) {
            l->loaded = 0;
        } else if (err_is(r, "TRYAGAIN")) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        } else {
            *out = r; /* a malformed redirection: the caller sees the error */
            return 0;
        }
        freeReplyObject(r);
    }
    return FR_ESTORE; /* too many redirections */
}

/*
 * Runs n commands, pipelined per node in windows of WINDOW_CMDS commands
 * or WINDOW_BYTES; a command redirected (or NOSCRIPT) is then run alone by
 * call_key.  replies[i] (the caller's) is command i's reply, possibly an
 * error reply.  0, or an error after which every reply is freed and links
 * with replies still in flight are dropped.
 */
static int run_batch(rstore_t *st, links_t *ls, const cmd_t *cmds, size_t n, redisReply **replies)
{
    size_t *lk = malloc((n ? n : 1) * sizeof *lk), *order = NULL, *start = NULL;
    size_t *sent = NULL, *done = NULL, nl = 0;
    int rc = lk ? 0 : FR_ENOMEM;
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    for (size_t i = 0; !rc && i < n; i++)
        rc = route(st, ls, cmds[i].key, cmds[i].klen, &lk[i]);
    if (rc)
        goto out;
    nl = ls->n;
    order = malloc((n ? n : 1) * sizeof *order);
    start = calloc(nl + 1, sizeof *start);
    sent = calloc(nl, sizeof *sent);
    done = calloc(nl, sizeof *done);
    if (!order || !start || !sent || !done) {
        rc = FR_ENOMEM;
        goto out;
    }
    /* commands grouped by link, in their order: counting sort */
    for (size_t i = 0; i < n; i++)
        start[lk[i] + 1]++;
    for (size_t j = 0; j < nl; j++)
        start[j + 1] += start[j];
    for (size_t i = 0; i < n; i++)
        order[start[lk[i]] + sent[lk[i]]++] = i;
    memset(sent, 0, nl * sizeof *sent);
    for (;;) {
        int pending = 0;
        for (size_t j = 0; !rc && j < nl; j++) {
            size_t total = start[j + 1] - start[j];
            if (sent[j] == total)
                continue;
            link_t *l = ls->v[j];
            size_t first = sent[j];
            rc = link_ensure(l);
            /* before anything is appended: link_script makes its own call */
            if (!rc && cmds[order[start[j] + first]].script)
                rc = link_script(l, NULL);
            for (size_t k = first; !rc && k < total; k++) {
                const cmd_t *c = &cmds[order[start[j] + k]];
                if (k > first && (k - first >= WINDOW_CMDS || l->out.len >= WINDOW_BYTES))
                    break;
                rc = link_append(l, c->argc, c->argv, c->lens);
                if (!rc)
                    sent[j]++;
            }
            if (!rc)
                rc = link_flush(l);
            pending = 1;
        }
        for (size_t j = 0; !rc && j < nl; j++)
            while (!rc && done[j] < sent[j]) {
                rc = link_reply(ls->v[j], &replies[order[start[j] + done[j]]]);
                if (!rc)
                    done[j]++;
            }
        if (rc || !pending)
            break;
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (is_retry(replies[i])) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
            rc = call_key(st, ls, &cmds[i], &replies[i]);
        }
out:
    if (rc) {
        for (size_t j = 0; done && j < nl; j++)
            if (done[j] < sent[j])
                link_drop(ls->v[j]);
        for (size_t i = 0; i < n; i++) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    }
    free(lk);
    free(order);
    free(start);
    free(sent);
    free(done);
    return rc;
}

/* ---- keys and values ---- */

/* "fr:v:<view>:{<key>}" into buf (at least FR_CONFIG_MAX_NAME + MAX_KEY + 16). */
static size_t state_key(const rstore_t *st, int view, const char *key, size_t klen, char *buf)
{
    size_t n = strlen(st->vpre[view]);
    memcpy(buf, st->vpre[view], n);
    memcpy(buf + n, key, klen);
    buf[n + klen] = '}';
    return n + klen + 1;
}

#define KEYBUF (FR_CONFIG_MAX_NAME + MAX_KEY + 16)

static size_t pos_key(const rstore_t *st, int source, int32_t partition, char *buf)
{
    int n = snprintf(buf, KEYBUF, "%s%d", st->ppre[source], (int)partition);
    return n > 0 ? (size_t)n : 0;
}

/* The value of a GET: 0 with val, vlen and stamp (may be NULL) set. */
static int state_value(const redisReply *r, const void **val, size_t *vlen, fr_store_stamp_t *stamp)
{
    if (r->type == REDIS_REPLY_NIL)
        return FR_ENOTFOUND;
    if (err_is(r, "WRONGTYPE"))
        return FR_ECORRUPT;
    if (r->type != REDIS_REPLY_STRING)
        return FR_ESTORE;
    if (r->len < STAMP_BYTES)
        return FR_ECORRUPT;
    const uint8_t *p = (const uint8_t *)r->str;
    if (stamp) {
        stamp->partition = (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
        stamp->next_offset = fr_load_u64(p + 4);
        stamp->epoch = fr_load_u64(p + 12);
    }
    *val = p + STAMP_BYTES;
    *vlen = r->len - STAMP_BYTES;
    return 0;
}

static void put_stamp(uint8_t *b, const fr_store_stamp_t *s)
{
    uint32_t part = (uint32_t)s->partition;
    for (int j = 0; j < 4; j++)
        b[j] = (uint8_t)(part >> (8 * j));
    fr_store_u64(b + 4, s->next_offset);
    fr_store_u64(b + 12, s->epoch);
}

/* ---- read sessions ---- */

static int rd_hold(rrd_t *rd, redisReply *r, size_t bytes)
{
    if (rd->held_bytes + bytes > MAX_HELD)
        return FR_ELIMIT;
    if (rd->nheld == rd->cap) {
        size_t cap = rd->cap ? 2 * rd->cap : 16;
        redisReply **v = realloc(rd->held, cap * sizeof *v);
        if (!v)
            return FR_ENOMEM;
        rd->held = v;
        rd->cap = cap;
    }
    rd->held[rd->nheld++] = r;
    rd->held_bytes += bytes;
    return 0;
}

static int r_rd_new(fr_store_t *s, fr_store_rd_t **out)
{
    rrd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return FR_ENOMEM;
    rd->base.store = s;
    *out = &rd->base;
    return 0;
}

static int r_rd_begin(fr_store_rd_t *r)
{
    rrd_t *rd = (rrd_t *)r;
    rd->active = 1;
    return 0;
}

static int r_get(fr_store_rd_t *r, int view, const char *key, size_t klen, const void **val,
                 size_t *vlen, fr_store_stamp_t *stamp)
{
    rrd_t *rd = (rrd_t *)r;
    rstore_t *st = (rstore_t *)r->store;
    if (!rd->active || view < 0 || (size_t)view >= st->base.cfg->nviews || klen > MAX_KEY)
        return FR_EINVAL;
    if (klen == 0)
        return FR_ENOTFOUND;
    char kb[KEYBUF];
    size_t kl = state_key(st, view, key, klen, kb);
    const char *argv[2] = {"GET", kb};
    size_t lens[2] = {3, kl};
    cmd_t c = {.key = kb, .klen = kl, .argc = 2, .argv = argv, .lens = lens};
    redisReply *rep;
    int rc = call_key(st, &rd->links, &c, &rep);
    if (rc)
        return rc;
    rc = state_value(rep, val, vlen, stamp);
    if (!rc)
        rc = rd_hold(rd, rep, rep->len);
    if (rc)
        freeReplyObject(rep);
    return rc;
}

/* Single node: MGET in chunks of MGET_CHUNK keys, pipelined. */
static int get_many_single(rrd_t *rd, fr_store_get_t *keys, size_t n, const char *kb,
                           const size_t *koff)
{
    rstore_t *st = (rstore_t *)rd->base.store;
    size_t nch = (n + MGET_CHUNK - 1) / MGET_CHUNK;
    cmd_t *cmds = calloc(nch, sizeof *cmds);
    const char **argv = malloc((n + nch) * sizeof *argv);
    size_t *lens = malloc((n + nch) * sizeof *lens);
    redisReply **reps = calloc(nch, sizeof *reps);
    int rc = cmds && argv && lens && reps ? 0 : FR_ENOMEM;
    if (rc)
        goto out;
    for (size_t c = 0, a = 0; c < nch; c++) {
        size_t lo = c * MGET_CHUNK, hi = lo + MGET_CHUNK < n ? lo + MGET_CHUNK : n;
        cmds[c] = (cmd_t){.key = "", .argc = (int)(hi - lo + 1), .argv = argv + a,
                          .lens = lens + a};
        argv[a] = "MGET";
        lens[a++] = 4;
        for (size_t i = lo; i < hi; i++) {
            argv[a] = kb + koff[i];
            lens[a++] = koff[i + 1] - koff[i];
        }
    }
    rc = run_batch(st, &rd->links, cmds, nch, reps);
    for (size_t c = 0; !rc && c < nch; c++) {
        size_t lo = c * MGET_CHUNK, hi = lo + MGET_CHUNK < n ? lo + MGET_CHUNK : n;
        redisReply *r = reps[c];
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == hi - lo, used = 0;
        size_t bytes = 0;
        for (size_t i = lo; i < hi; i++) {
            if (keys[i].rc != 1)
                continue; /* answered without asking */
            keys[i].rc = ok ? state_value(r->element[i - lo], &keys[i].val, &keys[i].vlen, NULL)
                            : FR_ESTORE;
            if (keys[i].rc == 0) {
                used = 1;
                bytes += keys[i].vlen;
            }
        }
        if (used) {
            rc = rd_hold(rd, r, bytes);
            if (!rc)
                reps[c] = NULL;
        }
    }
out:
    for (size_t c = 0; reps && c < nch; c++)
        freeReplyObject(reps[c]);
    free(cmds);
    free(argv);
    free(lens);
    free(reps);
    return rc;
}

/* Cluster: one GET per key, pipelined per node. */
static int get_many_cluster(rrd_t *rd, fr_store_get_t *keys, size_t n, const char *kb,
                            const size_t *koff)
{
    rstore_t *st = (rstore_t *)rd->base.store;
    cmd_t *cmds = calloc(n, sizeof *cmds);
    const char **argv = malloc(2 * n * sizeof *argv);
    size_t *lens = malloc(2 * n * sizeof *lens), *idx = malloc(n * sizeof *idx), nc = 0;
    redisReply **reps = calloc(n, sizeof *reps);
    int rc = cmds && argv && lens && idx && reps ? 0 : FR_ENOMEM;
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].rc != 1)
            continue;
        argv[2 * nc] = "GET";
        lens[2 * nc] = 3;
        argv[2 * nc + 1] = kb + koff[i];
        lens[2 * nc + 1] = koff[i + 1] - koff[i];
        cmds[nc] = (cmd_t){.key = argv[2 * nc + 1], .klen = lens[2 * nc + 1], .argc = 2,
                           .argv = argv + 2 * nc, .lens = lens + 2 * nc};
        idx[nc++] = i;
    }
    rc = run_batch(st, &rd->links, cmds, nc, reps);
    for (size_t c = 0; !rc && c < nc; c++) {
        fr_store_get_t *k = &keys[idx[c]];
        k->rc = state_value(reps[c], &k->val, &k->vlen, NULL);
        if (k->rc == 0) {
            rc = rd_hold(rd, reps[c], k->vlen);
            if (!rc)
                reps[c] = NULL;
        }
    }
out:
    for (size_t c = 0; reps && c < nc; c++)
        freeReplyObject(reps[c]);
    free(cmds);
    free(argv);
    free(lens);
    free(idx);
    free(reps);
    return rc;
}

static int r_get_many(fr_store_rd_t *r, fr_store_get_t *keys, size_t n)
{
    rrd_t *rd = (rrd_t *)r;
    rstore_t *st = (rstore_t *)r->store;
    if (!rd->active)
        return FR_EINVAL;
    if (n == 0)
        return 0;
    size_t *koff = malloc((n + 1) * sizeof *koff);
    fr_buf_t kb;
    fr_buf_init(&kb, n * KEYBUF);
    int rc = koff ? 0 : FR_ENOMEM, asked = 0;
    /* every key into one buffer; rc 1 marks the keys to ask for */
    for (size_t i = 0; !rc && i < n; i++) {
        koff[i] = kb.len;
        keys[i].val = NULL;
        keys[i].vlen = 0;
        if (keys[i].view < 0 || (size_t)keys[i].view >= st->base.cfg->nviews ||
            keys[i].klen > MAX_KEY) {
            keys[i].rc = FR_EINVAL;
            continue;
        }
        if (keys[i].klen == 0) {
            keys[i].rc = FR_ENOTFOUND;
            continue;
        }
        char b[KEYBUF];
        size_t kl = state_key(st, keys[i].view, keys[i].key, keys[i].klen, b);
        rc = fr_buf_add(&kb, b, kl);
        keys[i].rc = 1;
        asked = 1;
    }
    if (!rc) {
        koff[n] = kb.len;
        if (asked)
            rc = st->cluster ? get_many_cluster(rd, keys, n, kb.p, koff)
                             : get_many_single(rd, keys, n, kb.p, koff);
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            keys[i].rc = rc;
            keys[i].val = NULL;
            keys[i].vlen = 0;
        }
    fr_buf_destroy(&kb);
    free(koff);
    return rc;
}

static int r_pos_get(fr_store_rd_t *r, int source, int32_t partition, fr_store_pos_t *out)
{
    rrd_t *rd = (rrd_t *)r;
    rstore_t *st = (rstore_t *)r->store;
    if (!rd->active || source < 0 || (size_t)source >= st->base.cfg->nsources)
        return FR_EINVAL;
    char kb[KEYBUF];
    size_t kl = pos_key(st, source, partition, kb);
    const char *argv[2] = {"GET", kb};
    size_t lens[2] = {3, kl};
    cmd_t c = {.key = kb, .klen = kl, .argc = 2, .argv = argv, .lens = lens};
    redisReply *rep;
    int rc = call_key(st, &rd->links, &c, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_NIL)
        rc = FR_ENOTFOUND;
    else if (err_is(rep, "WRONGTYPE") || (rep->type == REDIS_REPLY_STRING && rep->len != POS_BYTES && rep->len != 32))
        rc = FR_ECORRUPT;
    else if (rep->type != REDIS_REPLY_STRING)
        rc = FR_ESTORE;
    if (!rc) {
        out->source = source;
        out->partition = partition;
        out->next_offset = fr_load_u64(rep->str);
        out->watermark = (int64_t)fr_load_u64(rep->str + 8);
        out->committed_ms = (int64_t)fr_load_u64(rep->str + 16);
        out->epoch = fr_load_u64(rep->str + 24);
        out->replayed = rep->len == POS_BYTES ? fr_load_u64(rep->str + 32) : 0;
    }
    freeReplyObject(rep);
    return rc;
}

static void r_rd_end(fr_store_rd_t *r)
{
    rrd_t *rd = (rrd_t *)r;
    for (size_t i = 0; i < rd->nheld; i++)
        freeReplyObject(rd->held[i]);
    rd->nheld = 0;
    rd->held_bytes = 0;
    if (rd->cap > 1024) {
        free(rd->held);
        rd->held = NULL;
        rd->cap = 0;
    }
    rd->active = 0;
}

static void r_rd_free(fr_store_rd_t *r)
{
    rrd_t *rd = (rrd_t *)r;
    r_rd_end(r);
    free(rd->held);
    links_free(&rd->links);
    free(rd);
}

/* ---- commit ---- */

/* What a batch of script replies says: 0, FR_ECONFLICT (fenced) or FR_ESTORE. */
static int script_result(redisReply **reps, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (reps[i]->type == REDIS_REPLY_INTEGER)
            continue;
        if (err_is(reps[i], "FENCED"))
            rc = FR_ECONFLICT;
        else if (!rc)
            rc = FR_ESTORE;
    }
    return rc;
}

/* The arguments of a commit, built once. */
typedef struct cargs {
    fr_buf_t keys;       /* state keys, then position keys */
    size_t *koff;        /* nputs + npos + 1 offsets into keys */
    uint8_t *heads;      /* nputs * HEAD_BYTES */
    uint8_t *pvals;      /* npos * POS_BYTES */
    uint8_t epoch[8];
} cargs_t;

static int cargs_build(const rstore_t *st, cargs_t *a, const fr_store_put_t *puts, size_t nputs,
                       const fr_store_pos_t *pos, size_t npos, uint64_t epoch)
{
    const fr_config_t *cfg = st->base.cfg;
    size_t nk = nputs + npos;
    fr_buf_init(&a->keys, (nk + 1) * KEYBUF);
    a->koff = malloc((nk + 1) * sizeof *a->koff);
    a->heads = malloc(nputs * HEAD_BYTES + 1);
    a->pvals = malloc(npos * POS_BYTES + 1);
    if (!a->koff || !a->heads || !a->pvals)
        return FR_ENOMEM;
    fr_store_u64(a->epoch, epoch);
    int64_t now = fr_now_ms();
    for (size_t i = 0; i < nk; i++) {
        char b[KEYBUF];
        size_t kl;
        if (i < nputs) {
            const fr_store_put_t *p = &puts[i];
            if (p->view < 0 || (size_t)p->view >= cfg->nviews || p->klen == 0 ||
                p->klen > MAX_KEY || (p->val && p->vlen > MAX_REPLY - STAMP_BYTES))
                return FR_EINVAL;
            kl = state_key(st, p->view, p->key, p->klen, b);
            uint8_t *h = a->heads + i * HEAD_BYTES;
            h[0] = p->val ? 's' : 'd';
            put_stamp(h + 1, &p->stamp);
        } else {
            const fr_store_pos_t *q = &pos[i - nputs];
            if (q->source < 0 || (size_t)q->source >= cfg->nsources)
                return FR_EINVAL;
            kl = pos_key(st, q->source, q->partition, b);
            uint8_t *v = a->pvals + (i - nputs) * POS_BYTES;
            fr_store_u64(v, q->next_offset);
            fr_store_u64(v + 8, (uint64_t)q->watermark);
            fr_store_u64(v + 16, (uint64_t)now);
            fr_store_u64(v + 24, epoch);
            fr_store_u64(v + 32, q->replayed);
        }
        a->koff[i] = a->keys.len;
        int rc = fr_buf_add(&a->keys, b, kl);
        if (rc)
            return rc;
    }
    a->koff[nk] = a->keys.len;
    return 0;
}

static void cargs_destroy(cargs_t *a)
{
    fr_buf_destroy(&a->keys);
    free(a->koff);
    free(a->heads);
    free(a->pvals);
}

#define KEY(a, i) ((a)->keys.p + (a)->koff[i])
#define KLEN(a, i) ((a)->koff[(i) + 1] - (a)->koff[i])

/*
 * Fills argv/lens for one script call over states [lo, hi) and all the
 * positions (written when wpos); nums is 32 bytes for the counts.
 * Returns the argument count.
 */
static int unit_args(const rstore_t *st, const cargs_t *a, const fr_store_put_t *puts,
                     size_t nputs, size_t npos, size_t lo, size_t hi, int wpos, char *nums,
                     const char **argv, size_t *lens)
{
    size_t k = 0, nst = hi - lo;
    argv[k] = "EVALSHA", lens[k++] = 7;
    argv[k] = st->sha, lens[k++] = 40;
    char *numkeys = nums + 16;
    int nn = snprintf(numkeys, 16, "%zu", npos + nst);
    argv[k] = numkeys, lens[k++] = (size_t)nn;
    for (size_t i = 0; i < npos; i++)
        argv[k] = KEY(a, nputs + i), lens[k++] = KLEN(a, nputs + i);
    for (size_t i = lo; i < hi; i++)
        argv[k] = KEY(a, i), lens[k++] = KLEN(a, i);
    nn = snprintf(nums, 16, "%zu", npos);
    argv[k] = nums, lens[k++] = (size_t)nn;
    argv[k] = wpos ? "1" : "0", lens[k++] = 1;
    argv[k] = (const char *)a->epoch, lens[k++] = 8;
    for (size_t i = 0; i < npos; i++)
        argv[k] = (const char *)a->pvals + i * POS_BYTES, lens[k++] = POS_BYTES;
    for (size_t i = lo; i < hi; i++) {
        argv[k] = (const char *)a->heads + i * HEAD_BYTES, lens[k++] = HEAD_BYTES;
        argv[k] = puts[i].val ? puts[i].val : "", lens[k++] = puts[i].val ? puts[i].vlen : 0;
    }
    return (int)k;
}

/* Runs script calls and reads their verdict. */
static int run_scripts(rstore_t *st, const cmd_t *cmds, size_t n)
{
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    if (!reps)
        return FR_ENOMEM;
    int rc = run_batch(st, &st->wl, cmds, n, reps);
    if (!rc)
        rc = script_result(reps, n);
    for (size_t i = 0; i < n; i++)
        freeReplyObject(reps[i]);
    free(reps);
    return rc;
}

static int commit_single(rstore_t *st, const cargs_t *a, const fr_store_put_t *puts,
                         size_t nputs, size_t npos)
{
    /* cut the states into units */
    size_t nunits = 0, *cut = malloc((nputs + 2) * sizeof *cut);
    if (!cut)
        return FR_ENOMEM;
    cut[nunits++] = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < nputs; i++) {
        size_t b = KLEN(a, i) + HEAD_BYTES + (puts[i].val ? puts[i].vlen : 0);
        if (i > cut[nunits - 1] && (i - cut[nunits - 1] >= UNIT_KEYS || bytes + b > UNIT_BYTES)) {
            cut[nunits++] = i;
            bytes = 0;
        }
        bytes += b;
    }
    cut[nunits] = nputs; /* unit u is [cut[u], cut[u + 1]) */
    size_t per = 6 + 2 * npos + 3 * (nputs < UNIT_KEYS ? nputs : UNIT_KEYS);
    cmd_t *cmds = calloc(nunits, sizeof *cmds);
    const char **argv = malloc(nunits * per * sizeof *argv);
    size_t *lens = malloc(nunits * per * sizeof *lens);
    char *nums = malloc(nunits * 32);
    int rc = cmds && argv && lens && nums ? 0 : FR_ENOMEM;
    for (size_t u = 0; !rc && u < nunits; u++) {
        int argc = unit_args(st, a, puts, nputs, npos, cut[u], cut[u + 1], u + 1 == nunits,
                             nums + 32 * u, argv + u * per, lens + u * per);
        cmds[u] = (cmd_t){.key = "", .argc = argc, .argv = argv + u * per,
                          .lens = lens + u * per, .script = 1};
    }
    /* every unit but the last, then (all succeeded) the last, which alone
     * writes the positions */
    if (!rc && nunits > 1)
        rc = run_scripts(st, cmds, nunits - 1);
    if (!rc)
        rc = run_scripts(st, cmds + nunits - 1, 1);
    free(cut);
    free(cmds);
    free(argv);
    free(lens);
    free(nums);
    return rc;
}

/*
 * The fenced script calls for the npos positions (keys after the nputs
 * states in a): with write "0" they only check the epochs, with "1" they
 * write.  Fills cmds[0..npos) with argv/lens rows of `per` slots.
 */
static void pos_cmds(const rstore_t *st, const cargs_t *a, size_t nputs, size_t npos,
                     const char *write, cmd_t *cmds, const char **argv, size_t *lens, size_t per)
{
    for (size_t i = 0; i < npos; i++) {
        const char **v = argv + i * per;
        size_t *l = lens + i * per;
        v[0] = "EVALSHA", l[0] = 7;
        v[1] = st->sha, l[1] = 40;
        v[2] = "1", l[2] = 1;
        v[3] = KEY(a, nputs + i), l[3] = KLEN(a, nputs + i);
        v[4] = "1", l[4] = 1;
        v[5] = write, l[5] = 1;
        v[6] = (const char *)a->epoch, l[6] = 8;
        v[7] = (const char *)a->pvals + i * POS_BYTES, l[7] = POS_BYTES;
        cmds[i] = (cmd_t){.key = v[3], .klen = l[3], .argc = 8, .argv = v, .lens = l,
                          .script = 1};
    }
}

static int commit_cluster(rstore_t *st, const cargs_t *a, const fr_store_put_t *puts,
                          size_t nputs, size_t npos)
{
    size_t n = nputs > npos ? nputs : npos;
    const size_t per = 9;
    cmd_t *cmds = calloc(n ? n : 1, sizeof *cmds);
    const char **argv = malloc((n ? n : 1) * per * sizeof *argv);
    size_t *lens = malloc((n ? n : 1) * per * sizeof *lens);
    int rc = cmds && argv && lens ? 0 : FR_ENOMEM;
    /* first the positions' epochs, writing nothing: a zombie is refused
     * whole once the new owner has committed (the per-key fence below
     * covers a commit racing with that) */
    if (!rc)
        pos_cmds(st, a, nputs, npos, "0", cmds, argv, lens, per);
    if (!rc && npos && nputs)
        rc = run_scripts(st, cmds, npos);
    /* the states, each fenced by its own stamp */
    for (size_t i = 0; !rc && i < nputs; i++) {
        const char **v = argv + i * per;
        size_t *l = lens + i * per;
        v[0] = "EVALSHA", l[0] = 7;
        v[1] = st->sha, l[1] = 40;
        v[2] = "1", l[2] = 1;
        v[3] = KEY(a, i), l[3] = KLEN(a, i);
        v[4] = "0", l[4] = 1;
        v[5] = "0", l[5] = 1;
        v[6] = (const char *)a->epoch, l[6] = 8;
        v[7] = (const char *)a->heads + i * HEAD_BYTES, l[7] = HEAD_BYTES;
        v[8] = puts[i].val ? puts[i].val : "", l[8] = puts[i].val ? puts[i].vlen : 0;
        cmds[i] = (cmd_t){.key = v[3], .klen = l[3], .argc = 9, .argv = v, .lens = l,
                          .script = 1};
    }
    if (!rc && nputs)
        rc = run_scripts(st, cmds, nputs);
    /* then the positions, fenced by epoch */
    if (!rc)
        pos_cmds(st, a, nputs, npos, "1", cmds, argv, lens, per);
    if (!rc && npos)
        rc = run_scripts(st, cmds, npos);
    free(cmds);
    free(argv);
    free(lens);
    return rc;
}

static int r_commit(fr_store_t *s, const fr_store_put_t *puts, size_t nputs,
                    const fr_store_pos_t *pos, size_t npos, uint64_t epoch)
{
    rstore_t *st = (rstore_t *)s;
    if (!nputs && !npos)
        return 0;
    cargs_t a;
    memset(&a, 0, sizeof a);
    int rc = cargs_build(st, &a, puts, nputs, pos, npos, epoch);
    if (!rc) {
        pthread_mutex_lock(&st->wlock);
        rc = st->cluster ? commit_cluster(st, &a, puts, nputs, npos)
                         : commit_single(st, &a, puts, nputs, npos);
        pthread_mutex_unlock(&st->wlock);
    }
    cargs_destroy(&a);
    return rc;
}

/* ---- the store ---- */

static int r_entities(fr_store_t *s, int view, uint64_t *n)
{
    rstore_t *st = (rstore_t *)s;
    (void)view;
    *n = 1;
    if (st->cluster)
        return 0; /* unknown: counting would visit every node */
    const char *argv[1] = {"DBSIZE"};
    size_t lens[1] = {6}, li;
    redisReply *r = NULL;
    pthread_mutex_lock(&st->wlock);
    int rc = links_get(st, &st->wl, &st->seed, &li);
    if (!rc)
        rc = link_call(st->wl.v[li], 1, argv, lens, &r);
    pthread_mutex_unlock(&st->wlock);
    if (!rc && r->type == REDIS_REPLY_INTEGER)
        *n = r->integer > 0;
    else if (!rc)
        rc = FR_ESTORE;
    freeReplyObject(r);
    return rc;
}

static int r_next_epoch(fr_store_t *s, uint64_t *epoch)
{
    rstore_t *st = (rstore_t *)s;
    static const char key[] = "fr:epoch";
    const char *argv[2] = {"INCR", key};
    size_t lens[2] = {4, sizeof key - 1};
    cmd_t c = {.key = key, .klen = sizeof key - 1, .argc = 2, .argv = argv, .lens = lens};
    redisReply *r = NULL;
    pthread_mutex_lock(&st->wlock);
    int rc = call_key(st, &st->wl, &c, &r);
    pthread_mutex_unlock(&st->wlock);
    if (!rc && r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        *epoch = (uint64_t)r->integer;
    else if (!rc)
        rc = FR_ESTORE;
    freeReplyObject(r);
    return rc;
}

/* ---- key-value records ---- */

#define KV_BUF (FR_STORE_KV_MAX_NS + FR_STORE_KV_MAX_GROUP + FR_STORE_KV_MAX_KEY + 16)

/* The record's key and its group's set into rec and set (KV_BUF bytes). */
static void kv_keys(const char *ns, const char *group, const char *key, char *rec, size_t *rl,
                    char *set, size_t *sl)
{
    *sl = (size_t)snprintf(set, KV_BUF, "fr:%s:{%s}", ns, group);
    *rl = (size_t)snprintf(rec, KV_BUF, "%s:%s", set, key);
}

/* One command on the key-value links, under their lock. */
static int kv_call(rstore_t *st, const cmd_t *c, redisReply **out)
{
    pthread_mutex_lock(&st->kvlock);
    int rc = call_key(st, &st->kvl, c, out);
    pthread_mutex_unlock(&st->kvlock);
    return rc;
}

/* Runs a script over the record and its set; the reply is the caller's. */
static int kv_script(rstore_t *st, const char *lua, size_t lualen, const char *ns,
                     const char *group, const char *key, const char *const *args,
                     const size_t *alens, int nargs, redisReply **out)
{
    char rec[KV_BUF], set[KV_BUF];
    size_t rl, sl;
    kv_keys(ns, group, key, rec, &rl, set, &sl);
    const char *argv[8] = {"EVAL", lua, "2", rec, set};
    size_t lens[8] = {4, lualen, 1, rl, sl};
    for (int i = 0; i < nargs; i++) {
        argv[5 + i] = args[i];
        lens[5 + i] = alens[i];
    }
    cmd_t c = {.key = rec, .klen = rl, .argc = 5 + nargs, .argv = argv, .lens = lens};
    return kv_call(st, &c, out);
}

/* Adds group to the namespace's list of groups (before its first key). */
static int kv_add_group(rstore_t *st, const char *ns, const char *group)
{
    char gs[KV_BUF];
    size_t gl = (size_t)snprintf(gs, sizeof gs, "fr:%s:groups", ns);
    const char *argv[3] = {"SADD", gs, group};
    size_t lens[3] = {4, gl, strlen(group)};
    cmd_t c = {.key = gs, .klen = gl, .argc = 3, .argv = argv, .lens = lens};
    redisReply *r = NULL;
    int rc = kv_call(st, &c, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER)
        rc = FR_ESTORE;
    freeReplyObject(r);
    return rc;
}

static int r_kv_get(fr_store_t *s, const char *ns, const char *group, const char *key,
                    void **val, size_t *vlen)
{
    rstore_t *st = (rstore_t *)s;
    char rec[KV_BUF], set[KV_BUF];
    size_t rl, sl;
    kv_keys(ns, group, key, rec, &rl, set, &sl);
    const char *argv[2] = {"GET", rec};
    size_t lens[2] = {3, rl};
    cmd_t c = {.key = rec, .klen = rl, .argc = 2, .argv = argv, .lens = lens};
    redisReply *r = NULL;
    int rc = kv_call(st, &c, &r);
    if (!rc && r->type == REDIS_REPLY_NIL)
        rc = FR_ENOTFOUND;
    else if (!rc && r->type != REDIS_REPLY_STRING)
        rc = FR_ESTORE;
    if (!rc) {
        *val = malloc(r->len + 1);
        if (*val) {
            memcpy(*val, r->str, r->len);
            ((char *)*val)[r->len] = '\0';
            *vlen = r->len;
        } else {
            rc = FR_ENOMEM;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int r_kv_put(fr_store_t *s, const char *ns, const char *group, const char *key,
                    const void *val, size_t vlen, int only_new)
{
    rstore_t *st = (rstore_t *)s;
    int rc = kv_add_group(st, ns, group);
    if (rc)
        return rc;
    const char *args[3] = {vlen ? val : "", key, only_new ? "1" : "0"};
    size_t alens[3] = {vlen, strlen(key), 1};
    redisReply *r = NULL;
    rc = kv_script(st, PUT_LUA, sizeof PUT_LUA - 1, ns, group, key, args, alens, 3, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER)
        rc = FR_ESTORE;
    else if (!rc && r->integer == 0)
        rc = FR_ECONFLICT;
    freeReplyObject(r);
    return rc;
}

static int r_kv_del(fr_store_t *s, const char *ns, const char *group, const char *key)
{
    rstore_t *st = (rstore_t *)s;
    const char *args[1] = {key};
    size_t alens[1] = {strlen(key)};
    redisReply *r = NULL;
    int rc = kv_script(st, DEL_LUA, sizeof DEL_LUA - 1, ns, group, key, args, alens, 1, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER)
        rc = FR_ESTORE;
    else if (!rc && r->integer == 0)
        rc = FR_ENOTFOUND;
    freeReplyObject(r);
    return rc;
}

static int r_kv_incr(fr_store_t *s, const char *ns, const char *group, const char *key,
                     uint64_t *out)
{
    rstore_t *st = (rstore_t *)s;
    int rc = kv_add_group(st, ns, group);
    if (rc)
        return rc;
    const char *args[1] = {key};
    size_t alens[1] = {strlen(key)};
    redisReply *r = NULL;
    rc = kv_script(st, INCR_LUA, sizeof INCR_LUA - 1, ns, group, key, args, alens, 1, &r);
    if (!rc && err_is(r, "NOTCOUNTER"))
        rc = FR_ETYPE;
    else if (!rc && (r->type != REDIS_REPLY_INTEGER || r->integer <= 0))
        rc = FR_ESTORE;
    if (!rc)
        *out = (uint64_t)r->integer;
    freeReplyObject(r);
    return rc;
}

/* The members of a set (SMEMBERS) in *out (the caller's), an array; its
 * size is bounded by the links' reply limit. */
static int kv_members(rstore_t *st, const char *set, size_t sl, redisReply **out)
{
    const char *argv[2] = {"SMEMBERS", set};
    size_t lens[2] = {8, sl};
    cmd_t c = {.key = set, .klen = sl, .argc = 2, .argv = argv, .lens = lens};
    int rc = kv_call(st, &c, out);
    if (!rc && (*out)->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(*out);
        *out = NULL;
        rc = FR_ESTORE;
    }
    return rc;
}

static int kv_list_keys(rstore_t *st, const char *ns, const char *group, const char *prefix,
                        fr_store_kv_names_t *out)
{
    char set[KV_BUF];
    size_t sl = (size_t)snprintf(set, sizeof set, "fr:%s:{%s}", ns, group);
    size_t pl = prefix ? strlen(prefix) : 0;
    redisReply *r = NULL;
    int rc = kv_members(st, set, sl, &r);
    for (size_t i = 0; !rc && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            rc = FR_ESTORE;
        else if (e->len >= pl && !memcmp(e->str, prefix ? prefix : "", pl))
            rc = fr_store_kv_names_add(out, e->str, e->len);
    }
    freeReplyObject(r);
    return rc;
}

static int kv_list_groups(rstore_t *st, const char *ns, fr_store_kv_names_t *out)
{
    char gs[KV_BUF];
    size_t gl = (size_t)snprintf(gs, sizeof gs, "fr:%s:groups", ns);
    redisReply *r = NULL, **counts = NULL;
    int rc = kv_members(st, gs, gl, &r);
    if (rc)
        return rc;
    size_t n = r->elements;
    if (n > FR_STORE_KV_MAX_LIST) {
        freeReplyObject(r);
        return FR_ELIMIT;
    }
    /* SCARD of every group's set, pipelined (each routed to its slot) */
    cmd_t *cmds = calloc(n + 1, sizeof *cmds);
    char *keys = malloc((n + 1) * KV_BUF);
    const char **argv = malloc((2 * n + 1) * sizeof *argv);
    size_t *lens = malloc((2 * n + 1) * sizeof *lens);
    counts = calloc(n + 1, sizeof *counts);
    rc = cmds && keys && argv && lens && counts ? 0 : FR_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len > FR_STORE_KV_MAX_GROUP) {
            rc = FR_ESTORE;
            break;
        }
        char *k = keys + i * KV_BUF;
        size_t kl = (size_t)snprintf(k, KV_BUF, "fr:%s:{%.*s}", ns, (int)e->len, e->str);
        argv[2 * i] = "SCARD", lens[2 * i] = 5;
        argv[2 * i + 1] = k, lens[2 * i + 1] = kl;
        cmds[i] = (cmd_t){.key = k, .klen = kl, .argc = 2, .argv = argv + 2 * i,
                          .lens = lens + 2 * i};
    }
    if (!rc && n) {
        pthread_mutex_lock(&st->kvlock);
        rc = run_batch(st, &st->kvl, cmds, n, counts);
        pthread_mutex_unlock(&st->kvlock);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (counts[i]->type != REDIS_REPLY_INTEGER)
            rc = FR_ESTORE;
        else if (counts[i]->integer > 0)
            rc = fr_store_kv_names_add(out, r->element[i]->str, r->element[i]->len);
    }
    for (size_t i = 0; counts && i < n; i++)
        freeReplyObject(counts[i]);
    free(counts);
    free(cmds);
    free(keys);
    free(argv);
    free(lens);
    freeReplyObject(r);
    return rc;
}

static int r_kv_list(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                     fr_store_kv_names_t *out)
{
    rstore_t *st = (rstore_t *)s;
    int rc = group ? kv_list_keys(st, ns, group, prefix, out) : kv_list_groups(st, ns, out);
    if (!rc)
        fr_store_kv_names_sort(out);
    return rc;
}

static void r_close(fr_store_t *s)
{
    rstore_t *st = (rstore_t *)s;
    links_free(&st->wl);
    links_free(&st->kvl);
    map_free(st->map);
    if (st->locks) {
        pthread_rwlock_destroy(&st->maplock);
        pthread_mutex_destroy(&st->wlock);
        pthread_mutex_destroy(&st->kvlock);
    }
    for (size_t i = 0; st->vpre && i < s->cfg->nviews; i++)
        free(st->vpre[i]);
    for (size_t i = 0; st->ppre && i < s->cfg->nsources; i++)
        free(st->ppre[i]);
    free(st->vpre);
    free(st->ppre);
    if (st->pass)
        explicit_bzero(st->pass, strlen(st->pass));
    free(st->user);
    free(st->pass);
    free(st);
}

static const fr_store_ops_t redis_ops = {
    .kind = "redis",
    .rd_new = r_rd_new,
    .rd_begin = r_rd_begin,
    .get = r_get,
    .get_many = r_get_many,
    .pos_get = r_pos_get,
    .rd_end = r_rd_end,
    .rd_free = r_rd_free,
    .commit = r_commit,
    .next_epoch = r_next_epoch,
    .entities = r_entities,
    .kv_get = r_kv_get,
    .kv_put = r_kv_put,
    .kv_del = r_kv_del,
    .kv_incr = r_kv_incr,
    .kv_list = r_kv_list,
    .close = r_close,
};

static char *joinf(const char *a, const char *name, const char *b)
{
    size_t n = strlen(a) + strlen(name) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, name, b);
    return s;
}

int fr_store_redis_open(const fr_config_t *cfg, fr_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    rstore_t *st = calloc(1, sizeof *st);
    if (!st)
        return FR_ENOMEM;
    st->base.ops = &redis_ops;
    st->base.cfg = cfg;
    st->cluster = cfg->store.redis_cluster;
    st->ctimeout_ms = cfg->store.redis_connect_timeout_ms;
    st->timeout_ms = cfg->store.redis_timeout_ms;
    int rc = 0;
    if (st->ctimeout_ms <= 0 || st->timeout_ms <= 0) {
        snprintf(err, errlen, "store.redis: timeouts must be positive");
        rc = FR_ECONFIG;
        goto out;
    }
    rc = parse_url(cfg->store.redis_url ? cfg->store.redis_url : "", st, err, errlen);
    if (rc)
        goto out;
    if (st->cluster && st->db) {
        snprintf(err, errlen, "store.redis.url: a database number is not allowed on a cluster");
        rc = FR_ECONFIG;
        goto out;
    }
    if (pthread_rwlock_init(&st->maplock, NULL)) {
        rc = FR_ENOMEM;
        goto out;
    }
    if (pthread_mutex_init(&st->wlock, NULL)) {
        pthread_rwlock_destroy(&st->maplock);
        rc = FR_ENOMEM;
        goto out;
    }
    if (pthread_mutex_init(&st->kvlock, NULL)) {
        pthread_mutex_destroy(&st->wlock);
        pthread_rwlock_destroy(&st->maplock);
        rc = FR_ENOMEM;
        goto out;
    }
    st->locks = 1;
    st->vpre = calloc(cfg->nviews + 1, sizeof *st->vpre);
    st->ppre = calloc(cfg->nsources + 1, sizeof *st->ppre);
    rc = st->vpre && st->ppre ? 0 : FR_ENOMEM;
    for (size_t i = 0; !rc && i < cfg->nviews; i++) {
        st->vpre[i] = joinf("fr:v:", cfg->views[i].name, ":{");
        rc = st->vpre[i] ? 0 : FR_ENOMEM;
    }
    for (size_t i = 0; !rc && i < cfg->nsources; i++) {
        st->ppre[i] = joinf("fr:pos:{", cfg->sources[i].name, "}:");
        rc = st->ppre[i] ? 0 : FR_ENOMEM;
    }
    if (rc)
        goto out;
    /* reach the seed: the slot map, and the script's digest */
    size_t li;
    rc = links_get(st, &st->wl, &st->seed, &li);
    if (rc)
        goto out;
    link_t *l = st->wl.v[li];
    rc = link_ensure(l);
    if (!rc && st->cluster)
        rc = map_load(st, l);
    if (!rc)
        rc = link_script(l, st->sha);
    if (rc)
        snprintf(err, errlen, "redis %s", l->err[0] ? l->err : fr_strerror(rc));
out:
    if (rc) {
        r_close(&st->base);
        return rc;
    }
    *out = &st->base;
    return 0;
}
